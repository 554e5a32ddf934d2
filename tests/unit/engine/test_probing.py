"""Probe-based failure detection (reference sections 2-4), on a simulated network."""

from __future__ import annotations

import pytest

from ipmp_core.constants import (
    MIN_RECOVERY_TIME,
    NUM_PROBE_REPAIRS,
    PROBE_QUIET_PERIOD_MS,
)
from ipmp_core.engine.actions import ProbeKind, SendProbe
from ipmp_core.engine.rtt import RttEstimator
from ipmp_core.model import GroupState, IfState, ProbeState, TargetMode
from tests.support.probe_sim import ROUTER, ROUTER6, ProbeWorld

FDT = 7000  # probe interval 1000 ms: easy numbers


def world(*members: str, seed: int = 1, fdt: int = FDT, rtt: float = 1.0,
          **kw) -> ProbeWorld:
    w = ProbeWorld(*members, seed=seed)
    w.rtt[ROUTER] = rtt
    w.routers(ROUTER)
    w.probing_group("ipmp0", *members, fdt=fdt, **kw)
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    w.run(3 * fdt)  # past the first replies: quiet period over, RTT estimates known
    return w


def unicast(w: ProbeWorld, member: str) -> list[tuple[float, SendProbe]]:
    return [(t, p) for t, p in w.sent if p.member == member and p.kind is ProbeKind.UNICAST]


# --------------------------------------------------------------------------- schedule
def test_probe_interval_is_fdt_over_seven_with_in_mpathd_randomisation():
    w = world("e0", "e1")
    times = [t for t, _ in unicast(w, "e0")]
    w.run(20 * 1000)
    times = [t for t, _ in unicast(w, "e0")]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(500 - 1e-6 <= g <= 1500 + 1e-6 for g in gaps), gaps
    assert 900 <= sum(gaps) / len(gaps) <= 1100  # strictly periodic base: 1 probe a second
    assert len(set(round(g) for g in gaps)) > 3  # and randomised, not a fixed beat


def test_probes_go_from_the_test_address_to_the_router():
    w = world("e0", "e1")
    _, probe = unicast(w, "e1")[-1]
    assert (probe.source, probe.dest, probe.family) == ("198.51.100.22", ROUTER, 4)
    view = w.iface("e1")
    assert view.target_mode is TargetMode.ROUTES and view.targets == [ROUTER]
    assert view.testaddrs == ["198.51.100.22"] and view.probe is ProbeState.OK
    assert w.group_view("ipmp0").fdt_ms == FDT


# --------------------------------------------------------------------------- failure
@pytest.mark.parametrize("seed", range(12))
def test_dropped_path_fails_member_within_fdt_and_moves_its_address(seed):
    w = world("e0", "e1", seed=seed)
    w.run(seed * 137.0)  # fail at a different phase of the probe cycle each time
    assert w.where()["198.51.100.10"] == "e0"
    w.dropped.add("e0")
    took = w.run_until(lambda: w.iface("e0").state is IfState.FAILED, limit_ms=3 * FDT)
    assert took <= FDT, f"detected after {took} ms, FDT {FDT}"
    assert w.where()["198.51.100.10"] == "e1"
    assert w.iface("e0").probe is ProbeState.FAILED
    assert w.iface("e0").link.value == "up"  # the link never went down
    assert w.iface("e1").state is IfState.OK
    assert "IP interface failure detected on e0 of group ipmp0" in w.logs()


def test_repair_needs_ten_answered_probes_then_fails_back():
    w = world("e0", "e1")
    w.dropped.add("e0")
    w.run_until(lambda: w.iface("e0").state is IfState.FAILED, limit_ms=3 * FDT)
    w.dropped.clear()
    start = w.now
    took = w.run_until(lambda: w.iface("e0").state is IfState.OK, limit_ms=5 * FDT)
    answered = [p for t, p in unicast(w, "e0") if t >= start]
    assert len(answered) >= NUM_PROBE_REPAIRS
    assert took >= (NUM_PROBE_REPAIRS - 1) * 500  # not before ten probes could go out
    assert took <= 2.5 * FDT  # "about 2 x FDT"
    assert w.iface("e0").active  # FAILBACK=yes: active again (one address: no move needed)


