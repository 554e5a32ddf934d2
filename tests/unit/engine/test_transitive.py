"""Transitive probing (Solaris 11's probing without test addresses), on a simulated
network with a fake clock: who probes what, the verdicts, the entry points, the views."""

from __future__ import annotations

import json
from ipaddress import IPv4Interface

import pytest

from ipmp_core.constants import NUM_PROBE_FAILS, NUM_PROBE_REPAIRS
from ipmp_core.engine.actions import BindAddress, ProbeKind, Publish, SendTransitive
from ipmp_core.engine.judgement import ProbeVerdict, transitive_verdict
from ipmp_core.engine.prober import TRANSITIVE, ProbeStatus
from ipmp_core.engine.state import Group, Member
from ipmp_core.engine.transitive import choose_target
from ipmp_core.ipmpstat_format import probe_row, target_rows
from ipmp_core.model import GroupState, IfState, LinkState, ProbeState, Snapshot, TargetMode
from tests.support.probe_sim import ROUTER
from tests.support.transitive_sim import transitive_world

FDT = 7000  # probe interval 1000 ms
DATA = "198.51.100.10"


def rows(w, name: str) -> list[dict[str, str]]:  # noqa: ANN001
    return target_rows(w.iface(name))


def failed(w, name: str) -> bool:  # noqa: ANN001
    return w.iface(name).state is IfState.FAILED


# --------------------------------------------------------------------------- who probes what
def test_the_carrier_probes_the_targets_from_its_data_address_the_other_probes_it():
    w = transitive_world("e0", "e1")
    assert w.where()[DATA] == "e0"
    since = w.now - FDT
    icmp = [p for p in w.icmp_from("e0", since) if p.kind is ProbeKind.UNICAST]
    assert icmp and all((p.source, p.dest) == (DATA, ROUTER) for p in icmp)
    assert not w.icmp_from("e1", since)  # e1 has no address of its own to probe from
    assert w.from_member("e1", since) and not w.from_member("e0", since)
    assert all(p.target == "e0" for p in w.from_member("e1", since))
    assert rows(w, "e0") == [{"INTERFACE": "e0", "MODE": "routes", "TESTADDR": DATA,
                              "TARGETS": ROUTER}]
    assert rows(w, "e1") == [{"INTERFACE": "e1", "MODE": "transitive", "TESTADDR": "<e1>",
                              "TARGETS": "<e0>"}]
    assert w.iface("e1").target_mode is TargetMode.TRANSITIVE
    assert w.iface("e1").testaddrs == ["<e1>"] and w.iface("e1").targets == ["<e0>"]
    for m in ("e0", "e1"):  # ipmpstat -i PROBE as for classic probing
        assert w.iface(m).probe is ProbeState.OK and w.iface(m).state is IfState.OK
    assert w.group_view("ipmp0").fdt_ms == FDT  # probing: -g shows the FDT


def test_transitive_probing_off_nobody_probes_without_a_test_address():
    w = transitive_world("e0", "e1")
    group = w.engine.groups["ipmp0"]
    group.transitive_probing = False
    out: list = []
    w.engine.rules.refresh(group, w.now, out)  # as the setting's request will
    w.record(out)
    since = w.now
    w.run(2 * FDT)
    assert not w.from_member("e1", since) and not w.icmp_from("e0", since)
    assert w.iface("e1").probe is ProbeState.DISABLED
    assert rows(w, "e1")[0]["MODE"] == "disabled"


def test_a_member_with_a_test_address_keeps_classic_probing():
    w = transitive_world("e0", "e1")
    w.record(w.engine.set_test_addresses("e0", ["198.51.100.21/24"], w.now))
    since = w.now
    w.run(2 * FDT)
    icmp = [p for p in w.icmp_from("e0", since) if p.kind is ProbeKind.UNICAST]
    assert icmp and {p.source for p in icmp} == {"198.51.100.21"}
    assert all(p.target == "e0" for p in w.from_member("e1", since))  # e0 still carries


def test_transitive_probes_keep_the_classic_schedule():
    w = transitive_world("e0", "e1")
    w.run(20 * 1000)
    times = [t for t, p in w.transitive if p.member == "e1"]
    gaps = [b - a for a, b in zip(times[-20:], times[-19:], strict=False)]
    assert all(500 - 1e-6 <= g <= 1500 + 1e-6 for g in gaps), gaps
    assert 900 <= sum(gaps) / len(gaps) <= 1100  # FDT / 7, as NUM_PROBE_FAILS + 2
    assert len({round(g) for g in gaps}) > 3  # randomised like in.mpathd's


