"""The anonymous group (in.mpathd's TRACK_INTERFACES_ONLY_WITH_GROUPS=no) on the simulated
network: interfaces in no group, each on a subnet of its own, each with its own probe
targets, failing and repaired alone, and shown in ipmpstat -g as the "--" row."""

from __future__ import annotations

import pytest

from ipmp_core import ipmpstat_fields
from ipmp_core import ipmpstat_format as fmt
from ipmp_core.engine.actions import ProbeKind
from ipmp_core.errors import EngineError
from ipmp_core.model import GroupState, IfState, ProbeState
from tests.support.probe_sim import ProbeWorld

FDT = 7000  # probe interval 1000 ms
ROUTER_A = "198.51.100.1"  # e3's subnet
ROUTER_B = "203.0.113.1"  # e4's subnet
TEST_A = "198.51.100.30/24"
TEST_B = "203.0.113.40/24"
HOST_A = "198.51.100.77"  # a host on e3's subnet that answers 224.0.0.1


def ungrouped(routers: bool = True) -> ProbeWorld:
    """e3 and e4 in no group, on two subnets, tracked (TRACK_INTERFACES_ONLY_WITH_GROUPS=no);
    with ``routers``, a router on each subnet (the route through it names its interface)."""
    w = ProbeWorld("e3", "e4")
    w.engine.track_all = True
    if routers:
        w.rtt.update({ROUTER_A: 1.0, ROUTER_B: 1.0})
        w.record(w.engine.routers_observed(4, [(ROUTER_A, "e3"), (ROUTER_B, "e4")], w.now))
    w.record(w.engine.set_defaults(FDT, True, w.now))  # the anonymous group follows them
    w.record(w.engine.set_test_addresses("e3", [TEST_A], w.now))
    w.record(w.engine.set_test_addresses("e4", [TEST_B], w.now))
    return w


def unicast_targets(w: ProbeWorld, member: str, since: float = 0.0) -> set[str]:
    return {p.dest for t, p in w.sent
            if p.member == member and p.kind is ProbeKind.UNICAST and t >= since}


def anonymous_row(w: ProbeWorld):  # noqa: ANN201
    rows = [g for g in w.engine.snapshot().groups if g.name == ""]
    assert len(rows) == 1, rows
    return rows[0]


def test_each_ungrouped_interface_probes_the_router_of_its_own_subnet():
    """in.mpathd's router_add_common(): in the anonymous group a router becomes a target
    of the interface whose subnet it is in only ("other phyints in the anongroup may not
    be on the same subnet"). Shared targets had e3 probe e4's router and back."""
    w = ungrouped()
    w.run(3 * FDT)
    assert w.iface("e3").targets == [ROUTER_A]
    assert w.iface("e4").targets == [ROUTER_B]
    assert unicast_targets(w, "e3") == {ROUTER_A}
    assert unicast_targets(w, "e4") == {ROUTER_B}
    assert [v.targets for v in w.iface("e3").target_families] == [[ROUTER_A]]
    logs = w.logs()
    assert f"Probe targets (inet) on e3: routers {ROUTER_A}" in logs
    assert f"Probe targets (inet) on e4: routers {ROUTER_B}" in logs


def test_a_host_found_by_multicast_is_a_target_of_the_interface_it_answered_only():
    """in.mpathd's incoming_mcast_reply(): a host answering an interface of the anonymous
    group is added to that interface only. e4's path drops everything: nobody answers
    its multicast, and e3's host must not become its target."""
    w = ungrouped(routers=False)
    w.hosts[4] = [HOST_A]
    w.rtt[HOST_A] = 1.0
    w.dropped.add("e4")
    w.run(3 * FDT)
    assert w.iface("e3").targets == [HOST_A]
    assert w.iface("e4").targets == []
    assert w.iface("e4").probe is ProbeState.UNKNOWN  # no target: no verdict
    assert f"Probe target {HOST_A} (inet) found by multicast on e3" in w.logs()


def test_one_ungrouped_interface_fails_and_is_repaired_alone_with_in_mpathd_words():
    """phyint_inst_check_for_failure() / phyint_check_for_repair(): "IP interface
    failure detected on e4" and "IP interface repair detected on e4", without a group
    (failure_state(): in the anonymous group a loss is always the interface's failure,
    never a group failure). The other interface goes on as before."""
    w = ungrouped()
    w.run(3 * FDT)
    w.dropped.add("e4")
    took = w.run_until(lambda: w.iface("e4").state is IfState.FAILED, limit_ms=3 * FDT)
    assert took <= FDT
    assert w.iface("e3").state is IfState.OK and w.iface("e3").active
    assert not w.iface("e4").active and w.iface("e4").probe is ProbeState.FAILED
    logs = w.logs()
    assert "IP interface failure detected on e4" in logs
    assert not any("failure detected on e3" in line or "are now unusable" in line
                   for line in logs)
    row = anonymous_row(w)  # the anonymous group is always ok (phyint_group_create)
    assert (row.state, row.active, row.unusable) == (GroupState.OK, ["e3"], ["e4"])
    w.dropped.clear()
    w.run_until(lambda: w.iface("e4").state is IfState.OK, limit_ms=5 * FDT)
    assert "IP interface repair detected on e4" in w.logs()
    assert w.iface("e4").active and anonymous_row(w).active == ["e3", "e4"]