def test_link_up_alone_does_not_repair_a_probe_failure():
    w = world("e0", "e1")
    w.dropped.add("e0")
    w.run_until(lambda: w.iface("e0").state is IfState.FAILED, limit_ms=3 * FDT)
    w.link("e0", up=False)
    w.link("e0", up=True)
    w.run(2 * FDT)
    assert w.iface("e0").state is IfState.FAILED  # combined rule: probes must agree too


def test_probes_alone_do_not_repair_a_link_failure():
    w = world("e0", "e1")
    w.link("e0", up=False)
    w.run(3 * FDT)
    assert w.iface("e0").state is IfState.FAILED
    assert not [t for t, p in unicast(w, "e0") if t > w.now - 2 * FDT]  # no probes, link down


def test_quiet_period_ignores_losses_until_the_first_reply():
    w = ProbeWorld("e0", "e1")
    w.routers(ROUTER)  # the router does not answer (no RTT entry) ...
    w.probing_group("ipmp0", "e0", "e1")
    w.run(PROBE_QUIET_PERIOD_MS - 1000)
    assert w.iface("e0").state is IfState.OK  # ... but spanning tree may still be learning
    w.run(FDT * 3)
    assert w.group_view("ipmp0").state is GroupState.FAILED


# --------------------------------------------------------------------------- targets
def _router_states(w: ProbeWorld) -> dict[str, str]:
    return {t.address: str(t.state) for t in w.engine.groups["ipmp0"].targets[4].targets}


def test_dead_router_goes_dead_then_slow_then_unused_as_target_next_does():
    """in.mpathd's phyint_inst_probe_failure_state() marks a router that alone stopped
    answering TG_DEAD (not the interface); target_next() makes it TG_SLOW after
    MIN_RECOVERY_TIME and TG_UNUSED after MIN_RECOVERY_TIME more, then probes it again.
    (Changed: it used to come back after one MIN_RECOVERY_TIME.)"""
    w = ProbeWorld("e0", "e1")
    w.rtt.update({ROUTER: 1.0, "198.51.100.2": 1.0})
    w.routers(ROUTER, "198.51.100.2")
    w.probing_group("ipmp0", "e0", "e1")
    w.run(3 * FDT)
    del w.rtt["198.51.100.2"]  # one router dies
    w.run(8 * FDT)
    assert w.iface("e0").state is IfState.OK and w.iface("e1").state is IfState.OK
    assert w.iface("e0").targets == [ROUTER]
    assert any("198.51.100.2" in line and "marked dead" in line for line in w.logs())
    targets = w.engine.groups["ipmp0"].targets[4]
    dead_since = targets.get("198.51.100.2").since
    w.rtt["198.51.100.2"] = 1.0  # back, but not probed before it has recovered
    w.run(dead_since + MIN_RECOVERY_TIME - 1 - w.now)
    assert _router_states(w)["198.51.100.2"] == "dead"
    w.run(2)
    assert _router_states(w)["198.51.100.2"] == "slow"
    assert w.iface("e0").targets == [ROUTER]
    w.run(MIN_RECOVERY_TIME - 2)
    assert _router_states(w)["198.51.100.2"] == "slow"
    w.run(2)
    assert _router_states(w)["198.51.100.2"] == "active"  # unused, then active: room
    assert sorted(w.iface("e0").targets) == [ROUTER, "198.51.100.2"]


