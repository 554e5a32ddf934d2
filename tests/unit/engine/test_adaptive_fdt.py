"""The failure detection time, PROBE_RTT probes and slow targets as in.mpathd's
incoming_echo_reply() / incoming_rtt_reply() / phyint_inst_timer() handle them, on the
simulated network with the fake clock."""

from __future__ import annotations

import pytest

from ipmp_core.constants import MIN_SETTLING_TIME, NEXT_FDT_MULTIPLE, PROBE_INTERVAL_DIVISOR
from ipmp_core.engine.actions import Log, ProbeKind
from ipmp_core.engine.rtt import RttEstimator
from ipmp_core.model import IfState
from tests.support.probe_sim import ROUTER, ProbeWorld

FDT = 1000  # probe interval 143 ms


def world(*members: str, rtt: float = 1.0, batched: bool = False) -> ProbeWorld:
    w = ProbeWorld(*members, batched=batched)
    w.rtt[ROUTER] = rtt
    w.routers(ROUTER)
    w.probing_group("ipmp0", *members, fdt=FDT)
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    w.run(30 * FDT)  # past the quiet period, estimates known
    return w


def raised(w: ProbeWorld, rtt: float = 300.0) -> ProbeWorld:
    """The router slows down until the FDT is raised."""
    w.rtt[ROUTER] = rtt
    group = w.engine.groups["ipmp0"]
    w.run_until(lambda: group.fdt_current > FDT, limit_ms=20_000, step_ms=10.0)
    return w


def _logs(w: ProbeWorld, text: str) -> list[Log]:
    return [a for a in w.actions if isinstance(a, Log) and text in a.message]


# --------------------------------------------------------------------------- raising
def test_cannot_meet_requested_fdt_raises_it_to_seven_times_twice_the_crtt():
    """incoming_echo_reply(): crtt above the interval and no exception target:
    pg_probeint = crtt x NEXT_FDT_MULTIPLE (whole ms), pg_fdt = 7 x that, logged with
    logtrace() (LOG_INFO) in in.mpathd's words."""
    w = world("e0", "e1")
    w = raised(w)
    group = w.engine.groups["ipmp0"]
    line = _logs(w, "Cannot meet requested failure detection time")[0]
    fdt = int(line.message.rsplit(" is ", 1)[1].split()[0])
    assert fdt % (NEXT_FDT_MULTIPLE * PROBE_INTERVAL_DIVISOR) == 0 and fdt > 2 * FDT
    assert line.level == "info"
    assert line.message.startswith("Cannot meet requested failure detection time of "
                                   "1000 ms on (inet e")
    assert line.message.endswith(f'new failure detection time for group "ipmp0" is {fdt} ms')
    assert group.fdt_current >= fdt
    assert w.iface("e0").state is IfState.OK  # slow is not failed


# --------------------------------------------------------------------------- PROBE_RTT
@pytest.mark.parametrize("batched", [False, True])
def test_probe_rtt_probes_go_out_between_failure_detection_probes_while_fdt_is_raised(
        batched):
    """phyint_inst_timer(): while pg_probeint > user_probe_interval, the timer still
    fires every user_probe_interval; a probe is PROBE_UNI only when the next send time
    reaches pii_fd_snxt_basetime, the others are PROBE_RTT to the next target. PROBE_RTT
    probes are not in the probe history (no failure detection). The daemon's batched
    wake-ups keep that schedule."""
    w = raised(world("e0", "e1", batched=batched), rtt=300.0)
    group = w.engine.groups["ipmp0"]
    w.rtt[ROUTER] = 100.0  # still too slow to lower it: stays raised
    start = w.now
    w.run(10_000)
    assert group.fdt_current > FDT
    probes = [(t, p) for t, p in w.sent if t >= start and p.member == "e0"]
    rtt_probes = [t for t, p in probes if p.kind is ProbeKind.RTT]
    uni = [t for t, p in probes if p.kind is ProbeKind.UNICAST]
    assert rtt_probes and uni
    everything = sorted(rtt_probes + uni)
    gaps = [b - a for a, b in zip(everything, everything[1:], strict=False)]
    user_interval = FDT / PROBE_INTERVAL_DIVISOR
    late = user_interval / 2 if batched else 0.0  # a batched send waits at most this
    assert max(gaps) <= 1.5 * user_interval + late + 1e-6  # a probe every user interval
    uni_gaps = [b - a for a, b in zip(uni, uni[1:], strict=False)]
    assert sum(uni_gaps) / len(uni_gaps) == pytest.approx(group.probe_interval, rel=0.25)
    fp = w.engine.members["e0"].prober.families[4]
    assert all(r.start not in rtt_probes for r in fp.records)


