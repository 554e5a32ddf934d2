"""`ipmpadm show-addr` and `show-if`: ipadm's fields, widths and output (docs/design.md,
"ipadm compatibility").

Pure: rows in (the daemon's address objects, a snapshot), lines out. Fields and their
widths are ipadm.c's show_addr_fields / show_if_fields; the columns are laid out by the
same ofmt rules as ipmpstat's (ipmp_core/ipmpstat_format.py, used as it is): ``--`` for
an empty value, ``-p -o`` joins fields with ``:``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ipmp_core.ipmpstat_fields import Field
from ipmp_core.ipmpstat_format import format_header, format_human_row, format_parsable_row
from ipmp_core.model import GroupState, IfState, Snapshot

Row = dict[str, str]

# ipadm.c show_addr_fields (the DHCP lease fields are not kept: see docs/design.md), and
# INBOUND, ours: the member a data address is on (ipmpstat -a's INBOUND).
ADDR_FIELDS = (Field("ADDROBJ", 18), Field("TYPE", 9), Field("STATE", 13),
               Field("CURRENT", 8), Field("PERSISTENT", 11), Field("ADDR", 46),
               Field("INBOUND", 12))
ADDR_DEFAULT = "addrobj,type,state,addr"  # do_show_addr's def_fields_str
# ipadm.c show_if_fields, without CURRENT and PERSISTENT (interface flags this daemon
# does not track).
IF_FIELDS = (Field("IFNAME", 11), Field("CLASS", 9), Field("STATE", 9), Field("ACTIVE", 7),
             Field("OVER", 44))
IF_DEFAULT = "ifname,class,state,active,over"  # do_show_if's def_fields_str
# print_si_cb's CLASS values that apply here.
CLASS_IPMP = "ipmp"
CLASS_IP = "ip"


class ShowError(Exception):
    """A command line show-addr / show-if cannot print (ipadm's die()): one line."""


def select(fields: Sequence[Field], spec: str | None, default: str, parsable: bool
           ) -> tuple[list[Field], str | None]:
    """The fields of ``-o`` (ofmt_open): "all", or names in any case. Returns them and a
    warning naming unknown ones; in parsable mode, or with no valid field, an unknown
    field is an error (ipadm_ofmt_check)."""
    if parsable and spec is None:
        raise ShowError("-p requires -o")
    by_name = {f.name.lower(): f for f in fields}
    names = [n.strip().lower() for n in (spec or default).split(",") if n.strip()]
    if names == ["all"]:
        return list(fields), None
    chosen = [by_name[n] for n in names if n in by_name]
    unknown = [n for n in names if n not in by_name]
    if unknown and (parsable or not chosen):
        raise ShowError("no valid output fields" if not chosen else
                        f"unknown output field(s): {', '.join(unknown)}")
    return chosen, (f"ignoring unknown output fields: {' '.join(unknown)}" if unknown
                    else None)


def render(fields: Sequence[Field], rows: Iterable[Row], parsable: bool) -> list[str]:
    """The lines: a header first for people (ofmt), none for scripts."""
    if parsable:
        return [format_parsable_row(fields, row) for row in rows]
    lines = [format_human_row(fields, row) for row in rows]
    return [format_header(fields), *lines] if lines else []


def address_rows(objects: Iterable[dict[str, Any]], wanted: str | None) -> list[Row]:
    """show-addr's rows; ``wanted`` is one object ("ipmp0/v4") or an interface's
    ("e0/"), as do_show_addr takes them."""
    rows: list[Row] = []
    ifname, _, name = (wanted or "").partition("/")
    if wanted is not None and "/" not in wanted:
        raise ShowError("invalid address object name provided")
    for obj in objects:
        if wanted is not None and (obj["interface"] != ifname if not name
                                   else obj["addrobj"] != wanted):
            continue
        current = str(obj["current"])
        rows.append({"ADDROBJ": str(obj["addrobj"]), "TYPE": str(obj["type"]),
                     "STATE": str(obj["state"]), "CURRENT": current,
                     # everything is kept in the state file: persistent as it is now
                     "PERSISTENT": "U-" + current[-1:],
                     "ADDR": str(obj["addr"]), "INBOUND": str(obj["inbound"])})
    if wanted is not None and name and not rows:
        raise ShowError("address object not found")
    return rows


def interface_rows(snapshot: Snapshot, wanted: str | None) -> list[Row]:
    """show-if's rows: each group (the IPMP interface, over its members), then its
    members, then interfaces probed outside any group (class ip)."""
    members: dict[str, list[Any]] = {}
    for iface in snapshot.interfaces:
        members.setdefault(iface.group, []).append(iface)
    rows: list[Row] = []
    for group in snapshot.groups:
        if not group.name:  # the anonymous group: no IPMP interface; its members below
            continue
        rows.append({"IFNAME": group.name, "CLASS": CLASS_IPMP,
                     "STATE": "failed" if group.state is GroupState.FAILED else "ok",
                     "ACTIVE": "yes" if group.active else "no",
                     "OVER": " ".join(i.name for i in members.get(group.name, []))})
        rows += [_member_row(i) for i in members.get(group.name, [])]
    rows += [_member_row(i) for i in members.get("", [])]
    if wanted is not None:
        rows = [r for r in rows if r["IFNAME"] == wanted]
        if not rows:
            raise ShowError(f"cannot get information for interface {wanted}: no such "
                            "interface in any group")
    return rows


def _member_row(iface: Any) -> Row:
    """print_si_cb's STATE: disabled (configured, not there), offline, down
    (administratively), failed, else ok."""
    if not iface.present:
        state = "disabled"
    elif iface.state is IfState.OFFLINE:
        state = "offline"
    elif iface.flags.down:
        state = "down"
    elif iface.state is IfState.FAILED:
        state = "failed"
    else:
        # not flagged failed: "unknown" to in.mpathd (no probe verdict yet) is "ok" here,
        # as ipadm reads only the kernel's IFF_FAILED
        state = "ok"
    return {"IFNAME": iface.name, "CLASS": CLASS_IP, "STATE": state,
            "ACTIVE": "yes" if iface.active else "no", "OVER": ""}