def test_dead_and_slow_routers_are_reactivated_when_no_router_is_left():
    """in.mpathd's target_delete(): when the last active router leaves the routing
    table, target_activate_all() probes up to MIN_PROBE_TARGETS of the slow and dead
    ones again at once (target_select_best()), rather than falling back to hosts."""
    w = ProbeWorld("e0", "e1")
    w.rtt.update({ROUTER: 1.0, "198.51.100.2": 1.0})
    w.hosts[4] = ["198.51.100.200"]
    w.rtt["198.51.100.200"] = 1.0
    w.routers(ROUTER, "198.51.100.2")
    w.probing_group("ipmp0", "e0", "e1")
    w.run(3 * FDT)
    del w.rtt["198.51.100.2"]
    w.run(8 * FDT)
    assert _router_states(w) == {ROUTER: "active", "198.51.100.2": "dead"}
    w.rtt["198.51.100.2"] = 1.0
    w.routers("198.51.100.2")  # the route through ROUTER is removed
    assert _router_states(w) == {"198.51.100.2": "active"}
    assert w.iface("e0").target_mode is TargetMode.ROUTES
    assert w.iface("e0").targets == ["198.51.100.2"]
    w.run(3 * FDT)
    assert w.iface("e0").state is IfState.OK and w.iface("e1").state is IfState.OK
    sent = [p.dest for t, p in w.sent if t > w.now - 2 * FDT]
    assert "198.51.100.2" in sent and "224.0.0.1" not in sent


def test_multicast_discovery_finds_host_targets_when_there_is_no_router():
    w = ProbeWorld("e0", "e1")
    hosts = [f"198.51.100.{i}" for i in range(200, 207)]
    w.hosts[4] = hosts
    w.rtt.update({h: 0.5 for h in hosts})
    w.probing_group("ipmp0", "e0", "e1")
    assert w.iface("e0").state is IfState.UNKNOWN  # no targets yet: not judged
    w.run(2 * FDT)
    view = w.iface("e0")
    assert view.target_mode is TargetMode.MULTICAST
    assert len(view.targets) == 5 and set(view.targets) <= set(hosts)  # at most 5
    assert view.state is IfState.OK
    multicast = [p for _, p in w.sent if p.kind is ProbeKind.MULTICAST]
    assert multicast and multicast[0].dest == "224.0.0.1"


def test_only_router_dies_the_group_fails_and_the_router_is_kept():
    """in.mpathd: with router targets, hosts answering multicast are not used
    (incoming_mcast_reply()), and a group failure keeps the routers (only host targets
    are flushed): the only router dying fails the group until it answers again."""
    w = world("e0", "e1")
    w.hosts[4] = ["198.51.100.200", "198.51.100.201"]
    w.rtt.update({h: 0.5 for h in w.hosts[4]})
    del w.rtt[ROUTER]
    w.run(4 * FDT)
    for m in ("e0", "e1"):
        assert w.iface(m).state is IfState.FAILED, w.logs()[-10:]
    assert w.group_view("ipmp0").state is GroupState.FAILED
    assert "All IP interfaces in group ipmp0 are now unusable" in w.logs()
    assert w.iface("e0").target_mode is TargetMode.ROUTES
    assert w.iface("e0").targets == [ROUTER]
    w.rtt[ROUTER] = 1.0
    w.run_until(lambda: w.group_view("ipmp0").state is GroupState.OK, limit_ms=4 * FDT)


def test_router_appearing_replaces_host_targets():
    w = ProbeWorld("e0", "e1")
    w.hosts[4] = ["198.51.100.200"]
    w.rtt.update({"198.51.100.200": 0.5, ROUTER: 1.0})
    w.probing_group("ipmp0", "e0", "e1")
    w.run(2 * FDT)
    assert w.iface("e0").targets == ["198.51.100.200"]
    w.routers(ROUTER)
    assert w.iface("e0").targets == [ROUTER]
    assert w.iface("e0").target_mode is TargetMode.ROUTES


def test_all_paths_dropped_fails_the_group_then_recovers():
    w = world("e0", "e1")
    w.dropped.update({"e0", "e1"})
    w.run_until(lambda: w.group_view("ipmp0").state is GroupState.FAILED, limit_ms=4 * FDT)
    assert w.where()["198.51.100.10"] == ""
    assert "All IP interfaces in group ipmp0 are now unusable" in w.logs()
    w.dropped.clear()  # the router was kept: each member's probes repair it
    w.run_until(lambda: w.group_view("ipmp0").state is GroupState.OK, limit_ms=6 * FDT)
    assert w.where()["198.51.100.10"] in ("e0", "e1")


