"""ipmpstat formatting (ipmp_core.ipmpstat_format) and the ipmpstat command, without a daemon.

The expected lines are those of illumos ipmpstat for the same state (the samples in the
Solaris documentation and ipmp-semantics.md section 10), so a difference here is a
difference an operator coming from Solaris would see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ipmp_core import ipmpstat_fields
from ipmp_core import ipmpstat_format as fmt
from ipmp_core.cli import ipmpstat as cli
from ipmp_core.constants import EVENT_VERSION
from ipmp_core.control_client import ControlError, DaemonUnreachable
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
    TargetFamilyView,
    TargetMode,
)

# --------------------------------------------------------------------------- fixtures


def sample_snapshot() -> Snapshot:
    """The Solaris documentation's example system, plus an anonymous-group interface."""
    return Snapshot(
        groups=[
            GroupView("itops0", GroupState.OK, 10_000, True, ["subitops0", "subitops1"]),
            GroupView("acctg1", GroupState.FAILED, None, True, [], [], ["hme0", "hme1"]),
            GroupView(
                "field2",
                GroupState.DEGRADED,
                20_000,
                True,
                ["fops0", "fops3"],
                ["fops2"],
                ["fops1"],
            ),
        ],
        interfaces=[
            InterfaceView(
                "subitops0",
                "itops0",
                True,
                IfFlags(mcast4=True, bcast4=True),
                LinkState.UP,
                ProbeState.OK,
                IfState.OK,
                testaddrs=["192.168.85.30"],
                target_mode=TargetMode.ROUTES,
                targets=["192.168.85.1", "192.168.85.3"],
            ),
            InterfaceView(
                "hme1",
                "acctg1",
                False,
                IfFlags(inactive=True, standby=True),
                LinkState.DOWN,
                ProbeState.UNKNOWN,
                IfState.FAILED,
                testaddrs=["192.168.1.9"],
                target_mode=TargetMode.DISABLED,
            ),
            InterfaceView(
                "eth9", "", True, IfFlags(), LinkState.UP, ProbeState.DISABLED, IfState.OK
            ),
        ],
        addresses=[
            AddressView(
                "192.168.10.10", 24, AddrState.UP, "itops0", "subitops0", ["subitops0", "subitops1"]
            ),
            AddressView("192.168.10.15", 24, AddrState.DOWN, "itops0", "", ["subitops0"]),
        ],
    )


def spec(
    mode: str, fields: str | None = None, parsable: bool = False, js: bool = False
) -> ipmpstat_fields.OutputSpec:
    return ipmpstat_fields.make_spec([mode], fields, parsable, js)


def render(mode: str, fields: str | None = None, parsable: bool = False, js: bool = False) -> str:
    return fmt.render_snapshot(spec(mode, fields, parsable, js), sample_snapshot())


# --------------------------------------------------------------------------- human output


def test_groups_human_matches_solaris_sample() -> None:
    assert render("g").splitlines() == [
        "GROUP       GROUPNAME   STATE     FDT       INTERFACES",
        "itops0      itops0      ok        10.00s    subitops0 subitops1",
        "acctg1      acctg1      failed    --        [hme0 hme1]",
        "field2      field2      degraded  20.00s    fops0 fops3 (fops2) [fops1]",
    ]


def test_interfaces_human_flags_and_anonymous_group() -> None:
    assert render("i").splitlines() == [
        "INTERFACE   ACTIVE  GROUP       FLAGS     LINK      PROBE     STATE",
        "subitops0   yes     itops0      --mb---   up        ok        ok",
        "hme1        no      acctg1      is-----   down      unknown   failed",
        "eth9        yes     --          -------   up        disabled  ok",
    ]


def test_targets_human_testaddr_blank_when_disabled() -> None:
    assert render("t").splitlines() == [
        "INTERFACE   MODE      TESTADDR            TARGETS",
        "subitops0   routes    192.168.85.30       192.168.85.1 192.168.85.3",
        "hme1        disabled  --                  --",
        "eth9        disabled  --                  --",
    ]


