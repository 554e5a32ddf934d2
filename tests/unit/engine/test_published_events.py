"""The events as in.mpathd publishes them (mpd_tables.c: probe_state_event, post_event,
the pg_sig and phyint_grouplistsig updates), on the engine with a fake clock."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ipmp_core.constants import EVENT_VERSION
from ipmp_core.engine.actions import Publish, SendProbe
from ipmp_core.engine.prober import ProbeStatus
from ipmp_core.engine.signatures import SIG_COUNTER_BITS, Signatures
from tests.support.probe_sim import ROUTER, ProbeWorld

FDT = 7000  # probe interval 1000 ms


def probing_world() -> ProbeWorld:
    w = ProbeWorld("e0", "e1", seed=3)
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.probing_group("ipmp0", "e0", "e1", fdt=FDT)
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    w.run(3 * FDT)  # past the quiet period, RTT estimates known
    w.engine.probing.events = True
    return w


def events(w: ProbeWorld, since: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
    return [a.event for a in w.actions[since:] if isinstance(a, Publish)
            and (kind is None or a.event.get("type") == kind)]


def next_probe(w: ProbeWorld, member: str = "e0") -> tuple[float, SendProbe]:
    """Run until ``member`` sends its next unicast probe; nobody answers it by itself."""
    w.rtt.pop(ROUTER, None)
    count = len(w.sent)
    for _ in range(200):  # bounded: a probe goes out every second
        w.run(10)
        new = [(t, p) for t, p in w.sent[count:] if p.member == member and p.dest == ROUTER]
        if new:
            return new[0]
    raise AssertionError("no probe sent")


def test_probe_state_events_carry_in_mpathds_four_times_sent_acked_and_lost() -> None:
    """probe_state_event(): IPMP_PROBE_START_TIME, _SENT_TIME, _ACKRECV_TIME,
    _ACKPROC_TIME; the last two only for an acked probe. The daemon reports when the
    probe really left (probe_sent), and the reply with its kernel receive time and the
    time it processed it."""
    w = probing_world()
    mark = len(w.actions)
    started, probe = next_probe(w)
    w.record(w.engine.probe_sent("e0", 4, probe.seq, started + 0.2))
    w.record(w.engine.probe_reply("e0", 4, probe.seq, ROUTER, started + 1.2,
                                  processed_at=started + 1.7))
    sent, acked = [e for e in events(w, mark, "probe") if e["probe"] == probe.seq]
    ms = 1_000_000
    start_ns = round(started * ms)
    assert sent == {**sent, "status": "sent", "start_ns": start_ns,
                    "sent_ns": start_ns + round(0.2 * ms), "ackrecv_ns": None,
                    "ackproc_ns": None, "target": ROUTER, "version": EVENT_VERSION}
    assert acked["status"] == "acked"
    assert (acked["start_ns"], acked["sent_ns"], acked["ackrecv_ns"], acked["ackproc_ns"]) \
        == (start_ns, start_ns + round(0.2 * ms), start_ns + round(1.2 * ms),
            start_ns + round(1.7 * ms))
    assert acked["rttavg_ms"] == pytest.approx(1.0, abs=0.5)

    mark = len(w.actions)
    started, lost_probe = next_probe(w)
    w.record(w.engine.probe_sent("e0", 4, lost_probe.seq, started + 0.3))
    fp = w.engine.members["e0"].prober.families[4]
    record = fp.find(lost_probe.seq)
    assert record is not None
    w.run_until(lambda: record.status is ProbeStatus.LOST, limit_ms=FDT)
    lost = [e for e in events(w, mark, "probe")
            if e["probe"] == lost_probe.seq and e["status"] == "lost"]
    assert len(lost) == 1
    assert (lost[0]["start_ns"], lost[0]["sent_ns"]) == (round(started * ms),
                                                         round((started + 0.3) * ms))
    assert lost[0]["ackrecv_ns"] is None and lost[0]["ackproc_ns"] is None


def test_no_probe_event_while_nobody_listens() -> None:
    w = probing_world()
    w.engine.probing.events = False
    mark = len(w.actions)
    started, probe = next_probe(w)
    assert w.engine.probe_sent("e0", 4, probe.seq, started + 0.2) == []
    assert not events(w, mark, "probe")


def group_events(w: ProbeWorld, since: int) -> list[dict[str, Any]]:
    return [e for e in events(w, since) if e.get("group") == "ipmp0"]


def test_every_event_carries_the_event_version_as_post_event_adds_it() -> None:
    w = probing_world()
    mark = len(w.actions)
    w.run(2000)
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.11/24", w.now))
    w.link("e1", up=False)
    w.run(2000)
    w.link("e1", up=True)
    w.record(w.engine.remove_data_address("198.51.100.11", w.now))
    w.record(w.engine.remove_member("e1", w.now))
    w.record(w.engine.delete_group("ipmp0", w.now))
    seen = events(w, mark)
    kinds = {e["type"] for e in seen}
    assert {"probe", "member-state", "group-state", "address-added", "address-moved",
            "address-removed", "member-removed", "group-removed"} <= kinds
    assert all(e.get("version") == EVENT_VERSION for e in seen), \
        [e for e in seen if e.get("version") != EVENT_VERSION]


def test_group_signature_changes_once_per_member_or_group_change_as_pg_sig() -> None:
    """pg_sig++ with each member joining or leaving (phyint_insert, phyint_delete), each
    member state change (phyint_chstate) and each group state change
    (phyint_group_chstate), and the event carries the new value: consecutive signed
    events of a group count up by exactly one. Address and probe events neither carry
    nor change it."""
    w = probing_world()
    mark = len(w.actions)
    w.link("e1", up=False)  # member-state and group-state (degraded)
    w.run(2000)
    w.link("e1", up=True)
    w.run(FDT)
    w.record(w.engine.remove_member("e1", w.now))
    signed = [e for e in group_events(w, mark) if "group_signature" in e]
    kinds = [e["type"] for e in signed]
    assert "member-state" in kinds and "group-state" in kinds and "member-removed" in kinds
    sigs = [e["group_signature"] for e in signed]
    assert sigs == list(range(sigs[0], sigs[0] + len(sigs)))
    unsigned = [e for e in events(w, mark) if "group_signature" not in e]
    assert {e["type"] for e in unsigned} <= {"probe", "address-moved", "address-added",
                                             "address-removed"}
    # A consumer that held the signature before a member-state event it missed sees
    # the next one jump by two: it knows it must look again (ipmpstat, a snapshot).
    held, _missed, seen = sigs[0], sigs[1], sigs[2]
    assert seen - held == 2


def test_grouplist_signature_changes_when_a_group_is_added_or_removed() -> None:
    """phyint_group_insert and phyint_group_delete: phyint_grouplistsig++, carried by
    the group change event with the group's own signature; nothing else changes it."""
    w = probing_world()
    sig = w.engine.tables.signatures
    start = sig.grouplist
    mark = len(w.actions)
    w.record(w.engine.create_group("ipmp1", w.now))
    w.link("e1", up=False)
    w.run(2000)
    w.record(w.engine.delete_group("ipmp1", w.now))
    changes = [e for e in events(w, mark) if e["type"] in ("group-added", "group-removed")]
    assert [(e["type"], e["grouplist_signature"]) for e in changes] == [
        ("group-added", start + 1), ("group-removed", start + 2)]
    added, removed = changes
    assert added["group_signature"] & ((1 << SIG_COUNTER_BITS) - 1) == 1  # gensig()
    assert removed["group_signature"] == added["group_signature"]  # nothing happened in it
    assert sig.grouplist == start + 2


