"""The daemon wakes up in batches (TICK_BATCH_DIVISOR): replies are read at the next
wake-up with their kernel receive times, probes that fall due in between go out
together. These tests drive the engine exactly that way on the simulated network and
check that in.mpathd's results do not change: detection within the FDT, no false
losses, exact RTTs, repair after ten answers, and the late-reply rules.
"""

from __future__ import annotations

import pytest

from ipmp_core.constants import (
    NUM_PROBE_REPAIRS,
    PROBE_INTERVAL_DIVISOR,
    TICK_BATCH_DIVISOR,
    TICK_BATCH_MAX_MS,
)
from ipmp_core.engine.actions import ProbeKind, Publish
from ipmp_core.engine.prober import ProbeStatus
from ipmp_core.model import IfState
from tests.support.probe_sim import ROUTER, ProbeWorld

FDT = 1000  # the benchmark's FDT: probe interval 143 ms
INTERVAL = FDT / PROBE_INTERVAL_DIVISOR
WINDOW = min(TICK_BATCH_MAX_MS, INTERVAL / TICK_BATCH_DIVISOR)


def world(*members: str, seed: int = 1, batched: bool = True, rtt: float = 0.3,
          fdt: int = FDT) -> ProbeWorld:
    w = ProbeWorld(*members, seed=seed, batched=batched)
    w.rtt[ROUTER] = rtt
    w.routers(ROUTER)
    w.probing_group("ipmp0", *members, fdt=fdt)
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    w.run(3 * fdt)  # quiet period over, RTT estimates known
    w.engine.probing.events = True  # count every probe's outcome from here on
    return w


def outcomes(w: ProbeWorld, since: int = 0) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in w.actions[since:]:
        if isinstance(a, Publish) and a.event.get("type") == "probe":
            counts[a.event["status"]] = counts.get(a.event["status"], 0) + 1
    return counts


def test_next_wake_is_the_deadline_but_at_most_one_batch_per_window():
    w = world("e0", "e1")
    deadline = w.engine.next_deadline()
    assert deadline is not None
    assert w.engine.next_wake(deadline - 10 * WINDOW) == deadline  # long since: no wait
    assert w.engine.next_wake(deadline) == pytest.approx(deadline + WINDOW)
    long = ProbeWorld("e0", batched=True)
    long.routers(ROUTER)
    long.probing_group("ipmp0", "e0", fdt=30_000)  # interval 4.3 s: the cap applies
    due = long.engine.next_deadline()
    assert due is not None and long.engine.next_wake(due) == due + TICK_BATCH_MAX_MS


def test_batching_halves_the_wake_ups_and_loses_nothing():
    """4 members at FDT 1 s for a simulated minute: a reply no longer costs a wake-up of
    its own, and no probe is lost or misjudged because it was read late."""
    batched, exact = world("e0", "e1", "e2", "e3"), world("e0", "e1", "e2", "e3", batched=False)
    for w in (batched, exact):
        w.wakes, mark = 0, len(w.actions)
        w.run(60_000)
        w.mark = mark  # type: ignore[attr-defined]
    sent = outcomes(batched, batched.mark)["acked"]  # type: ignore[attr-defined]
    assert outcomes(batched, batched.mark) == {"acked": sent}  # type: ignore[attr-defined]
    assert sent == pytest.approx(4 * 60_000 / INTERVAL, rel=0.05)  # no probe skipped
    assert batched.wakes <= 60_000 / WINDOW + 10
    assert batched.wakes < exact.wakes / 2
    for name in ("e0", "e1", "e2", "e3"):
        est = batched.engine.members[name].prober.families[4].rtt[ROUTER]
        assert est.crtt == pytest.approx(0.3, abs=0.05)  # the RTT, not the read delay
    assert batched.group_view("ipmp0").fdt_ms == FDT  # so no FDT back-off


@pytest.mark.parametrize("seed", range(12))
def test_dropped_path_is_detected_within_fdt_when_batched(seed):
    w = world("e0", "e1", seed=seed)
    w.run(seed * 37.0)
    w.dropped.add("e0")
    took = w.run_until(lambda: w.iface("e0").state is IfState.FAILED, limit_ms=3 * FDT,
                       step_ms=1.0)
    assert took <= FDT, f"detected after {took} ms, FDT {FDT}"
    assert w.where()["198.51.100.10"] == "e1"
    assert w.iface("e1").state is IfState.OK


