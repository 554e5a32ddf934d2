"""Failure detection and repair as in.mpathd decides them (mpd_probe.c), on the fake
clock: repair after a link failure, the flapping rule, the quiet period and the whole
group's failure (docs/design.md, "Failure detection and repair")."""

from __future__ import annotations

import pytest

from ipmp_core.constants import LINK_FLAP_WINDOW_MS, NUM_PROBE_REPAIRS, PROBE_QUIET_PERIOD_MS
from ipmp_core.engine.actions import ProbeKind
from ipmp_core.model import GroupState, IfState
from tests.support.probe_sim import ROUTER, ProbeWorld

FDT = 7000  # probe interval 1000 ms
INTERVAL = FDT / 7
UNUSABLE = "All IP interfaces in group ipmp0 are now unusable"


def world(*members: str, seed: int = 1, link_only: str = "") -> ProbeWorld:
    """A group whose ``members`` probe; ``link_only`` joins it without a test address."""
    w = ProbeWorld(*members, *([link_only] if link_only else []), seed=seed)
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.probing_group("ipmp0", *members, fdt=FDT)
    if link_only:
        w.record(w.engine.add_member("ipmp0", link_only, w.now))
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    w.run(3 * FDT)  # past the first replies: quiet period over, RTT estimates known
    return w


def answered_since(w: ProbeWorld, member: str, since: float) -> int:
    return sum(1 for t, p in w.sent if p.member == member and t >= since
               and p.kind is ProbeKind.UNICAST)


# --------------------------------------------------------------------------- rule 1
def test_repair_after_link_failure_waits_for_ten_probes():
    """phyint_repaired(): with test addresses, link up is necessary, not sufficient; the
    member comes back after NUM_PROBE_REPAIRS answered probes sent after the link-up."""
    w = world("e0", "e1")
    w.link("e0", up=False)
    assert w.iface("e0").state is IfState.FAILED
    w.run(FDT)
    w.dropped.add("e0")  # the port is up again but its path is broken
    w.link("e0", up=True)
    w.run(3 * FDT)
    assert w.iface("e0").state is IfState.FAILED
    assert w.where()["198.51.100.10"] == "e1"
    assert "IP interface repair detected on e0 of group ipmp0" not in w.logs()
    w.dropped.clear()
    start = w.now
    took = w.run_until(lambda: w.iface("e0").state is IfState.OK, limit_ms=4 * FDT)
    assert answered_since(w, "e0", start) >= NUM_PROBE_REPAIRS
    assert took >= (NUM_PROBE_REPAIRS - 1) * INTERVAL / 2
    assert "IP interface repair detected on e0 of group ipmp0" in w.logs()


def test_repair_after_link_failure_of_a_member_down_at_start_waits_for_probes():
    """A phyint starts PI_FAILED when its link is down; its repair is the same."""
    w = ProbeWorld("e0", "e1")
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.link("e0", up=False)
    w.probing_group("ipmp0", "e0", "e1", fdt=FDT)
    w.run(2 * FDT)
    assert w.iface("e0").state is IfState.FAILED
    w.dropped.add("e0")
    w.link("e0", up=True)
    w.run(2 * FDT)
    assert w.iface("e0").state is IfState.FAILED
    w.dropped.clear()
    w.run_until(lambda: w.iface("e0").state is IfState.OK, limit_ms=4 * FDT)


def test_link_only_member_is_repaired_by_link_up():
    """Without test addresses the link is all in.mpathd has: link up repairs at once."""
    w = world("e0", link_only="e1")
    w.link("e1", up=False)
    assert w.iface("e1").state is IfState.FAILED
    w.run(1000)
    actions = w.link("e1", up=True)
    assert w.iface("e1").state is IfState.OK
    assert "IP interface repair detected on e1 of group ipmp0" in w.logs(actions)


def test_flapping_rule_applies_only_without_test_addresses():
    """phyint_repaired() checks pi_whenup[] only when no instance is PROBE_ENABLED: a
    probing member's third link-up in a minute is not held for the minute (nor logged as
    flapping); its probes repair it."""
    w = world("e0", "e1")
    first = w.now
    for _ in range(3):
        w.link("e0", up=False)
        w.run(1000)
        w.link("e0", up=True)
        w.run(1000)
    w.run_until(lambda: w.iface("e0").state is IfState.OK, limit_ms=4 * FDT)
    assert w.now - first < LINK_FLAP_WINDOW_MS / 2  # well before the minute is over
    assert not any("more than 2 times" in line for line in w.logs())