def test_the_target_is_the_carrier_with_most_addresses():
    w = transitive_world("e0", "e1", standby=("e2",),
                         addresses=(DATA + "/24", "198.51.100.11/24", "198.51.100.12/24"))
    load = w.load()
    most = max(load, key=lambda m: load[m])
    assert load[most] == 2 and w.engine.members["e2"].prober.transitive_target == most
    assert {p.target for p in w.from_member("e2", w.now - FDT)} == {most}


def _member(name: str, *, failed: bool = False, target: str | None = None) -> Member:
    member = Member(name, "ipmp0", present=True, failed=failed)
    member.link.state = LinkState.UP
    member.prober.transitive_target = target
    return member


def test_the_target_is_kept_while_it_carries_and_is_usable():
    """choose_target: stable (the records judge one path), the most loaded usable carrier
    otherwise, a failed carrier when no other is left, nobody without a carrier."""
    group = Group("ipmp0", members=["e0", "e1", "e2"], transitive_probing=True)
    group.binding = {IPv4Interface(f"198.51.100.{i}/24"): m
                     for i, m in ((10, "e0"), (11, "e1"), (12, "e1"))}
    e0, e1 = _member("e0"), _member("e1")
    assert choose_target([e0, e1, _member("e2", target="e0")], group,
                         _member("e2", target="e0")) == "e0"  # kept: e1 has more
    e2 = _member("e2")
    assert choose_target([e0, e1, e2], group, e2) == "e1"  # the most addresses
    e0.failed = True
    e2 = _member("e2", target="e0")
    assert choose_target([e0, e1, e2], group, e2) == "e1"  # a failed target is left
    e1.failed = True
    e2 = _member("e2", target="e0")
    assert choose_target([e0, e1, e2], group, e2) == "e0"  # nobody better: kept
    group.binding = {}
    assert choose_target([e0, e1, e2], group, e2) is None


# --------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_a_transitive_member_whose_port_drops_everything_fails_within_the_fdt(seed, batched):
    w = transitive_world("e0", "e1", seed=seed, batched=batched)
    w.run(seed * 137.0)  # a different phase of the probe cycle each time
    w.deaf.add("e1")
    took = w.run_until(lambda: failed(w, "e1"), limit_ms=3 * FDT)
    assert took <= FDT, f"detected after {took} ms, FDT {FDT}"
    assert w.iface("e1").probe is ProbeState.FAILED and w.iface("e1").link.value == "up"
    assert not failed(w, "e0") and w.where()[DATA] == "e0"
    assert w.group_view("ipmp0").state is GroupState.DEGRADED
    assert (f"Transitive probes from e1 to e0 of group ipmp0 unanswered "
            f"{NUM_PROBE_FAILS} times in a row") in w.logs()
    assert "IP interface failure detected on e1 of group ipmp0" in w.logs()


def test_a_transitive_member_is_repaired_by_ten_answers():
    w = transitive_world("e0", "e1")
    w.deaf.add("e1")
    w.run_until(lambda: failed(w, "e1"), limit_ms=3 * FDT)
    w.deaf.clear()
    start = w.now
    took = w.run_until(lambda: not failed(w, "e1"), limit_ms=5 * FDT)
    assert len(w.from_member("e1", start)) >= NUM_PROBE_REPAIRS
    assert took >= (NUM_PROBE_REPAIRS - 1) * 500
    assert took <= 2.5 * FDT
    assert "IP interface repair detected on e1 of group ipmp0" in w.logs()


@pytest.mark.parametrize("seed", range(6))
def test_the_carriers_dead_uplink_moves_the_address_and_the_old_carrier_retargets(seed):
    w = transitive_world("e0", "e1", seed=seed)
    w.run(seed * 137.0)
    w.dropped.add("e0")  # ICMP through e0 is lost; frames between the members pass
    took = w.run_until(lambda: failed(w, "e0"), limit_ms=3 * FDT)
    assert took <= FDT, f"detected after {took} ms, FDT {FDT}"
    assert w.where()[DATA] == "e1" and not failed(w, "e1")
    moved = w.now
    w.run(2 * FDT)
    # the data address is a probe source only where it is bound
    assert not [p for p in w.icmp_from("e0", moved) if p.source == DATA]
    assert {p.source for p in w.icmp_from("e1", moved) if p.kind is ProbeKind.UNICAST} \
        == {DATA}
    assert {p.target for p in w.from_member("e0", moved)} == {"e1"}
    assert not w.from_member("e1", moved)
    assert rows(w, "e0") == [{"INTERFACE": "e0", "MODE": "transitive", "TESTADDR": "<e0>",
                              "TARGETS": "<e1>"}]
    assert rows(w, "e1")[0]["TESTADDR"] == DATA and not failed(w, "e1")