def test_explicit_targets_replace_discovery():
    w = world("e0", "e1")
    w.rtt["198.51.100.7"] = 1.0
    w.record(w.engine.set_targets("ipmp0", ["198.51.100.7"], w.now))
    w.run(2 * FDT)
    assert w.iface("e0").targets == ["198.51.100.7"]
    assert w.engine.config()["groups"][0]["targets"] == ["198.51.100.7"]


# --------------------------------------------------------------------------- validation
def _failed_world() -> ProbeWorld:
    w = world("e0", "e1")
    w.dropped.add("e0")
    w.run_until(lambda: w.iface("e0").state is IfState.FAILED, limit_ms=3 * FDT)
    return w


def test_forged_and_stray_replies_never_repair_a_failed_member():
    w = _failed_world()
    fp = w.engine.members["e0"].prober.families[4]
    for _ in range(3 * NUM_PROBE_REPAIRS):
        w.run(1000)
        last = fp.records[-1]
        # from a host that is not the target probed
        w.record(w.engine.probe_reply("e0", 4, last.seq, "198.51.100.99", w.now))
        # with a sequence number we never sent
        w.record(w.engine.probe_reply("e0", 4, (last.seq + 1000) % 65536, ROUTER, w.now))
    assert w.iface("e0").state is IfState.FAILED
    assert fp.ignored["wrong-source"] >= NUM_PROBE_REPAIRS
    assert fp.ignored["unknown-sequence"] >= NUM_PROBE_REPAIRS


def test_duplicate_reply_is_ignored():
    w = world("e0", "e1")
    fp = w.engine.members["e0"].prober.families[4]
    acked = [r for r in fp.records if r.status.value == "acked"][-1]
    w.record(w.engine.probe_reply("e0", 4, acked.seq, ROUTER, w.now))
    assert fp.ignored["duplicate"] == 1


def test_ipv6_replies_must_come_from_a_link_local_source():
    w = ProbeWorld("e0", "e1")
    w.rtt[ROUTER6] = 1.0
    w.record(w.engine.create_group("ipmp0", w.now, fdt_ms=FDT))
    for i, m in enumerate(("e0", "e1")):
        w.record(w.engine.add_member("ipmp0", m, w.now))
        w.record(w.engine.address_observed(m, f"fe80::{i + 10}", True, w.now))
    w.record(w.engine.add_data_address("ipmp0", "2001:db8:1::10/64", w.now))
    w.routers(ROUTER6, family=6, oif="e0")
    w.run(3 * FDT)
    view = w.iface("e0")
    assert view.testaddrs == ["fe80::10"] and view.targets == [ROUTER6]
    assert view.probe is ProbeState.OK
    fp = w.engine.members["e0"].prober.families[6]
    w.record(w.engine.probe_reply("e0", 6, fp.records[-1].seq, "2001:db8:1::1", w.now))
    assert fp.ignored["not-link-local"] == 1


# --------------------------------------------------------------------------- RTT and FDT
def test_rtt_estimator_follows_jacobson_karels():
    est = RttEstimator()
    est.add(10)
    assert (est.average, est.crtt) == (10, 30)  # sa = 8m, sv = 2m
    est.add(18)
    assert est.average == pytest.approx(11)  # sa += m - sa/8
    assert est.sv == pytest.approx(20 + 8 - 5)  # sv += |err| - sv/4
    assert est.crtt == pytest.approx(11 + 23)


def test_slow_target_raises_fdt_then_it_improves_again():
    w = world("e0", "e1", fdt=1000)  # interval 143 ms
    w.rtt[ROUTER] = 300.0
    w.run(20_000)
    assert w.group_view("ipmp0").fdt_ms > 1000
    assert any("Cannot meet requested failure detection time of 1000 ms" in line
               for line in w.logs())
    assert w.iface("e0").state is IfState.OK  # slow is not failed
    w.rtt[ROUTER] = 1.0
    w.run_until(lambda: w.group_view("ipmp0").fdt_ms == 1000, limit_ms=600_000, step_ms=1000)
    assert any("Improved failure detection time" in line for line in w.logs())