def test_addresses_human_down_address_has_no_outbound() -> None:
    assert render("a").splitlines() == [
        "ADDRESS                   STATE  GROUP       INBOUND     OUTBOUND",
        "192.168.10.10             up     itops0      subitops0   subitops0 subitops1",
        "192.168.10.15             down   itops0      --          --",
    ]


def test_human_output_is_empty_without_rows() -> None:
    assert fmt.render_snapshot(spec("g"), Snapshot()) == ""


def test_long_value_borrows_from_following_columns_like_ofmt() -> None:
    group = GroupView("averyverylonggroup", GroupState.OK, 10_000, True, ["a"])
    text = fmt.render_snapshot(spec("g"), Snapshot(groups=[group]))
    # Each too-long value gets one space and adds to a debt that later columns repay out
    # of their padding: GROUP and GROUPNAME owe 14, so STATE and FDT shrink to fit.
    assert text.splitlines()[1] == "averyverylonggroup averyverylonggroup ok 10.00s a"
    short = GroupView("g", GroupState.OK, 10_000, True, ["a"], [], [])
    assert fmt.render_snapshot(spec("g"), Snapshot(groups=[short, group])).splitlines()[1] == (
        "g           g           ok        10.00s    a"
    )


def test_flags_text_every_letter_in_order() -> None:
    every = IfFlags(True, True, True, True, True, True, True)
    assert fmt.flags_text(every) == "ismbMdh"
    assert fmt.flags_text(IfFlags()) == "-------"
    assert fmt.flags_text(IfFlags(down=True, duphw=True)) == "-----dh"
    assert fmt.flags_text(IfFlags(mcast6=True)) == "----M--"


def test_fdt_text() -> None:
    assert fmt.fdt_text(10_000) == "10.00s"
    assert fmt.fdt_text(1_234) == "1.23s"
    assert fmt.fdt_text(None) == ""
    assert fmt.fdt_text(0) == ""


def test_members_text_classes() -> None:
    group = GroupView("g", GroupState.DEGRADED, None, True, ["a"], ["b", "c"], ["d"])
    assert fmt.members_text(group) == "a (b c) [d]"
    only_unusable = GroupView("g", GroupState.FAILED, None, True, [], [], ["x", "y"])
    assert fmt.members_text(only_unusable) == "[x y]"
    assert fmt.members_text(GroupView("g", GroupState.FAILED, None, True)) == ""


# --------------------------------------------------------------------------- field selection


def test_default_human_fields_fit_80_columns_so_probe_mode_drops_rttdev() -> None:
    names = [f.name for f in spec("p").fields]
    assert names == ["TIME", "INTERFACE", "PROBE", "NETRTT", "RTT", "RTTAVG", "TARGET"]
    assert [f.name for f in spec("p", "all").fields][-1] == "RTTDEV"
    assert [f.name for f in spec("a").fields] == [
        "ADDRESS",
        "STATE",
        "GROUP",
        "INBOUND",
        "OUTBOUND",
    ]


def test_o_all_prints_every_field_in_default_order() -> None:
    assert render("g", "all") == render("g")
    assert render("i", "ALL").splitlines()[0].split() == [
        "INTERFACE",
        "ACTIVE",
        "GROUP",
        "FLAGS",
        "LINK",
        "PROBE",
        "STATE",
    ]


def test_o_is_case_insensitive_and_ordered() -> None:
    lines = render("g", "State,GROUP").splitlines()
    assert lines == [
        "STATE     GROUP",
        "ok        itops0",
        "failed    acctg1",
        "degraded  field2",
    ]


def test_human_empty_fields_show_dashes() -> None:
    lines = render("g", "group,fdt,state").splitlines()
    assert lines[2] == "acctg1      --        failed"


# --------------------------------------------------------------------------- parsable output


def test_parsable_matches_solaris_sample_and_shows_empty_as_nothing() -> None:
    assert render("g", "group,fdt,interfaces", parsable=True).splitlines() == [
        "itops0:10.00s:subitops0 subitops1",
        "acctg1::[hme0 hme1]",
        "field2:20.00s:fops0 fops3 (fops2) [fops1]",
    ]