def test_a_group_created_again_gets_a_new_signature_generation_as_gensig() -> None:
    """gensig(): a random generation above a counter at 1, so that a consumer holding
    the old group's signature cannot mistake the new group's for a continuation; and
    the value stays below 2**53 for JSON readers that use doubles."""
    sig = Signatures(random.Random(7))
    first = sig.gensig()
    generations = {sig.gensig() >> SIG_COUNTER_BITS for _ in range(50)}
    assert len(generations) > 40  # random, not a counter that restarts
    assert first & ((1 << SIG_COUNTER_BITS) - 1) == 1
    assert max(generations) << SIG_COUNTER_BITS < 2 ** 53


def test_a_stream_starts_from_the_current_signatures() -> None:
    """The subscribe reply (Signatures.current) holds what the next event continues:
    the next signed event of a group carries the reply's value + 1."""
    w = probing_world()
    start = w.engine.tables.signatures.current(w.engine.groups)
    assert start["version"] == EVENT_VERSION
    mark = len(w.actions)
    w.link("e1", up=False)
    first = next(e for e in group_events(w, mark) if "group_signature" in e)
    assert first["group_signature"] == start["group_signatures"]["ipmp0"] + 1


def test_a_batch_ordered_twice_stamps_each_event_once() -> None:
    """order_batch may run twice over one batch (a call nested in another): each event
    still changes its signature once, so signatures count events, not orderings."""
    sig = Signatures(random.Random(1))
    batch = [Publish({"type": "group-added", "group": "g"}),
             Publish({"type": "member-state", "group": "g", "interface": "e0"})]
    sig.stamp(batch)
    stamped = [dict(a.event) for a in batch]
    sig.stamp(batch)
    assert [a.event for a in batch] == stamped
    assert stamped[1]["group_signature"] == stamped[0]["group_signature"] + 1
    assert sig.groups["g"] == stamped[1]["group_signature"]