@pytest.mark.parametrize("seed", range(8))
def test_losses_to_a_carrier_that_fails_its_own_probes_are_the_carriers_failure(seed):
    """The carrier's port drops everything: the transitive member's probes to it are lost
    too, but the carrier's own probes say whose fault it is; the address moves to the
    transitive member, which then reaches the targets."""
    w = transitive_world("e0", "e1", seed=seed)
    w.run(seed * 137.0)
    w.deaf.add("e0")
    took = w.run_until(lambda: failed(w, "e0"), limit_ms=3 * FDT)
    assert took <= FDT
    w.run(3 * FDT)
    assert not failed(w, "e1") and w.where()[DATA] == "e1"
    assert "IP interface failure detected on e1 of group ipmp0" not in w.logs()
    assert failed(w, "e0")  # its transitive probes to e1 are lost: no repair
    assert w.group_view("ipmp0").state is GroupState.DEGRADED


def test_nobody_reaching_the_targets_is_a_group_failure_without_flapping():
    w = transitive_world("e0", "e1")
    del w.rtt[ROUTER]  # the router dies; every member's path is fine
    took = w.run_until(lambda: w.group_view("ipmp0").state is GroupState.FAILED,
                       limit_ms=4 * FDT)
    # one move (e0's failure cannot be told from e1's before e1 probes), then e1's own
    # probes fail: about two FDTs
    assert took <= 2 * FDT + 1000
    moves = sum(isinstance(a, BindAddress) for a in w.actions)
    w.run(6 * FDT)
    assert sum(isinstance(a, BindAddress) for a in w.actions) == moves  # nothing flaps
    assert failed(w, "e0") and failed(w, "e1")
    assert "All IP interfaces in group ipmp0 are now unusable" in w.logs()
    w.rtt[ROUTER] = 1.0  # back: the carrier's probes repair it, then the other's answers
    w.run_until(lambda: w.group_view("ipmp0").state is GroupState.OK, limit_ms=5 * FDT)


def test_a_group_of_one_behaves_as_a_single_interface_group():
    w = transitive_world("e0")
    assert not w.transitive  # nobody to send transitive probes to
    assert rows(w, "e0")[0]["TESTADDR"] == DATA
    w.dropped.add("e0")
    took = w.run_until(lambda: w.group_view("ipmp0").state is GroupState.FAILED,
                       limit_ms=3 * FDT)
    assert took <= FDT and failed(w, "e0")
    assert w.where()[DATA] == "e0"  # nowhere else to go
    assert "All IP interfaces in group ipmp0 are now unusable" in w.logs()
    w.dropped.clear()
    w.run_until(lambda: not failed(w, "e0"), limit_ms=3 * FDT)


# --------------------------------------------------------------------------- entry points
def test_only_a_genuine_answer_counts():
    """transitive_reply: an answer naming another member than the one probed, a
    duplicate, or an unknown sequence number changes nothing; a failed member stays
    failed whatever such answers arrive."""
    w = transitive_world("e0", "e1")
    w.deaf.add("e1")
    w.run_until(lambda: failed(w, "e1"), limit_ms=3 * FDT)
    transitive = w.engine.members["e1"].prober.transitive
    assert transitive is not None
    for _ in range(2 * NUM_PROBE_REPAIRS):
        w.run(1000)
        last = w.from_member("e1")[-1]
        w.record(w.engine.transitive_reply("e1", "e9", last.seq, w.now))  # not probed
        w.record(w.engine.transitive_reply("e1", "e0", (last.seq + 500) % 65536, w.now))
    assert failed(w, "e1")
    assert transitive.ignored["wrong-source"] >= NUM_PROBE_REPAIRS
    assert transitive.ignored["unknown-sequence"] >= NUM_PROBE_REPAIRS
    last = w.from_member("e1")[-1]
    w.record(w.engine.transitive_reply("e1", "e0", last.seq, w.now))
    w.record(w.engine.transitive_reply("e1", "e0", last.seq, w.now))
    assert transitive.ignored["duplicate"] == 1
    assert w.engine.transitive_reply("nosuch", "e0", 1, w.now) == []