def test_rtt_estimator_holds_back_one_suspect_sample():
    """in.mpathd's pi_set_crtt: a sample that alone would lift the crtt above the probe
    interval waits; an ordinary one drops it; a second suspect one in a row counts both."""
    est = RttEstimator()
    est.add(1.0)
    assert not est.add_probe(130.0, interval=100.0)  # held back
    assert (est.average, est.deferred) == (1.0, [130.0])
    assert est.add_probe(1.0, interval=100.0)  # ordinary: the spike is forgotten
    assert (est.average, est.deferred) == (1.0, [])
    est.add_probe(130.0, interval=100.0)
    assert est.add_probe(120.0, interval=100.0)  # two in a row: the link slowed down
    assert est.crtt > 100.0 and est.deferred == []
    first = RttEstimator()
    assert not first.add_probe(40.0, interval=100.0)  # crtt 3m = 120: even the first
    assert first.add_probe(30.0, interval=100.0) and first.known


def _slow_answers(w: ProbeWorld, member: str, rtt: float, count: int) -> None:
    """Answer ``member``'s next ``count`` probes after ``rtt`` ms, and nothing else."""
    fp = w.engine.members[member].prober.families[4]
    answers = w.rtt.pop(ROUTER)
    for _ in range(count):
        seen = fp.records[-1]
        w.run_until(lambda seen=seen: fp.records[-1] is not seen, limit_ms=FDT, step_ms=1.0)
        record = fp.records[-1]
        w.run(record.start + rtt - w.now)
        w.record(w.engine.probe_reply(member, 4, record.seq, ROUTER, w.now))
    w.rtt[ROUTER] = answers


def test_one_slow_answer_neither_moves_the_estimate_nor_raises_the_fdt():
    w = world("e0", "e1", fdt=1000)  # interval 143 ms, RTT 1 ms
    est = w.engine.members["e0"].prober.families[4].rtt[ROUTER]
    before = est.crtt
    _slow_answers(w, "e0", rtt=130.0, count=1)  # an ARP resolution, a busy moment
    assert est.crtt == before and est.deferred == [pytest.approx(130.0)]
    w.run(5000)
    assert est.deferred == [] and est.crtt < 10
    assert w.group_view("ipmp0").fdt_ms == 1000
    assert not any("Cannot meet" in line for line in w.logs())


def test_two_slow_answers_in_a_row_raise_the_fdt():
    w = world("e0", "e1", fdt=1000)
    _slow_answers(w, "e0", rtt=130.0, count=2)
    assert w.group_view("ipmp0").fdt_ms > 1000
    assert any("Cannot meet requested failure detection time of 1000 ms" in line
               for line in w.logs())


def test_answers_of_a_failed_member_do_not_feed_the_estimate():
    """in.mpathd: the first answers after a repair may have waited for ARP/ND on a dead
    link, so a member learns RTTs again only once it is repaired."""
    w = _failed_world()
    fp = w.engine.members["e0"].prober.families[4]
    est = fp.rtt.setdefault(ROUTER, RttEstimator())
    before = (est.sa, est.sv)
    w.rtt[ROUTER] = 50.0
    w.dropped.discard("e0")
    w.run_until(lambda: w.iface("e0").state is IfState.OK, limit_ms=3 * FDT, step_ms=1.0)
    assert sum(r.status.value == "acked" for r in fp.records) >= NUM_PROBE_REPAIRS
    assert (est.sa, est.sv) == before
    w.run(3 * FDT)
    assert est.average == pytest.approx(50.0, abs=5)  # learning again once repaired


