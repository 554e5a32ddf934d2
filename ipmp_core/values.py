"""Value rules: what a valid name, address and tunable is; every refusal an InvalidValue.

Every value is judged here, the same way wherever it is typed: the engine on every
request, the agents as their parameters' validators (InvalidValue is a ValueError).
Standard library only. The rules, one by one: docs/design.md, "Value rules".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable

from ipmp_core.constants import (
    DEFAULT_FDT_MS,
    MAX_FDT_MS,
    MAX_IFNAME_LEN,
    MAX_PROBE_TARGETS,
    MIN_ADDRESS_PREFIX,
    MIN_FDT_MS,
)
from ipmp_core.errors import InvalidValue

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# Linux accepts almost any byte in a name; we accept what ip(8) users actually type and
# what is safe in an nftables set and a log line. (No regular expression: re costs
# milliseconds at import, and the agents' monitor imports this module.)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-")


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidValue(f"{kind} name is empty")
    if len(name) > MAX_IFNAME_LEN:
        raise InvalidValue(f"{kind} name '{name}' is longer than {MAX_IFNAME_LEN} characters")
    if not (name[0].isascii() and name[0].isalpha()) or not set(name) <= _NAME_CHARS:
        raise InvalidValue(f"{kind} name '{name}' must start with a letter and contain only "
                           "letters, digits and . _ - @")
    return name


def parse_address(text: str, *, kind: str = "address") -> IPInterface:
    """'198.51.100.10/24' or '2001:db8::10/64'; a prefix length is required. The rules
    every address on an interface follows (data and test addresses add theirs)."""
    if not isinstance(text, str) or "/" not in text:
        raise InvalidValue(f"{kind} '{text}' needs a prefix length, e.g. 198.51.100.10/24")
    if "%" in text:
        raise InvalidValue(f"{kind} '{text}' has a zone index (%...): give the "
                           "address alone, the interface is given separately")
    try:
        iface = ipaddress.ip_interface(text.strip())
    except ValueError as exc:
        raise InvalidValue(f"{kind} '{text}' is not valid: {exc}") from None
    _check_unicast(iface.ip, kind, text)
    shortest = MIN_ADDRESS_PREFIX[iface.version]
    if iface.network.prefixlen < shortest:
        raise InvalidValue(f"{kind} '{text}': prefix /{iface.network.prefixlen} is shorter "
                           f"than /{shortest}; its on-link route would replace the default route")
    ip = iface.ip
    if iface.version == 4 and ip in (
        iface.network.network_address,
        iface.network.broadcast_address,
    ) and iface.network.prefixlen < 31:
        raise InvalidValue(f"{kind} '{text}' is the network or broadcast address of its subnet")
    return iface


def _check_unicast(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, kind: str,
                   text: str) -> None:
    """Refuse what can never be one host's address on a LAN."""
    why = None
    if ip.is_unspecified:
        why = "is the unspecified address"
    elif ip.is_loopback:
        why = "is a loopback address"
    elif ip.is_multicast:
        why = "is a multicast address"
    elif ip.version == 4 and ip == ipaddress.IPv4Address("255.255.255.255"):
        why = "is the limited broadcast address"
    elif ip.is_reserved:
        why = "is in a reserved range"
    elif ip.version == 6 and ip.ipv4_mapped is not None:  # type: ignore[union-attr]
        why = "is an IPv4-mapped IPv6 address"
    if why:
        raise InvalidValue(f"{kind} '{text}' {why}")


def parse_data_address(text: str) -> IPInterface:
    """A data address: what applications use, moved between members."""
    iface = parse_address(text, kind="data address")
    if iface.ip.is_link_local:
        raise InvalidValue(f"data address '{text}' is link-local: it is "
                           "scoped to one interface and cannot move with the group")
    return iface


def parse_test_address(text: str) -> IPInterface:
    """A test address: IPv4, or an IPv6 link-local (in.mpathd probes IPv6 from
    link-locals, and replies are accepted only from link-local sources)."""
    iface = parse_address(text, kind="test address")
    if iface.version == 6 and not iface.ip.is_link_local:
        raise InvalidValue(f"IPv6 test address '{text}' must be link-local (fe80::/10)")
    return iface


def check_fdt(value: object) -> int:
    """A failure detection time in a request, in ms: a whole number within
    [MIN_FDT_MS, MAX_FDT_MS]. Refused rather than adjusted: a typed value that is not
    the one applied is a surprise (the defaults file adjusts, with a log line)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidValue(f"failure detection time '{value}' is not a "
                           "number of milliseconds")
    try:
        number = float(str(value).strip().removesuffix("ms"))
    except ValueError:
        raise InvalidValue(f"failure detection time '{value}' is not a "
                           "number of milliseconds") from None
    if not number.is_integer() or not MIN_FDT_MS <= number <= MAX_FDT_MS:
        raise InvalidValue(f"failure detection time '{value}' must be a whole "
                           f"number of milliseconds from {MIN_FDT_MS} to {MAX_FDT_MS} (1 h)")
    return int(number)


def _check_not_subnet_broadcast(ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                                on_link: Collection[IPInterface], kind: str) -> None:
    """The network or broadcast address of one of our IPv4 subnets is not a host."""
    for a in on_link:
        if a.version == 4 == ip.version and a.network.prefixlen < 31 and ip in (
                a.network.network_address, a.network.broadcast_address):
            raise InvalidValue(f"{kind} {ip} is the network or broadcast "
                               f"address of {a.network}, not a host")


def clamped_int(value: object, kind: str, low: int, high: int) -> int:
    """A whole number from a request, brought into [low, high]; anything that is not a
    finite number (a string, null, 1e400 read as infinity) is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            isinstance(value, float) and not value.is_integer()):
        raise InvalidValue(f"{kind} {value!r} is not a whole number")
    return max(low, min(int(value), high))