def test_repair_after_ten_answers_when_batched():
    w = world("e0", "e1")
    w.dropped.add("e0")
    w.run_until(lambda: w.iface("e0").state is IfState.FAILED, limit_ms=3 * FDT)
    w.dropped.clear()
    took = w.run_until(lambda: w.iface("e0").state is IfState.OK, limit_ms=5 * FDT,
                       step_ms=1.0)
    assert (NUM_PROBE_REPAIRS - 1) * INTERVAL / 2 <= took <= 2.5 * FDT


def test_reply_read_after_its_deadline_but_received_before_counts_as_answered():
    """The daemon reads a reply at the next wake-up, possibly after the probe's loss
    deadline: the kernel's receive time decides, so it is an answer, not a loss."""
    w = world("e0", "e1", batched=False)
    engine = w.engine
    fp = engine.members["e0"].prober.families[4]
    w.rtt.pop(ROUTER)  # nothing answers by itself: we deliver by hand
    w.run_until(lambda: fp.unacked != [], limit_ms=FDT)
    record = fp.unacked[-1]
    received = record.start + 0.3
    deadline = fp.timeout_for(record, engine.groups["ipmp0"].probe_interval)
    engine.probe_reply("e0", 4, record.seq, ROUTER, received)  # read at the next wake-up
    engine.tick(deadline + 5.0)
    assert record.status is ProbeStatus.ACKED and record.rtt == pytest.approx(0.3)


def test_late_reply_read_in_a_batch_is_judged_as_if_the_daemon_had_woken_at_the_deadline():
    """A reply that arrived after its probe's deadline, read at a later wake-up with no
    tick in between: the probe is first lost at its deadline (counted, judged), then
    the late answer rescues it, exactly the sequence of the one-event-at-a-time run."""
    w = world("e0", "e1", batched=False)
    engine = w.engine
    fp = engine.members["e0"].prober.families[4]
    w.rtt.pop(ROUTER)
    w.run_until(lambda: fp.unacked != [], limit_ms=FDT)
    record = fp.unacked[-1]
    deadline = fp.timeout_for(record, engine.groups["ipmp0"].probe_interval)
    mark = len(w.actions)
    w.record(engine.probe_reply("e0", 4, record.seq, ROUTER, deadline + 1.0))
    statuses = [a.event["status"] for a in w.actions[mark:]
                if isinstance(a, Publish) and a.event.get("type") == "probe"]
    assert statuses == ["lost", "acked"]
    assert record.status is ProbeStatus.ACKED and fp.unacked == []
    assert all(p.kind is ProbeKind.UNICAST for _, p in w.sent[-1:])


def test_a_probe_sent_late_counts_its_round_trip_and_deadline_from_the_send():
    """The daemon may send a probe after the tick that made it (its batch waited for the
    lock): the RTT and the loss deadline count from the real send, so the wait neither
    inflates the RTT estimate (and with it the FDT) nor loses the probe early."""
    w = world("e0", "e1", batched=False)
    engine = w.engine
    group = engine.groups["ipmp0"]
    fp = engine.members["e0"].prober.families[4]
    w.rtt.pop(ROUTER)
    w.run_until(lambda: fp.unacked != [], limit_ms=FDT)
    record = fp.unacked[-1]
    sent = record.start + 150.0  # well past the loss deadline counted from the tick
    assert fp.timeout_for(record, group.probe_interval) < sent
    engine.probe_sent("e0", 4, record.seq, sent)
    assert fp.timeout_for(record, group.probe_interval) > sent
    loss = fp.next_loss_deadline(group.probe_interval)
    assert loss is not None and loss > sent
    engine.probe_sent("e0", 4, record.seq, sent - 100.0)  # never moves backwards
    assert record.start == sent
    w.record(engine.probe_reply("e0", 4, record.seq, ROUTER, sent + 0.3))
    assert record.status is ProbeStatus.ACKED and record.rtt == pytest.approx(0.3)
    assert fp.rtt[ROUTER].crtt < group.probe_interval
    assert w.group_view("ipmp0").fdt_ms == FDT
    engine.probe_sent("e0", 4, record.seq, sent + 50.0)  # answered: left alone
    engine.probe_sent("nosuch", 4, record.seq, sent)  # a member since removed
    assert record.start == sent