def test_ipmpstat_g_shows_the_anonymous_group_as_the_dash_row_even_without_members():
    """ipmpstat's walk_group() lists every group in.mpathd's getgrouplist() returns;
    phyint_init() puts the anonymous group (named "") there whenever every interface is
    tracked, and libofmt prints an empty value as "--". Its FDT shows once an interface
    probes (getgroupinfo()); not tracking all interfaces, there is no such row."""
    w = ProbeWorld("e3", "e4")
    assert [g.name for g in w.engine.snapshot().groups] == []
    w.engine.track_all = True
    w.record(w.engine.set_defaults(FDT, True, w.now))
    row = anonymous_row(w)
    assert (row.state, row.fdt_ms, row.active, row.unusable) == (GroupState.OK, None, [], [])
    w.rtt[ROUTER_A] = 1.0
    w.record(w.engine.routers_observed(4, [(ROUTER_A, "e3")], w.now))
    w.record(w.engine.set_test_addresses("e3", [TEST_A], w.now))
    w.run(3 * FDT)
    row = anonymous_row(w)
    assert (row.fdt_ms, row.active) == (w.engine.groups[""].fdt_current, ["e3"])
    snap = w.engine.snapshot()
    human = fmt.render_snapshot(ipmpstat_fields.make_spec(["g"], None, False, False), snap)
    assert human.splitlines()[-1].split() == ["--", "--", "ok", f"{FDT / 1000:.2f}s", "e3"]
    fields = "group,groupname,state,fdt,interfaces"
    parsable = fmt.render_snapshot(ipmpstat_fields.make_spec(["g"], fields, True, False), snap)
    assert parsable.splitlines()[-1] == f"::ok:{FDT / 1000:.2f}s:e3"
    w.record(w.engine.set_track_all(False, w.now))  # SIGHUP with the default again
    assert [g.name for g in w.engine.snapshot().groups] == []


def test_an_ungrouped_interface_stays_active_when_made_standby():
    """phyint_standby_refresh_inactive(): "All phyints in the anonymous group are
    effectively in their own group and thus active regardless of whether they're marked
    standby" (IFF_INACTIVE cleared). Counted with the other ungrouped interfaces, e3
    was made inactive (flag i) while ipmpstat still said ACTIVE yes."""
    w = ungrouped()
    w.run(3 * FDT)
    w.record(w.engine.set_standby("e3", True, w.now))
    view = w.iface("e3")
    assert view.active and view.flags.standby and not view.flags.inactive


def test_an_ungrouped_interface_cannot_be_offlined():
    """phyint_offline() counts no usable interface in the anonymous group, so if_mpadm -d
    (minimum redundancy 1) is refused there: nothing would take over its traffic. The
    other ungrouped interface was counted as a stand-in."""
    w = ungrouped()
    w.run(3 * FDT)
    with pytest.raises(EngineError, match="no other functioning interfaces"):
        w.engine.offline("e3", w.now)
    assert w.iface("e3").state is IfState.OK


def test_an_ungrouped_interface_probes_only_the_ipv6_routers_through_it():
    """IPv6 targets are link-local next hops; in the anonymous group only those of routes
    through the interface itself (in.mpathd's ire_process_v6() passes each route's own
    interface to router_add_common()). Shared, e3 probed fe80::2, reachable only via e4."""
    w = ProbeWorld("e3", "e4")
    w.engine.track_all = True
    w.rtt.update({"fe80::1": 1.0, "fe80::2": 1.0})
    w.record(w.engine.routers_observed(6, [("fe80::1", "e3"), ("fe80::2", "e4")], w.now))
    w.record(w.engine.set_test_addresses("e3", ["fe80::30/64"], w.now))
    w.record(w.engine.set_test_addresses("e4", ["fe80::40/64"], w.now))
    w.run(3 * FDT)
    assert [v.targets for v in w.iface("e3").target_families] == [["fe80::1"]]
    assert [v.targets for v in w.iface("e4").target_families] == [["fe80::2"]]
    assert unicast_targets(w, "e3") == {"fe80::1"}


def test_a_dead_router_of_one_ungrouped_interface_is_marked_dead_in_its_own_list():
    """phyint_inst_probe_failure_state(): a router that alone stops answering is marked
    TG_DEAD in the list of the interface that probed it, not the interface failed; in the
    anonymous group that list is the interface's own, and the other's is untouched."""
    second = "198.51.100.2"
    w = ProbeWorld("e3", "e4")
    w.engine.track_all = True
    w.rtt.update({ROUTER_A: 1.0, second: 1.0, ROUTER_B: 1.0})
    w.record(w.engine.routers_observed(
        4, [(ROUTER_A, "e3"), (second, "e3"), (ROUTER_B, "e4")], w.now))
    w.record(w.engine.set_test_addresses("e3", [TEST_A], w.now))
    w.record(w.engine.set_test_addresses("e4", [TEST_B], w.now))
    w.run(3 * FDT)
    del w.rtt[second]
    w.run(8 * FDT)
    assert w.iface("e3").state is IfState.OK and w.iface("e3").targets == [ROUTER_A]
    assert f"Probe target {second} on e3 stopped answering; marked dead" in w.logs()
    assert str(w.engine.groups[""].member_targets["e3"][4].get(second).state) == "dead"
    assert w.iface("e4").targets == [ROUTER_B]