def test_flapping_link_without_test_address_logs_once_until_repaired():
    """pi_lfmsg_printed: the hold is logged once, however often the link comes up
    within it; after the repair a new hold is logged again."""
    w = world("e0", link_only="e1")
    for _ in range(5):
        w.link("e1", up=False)
        w.run(1000)
        w.link("e1", up=True)
        w.run(1000)
    held = [line for line in w.logs() if "more than 2 times in the last minute" in line]
    assert held == ["The link has come up on e1 more than 2 times in the last minute; "
                    "disabling repair until it stabilizes"]
    assert w.iface("e1").state is IfState.FAILED
    w.run(LINK_FLAP_WINDOW_MS)
    assert w.iface("e1").state is IfState.OK


# --------------------------------------------------------------------------- rule 2
def test_quiet_period_starts_once_when_the_instance_is_created():
    """phyint_inst_create() sets pii_fd_hrtime; a link-up restarts the probe timer
    (restart_timer()) but not the quiet period."""
    w = ProbeWorld("e0", "e1")
    w.routers(ROUTER)  # the router never answers: the quiet period is not ended early
    w.probing_group("ipmp0", "e0", "e1", fdt=FDT)
    created = w.now
    fp = w.engine.members["e0"].prober.families[4]
    assert fp.quiet_until == created + PROBE_QUIET_PERIOD_MS
    w.run(10_000)
    w.link("e0", up=False)
    w.run(1000)
    w.link("e0", up=True)
    assert fp.quiet_until == created + PROBE_QUIET_PERIOD_MS
    # e1 never bounced: its losses count from the end of the quiet period on, and the
    # group fails one FDT later, not 40 s after e0's link-up.
    w.run_until(lambda: w.group_view("ipmp0").state is GroupState.FAILED,
                limit_ms=PROBE_QUIET_PERIOD_MS)
    assert w.now <= created + PROBE_QUIET_PERIOD_MS + FDT


# --------------------------------------------------------------------------- rule 3
@pytest.mark.parametrize("seed", range(6))
def test_group_failure_is_declared_at_once_when_no_member_gets_answers(seed):
    """failure_state() -> GROUP_FAILURE: no other member answered since the first loss,
    so every member fails together within one FDT, logged as in.mpathd's
    phyint_group_refresh_state() does; no second FDT looking for other targets."""
    w = world("e0", "e1", "e2", seed=seed)
    w.run(seed * 131.0)  # fail at a different phase of the probe cycle each time
    w.dropped.update({"e0", "e1", "e2"})
    took = w.run_until(lambda: w.group_view("ipmp0").state is GroupState.FAILED,
                       limit_ms=3 * FDT, step_ms=1.0)
    assert took <= FDT, took
    assert all(w.iface(m).state is IfState.FAILED for m in ("e0", "e1", "e2"))
    assert w.logs().count(UNUSABLE) == 1
    assert w.where()["198.51.100.10"] == ""
    assert w.iface("e0").targets == [ROUTER]  # routers are kept
    assert not any("looking for other targets" in line for line in w.logs())


def test_group_failure_flushes_host_targets_and_rediscovers_them():
    """phyint_group_chstate(PG_FAILED) -> target_flush_hosts(): the host targets are
    forgotten and found again by multicast; every member is repaired by
    NUM_PROBE_REPAIRS answers once the path is back."""
    w = ProbeWorld("e0", "e1")
    hosts = ["198.51.100.200", "198.51.100.201"]
    w.hosts[4] = hosts
    w.rtt.update({h: 0.5 for h in hosts})
    w.probing_group("ipmp0", "e0", "e1", fdt=FDT)
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    w.run(3 * FDT)
    assert sorted(w.iface("e0").targets) == hosts
    start = w.now
    w.dropped.update({"e0", "e1"})
    took = w.run_until(lambda: w.group_view("ipmp0").state is GroupState.FAILED,
                       limit_ms=3 * FDT, step_ms=1.0)
    assert took <= FDT, took
    assert w.iface("e0").targets == [] and w.iface("e1").targets == []
    assert UNUSABLE in w.logs()
    w.run(FDT)
    multicast = [p for t, p in w.sent if t > start + took and p.kind is ProbeKind.MULTICAST]
    assert {p.member for p in multicast} == {"e0", "e1"}
    w.dropped.clear()
    w.run_until(lambda: w.group_view("ipmp0").state is GroupState.OK, limit_ms=5 * FDT)
    assert sorted(w.iface("e0").targets) == hosts