def test_parsable_escapes_colon_and_backslash_with_several_fields() -> None:
    fields = spec("a", "address,inbound", parsable=True).fields
    row = {"ADDRESS": "fe80::1", "INBOUND": "a\\b"}
    assert fmt.format_parsable_row(fields, row) == "fe80\\:\\:1:a\\\\b"
    row = {"ADDRESS": "a:b", "INBOUND": ""}
    assert fmt.format_parsable_row(fields, row) == "a\\:b:"


def test_parsable_single_field_is_not_escaped() -> None:
    fields = spec("a", "address", parsable=True).fields
    assert fmt.format_parsable_row(fields, {"ADDRESS": "fe80::1"}) == "fe80::1"
    assert fmt.format_parsable_row(fields, {"ADDRESS": "a\\b"}) == "a\\b"


def test_parsable_has_no_header() -> None:
    out = render("i", "interface,flags", parsable=True)
    assert out == "subitops0:--mb---\nhme1:is-----\neth9:-------\n"


def test_parsable_ipv6_address_escaped() -> None:
    snap = Snapshot(addresses=[AddressView("2001:db8::5", 64, AddrState.UP, "g0", "e0", ["e0"])])
    out = fmt.render_snapshot(spec("a", "address,state", parsable=True), snap)
    assert out == "2001\\:db8\\:\\:5:up\n"


# --------------------------------------------------------------------------- JSON


def test_json_default_is_every_field_keyed_lower_case() -> None:
    data = json.loads(render("g", js=True))
    assert data[2] == {
        "group": "field2",
        "groupname": "field2",
        "state": "degraded",
        "fdt": "20.00s",
        "interfaces": "fops0 fops3 (fops2) [fops1]",
    }
    assert data[1]["fdt"] == ""


def test_json_respects_o_and_keeps_empty_as_empty_string() -> None:
    data = json.loads(render("i", "interface,group", js=True))
    assert data == [
        {"interface": "subitops0", "group": "itops0"},
        {"interface": "hme1", "group": "acctg1"},
        {"interface": "eth9", "group": ""},
    ]


def test_json_probe_mode_default_includes_rttdev() -> None:
    assert [f.name for f in spec("p", js=True).fields][-1] == "RTTDEV"


def test_json_without_rows_is_empty_list() -> None:
    assert json.loads(fmt.render_snapshot(spec("a", js=True), Snapshot())) == []


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("modes", "fields", "parsable", "as_json", "message"),
    [
        (["g"], "group,bogus", True, False, "unknown output field: `bogus'"),
        (["g"], "group,x,y", True, False, "unknown output fields: `x' `y'"),
        (["i"], "interface,fdt", False, True, "unknown output field: `fdt'"),
        (["i"], "fdt", False, False, "no valid output fields"),
        (["g"], None, True, False, "output fields must be specified in parsable mode"),
        (["g"], "", True, False, "output fields must be specified in parsable mode"),
        (["g"], "all", True, False, "output field `all' invalid in parsable mode"),
        (["g"], ",,", False, False, "no valid output fields"),
        (["g", "i"], None, False, False, "only one output mode may be specified"),
        (["g", "g"], None, False, False, "only one output mode may be specified"),
        ([], None, False, False, "an output mode is required"),
        (["g"], "group", True, True, "-P and -j cannot be used together"),
    ],
)
def test_usage_errors(
    modes: list[str], fields: str | None, parsable: bool, as_json: bool, message: str
) -> None:
    with pytest.raises(ipmpstat_fields.StatUsageError) as caught:
        ipmpstat_fields.make_spec(modes, fields, parsable, as_json)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------- probes

START = 5_000_000_000


PROBE_START = START + 1_255_000_000


def probe_event(**overrides: Any) -> dict[str, Any]:
    """An acked probe: sent 0.1 ms after its start, answered 0.512 ms later, processed
    0.288 ms after that (RTT 0.9 ms from start to processing)."""
    event = {
        "type": "probe",
        "version": EVENT_VERSION,
        "interface": "subitops0",
        "probe": 1017,
        "status": "acked",
        "start_ns": PROBE_START,
        "sent_ns": PROBE_START + 100_000,
        "ackrecv_ns": PROBE_START + 612_000,
        "ackproc_ns": PROBE_START + 900_000,
        "rttavg_ms": 1.125,
        "target": "192.168.85.1",
        "rttdev_ms": 0.25,
    }
    event.update(overrides)
    return event


