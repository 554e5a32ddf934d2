"""show-addr / show-if output as ipadm prints it (ipadm.c do_show_addr, do_show_if,
ipadm_ofmt_check): default fields, -p -o, unknown fields, an object or an interface."""

from __future__ import annotations

import pytest

from ipmp_core.cli import ipadm_show as show
from ipmp_core.model import (
    GroupState,
    GroupView,
    IfFlags,
    IfState,
    InterfaceView,
    LinkState,
    ProbeState,
    Snapshot,
)

OBJECTS = [
    {"addrobj": "ipmp0/v4", "type": "static", "state": "ok", "addr": "192.0.2.10/24",
     "interface": "ipmp0", "inbound": "e0", "current": "U----", "test": False},
    {"addrobj": "e0/test", "type": "static", "state": "ok", "addr": "198.51.100.11/24",
     "interface": "e0", "inbound": "e0", "current": "U---d", "test": True},
]


def fields(spec: str | None, parsable: bool = False) -> list[str]:
    chosen, _ = show.select(show.ADDR_FIELDS, spec, show.ADDR_DEFAULT, parsable)
    return [f.name for f in chosen]


def test_show_addr_prints_ipadms_default_fields_with_a_header() -> None:
    assert fields(None) == ["ADDROBJ", "TYPE", "STATE", "ADDR"]
    chosen, _ = show.select(show.ADDR_FIELDS, None, show.ADDR_DEFAULT, False)
    lines = show.render(chosen, show.address_rows(OBJECTS, None), False)
    assert lines[0].split() == ["ADDROBJ", "TYPE", "STATE", "ADDR"]
    assert lines[1].split() == ["ipmp0/v4", "static", "ok", "192.0.2.10/24"]
    assert lines[0].index("TYPE") == 18  # ADDROBJ's width in show_addr_fields


def test_ofmt_check_needs_o_with_p_and_refuses_unknown_fields_when_parsable() -> None:
    with pytest.raises(show.ShowError, match="-p requires -o"):
        fields(None, parsable=True)
    with pytest.raises(show.ShowError, match="unknown output field"):
        fields("addrobj,nosuch", parsable=True)
    chosen, warning = show.select(show.ADDR_FIELDS, "ADDROBJ,nosuch", show.ADDR_DEFAULT,
                                  False)
    assert [f.name for f in chosen] == ["ADDROBJ"] and "nosuch" in (warning or "")
    assert len(fields("all")) == len(show.ADDR_FIELDS)


def test_show_addr_selects_an_object_or_an_interfaces_objects() -> None:
    assert [r["ADDROBJ"] for r in show.address_rows(OBJECTS, "e0/")] == ["e0/test"]
    assert [r["ADDR"] for r in show.address_rows(OBJECTS, "ipmp0/v4")] == ["192.0.2.10/24"]
    with pytest.raises(show.ShowError, match="address object not found"):
        show.address_rows(OBJECTS, "ipmp0/nosuch")
    with pytest.raises(show.ShowError, match="invalid address object name provided"):
        show.address_rows(OBJECTS, "ipmp0")
    chosen, _ = show.select(show.ADDR_FIELDS, "addrobj,current,persistent", "", True)
    assert show.render(chosen, show.address_rows(OBJECTS, "e0/test"), True) == \
        ["e0/test:U---d:U-d"]


def iface(name: str, group: str, **kw: object) -> InterfaceView:
    base = {"active": True, "flags": IfFlags(), "link": LinkState.UP,
            "probe": ProbeState.UNKNOWN, "state": IfState.OK}
    return InterfaceView(name=name, group=group, **{**base, **kw})  # type: ignore[arg-type]


def test_show_if_lists_the_ipmp_interface_over_its_members_then_the_members() -> None:
    snap = Snapshot(
        groups=[GroupView("ipmp0", GroupState.DEGRADED, None, True, active=["e0"])],
        interfaces=[iface("e0", "ipmp0", state=IfState.UNKNOWN),
                    iface("e1", "ipmp0", active=False, state=IfState.FAILED),
                    iface("e2", "ipmp0", active=False, state=IfState.OFFLINE),
                    iface("e3", "ipmp0", active=False, present=False)])
    chosen, _ = show.select(show.IF_FIELDS, None, show.IF_DEFAULT, False)
    rows = show.interface_rows(snap, None)
    assert [[r[f.name] for f in chosen] for r in rows] == [
        ["ipmp0", "ipmp", "ok", "yes", "e0 e1 e2 e3"], ["e0", "ip", "ok", "yes", ""],
        ["e1", "ip", "failed", "no", ""], ["e2", "ip", "offline", "no", ""],
        ["e3", "ip", "disabled", "no", ""]]
    assert show.render(chosen, rows[1:2], False)[1].split() == ["e0", "ip", "ok", "yes", "--"]
    with pytest.raises(show.ShowError, match="cannot get information for interface e9"):
        show.interface_rows(snap, "e9")