def test_answers_queued_while_the_link_came_back_do_not_feed_the_estimate():
    """Cables pulled and plugged back: a member is usable again with its link, but the
    first probes wait in the ARP queue while the switch port still learns and are
    answered late. in.mpathd takes no RTT sample until NUM_PROBE_REPAIRS answers came
    (incoming_echo_reply(): not while the phyint is not PI_RUNNING), so the FDT stays
    as configured; the estimate learns again afterwards."""
    w = world("e0", "e1", fdt=3000)  # interval 428 ms, RTT 1 ms
    for name in ("e0", "e1"):
        w.link(name, up=False)
    w.run(3000)
    assert w.group_view("ipmp0").state is GroupState.FAILED
    queued_ms, learning_ms = 600.0, 1300.0
    w.rtt[ROUTER] = queued_ms
    for name in ("e0", "e1"):
        w.link(name, up=True)
    w.run(learning_ms)
    w.rtt[ROUTER] = 20.0
    w.run(queued_ms)
    slow = [r for n in ("e0", "e1")
            for r in w.engine.members[n].prober.families[4].records
            if r.rtt >= queued_ms - 1]
    assert len(slow) >= 4  # at least two late answers per member came back
    w.run(2 * NUM_PROBE_REPAIRS * 3000 / 7)
    assert w.group_view("ipmp0").fdt_ms == 3000
    assert not any("Cannot meet" in line for line in w.logs())
    est = w.engine.members["e0"].prober.families[4].rtt[ROUTER]
    assert est.average > 5  # learning the new 20 ms again once settled


def test_an_answer_overtaken_by_a_later_one_does_not_feed_the_estimate():
    w = world("e0", "e1")
    fp = w.engine.members["e0"].prober.families[4]
    w.rtt.pop(ROUTER)
    first = fp.records[-1]
    w.run_until(lambda: fp.records[-1] is not first, limit_ms=FDT, step_ms=1.0)
    w.run_until(lambda: fp.records[-2] is not first, limit_ms=FDT, step_ms=1.0)
    older, newer = fp.records[-2], fp.records[-1]
    w.record(w.engine.probe_reply("e0", 4, newer.seq, ROUTER, w.now))
    est = fp.rtt[ROUTER]
    before = (est.sa, est.sv)
    w.record(w.engine.probe_reply("e0", 4, older.seq, ROUTER, w.now))
    assert older.status.value == "acked" and older.rtt > newer.rtt
    assert (est.sa, est.sv, est.deferred) == (*before, [])  # not even held back


def test_one_slow_target_among_fast_ones_is_dropped_not_the_fdt():
    w = ProbeWorld("e0", "e1")
    routers = [f"198.51.100.{i}" for i in range(1, 6)]
    w.rtt.update({r: 1.0 for r in routers})
    w.routers(*routers)
    w.probing_group("ipmp0", "e0", "e1", fdt=1000)
    w.run(5_000)
    w.rtt["198.51.100.5"] = 400.0
    w.run(10_000)
    assert w.group_view("ipmp0").fdt_ms == 1000
    assert "198.51.100.5" not in w.iface("e0").targets
    assert any("too slow" in line for line in w.logs())


# --------------------------------------------------------------------------- mixes
def test_both_families_must_fail():
    w = ProbeWorld("e0", "e1")
    w.rtt.update({ROUTER: 1.0, ROUTER6: 1.0})
    w.routers(ROUTER)
    w.routers(ROUTER6, family=6, oif="e0")
    w.probing_group("ipmp0", "e0", "e1")
    for i, m in enumerate(("e0", "e1")):
        w.record(w.engine.address_observed(m, f"fe80::{i + 10}", True, w.now))
    w.record(w.engine.add_data_address("ipmp0", "2001:db8:1::10/64", w.now))
    w.run(3 * FDT)
    del w.rtt[ROUTER]  # IPv4 target gone, IPv6 still answers
    w.run(3 * FDT)
    assert w.iface("e0").state is IfState.OK