def test_probe_row_acked() -> None:
    assert fmt.probe_row(probe_event(), START) == {
        "TIME": "1.25s",
        "INTERFACE": "subitops0",
        "PROBE": "1017",
        "NETRTT": "0.51ms",
        "RTT": "0.90ms",
        "RTTAVG": "1.12ms",
        "TARGET": "192.168.85.1",
        "RTTDEV": "0.25ms",
    }


def test_probe_row_lost_has_no_round_trip_but_keeps_target_stats() -> None:
    row = fmt.probe_row(probe_event(status="lost", ackrecv_ns=None, ackproc_ns=None), START)
    assert (row["NETRTT"], row["RTT"]) == ("", "")
    assert row["RTTAVG"] == "1.12ms"
    fields = spec("p").fields
    assert fmt.format_human_row(fields, row) == (
        "1.25s     subitops0   1017   --        --        1.12ms    192.168.85.1"
    )


def test_probe_row_unknown_average_and_missing_values() -> None:
    row = fmt.probe_row(probe_event(rttavg_ms=0, rttdev_ms=None, target=None), START)
    assert (row["RTTAVG"], row["RTTDEV"], row["TARGET"]) == ("", "", "?")
    row = fmt.probe_row({"type": "probe", "status": "lost"}, START)
    assert (row["TIME"], row["INTERFACE"], row["PROBE"]) == ("?", "?", "?")


def test_probe_row_resolves_target_name() -> None:
    row = fmt.probe_row(probe_event(), START, lambda addr: {"192.168.85.1": "gw"}[addr])
    assert row["TARGET"] == "gw"


def test_probe_rtt_includes_the_daemons_processing_as_ipmpstat_c_sfunc_probe_rtt() -> None:
    """ipmpstat.c: RTT = ackproc - start, NETRTT = ackrecv - sent. A reply that waited
    3 ms in the daemon shows in RTT, not in NETRTT."""
    row = fmt.probe_row(probe_event(ackproc_ns=PROBE_START + 3_612_000), START)
    assert (row["NETRTT"], row["RTT"]) == ("0.51ms", "3.61ms")
    row = fmt.probe_row(probe_event(ackproc_ns=None), START)
    assert row["RTT"] == "?"  # acked, but the time cannot be obtained: ofmt's unknown


def test_a_probe_event_of_another_version_is_dropped_as_ipmpstat_c_probe_event() -> None:
    assert fmt.probe_event_warning(probe_event()) is None
    assert fmt.probe_event_warning(probe_event(version=EVENT_VERSION + 1)) == (
        f"dropped event with unsupported event version {EVENT_VERSION + 1}")
    event = probe_event()
    del event["version"]
    assert fmt.probe_event_warning(event) == "dropped event with no event version"
    assert fmt.probe_event_warning({"type": "group-state"}) is None  # not -p's business


def test_cli_probe_mode_warns_and_skips_an_event_of_another_version(
        client: type[FakeClient]) -> None:
    client.events = [probe_event(version=1), probe_event(probe=1018)]
    result = run("-pn")
    assert result.stdout.splitlines()[1:] == [
        "1.25s     subitops0   1018   0.51ms    0.90ms    1.12ms    192.168.85.1"]
    assert result.stderr == "ipmpstat: warning: dropped event with unsupported event version 1\n"


def test_only_acked_and_lost_probes_are_reported() -> None:
    assert fmt.is_reported_probe(probe_event())
    assert fmt.is_reported_probe(probe_event(status="lost"))
    assert not fmt.is_reported_probe(probe_event(status="sent"))
    assert not fmt.is_reported_probe({"type": "group-state", "status": "acked"})


def test_probe_header_and_parsable_row() -> None:
    human = spec("p")
    assert fmt.format_header(human.fields) == (
        "TIME      INTERFACE   PROBE  NETRTT    RTT       RTTAVG    TARGET"
    )
    parsable = spec("p", "time,probe,target", parsable=True)
    line = fmt.format_row(parsable, fmt.probe_row(probe_event(), START))
    assert line == "1.25s:1017:192.168.85.1"


