"""Formatting for ipmpstat: a Snapshot (or a probe event) in, rows and lines of text out.

Everything here is pure (no sockets, no files) so that the exact Solaris output can be
tested without a daemon; the command in ipmp_core.cli.ipmpstat does the I/O.

The layout follows illumos' ipmpstat(8) and libinetutil's ofmt: every field has a default
width, human output pads each column to it and lets an over-long value borrow room from the
columns after it, parsable output (-P) joins fields with ``:``, and an empty value prints as
``--`` for people but as nothing for scripts. A row is a dict from upper-case field name to
its text, "" meaning empty, so the same rows feed all three output styles.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ipmp_core.constants import EVENT_VERSION
from ipmp_core.ipmpstat_fields import Field, Mode, OutputSpec, Style
from ipmp_core.model import (
    AddressView,
    AddrState,
    GroupView,
    IfFlags,
    InterfaceView,
    Snapshot,
    TargetMode,
)

Row = dict[str, str]
# Turns an IP address into what ipmpstat shows for it (a host name, or the address itself).
Resolver = Callable[[str], str]


EMPTY_HUMAN = "--"  # ofmt's OFMT_VAL_UNDEF
UNKNOWN_VALUE = "?"  # ofmt's OFMT_VAL_UNKNOWN: the value could not be obtained


# --------------------------------------------------------------------------- values


def numeric(address: str) -> str:
    """The -n resolver: show addresses as they are."""
    return address


def value_text(value: object) -> str:
    """A state as ipmpstat prints it; ``?`` when the snapshot could not say (None)."""
    return UNKNOWN_VALUE if value is None else str(value)


def flags_text(flags: IfFlags | None) -> str:
    """The 7-character FLAGS column, in ipmpstat's fixed order i s m b M d h, each
    letter from the snapshot's flag as sfunc_if_flags() sets it from ipmp_ifinfo_t."""
    if flags is None:
        return UNKNOWN_VALUE
    letters = (
        (flags.inactive, "i"),
        (flags.standby, "s"),
        (flags.mcast4, "m"),
        (flags.bcast4, "b"),
        (flags.mcast6, "M"),
        (flags.down, "d"),
        (flags.duphw, "h"),
    )
    return "".join(letter if on else "-" for on, letter in letters)


def fdt_text(fdt_ms: int | None) -> str:
    """FDT as seconds with two decimals; empty when no member probes (ipmpstat's 0)."""
    if not fdt_ms:
        return ""
    return f"{fdt_ms / 1000:.2f}s"


def members_text(group: GroupView) -> str:
    """INTERFACES: active members, then (inactive ones), then [unusable ones].

    Like ipmpstat, each class shares one pair of parentheses or brackets, e.g.
    ``fops0 fops3 (fops2) [fops1]`` or ``[hme0 hme1]``.
    """
    parts = list(group.active)
    if group.inactive:
        parts.append("(" + " ".join(group.inactive) + ")")
    if group.unusable:
        parts.append("[" + " ".join(group.unusable) + "]")
    return " ".join(parts)


def group_row(group: GroupView) -> Row:
    """One -g row; GROUP (Solaris' IPMP interface) and GROUPNAME are both the group name."""
    return {
        "GROUP": group.name,
        "GROUPNAME": group.name,
        "STATE": value_text(group.state),
        "FDT": fdt_text(group.fdt_ms),
        "INTERFACES": members_text(group),
    }


def interface_row(iface: InterfaceView) -> Row:
    """One -i row; an interface in the anonymous group has an empty GROUP."""
    return {
        "INTERFACE": iface.name,
        "ACTIVE": UNKNOWN_VALUE if iface.active is None else "yes" if iface.active else "no",
        "GROUP": iface.group,
        "FLAGS": flags_text(iface.flags),
        "LINK": value_text(iface.link),
        "PROBE": value_text(iface.probe),
        "STATE": value_text(iface.state),
    }


def address_row(addr: AddressView, resolve: Resolver = numeric) -> Row:
    """One -a row; a down or unbound address sends nothing, so OUTBOUND is then empty."""
    sending = addr.state is AddrState.UP and bool(addr.inbound)
    return {
        "ADDRESS": resolve(addr.address),
        "STATE": value_text(addr.state),
        "GROUP": addr.group,
        "INBOUND": addr.inbound,
        "OUTBOUND": " ".join(addr.outbound) if sending else "",
    }


def target_row(iface: InterfaceView, resolve: Resolver = numeric) -> Row:
    """One -t row; like ipmpstat, TESTADDR is blank while probing is disabled."""
    testaddr = ""
    if iface.target_mode is not TargetMode.DISABLED and iface.testaddrs:
        testaddr = resolve(iface.testaddrs[0])
    return {
        "INTERFACE": iface.name,
        "MODE": value_text(iface.target_mode),
        "TESTADDR": testaddr,
        "TARGETS": " ".join(resolve(target) for target in iface.targets),
    }