def parse_targets(values: Iterable[object],
                  own: Collection[ipaddress.IPv4Address | ipaddress.IPv6Address] = (),
                  on_link: Collection[IPInterface] = ()) -> list[str]:
    """Configured probe targets: unicast hosts, at most MAX_PROBE_TARGETS, no repeats,
    IPv6 link-local (probes leave with hop limit 1 from a link-local), never ``own``,
    never the network or broadcast address of a subnet in ``on_link``."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for value in values:
        text = str(value).strip()
        if not text:
            continue
        ip = parse_ip(text, kind="probe target")
        _check_unicast(ip, "probe target", text)
        _check_not_subnet_broadcast(ip, on_link, "probe target")
        if ip.version == 6 and not ip.is_link_local:
            raise InvalidValue(f"IPv6 probe target {ip} must be a link-local address")
        if ip in found:
            raise InvalidValue(f"probe target {ip} is given twice")
        if ip in own:
            raise InvalidValue(f"probe target {ip} is one of this group's own "
                               "addresses: probes must reach another host")
        found.append(ip)
    if len(found) > MAX_PROBE_TARGETS:
        raise InvalidValue(f"{len(found)} probe targets: at most "
                           f"{MAX_PROBE_TARGETS} (in.mpathd's limit)")
    return [str(ip) for ip in found]


def parse_gateway(text: str, on_link: Collection[IPInterface] | None = None,
                  own: Collection[ipaddress.IPv4Address | ipaddress.IPv6Address] = ()
                  ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A route's gateway: a unicast neighbour. With ``on_link`` (the group's data and
    test addresses) it must lie in one of their subnets (an IPv6 link-local always
    does): the kernel refuses a route via an off-link gateway, and we would store a
    route that is never installed."""
    ip = parse_ip(text, kind="gateway")
    _check_unicast(ip, "gateway", str(text))
    _check_not_subnet_broadcast(ip, on_link or (), "gateway")
    if ip in own:
        raise InvalidValue(f"gateway {ip} is one of this group's own addresses")
    if on_link is None or (ip.version == 6 and ip.is_link_local):
        return ip
    if not any(a.version == ip.version and ip in a.network for a in on_link):
        nets = ", ".join(sorted({str(a.network) for a in on_link if a.version == ip.version}))
        raise InvalidValue(f"gateway {ip} is not on-link: it is in no subnet "
                           f"of the group's addresses ({nets or 'none of its family yet'})")
    return ip


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A route destination: 'default' is handled by the caller; host bits are refused."""
    if not isinstance(text, str):
        raise InvalidValue(f"destination {text!r} is not a string")
    try:
        return ipaddress.ip_network(text.strip())
    except ValueError as exc:
        raise InvalidValue(f"destination '{text}' is not a prefix: {exc}") from None


def parse_ip(text: str, *, kind: str = "address") -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address without a prefix (for lookups such as delete-addr)."""
    if not isinstance(text, str):
        raise InvalidValue(f"{kind} {text!r} is not a string")
    if "%" in text:
        raise InvalidValue(f"{kind} '{text}' has a zone index (%...): give the "
                           "address alone")
    try:
        return ipaddress.ip_interface(text.strip()).ip
    except ValueError as exc:
        raise InvalidValue(f"'{text}' is not an IP address: {exc}") from None


class Normalized:
    """A value after in.mpathd's rules, with a log line when it was changed. (A plain
    class: dataclasses costs 15 ms at import, and the agents' monitor imports this.)"""

    __slots__ = ("value", "note")

    def __init__(self, value: int, note: str | None) -> None:
        self.value = value
        self.note = note


def normalize_fdt(ms: int) -> Normalized:
    """in.mpathd's rule for its defaults file: <= 0 falls back to the default, below the
    minimum is raised; above MAX_FDT_MS is lowered (our addition). Requests use
    check_fdt() instead, which refuses."""
    if ms > MAX_FDT_MS:
        return Normalized(
            MAX_FDT_MS,
            f"Too large failure detection time of {ms}, assuming maximum of {MAX_FDT_MS} ms",
        )
    if ms <= 0:
        return Normalized(
            DEFAULT_FDT_MS,
            f"Invalid failure detection time {ms}, assuming default of {DEFAULT_FDT_MS} ms",
        )
    if ms < MIN_FDT_MS:
        return Normalized(
            MIN_FDT_MS,
            f"Too small failure detection time of {ms}, assuming minimum of {MIN_FDT_MS} ms",
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
    raise InvalidValue(f"'{text}' is not a boolean (use yes/no, on/off)")
