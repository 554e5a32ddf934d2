"""ipmpstat as illumos' ipmpstat.c and libofmt's ofmt.c behave, for scripts and people:
unknown -o fields, exit statuses, ``?`` for what cannot be obtained, the header repeated
like ofmt_print() repeats it, -p refused when nothing probes, and the rows' order."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ipmp_core import ipmpstat_format as fmt
from ipmp_core.cli import ipmpstat as cli
from ipmp_core.model import (
    AddressView,
    AddrState,
    GroupState,
    GroupView,
    IfFlags,
    IfState,
    InterfaceView,
    LinkState,
    ProbeState,
    Snapshot,
    TargetMode,
)
from tests.support.engine_helpers import World

HEADER_I = "INTERFACE   ACTIVE  GROUP       FLAGS     LINK      PROBE     STATE"


def iface(name: str, probe: ProbeState = ProbeState.DISABLED, group: str = "ipmp0"
          ) -> InterfaceView:
    return InterfaceView(name, group, True, IfFlags(), LinkState.UP, probe, IfState.OK,
                         target_mode=TargetMode.DISABLED)


def snapshot(*interfaces: InterfaceView) -> Snapshot:
    return Snapshot(
        groups=[GroupView("ipmp0", GroupState.OK, None, True, [i.name for i in interfaces])],
        interfaces=list(interfaces),
        addresses=[AddressView("198.51.100.10", 24, AddrState.UP, "ipmp0", "e0", ["e0"])],
    )


class FakeClient:
    data: dict[str, Any] = {}
    events: list[dict[str, Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return self.data

    def ping(self) -> bool:
        return True

    def subscribe(self) -> Iterator[dict[str, Any]]:
        yield from self.events
        raise KeyboardInterrupt


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> type[FakeClient]:
    class Client(FakeClient):
        data = snapshot(iface("e0"), iface("e1")).to_dict()
        events = []

    monkeypatch.setattr(cli, "ControlClient", Client)
    monkeypatch.setattr(cli, "HOSTS_FILE", "/nonexistent/hosts")
    return Client


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.ipmpstat, list(args))


# --------------------------------------------------------------------------- -p
def test_p_dies_when_probe_based_failure_detection_is_disabled(client: type[FakeClient]):
    """probe_output(): no interface with probing enabled -> die(), exit 1, no header."""
    result = run("-p")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "ipmpstat: probe-based failure detection is disabled\n"


def test_p_follows_probes_when_one_interface_probes(client: type[FakeClient]):
    client.data = snapshot(iface("e0"), iface("e1", ProbeState.UNKNOWN)).to_dict()
    result = run("-p")
    assert result.exit_code == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")  # following: no probe came yet


# --------------------------------------------------------------------------- -o
def test_unknown_output_field_is_ignored_with_ofmt_warning_for_people(client):
    """main(): OFMT_EBADFIELDS in human mode is warn()ed and the other fields print."""
    result = run("-a", "-o", "address,bogus,inbound")
    assert result.exit_code == 0
    assert result.stderr == "ipmpstat: warning: ignoring unknown output field: `bogus'\n"
    assert result.stdout.splitlines() == ["ADDRESS                   INBOUND",
                                          "198.51.100.10             e0"]


def test_unknown_output_fields_plural_warning(client):
    result = run("-g", "-o", "x,group,y")
    assert result.exit_code == 0
    assert result.stderr == "ipmpstat: warning: ignoring unknown output fields: `x' `y'\n"
    assert result.stdout.splitlines() == ["GROUP", "ipmp0"]


def test_unknown_output_field_is_fatal_for_scripts_with_exit_1(client):
    """main(): in parsable mode ofmt's error is die()d: exit 1, nothing on stdout."""
    for args in (["-a", "-P", "-o", "address,bogus"], ["-a", "-j", "-o", "address,bogus"]):
        result = run(*args)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == "ipmpstat: unknown output field: `bogus'\n"


def test_only_unknown_output_fields_is_no_valid_output_fields_exit_1(client):
    """ofmt_open() returns OFMT_ENOFIELDS when no field is valid, in every mode."""
    for args in (["-g", "-o", "bogus"], ["-g", "-P", "-o", "bogus,x"]):
        result = run(*args)
        assert (result.exit_code, result.stderr) == (1, "ipmpstat: no valid output fields\n")


def test_usage_error_exits_1_like_ipmpstat_usage(client):
    assert run("-x").exit_code == 1
    assert run("-g", "-i").exit_code == 1