def target_rows(iface: InterfaceView, resolve: Resolver = numeric) -> list[Row]:
    """The -t rows of one interface, as ipmpstat's targinfo_output_cbfunc(): one row
    per probing family (IPv4 and IPv6 when both probe), one "disabled" row when none
    does. A family that probes without a target shows an empty TARGETS (``--``): it
    has no say in the interface's failure. A snapshot without per-family views (an
    older daemon) gives the interface's single row."""
    if not iface.target_families:
        return [target_row(iface, resolve)]
    return [{
        "INTERFACE": iface.name,
        "MODE": value_text(view.mode),
        "TESTADDR": resolve(view.testaddr),
        "TARGETS": " ".join(resolve(target) for target in view.targets),
    } for view in iface.target_families]


def snapshot_rows(mode: Mode, snapshot: Snapshot, resolve: Resolver = numeric) -> list[Row]:
    """All rows of a snapshot mode, in the snapshot's order."""
    if mode is Mode.GROUPS:
        return [group_row(g) for g in snapshot.groups]
    if mode is Mode.INTERFACES:
        return [interface_row(i) for i in snapshot.interfaces]
    if mode is Mode.ADDRESSES:
        return [address_row(a, resolve) for a in snapshot.addresses]
    if mode is Mode.TARGETS:
        return [row for i in snapshot.interfaces for row in target_rows(i, resolve)]
    raise ValueError("probe rows come from events (probe_row), not from a snapshot")


# --------------------------------------------------------------------------- probes

REPORTED_PROBE_STATUSES = frozenset({"acked", "lost"})


def is_reported_probe(event: Mapping[str, Any]) -> bool:
    """ipmpstat -p prints a probe once its fate is known: acked or lost, not sent."""
    return event.get("type") == "probe" and event.get("status") in REPORTED_PROBE_STATUSES


def _ms_text(value: Any) -> str:
    """A time in milliseconds as ``%.2fms``; ipmpstat leaves an unknown (0) value empty."""
    if value is None or value == 0:
        return ""
    return f"{float(value):.2f}ms"


def _required_text(event: Mapping[str, Any], key: str) -> str:
    """A value every probe event carries; ofmt shows ``?`` when one is missing."""
    value = event.get(key)
    return UNKNOWN_VALUE if value is None else str(value)


def probe_event_warning(event: Mapping[str, Any]) -> str | None:
    """Why -p drops a probe event, as ipmpstat.c's probe_event() warns: it has no
    version, or one this ipmpstat does not know (a daemon of another release)."""
    if event.get("type") != "probe":
        return None
    version = event.get("version")
    if version is None:
        return "dropped event with no event version"
    if version != EVENT_VERSION:
        return f"dropped event with unsupported event version {version}"
    return None


def _interval_text(event: Mapping[str, Any], since: str, until: str) -> str:
    """``until - since`` of two of a probe's times (ns) as ``%.2fms``; ``?`` when the
    event lacks one (ofmt's unknown value)."""
    first, last = event.get(since), event.get(until)
    if not isinstance(first, int) or not isinstance(last, int):
        return UNKNOWN_VALUE
    return f"{(last - first) / 1e6:.2f}ms"


def probe_row(event: Mapping[str, Any], start_ns: int, resolve: Resolver = numeric) -> Row:
    """One -p row, computed from the probe's four times as ipmpstat.c does: TIME is
    its start counted from ``start_ns`` (when -p began, same clock), NETRTT the
    network's share (ack received - sent), RTT what in.mpathd's failure detection
    sees, the daemon's processing included (ack processed - start).

    Round-trip times only exist for an acked probe, so NETRTT and RTT are empty for a lost
    one, while RTTAVG and RTTDEV describe the target and print whenever they are known.
    """
    time_ns = event.get("start_ns")
    acked = event.get("status") == "acked"
    target = event.get("target")
    return {
        "TIME": UNKNOWN_VALUE if not isinstance(time_ns, int)
        else f"{(time_ns - start_ns) / 1e9:.2f}s",
        "INTERFACE": _required_text(event, "interface"),
        "PROBE": _required_text(event, "probe"),
        "NETRTT": _interval_text(event, "sent_ns", "ackrecv_ns") if acked else "",
        "RTT": _interval_text(event, "start_ns", "ackproc_ns") if acked else "",
        "RTTAVG": _ms_text(event.get("rttavg_ms")),
        "TARGET": UNKNOWN_VALUE if not target else resolve(str(target)),
        "RTTDEV": _ms_text(event.get("rttdev_ms")),
    }


# --------------------------------------------------------------------------- output