def test_probe_events_for_transitive_probes_and_their_ipmpstat_p_rows():
    w = transitive_world("e0", "e1")
    w.engine.probing.events = True
    w.l2_rtt = 50.0  # time to report the send before the answer
    start = w.now
    w.run_until(lambda: bool(w.from_member("e1", start)), limit_ms=2000, step_ms=1)
    probe = w.from_member("e1")[-1]
    assert isinstance(probe, SendTransitive)
    record = w.engine.members["e1"].prober.transitive.find(probe.seq)
    sent = w.engine.transitive_sent("e1", probe.seq, record.start + 0.05)
    event = next(a.event for a in sent if isinstance(a, Publish))
    assert (event["family"], event["status"], event["target"]) == ("transitive", "sent",
                                                                  "<e0>")
    assert event["sent_ns"] == round((record.started + 0.05) * 1e6)
    w.actions.clear()
    w.run(60)
    acked = [a.event for a in w.actions if isinstance(a, Publish)
             and a.event.get("type") == "probe" and a.event["probe"] == probe.seq]
    assert acked and acked[-1]["status"] == "acked"
    row = probe_row(acked[-1], acked[-1]["start_ns"])
    assert (row["INTERFACE"], row["TARGET"]) == ("e1", "<e0>") and row["NETRTT"]
    w.deaf.add("e1")
    w.actions.clear()
    w.run(3000)
    lost = [a.event for a in w.actions if isinstance(a, Publish)
            and a.event.get("type") == "probe" and a.event["status"] == "lost"]
    assert lost and lost[0]["family"] == "transitive"


def test_transitive_records_are_the_transitive_family():
    """The daemon reports sends and answers through the agreed entry points; the
    records they reach are the prober of family TRANSITIVE, not an IP family's."""
    w = transitive_world("e0", "e1")
    prober = w.engine.members["e1"].prober
    assert prober.prober_for(TRANSITIVE) is prober.transitive and prober.transitive_only
    assert prober.transitive.success_run() >= NUM_PROBE_REPAIRS
    assert not prober.families or not any(f.enabled for f in prober.families.values())


def test_losses_fail_a_transitive_member_only_while_its_target_reaches_the_targets():
    """judgement.transitive_verdict on records set by hand at the fake clock: the same
    NUM_PROBE_FAILS losses are the member's fault only when the target member's own
    probes were answered after the first of them."""
    w = transitive_world("e0", "e1")
    e0, e1 = w.engine.members["e0"], w.engine.members["e1"]
    transitive = e1.prober.transitive
    first_loss = w.now + 1000
    for i in range(NUM_PROBE_FAILS):
        record = transitive.sent(transitive.next_seq(), "e0", first_loss + i * 1000)
        record.status = ProbeStatus.LOST
    now = first_loss + NUM_PROBE_FAILS * 1000
    e0_icmp = e0.prober.families[4]
    e0_icmp.last_success = first_loss - 1  # e0's own probes stopped before: its fault
    assert transitive_verdict(w.engine.tables, e1, now) is ProbeVerdict.UNCHANGED
    e0_icmp.last_success = first_loss + 500  # e0 still reaches the targets: e1's fault
    assert transitive_verdict(w.engine.tables, e1, now) is ProbeVerdict.INTERFACE_FAILURE
    e0.failed = True  # a failed target judges nobody
    assert transitive_verdict(w.engine.tables, e1, now) is ProbeVerdict.UNCHANGED


def test_a_new_target_needs_its_own_ten_answers():
    """Retargeting clears the records: answers from the old target do not count toward
    a repair on the path to the new one."""
    w = transitive_world("e0", "e1", standby=("e2",),
                         addresses=(DATA + "/24", "198.51.100.11/24"))
    old = w.engine.members["e2"].prober.transitive_target
    new = next(m for m in ("e0", "e1") if m != old)
    w.deaf.add("e2")
    w.run_until(lambda: failed(w, "e2"), limit_ms=3 * FDT)
    w.deaf.clear()
    w.run_until(lambda: w.engine.members["e2"].prober.transitive.success_run()
                >= NUM_PROBE_REPAIRS - 2, limit_ms=3 * FDT, step_ms=1)
    w.link(old, up=False)  # the target fails: its addresses move, e2 retargets
    assert w.engine.members["e2"].prober.transitive_target == new
    start = w.now
    took = w.run_until(lambda: not failed(w, "e2"), limit_ms=4 * FDT)
    assert len(w.from_member("e2", start)) >= NUM_PROBE_REPAIRS
    assert took >= (NUM_PROBE_REPAIRS - 1) * 500