def test_mixed_group_probing_member_fails_alone():
    w = ProbeWorld("e0", "e1")
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.record(w.engine.create_group("ipmp0", w.now, fdt_ms=FDT))
    w.record(w.engine.add_member("ipmp0", "e0", w.now))
    w.record(w.engine.add_member("ipmp0", "e1", w.now))  # link-based only
    w.record(w.engine.set_test_addresses("e0", ["198.51.100.21/24"], w.now))
    w.run(3 * FDT)
    assert w.iface("e1").probe is ProbeState.DISABLED
    w.dropped.add("e0")
    w.run_until(lambda: w.iface("e0").state is IfState.FAILED, limit_ms=3 * FDT)
    assert w.iface("e1").state is IfState.OK
    assert any("No test address configured on interface e1" in line for line in w.logs())


def test_single_member_group_with_probing_fails_when_its_path_dies():
    w = world("e0")
    w.dropped.add("e0")
    w.run_until(lambda: w.iface("e0").state is IfState.FAILED, limit_ms=4 * FDT)


def test_duplicate_test_address_disables_probing_on_every_member_sharing_it():
    """in.mpathd's check_addr_unique() marks the address on every member that has it,
    and check_testconfig() logs once per member; the fix is logged once too."""
    w = world("e0", "e1", "e2")
    own = list(w.engine.members["e1"].test_addresses)
    shared = w.engine.members["e0"].test_addresses[0]
    w.engine.members["e1"].test_addresses = [shared]
    w.record(w.engine.set_standby("e1", False, w.now))  # any refresh re-syncs probers
    w.record(w.engine.set_standby("e1", False, w.now))  # and says nothing new
    assert w.iface("e0").probe is ProbeState.DISABLED
    assert w.iface("e1").probe is ProbeState.DISABLED
    assert w.iface("e2").probe is not ProbeState.DISABLED
    said = [line for line in w.logs() if "not unique" in line]
    assert said == [f"Test address {shared.ip} is not unique in group; disabling "
                    f"probe-based failure detection on {name}" for name in ("e0", "e1")]
    sent = len(w.sent)
    w.run(2 * FDT)  # settles: a disabled prober's stale schedule is no deadline
    assert {p.member for _, p in w.sent[sent:]} == {"e2"}
    w.engine.members["e1"].test_addresses = own
    w.record(w.engine.set_standby("e1", False, w.now))
    w.run(2 * FDT)
    assert {p.member for _, p in w.sent[sent:]} == {"e0", "e1", "e2"}
    assert w.iface("e0").probe is ProbeState.OK
    assert "Test address now configured on interface e0; enabling probe-based failure " \
        "detection on it" in w.logs()


def test_ten_second_fdt_scenario_replays_on_the_fake_clock():
    w = world("e0", "e1", "e2", "e3", fdt=10_000)
    w.dropped.add("e2")
    took = w.run_until(lambda: w.iface("e2").state is IfState.FAILED, limit_ms=30_000)
    assert took <= 10_000
    w.dropped.clear()
    w.run_until(lambda: w.iface("e2").state is IfState.OK, limit_ms=40_000)


def test_probe_events_are_published_while_someone_listens():
    w = world("e0", "e1")
    w.engine.probing.events = True
    before = len(w.actions)
    w.run(3000)
    from ipmp_core.engine.actions import Publish

    events = [a.event for a in w.actions[before:] if isinstance(a, Publish)
              and a.event.get("type") == "probe"]
    assert events and {e["status"] for e in events} == {"acked"}
    e = events[-1]
    assert e["target"] == ROUTER
    assert e["ackrecv_ns"] - e["sent_ns"] == pytest.approx(1_000_000)  # the network's 1 ms
    assert e["rttavg_ms"] == pytest.approx(1.0)


