"""Configuration rules: what a valid name, address and tunable is.

Shared by the engine (which refuses bad requests), ipmpadm and the resource agents, so a
value is judged the same way wherever it is typed. Standard library only: the agents'
validate-all imports this.
"""

from __future__ import annotations

import ipaddress

from ipmp_core import errors
from ipmp_core.constants import DEFAULT_FDT_MS, MAX_IFNAME_LEN, MIN_FDT_MS
from ipmp_core.errors import EngineError

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# Linux accepts almost any byte in a name; we accept what ip(8) users actually type and
# what is safe in an nftables set and a log line. (No regular expression: re costs
# milliseconds at import, and the agents' monitor imports this module.)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-")


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not name:
        raise EngineError(errors.INVALID, f"{kind} name is empty")
    if len(name) > MAX_IFNAME_LEN:
        raise EngineError(
            errors.INVALID, f"{kind} name '{name}' is longer than {MAX_IFNAME_LEN} characters"
        )
    if not (name[0].isascii() and name[0].isalpha()) or not set(name) <= _NAME_CHARS:
        raise EngineError(
            errors.INVALID,
            f"{kind} name '{name}' must start with a letter and contain only letters, "
            "digits and . _ - @",
        )
    return name


def parse_address(text: str, *, kind: str = "address") -> IPInterface:
    """'198.51.100.10/24' or '2001:db8::10/64'; a prefix length is required."""
    if not isinstance(text, str) or "/" not in text:
        raise EngineError(
            errors.INVALID, f"{kind} '{text}' needs a prefix length, e.g. 198.51.100.10/24"
        )
    try:
        iface = ipaddress.ip_interface(text.strip())
    except ValueError as exc:
        raise EngineError(errors.INVALID, f"{kind} '{text}' is not valid: {exc}") from None
    ip = iface.ip
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback:
        raise EngineError(errors.INVALID, f"{kind} '{text}' cannot be used on an interface")
    if iface.version == 4 and iface.network.prefixlen < 32 and ip in (
        iface.network.network_address,
        iface.network.broadcast_address,
    ) and iface.network.prefixlen < 31:
        raise EngineError(
            errors.INVALID, f"{kind} '{text}' is the network or broadcast address of its subnet"
        )
    return iface


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A route destination: 'default' is handled by the caller; host bits are refused."""
    try:
        return ipaddress.ip_network(text.strip())
    except ValueError as exc:
        raise EngineError(errors.INVALID, f"destination '{text}' is not a prefix: {exc}") from None


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address without a prefix (for lookups such as delete-addr)."""
    try:
        return ipaddress.ip_interface(text.strip()).ip
    except ValueError as exc:
        raise EngineError(errors.INVALID, f"'{text}' is not an IP address: {exc}") from None


class Normalized:
    """A value after in.mpathd's rules, with a log line when it was changed. (A plain
    class: dataclasses costs 15 ms at import, and the agents' monitor imports this.)"""

    __slots__ = ("value", "note")

    def __init__(self, value: int, note: str | None) -> None:
        self.value = value
        self.note = note


def normalize_fdt(ms: int) -> Normalized:
    """in.mpathd's rule: <= 0 falls back to the default, below the minimum is raised."""
    if ms <= 0:
        return Normalized(
            DEFAULT_FDT_MS,
            f"Invalid failure detection time of {ms} ms, assuming default {DEFAULT_FDT_MS} ms",
        )
    if ms < MIN_FDT_MS:
        return Normalized(
            MIN_FDT_MS,
            f"Too small failure detection time of {ms} ms, assuming minimum {MIN_FDT_MS} ms",
        )
    return Normalized(ms, None)


def parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("yes", "on", "true", "1", "y"):
        return True
    if value in ("no", "off", "false", "0", "n"):
        return False
    raise EngineError(errors.INVALID, f"'{text}' is not a boolean (use yes/no, on/off)")