def test_link_down_stops_transitive_probes_and_link_up_alone_does_not_repair():
    """As for classic probes (in.mpathd clears the statistics on link down): a
    transitive member whose link went down is repaired only by answers after it."""
    w = transitive_world("e0", "e1")
    w.link("e1", up=False)
    down = w.now
    w.run(2 * FDT)
    assert failed(w, "e1") and not w.from_member("e1", down)
    w.deaf.add("e1")
    w.link("e1", up=True)
    w.run(3 * FDT)
    assert failed(w, "e1")  # link up, but its probes are still lost
    w.deaf.clear()
    w.run_until(lambda: not failed(w, "e1"), limit_ms=3 * FDT)


def test_an_offline_member_sends_no_transitive_probes():
    w = transitive_world("e0", "e1")
    w.record(w.engine.offline("e1", w.now))
    since = w.now
    w.run(2 * FDT)
    assert not w.from_member("e1", since)
    assert w.iface("e1").probe is ProbeState.DISABLED
    w.record(w.engine.online("e1", w.now))
    w.run(2 * FDT)
    assert w.from_member("e1", since) and w.iface("e1").state is IfState.OK


@pytest.mark.parametrize("failback", [True, False])
def test_a_carrier_repaired_by_transitive_probes_comes_back_inactive(failback):
    """A carrier that failed on its own probes and is repaired by transitive probes does
    not take the addresses back (transitive.holds_back): where it reaches the other
    member but not the router, that would fail it again every two FDTs. It takes over,
    and is judged by its own probes, when the active member fails."""
    w = transitive_world("e0", "e1", failback=failback,
                         addresses=(DATA + "/24", "198.51.100.11/24"))
    w.dropped.add("e0")  # its uplink: the frames to e1 still pass
    w.run_until(lambda: failed(w, "e0"), limit_ms=3 * FDT)
    w.run_until(lambda: not failed(w, "e0"), limit_ms=4 * FDT)
    moves = sum(isinstance(a, BindAddress) for a in w.actions)
    w.run(6 * FDT)
    assert sum(isinstance(a, BindAddress) for a in w.actions) == moves  # no flapping
    assert set(w.where().values()) == {"e1"} and not failed(w, "e1")
    assert not w.iface("e0").active and w.iface("e0").flags.inactive
    w.dropped.clear()
    w.link("e1", up=False)  # the active member goes: e0 takes over
    assert set(w.where().values()) == {"e0"}
    w.run(3 * FDT)
    assert not failed(w, "e0") and w.iface("e0").active


def test_the_transitive_rows_survive_the_trip_to_ipmpstat():
    """ipmpstat reads the snapshot as JSON through the control socket: the mode
    `transitive` and the <member> names come back as the engine gave them."""
    w = transitive_world("e0", "e1")
    snap = w.engine.snapshot()
    back = Snapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
    lines = [r for i in back.interfaces for r in target_rows(i)]
    assert lines == [r for i in snap.interfaces for r in target_rows(i)]
    assert {"INTERFACE": "e1", "MODE": "transitive", "TESTADDR": "<e1>",
            "TARGETS": "<e0>"} in lines


@pytest.mark.parametrize("seed", range(4))
def test_a_standby_whose_port_drops_everything_fails_within_the_fdt(seed):
    """The issue's first case: the inactive member (a standby here, with no address)
    proves its path only by transitive probes."""
    w = transitive_world("e0", standby=("e1",), seed=seed)
    assert w.iface("e1").flags.inactive and rows(w, "e1")[0]["MODE"] == "transitive"
    w.run(seed * 211.0)
    w.deaf.add("e1")
    took = w.run_until(lambda: failed(w, "e1"), limit_ms=3 * FDT)
    assert took <= FDT and not failed(w, "e0")
    w.deaf.clear()
    w.run_until(lambda: not failed(w, "e1"), limit_ms=3 * FDT)
    assert w.iface("e1").flags.inactive  # back as the standby it was