def test_probe_rtt_answers_only_lower_the_estimate():
    """pi_set_crtt(..., is_probe_uni = B_FALSE): a PROBE_RTT answer is taken only when
    it lowers the crtt; never the first sample, never a higher one, never held back."""
    est = RttEstimator()
    assert not est.add_rtt_probe(5.0) and not est.known  # tg_crtt 0: nothing lower
    est.add(10.0)
    est.add(300.0)  # a spike: the deviation, and so the crtt, is high
    before = (est.sa, est.sv, est.crtt)
    assert not est.add_rtt_probe(500.0)
    assert (est.sa, est.sv, est.crtt, est.deferred) == (*before, [])
    assert est.add_rtt_probe(10.0) and est.crtt < before[2]


def test_probe_rtt_answer_lowers_the_target_estimate_in_the_engine():
    """incoming_rtt_reply(): the answer to a PROBE_RTT probe feeds its target's estimate
    (only downwards), from the moment the probe really left."""
    w = raised(world("e0", "e1"), rtt=300.0)
    fp = w.engine.members["e0"].prober.families[4]
    w.rtt[ROUTER] = 1.0
    seen = len(w.sent)
    w.run_until(lambda: any(p.kind is ProbeKind.RTT and p.member == "e0"
                            for _, p in w.sent[seen:]), limit_ms=5000, step_ms=1.0)
    probe = next(p for _, p in w.sent[seen:] if p.kind is ProbeKind.RTT and p.member == "e0")
    before = fp.rtt[ROUTER].crtt
    records_before = len(fp.records)
    w.run(2.0)  # its answer (1 ms)
    assert fp.find_rtt(probe.seq) is None  # answered
    assert fp.rtt[ROUTER].crtt < before
    assert len(fp.records) == records_before  # not a failure-detection probe


# --------------------------------------------------------------------------- lowering
@pytest.mark.parametrize("batched", [False, True])
def test_improved_failure_detection_time_once_min_settling_time_passed_since_the_raise(
        batched):
    """incoming_echo_reply() / incoming_rtt_reply(): once last_fdt_bumpup_time +
    MIN_SETTLING_TIME has passed, any answer with crtt < pg_probeint /
    LOWER_FDT_TRIGGER halves pg_fdt (never below the configured FDT) when
    check_pg_crtt_improved() finds every active target that fast: step after step, with
    no minute of fast answers required in between. (Changed: it used to wait for a
    minute of fast answers, and a minute between steps.)"""
    w = raised(world("e0", "e1", batched=batched), rtt=300.0)
    group = w.engine.groups["ipmp0"]
    w.rtt[ROUTER] = 1.0
    w.run_until(lambda: group.fdt_current == FDT, limit_ms=3 * MIN_SETTLING_TIME,
                step_ms=1.0)
    raised_at = group.fdt_raised_at
    improved = _logs(w, "Improved failure detection time")
    assert improved, "no Improved line"
    steps = [int(a.message.split("time ")[1].split()[0]) for a in improved]
    assert steps[-1] == FDT
    assert all(b == max(a // NEXT_FDT_MULTIPLE, FDT) for a, b in zip(steps, steps[1:],
                                                                        strict=False))
    assert improved[-1].message.startswith(f"Improved failure detection time {FDT} ms on "
                                           "(inet e")
    assert improved[-1].message.endswith(') for group "ipmp0"')
    assert w.now - raised_at > MIN_SETTLING_TIME  # not before the settling time
    assert w.now - raised_at < MIN_SETTLING_TIME + 2_000  # but right after it
    # back at the configured FDT no PROBE_RTT probe goes out any more
    seen = len(w.sent)
    w.run(5_000)
    assert not any(p.kind is ProbeKind.RTT for _, p in w.sent[seen:])