# --------------------------------------------------------------------------- ?
def test_value_that_cannot_be_obtained_prints_question_mark_in_every_mode(client):
    """ofmt prints OFMT_VAL_UNKNOWN for a value the callback could not obtain; a state
    this ipmpstat does not know (a newer daemon) or a key missing (an older one) is
    such a value, and the rest of the row and of the output still prints."""
    data = snapshot(iface("e0", ProbeState.OK)).to_dict()
    data["groups"][0]["state"] = "testing"
    row = data["interfaces"][0]
    row.update(link="flapping", probe="sleeping", state="dreaming", target_mode="anycast")
    del row["flags"], row["active"]
    data["addresses"][0]["state"] = "tentative"
    client.data = data
    outputs = {mode: run(f"-{mode}", "-P", "-o", fields) for mode, fields in (
        ("g", "group,state"), ("i", "interface,active,flags,link,probe,state"),
        ("t", "interface,mode"), ("a", "address,state,inbound"))}
    assert all(r.exit_code == 0 for r in outputs.values()), outputs
    assert outputs["g"].stdout == "ipmp0:?\n"
    assert outputs["i"].stdout == "e0:?:?:?:?:?\n"
    assert outputs["t"].stdout == "e0:?\n"
    assert outputs["a"].stdout == "198.51.100.10:?:e0\n"
    human = run("-i")
    assert human.stdout.splitlines()[1].split() == ["e0", "?", "ipmp0", "?", "?", "?", "?"]


# --------------------------------------------------------------------------- header
def test_header_repeated_every_24_lines_when_not_a_tty(client: type[FakeClient]):
    """ofmt_update_winsize(): 24 rows when stdout is not a terminal; ofmt_print()
    prints the header whenever its line count (headers included) is a multiple."""
    client.data = snapshot(*(iface(f"e{n}") for n in range(50))).to_dict()
    lines = run("-i").stdout.splitlines()
    assert len(lines) == 53
    assert [n for n, line in enumerate(lines) if line == HEADER_I] == [0, 24, 48]
    assert lines[1].startswith("e0 ") and lines[25].startswith("e23 ")


def test_parsable_and_json_output_never_repeat_a_header(client: type[FakeClient]):
    client.data = snapshot(*(iface(f"e{n}") for n in range(50))).to_dict()
    assert len(run("-i", "-P", "-o", "interface").stdout.splitlines()) == 50
    assert "INTERFACE" not in run("-i", "-j").stdout


def test_header_repeated_each_window_of_rows_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(cli.sys, "stdout", Tty())
    window = os.terminal_size((80, 10))
    monkeypatch.setattr(cli.shutil, "get_terminal_size", lambda fallback: window)
    assert cli._header_every() == 10
    monkeypatch.setattr(cli.sys, "stdout", io.StringIO())
    assert cli._header_every() == cli.OFMT_DEFAULT_ROWS == 24


def test_with_headers_counts_the_header_as_a_line_like_ofmt():
    assert fmt.with_headers("H", ["a", "b", "c", "d", "e"], 3) == [
        "H", "a", "b", "H", "c", "d", "H", "e"]
    assert fmt.with_headers("H", [], 3) == []
    assert fmt.with_headers("H", ["a", "b"], None) == ["H", "a", "b"]


# --------------------------------------------------------------------------- order
def test_rows_walk_group_by_group_in_creation_then_configured_order():
    """walk_if()/walk_addr(): interfaces and addresses group by group; ours in a stable
    order (groups as created, members as configured, not sorted), interfaces in no
    group last, as in.mpathd's anonymous group ends its list."""
    w = World("e0", "e1", "e2", "e3")
    w.group("zeta", "e2", "e0")
    w.engine.track_all = True  # e3 joins the anonymous group before group alpha exists
    w.record(w.engine.set_test_addresses("e3", ["198.51.100.30/24"], w.now))
    w.group("alpha", "e1")
    w.addr("zeta", "198.51.100.12/24", "198.51.100.11/24")
    w.addr("alpha", "198.51.100.10/24")
    snap = w.engine.snapshot()
    assert [g.name for g in snap.groups] == ["zeta", "alpha", ""]  # the anonymous one last
    assert [(i.name, i.group) for i in snap.interfaces] == [
        ("e2", "zeta"), ("e0", "zeta"), ("e1", "alpha"), ("e3", "")]
    assert [a.address for a in snap.addresses] == [
        "198.51.100.12", "198.51.100.11", "198.51.100.10"]