# --------------------------------------------------------------------------- host names

HOSTS = """\
127.0.0.1   localhost
# comment line
192.168.85.1  router1.example.com router1   # default router
192.168.85.1  second-entry-ignored
2001:db8:0::1 v6host
not-an-address foo
192.168.85.30
"""


def test_parse_hosts_first_entry_canonical_name() -> None:
    table = fmt.parse_hosts(HOSTS)
    assert table == {
        "127.0.0.1": "localhost",
        "192.168.85.1": "router1.example.com",
        "2001:db8::1": "v6host",
    }


def test_hosts_resolver_normalises_and_falls_back_to_numeric() -> None:
    resolve = fmt.hosts_resolver(fmt.parse_hosts(HOSTS))
    assert resolve("2001:db8::0:1") == "v6host"
    assert resolve("192.168.85.3") == "192.168.85.3"
    assert resolve("garbage") == "garbage"


def test_resolver_applies_to_address_testaddr_and_targets() -> None:
    resolve = fmt.hosts_resolver({"192.168.85.1": "gw", "192.168.10.10": "www"})
    lines = fmt.render_snapshot(spec("t", "targets"), sample_snapshot(), resolve).splitlines()
    assert lines[1] == "gw 192.168.85.3"
    lines = fmt.render_snapshot(spec("a", "address"), sample_snapshot(), resolve).splitlines()
    assert lines[1:] == ["www", "192.168.10.15"]


# --------------------------------------------------------------------------- the command


class FakeClient:
    """Stands in for ControlClient: serves a snapshot dict or raises a chosen error."""

    snapshot_data: dict[str, Any] = {}
    error: ControlError | None = None
    alive = True
    events: list[dict[str, Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return self.snapshot_data

    def ping(self) -> bool:
        return self.alive

    def subscribe(self) -> Iterator[dict[str, Any]]:
        yield from self.events
        raise KeyboardInterrupt


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> type[FakeClient]:
    class Client(FakeClient):
        snapshot_data = sample_snapshot().to_dict()

    hosts = tmp_path / "hosts"
    hosts.write_text("192.168.10.10 www.example.com www\n192.168.85.1 gw\n")
    monkeypatch.setattr(cli, "ControlClient", Client)
    monkeypatch.setattr(cli, "HOSTS_FILE", str(hosts))
    monkeypatch.setattr(cli, "_clock_ns", lambda: START)
    return Client


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.ipmpstat, list(args))


def test_cli_groups(client: type[FakeClient]) -> None:
    result = run("-g")
    assert result.exit_code == 0, result.output
    assert result.stdout == render("g")


def test_cli_combined_flags_parsable(client: type[FakeClient]) -> None:
    result = run("-gP", "-o", "group,fdt,interfaces")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[2] == "field2:20.00s:fops0 fops3 (fops2) [fops1]"


def test_cli_names_from_hosts_file_unless_numeric(client: type[FakeClient]) -> None:
    named = run("-a", "-o", "address")
    assert named.stdout.splitlines() == ["ADDRESS", "www.example.com", "192.168.10.15"]
    numeric = run("-an", "-o", "address")
    assert numeric.stdout.splitlines() == ["ADDRESS", "192.168.10.10", "192.168.10.15"]


def test_cli_missing_hosts_file_is_numeric(
    client: type[FakeClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "HOSTS_FILE", "/nonexistent/hosts")
    assert run("-a", "-P", "-o", "address").stdout == "192.168.10.10\n192.168.10.15\n"


def test_cli_json(client: type[FakeClient]) -> None:
    result = run("-i", "-j")
    assert result.exit_code == 0
    assert json.loads(result.stdout)[1]["flags"] == "is-----"


def test_cli_daemon_unreachable_is_one_line_exit_1(client: type[FakeClient]) -> None:
    client.error = DaemonUnreachable("connection refused")
    result = run("-g")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "ipmpstat: the IPMP daemon is not running (connection refused)\n"


def test_cli_daemon_error_is_one_line_exit_1(client: type[FakeClient]) -> None:
    client.error = ControlError("permission", "permission denied")
    result = run("-i")
    assert result.exit_code == 1
    assert result.stderr == "ipmpstat: cannot snapshot IPMP state: permission denied\n"


def test_cli_malformed_snapshot_is_reported(client: type[FakeClient]) -> None:
    client.snapshot_data = {"groups": [{"name": "g"}]}
    result = run("-g")
    assert result.exit_code == 1
    assert result.stderr.startswith("ipmpstat: cannot snapshot IPMP state: malformed reply")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-g", "-i"], "ipmpstat: only one output mode may be specified\n"),
        ([], "ipmpstat: an output mode is required: usage: "),
        (["-gP"], "ipmpstat: output fields must be specified in parsable mode\n"),
        (["-g", "-P", "-o", "all"], "ipmpstat: output field `all' invalid in parsable mode\n"),
        (["-g", "-o", "nope"], "ipmpstat: no valid output fields\n"),
        (["-g", "-P", "-o", "group,nope"], "ipmpstat: unknown output field: `nope'\n"),
        (["-x"], "ipmpstat: No such option"),
        (["-g", "extra"], "ipmpstat: Got unexpected extra argument (extra)"),
    ],
)
def test_cli_usage_errors_exit_1_one_line(
    client: type[FakeClient], args: list[str], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 1  # illumos ipmpstat's usage() and die(): EXIT_FAILURE
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_cli_help_exits_0(client: type[FakeClient]) -> None:
    result = run("-h")
    assert result.exit_code == 0
    assert "-a, -g, -i, -p, -t" in result.stdout


def test_cli_probe_mode_prints_header_then_reported_probes(client: type[FakeClient]) -> None:
    client.events = [
        probe_event(),
        probe_event(status="sent", probe=1018),
        {"type": "group-state", "group": "itops0"},
        probe_event(status="lost", probe=1019, ackrecv_ns=None, ackproc_ns=None),
    ]
    result = run("-p")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "TIME      INTERFACE   PROBE  NETRTT    RTT       RTTAVG    TARGET",
        "1.25s     subitops0   1017   0.51ms    0.90ms    1.12ms    gw",
        "1.25s     subitops0   1019   --        --        1.12ms    gw",
    ]