def _human_line(fields: Sequence[Field], values: Sequence[str]) -> str:
    """Lay out one line the way ofmt does.

    Each column is left-aligned in its width; a value that does not fit is followed by a
    single space and the overflow is taken back from later columns' padding, so one long
    name does not push the rest of the line out of alignment for good. The last column is
    never padded (no trailing blanks).
    """
    out: list[str] = []
    overflow = 0
    last = len(fields) - 1
    for index, (fld, value) in enumerate(zip(fields, values, strict=True)):
        if index == last:
            out.append(value)
            break
        width = fld.width
        if len(value) + overflow >= width:
            overflow += len(value) - width + 1
            out.append(value + " ")
            continue
        if overflow > 0:
            compress = min(overflow, width - len(value))
            overflow -= compress
            width -= compress
        out.append(value.ljust(width))
    return "".join(out)


def format_header(fields: Sequence[Field]) -> str:
    """The human header line: the field names laid out like values."""
    return _human_line(fields, [fld.name for fld in fields])


def format_human_row(fields: Sequence[Field], row: Row) -> str:
    """One human line; an empty value shows as ``--`` so columns never look shifted."""
    return _human_line(fields, [row[fld.name] or EMPTY_HUMAN for fld in fields])


def _escape(value: str) -> str:
    """dladm's convention: a ``:`` or ``\\`` inside a value is preceded by ``\\``."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def format_parsable_row(fields: Sequence[Field], row: Row) -> str:
    """One -P line: fields joined by ``:``, escaped unless there is only one field.

    With a single field nothing needs splitting, so the value is printed as is (ofmt).
    """
    if len(fields) == 1:
        return row[fields[0].name]
    return ":".join(_escape(row[fld.name]) for fld in fields)


def row_object(fields: Sequence[Field], row: Row) -> dict[str, str]:
    """A row for -j: lower-case field names to the human text, empty as ""."""
    return {fld.name.lower(): row[fld.name] for fld in fields}


def format_row(spec: OutputSpec, row: Row) -> str:
    """One output line in the spec's style (for -j: one JSON object, as -p streams it)."""
    if spec.style is Style.PARSABLE:
        return format_parsable_row(spec.fields, row)
    if spec.style is Style.JSON:
        return json.dumps(row_object(spec.fields, row))
    return format_human_row(spec.fields, row)


def with_headers(header: str, lines: Sequence[str], every: int | None) -> list[str]:
    """``lines`` with the header before the first and again each ``every`` lines.

    ofmt_print() counts the header as a line and prints it whenever the count reaches
    a multiple of the window's rows (24 when stdout is not a terminal), so each page
    is one header and ``every - 1`` rows; None prints it once.
    """
    out: list[str] = []
    for line in lines:
        if not out or (every is not None and len(out) % every == 0):
            out.append(header)
        out.append(line)
    return out


def render_lines(
    spec: OutputSpec, rows: Sequence[Row], header_every: int | None = None
) -> list[str]:
    """Every line for a snapshot mode.

    Like ipmpstat, the human header comes with the first row, so nothing at all is
    printed when there is nothing to show; -j prints a JSON list (``[]`` when empty).
    """
    if spec.style is Style.JSON:
        objects = [row_object(spec.fields, row) for row in rows]
        return json.dumps(objects, indent=2).splitlines()
    lines = [format_row(spec, row) for row in rows]
    if spec.style is Style.HUMAN:
        return with_headers(format_header(spec.fields), lines, header_every)
    return lines


def render_snapshot(
    spec: OutputSpec, snapshot: Snapshot, resolve: Resolver = numeric,
    header_every: int | None = None,
) -> str:
    """The complete output of a snapshot mode, newline-terminated ("" when empty)."""
    lines = render_lines(spec, snapshot_rows(spec.mode, snapshot, resolve), header_every)
    return "".join(line + "\n" for line in lines)


# --------------------------------------------------------------------------- names


def _normalize_address(text: str) -> str | None:
    """Canonical text of an address so ``::1`` and ``0::1`` find the same hosts entry."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def parse_hosts(text: str) -> dict[str, str]:
    """Address -> canonical name from /etc/hosts text; the first line for an address wins.

    ipmpstat names addresses with getnameinfo(); we read only /etc/hosts because a DNS
    lookup can hang for seconds per address when the network is the thing that is broken.
    """
    table: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        address = _normalize_address(words[0])
        if address is not None and address not in table:
            table[address] = words[1]
    return table


def hosts_resolver(table: Mapping[str, str]) -> Resolver:
    """A resolver that names addresses found in ``table`` and leaves the others numeric."""

    def resolve(address: str) -> str:
        key = _normalize_address(address)
        if key is None:
            return address
        return table.get(key, address)

    return resolve