def test_fdt_is_not_lowered_before_min_settling_time():
    w = raised(world("e0", "e1"), rtt=300.0)
    group = w.engine.groups["ipmp0"]
    w.rtt[ROUTER] = 1.0
    w.run(group.fdt_raised_at + MIN_SETTLING_TIME - w.now - 1)
    assert group.fdt_current > FDT
    assert not _logs(w, "Improved failure detection time")


def test_fdt_is_not_lowered_while_another_active_target_is_slow():
    """check_pg_crtt_improved(): every active target of every member must be fast."""
    w = ProbeWorld("e0", "e1")
    other = "198.51.100.2"
    w.rtt.update({ROUTER: 1.0, other: 1.0})
    w.routers(ROUTER, other)
    w.probing_group("ipmp0", "e0", "e1", fdt=FDT)
    w.run(30 * FDT)
    w.rtt.update({ROUTER: 300.0, other: 300.0})
    group = w.engine.groups["ipmp0"]
    w.run_until(lambda: group.fdt_current > FDT, limit_ms=20_000, step_ms=10.0)
    w.rtt[ROUTER] = 1.0  # one fast again, the other still slow
    w.run(2 * MIN_SETTLING_TIME)
    assert group.fdt_current > FDT
    assert not _logs(w, "Improved failure detection time")


# --------------------------------------------------------------------------- slow hosts
def _host_world(count: int) -> ProbeWorld:
    w = ProbeWorld("e0", "e1")
    hosts = [f"198.51.100.{200 + i}" for i in range(count)]
    w.hosts[4] = hosts
    w.rtt.update({h: 0.5 for h in hosts})
    w.probing_group("ipmp0", "e0", "e1", fdt=FDT)
    w.run(30 * FDT)
    return w


def test_slow_host_target_is_deleted_and_another_found_by_multicast_with_four_targets():
    """incoming_echo_reply(): a target slower than the interval while at least
    MIN_PROBE_TARGETS + 1 are active and the others answer within interval /
    EXCEPTION_FACTOR is the exception; a host target is deleted (target_delete()) and a
    PROBE_MULTI goes out at once to pick another; the FDT stays."""
    w = _host_world(6)  # 5 targets (MAX_PROBE_TARGETS) and one more host
    targets = w.iface("e0").targets
    assert len(targets) == 5
    spare = next(h for h in w.hosts[4] if h not in targets)
    slow = targets[0]
    w.rtt[slow] = 400.0
    w.run_until(lambda: slow not in w.iface("e0").targets, limit_ms=20_000, step_ms=1.0)
    deleted_at = w.now
    group = w.engine.groups["ipmp0"]
    assert group.fdt_current == FDT
    assert not _logs(w, "Cannot meet")
    assert any(deleted_at - 1.0 <= t <= deleted_at and p.kind is ProbeKind.MULTICAST
               and p.member == "e0" for t, p in w.sent)  # at once, not at the next probe
    w.run(FDT)
    assert spare in w.iface("e0").targets and slow not in w.iface("e0").targets


def test_slow_host_target_is_kept_and_fdt_raised_with_fewer_than_four_targets():
    """check_exception_target(): fewer than MIN_PROBE_TARGETS + 1 active targets is no
    basis for calling one the exception: the FDT is raised and the target kept."""
    w = _host_world(3)
    targets = w.iface("e0").targets
    assert len(targets) == 3
    slow = targets[0]
    w.rtt[slow] = 400.0
    group = w.engine.groups["ipmp0"]
    w.run_until(lambda: group.fdt_current > FDT, limit_ms=20_000, step_ms=1.0)
    assert slow in w.iface("e0").targets
    assert _logs(w, "Cannot meet requested failure detection time of 1000 ms")


def test_dead_host_target_is_deleted_and_another_found_by_multicast_at_once():
    """phyint_inst_probe_failure_state(): a host target that alone lost NUM_PROBE_FAILS
    in a row is deleted (target_delete()) and a PROBE_MULTI goes out at once, so a
    group with 4 hosts left finds a fifth again."""
    w = _host_world(6)
    targets = w.iface("e0").targets
    spare = next(h for h in w.hosts[4] if h not in targets)
    dead = targets[0]
    del w.rtt[dead]
    w.run_until(lambda: dead not in w.iface("e0").targets, limit_ms=20 * FDT, step_ms=1.0)
    w.run(FDT)
    assert spare in w.iface("e0").targets and len(w.iface("e0").targets) == 5
    assert w.iface("e0").state is IfState.OK