def test_cli_probe_mode_parsable_and_json(client: type[FakeClient]) -> None:
    client.events = [probe_event()]
    parsable = run("-pnP", "-o", "interface,rttdev,target")
    assert parsable.stdout == "subitops0:0.25ms:192.168.85.1\n"
    as_json = run("-p", "-j", "-o", "probe,rtt")
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == [
        {"probe": "1017", "rtt": "0.90ms"}
    ]


def test_cli_probe_mode_prints_its_header_with_the_first_probe_as_ofmt_does(
        client: type[FakeClient]) -> None:
    client.events = []  # ofmt_print() prints the header with a row, so none without one
    result = run("-p")
    assert result.exit_code == 0
    assert result.stdout == ""


def test_cli_probe_mode_daemon_down(client: type[FakeClient]) -> None:
    client.alive = False
    result = run("-p")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "ipmpstat: the IPMP daemon is not running\n"


def test_main_returns_exit_code(client: type[FakeClient], capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["-g", "-P", "-o", "groupname"]) == 0
    assert capsys.readouterr().out == "itops0\nacctg1\nfield2\n"
    assert cli.main(["-g", "-t"]) == 1
    assert capsys.readouterr().err == "ipmpstat: only one output mode may be specified\n"


def test_targets_one_row_per_probing_family_and_none_shown_as_dashes() -> None:
    snap = sample_snapshot()
    iface = snap.interfaces[0]
    iface.target_families = [
        TargetFamilyView(4, TargetMode.MULTICAST, "192.168.85.30", []),
        TargetFamilyView(6, TargetMode.MULTICAST, "fe80::30", ["fe80::1"]),
    ]
    snap = Snapshot.from_dict(snap.to_dict())  # the views cross the control socket
    lines = fmt.render_snapshot(spec("t"), snap).splitlines()
    assert lines[1].split() == ["subitops0", "multicast", "192.168.85.30", "--"]
    assert lines[2].split() == ["subitops0", "multicast", "fe80::30", "fe80::1"]
    assert lines[3].split() == ["hme1", "disabled", "--", "--"]