def test_anonymous_group_gives_detection_only_to_ungrouped_interfaces():
    w = ProbeWorld("e0", "e1", "e3")
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.probing_group("ipmp0", "e0", "e1")
    from ipmp_core.errors import EngineError

    with pytest.raises(EngineError, match="not in any group"):
        w.engine.set_test_addresses("e3", ["198.51.100.30/24"], w.now)
    w.engine.track_all = True  # TRACK_INTERFACES_ONLY_WITH_GROUPS=no
    w.record(w.engine.set_test_addresses("e3", ["198.51.100.30/24"], w.now))
    w.run(3 * FDT)
    view = w.iface("e3")
    assert view.group == "" and view.probe is ProbeState.OK and view.active
    assert [g.name for g in w.engine.snapshot().groups] == ["ipmp0", ""]  # ipmpstat -g: --
    w.dropped.add("e3")
    w.run_until(lambda: w.iface("e3").state is IfState.FAILED, limit_ms=3 * FDT)
    assert "IP interface failure detected on e3" in w.logs()
    assert w.engine.config()["anonymous"] == [
        {"name": "e3", "test_addresses": ["198.51.100.30/24"],
         "names": {"198.51.100.30/24": "_a"}}]
    w.record(w.engine.add_member("ipmp0", "e3", w.now))  # joining a group takes it over
    assert w.iface("e3").group == "ipmp0" and w.iface("e3").testaddrs == ["198.51.100.30"]
    assert w.engine.config()["anonymous"] == []


# --------------------------------------------------------------------------- votes
def _v4_without_targets_v6_with_router() -> ProbeWorld:
    """IPv4 test addresses but no IPv4 target (no router, nobody answers 224.0.0.1),
    IPv6 probing from the link-locals to a link-local router: issue 10, point 5."""
    w = ProbeWorld("e0", "e1")
    w.rtt[ROUTER6] = 1.0
    w.routers(ROUTER6, family=6, oif="e0")
    w.probing_group("ipmp0", "e0", "e1")
    for i, m in enumerate(("e0", "e1")):
        w.record(w.engine.address_observed(m, f"fe80::{i + 10}", True, w.now))
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    w.record(w.engine.add_data_address("ipmp0", "2001:db8:1::10/64", w.now))
    w.run(3 * FDT)
    return w


def test_a_family_without_targets_does_not_keep_a_dead_member_ok():
    w = _v4_without_targets_v6_with_router()
    assert w.engine.members["e1"].prober.families[4].enabled  # IPv4 probes, to nobody
    assert w.iface("e1").state is IfState.OK
    w.dropped.add("e1")
    took = w.run_until(lambda: w.iface("e1").state is IfState.FAILED, limit_ms=3 * FDT)
    assert took <= FDT + 1000  # within the FDT (+ one probe interval of phase)
    assert w.where()["198.51.100.10"] == "e0" and w.where()["2001:db8:1::10"] == "e0"
    assert w.iface("e0").state is IfState.OK


def test_a_family_without_targets_cannot_fail_a_member_either():
    w = _v4_without_targets_v6_with_router()
    w.run(5 * FDT)  # IPv4 never answered: it has no target and no vote
    assert w.iface("e0").state is IfState.OK and w.iface("e1").state is IfState.OK


def test_ipmpstat_t_shows_a_family_without_targets():
    w = _v4_without_targets_v6_with_router()
    rows = {(r.family, r.testaddr): r for r in w.iface("e1").target_families}
    v4 = rows[(4, "198.51.100.22")]
    assert v4.mode is TargetMode.MULTICAST and v4.targets == []
    v6 = rows[(6, "fe80::11")]
    assert v6.mode is TargetMode.ROUTES and v6.targets == [ROUTER6]


@pytest.mark.parametrize("explicit", [True, False])
def test_all_paths_dropped_fails_the_group_within_one_fdt(explicit):
    """in.mpathd declares a group failure as soon as a member lost NUM_PROBE_FAILS and no
    other member got an answer since (failure_state()), with configured or discovered
    targets alike: a node whose paths are all dark fails within one FDT (what the
    cluster's location rule waits for), not two."""
    w = world("e0", "e1")
    if explicit:
        w.record(w.engine.set_targets("ipmp0", [ROUTER], w.now))
        w.run(3 * FDT)
    start = w.now
    w.dropped.update({"e0", "e1"})
    w.run_until(lambda: w.group_view("ipmp0").state is GroupState.FAILED, limit_ms=4 * FDT)
    took = w.now - start
    assert took <= FDT, took
