"""Probe-based failure detection for one member (in.mpathd's phyint instances), sans I/O.

A ``Prober`` holds one ``FamilyProber`` per address family that has a test address. Each
schedules ICMP probes to the group's targets (``SendProbe`` actions), hears the replies
the daemon has already validated at the socket (identifier), validates the rest (known
sequence number, not a duplicate, from the target probed, IPv6 link-local source),
keeps an RTT estimate per target, and declares probes lost when their target's estimate
has passed. The group logic (engine/probing.py, engine/judgement.py) reads the loss and
success runs and decides between an interface failure, a bad target and a group
failure; the prober keeps the latch (failed until NUM_PROBE_REPAIRS consecutive
successes).
"""

from __future__ import annotations

import ipaddress
import random
from collections import Counter, deque
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum

from ipmp_core.constants import (
    LOSS_TIMEOUT_FLOOR_MS,
    MAX_RANDOM_FACTOR,
    MIN_RANDOM_FACTOR,
    NUM_PROBE_FAILS,
    NUM_PROBE_REPAIRS,
    PROBE_STATS_COUNT,
    RTT_PROBES_KEPT,
    SEQ_MODULO,
)
from ipmp_core.engine.detector import Verdict
from ipmp_core.engine.rtt import RttEstimator

MULTICAST_DEST = {4: "224.0.0.1", 6: "ff02::1"}
# The "family" of transitive probes (engine/transitive.py): layer-2 frames, no IP family,
# kept in a FamilyProber of their own so that they count losses and repairs as the
# classic probes do.
TRANSITIVE = 0
FAMILY_NAME = {4: "inet", 6: "inet6", TRANSITIVE: "transitive"}


class ProbeStatus(StrEnum):
    """Where one probe stands: waiting for its answer, answered, or given up."""

    UNACKED = "unacked"
    ACKED = "acked"
    LOST = "lost"


@dataclass
class ProbeRecord:
    """One probe sent: to whom, when, and how it ended (the history loss runs read)."""

    seq: int
    target: str
    start: float  # ms; moved to when it really left once the daemon says so
    status: ProbeStatus = ProbeStatus.UNACKED
    done: float = 0.0  # when acked or declared lost
    rtt: float = 0.0
    started: float = field(init=False)  # when probing it began (in.mpathd's start time)

    def __post_init__(self) -> None:
        self.started = self.start


class TargetCounts:
    """One target's probe counters since its FamilyProber was created, for the daemon's
    Prometheus textfile (daemon/metrics.py): kept as the probes go, a few integers per
    target and never a per-probe object, so that metrics cost the probing path nothing
    and need no probe events. Failure-detection probes only: PROBE_RTT probes are no
    probe events either (pii_probes)."""

    __slots__ = ("acked", "lost", "rtt_last", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.acked = 0
        self.lost = 0
        self.rtt_last: float | None = None  # ms: the last answered probe's network RTT


@dataclass
class FamilyProber:
    """One member's probing in one address family: its schedule, sequence numbers, the
    recent probe history, and an RTT estimate per target."""

    member: str
    family: int
    source: str
    rng: random.Random
    enabled: bool = True
    seq: int = 0
    records: deque[ProbeRecord] = field(default_factory=lambda: deque(maxlen=PROBE_STATS_COUNT))
    next_send: float | None = None
    base: float = 0.0
    quiet_until: float = 0.0
    target_index: int = 0
    rtt: dict[str, RttEstimator] = field(default_factory=dict)
    # The probes still unanswered (at most a few): expiry and deadlines look only here,
    # never through the whole history (that made every timer O(history)).
    unacked: list[ProbeRecord] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    last_success: float | None = None  # when the latest answered probe was answered
    # False from a link-down until NUM_PROBE_REPAIRS answers in a row came after it: the
    # first answers after a link comes back may have waited in the ARP/ND queue while
    # the switch port was still learning, and are no round-trip time (see rtt_allowed).
    settled: bool = True
    # While the group's FDT is raised (in.mpathd's pii_fd_snxt_basetime and
    # pii_rtt_target_next): probes still go out every configured interval, but only
    # those reaching fd_base are failure-detection probes; the others are PROBE_RTT
    # probes, to rtt_target_index, remembered in rtt_probes (not in the history).
    fd_base: float = 0.0
    rtt_target_index: int = 0
    rtt_probes: deque[ProbeRecord] = field(default_factory=lambda: deque(maxlen=RTT_PROBES_KEPT))
    # target -> its cumulative counters (never cleared: clear() forgets the history the
    # judgement reads, not what was counted; a new FamilyProber starts from zero)
    counts: dict[str, TargetCounts] = field(default_factory=dict)

    # ------------------------------------------------------------------ schedule
    def start(self, now: float, interval: float) -> None:
        """Start (or restart) probing: the first probe is spread over one interval. The
        quiet period is not restarted: it began when the prober was created."""
        self.base = now + self.rng.uniform(0, interval)
        self.next_send = self.base
        self.fd_base = self.base

    def stop(self) -> None:
        self.next_send = None

    def due(self, now: float) -> bool:
        return self.next_send is not None and now >= self.next_send

    def schedule_next(self, now: float, interval: float) -> None:
        """Base times are strictly periodic; each probe goes out at a random point in the
        second half of its interval. Missed slots (a busy host) are skipped, not bunched."""
        factor = self.rng.uniform(MIN_RANDOM_FACTOR, MAX_RANDOM_FACTOR)
        if now > self.base + factor * interval:
            missed = int((now - self.base) // interval) + 1
            self.base += missed * interval
        self.next_send = self.base + factor * interval
        self.base += interval

    def fd_probe_now(self, now: float, fd_interval: float, raised: bool) -> bool:
        """Whether the probe going out now (after schedule_next) is a failure-detection
        probe rather than a PROBE_RTT one: in.mpathd's phyint_inst_timer() sends PROBE_UNI
        only when the next send time is no earlier than the failure-detection base time,
        which a PROBE_UNI moves on by the group's (raised) probe interval; missed slots
        are skipped. With the FDT as configured every probe is one, and both base times
        stay in step."""
        if not raised:
            self.fd_base = self.base
            return True
        if self.next_send is not None and self.next_send < self.fd_base:
            return False
        self.fd_base += fd_interval
        if now > self.fd_base:
            self.fd_base += (int((now - self.fd_base) // fd_interval) + 1) * fd_interval
        return True

    def sent_rtt(self, seq: int, target: str, now: float) -> None:
        self.rtt_probes.append(ProbeRecord(seq, target, now))

    def find_rtt(self, seq: int) -> ProbeRecord | None:
        return next((r for r in self.rtt_probes if r.seq == seq), None)

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) % SEQ_MODULO
        return self.seq

    # ------------------------------------------------------------------ bookkeeping
    def sent(self, seq: int, target: str, now: float) -> ProbeRecord:
        record = ProbeRecord(seq, target, now)
        self.records.append(record)
        self.unacked.append(record)
        counts = self.counts.get(target)
        if counts is None:
            counts = self.counts[target] = TargetCounts()
        counts.sent += 1
        return record

    def answered(self, record: ProbeRecord) -> None:
        """Count ``record`` as acked (its status, done and rtt already set)."""
        counts = self.counts[record.target]
        counts.acked += 1
        counts.rtt_last = record.rtt

    def timeout_for(self, record: ProbeRecord, interval: float) -> float:
        est = self.rtt.get(record.target)
        crtt = est.crtt if est is not None and est.known else 0.0
        if crtt <= 0:
            return record.start + interval
        # in.mpathd counts in whole milliseconds; on a LAN the estimate is far below one,
        # and a reply that a busy host reads a few ms late must not count as lost.
        return record.start + min(interval, max(crtt, LOSS_TIMEOUT_FLOOR_MS))

    def expire(self, now: float, interval: float) -> list[ProbeRecord]:
        """Declare lost every unanswered probe whose target's estimate has passed; keep at
        most two probes outstanding (in.mpathd's rule)."""
        lost: list[ProbeRecord] = []
        unacked = [r for r in self.unacked if r.status is ProbeStatus.UNACKED]
        keep: list[ProbeRecord] = []
        for i, record in enumerate(unacked):
            too_many = len(unacked) - i > 2
            deadline = self.timeout_for(record, interval)
            if now >= deadline or too_many:
                record.status = ProbeStatus.LOST
                record.done = min(now, deadline)
                self.counts[record.target].lost += 1
                lost.append(record)
            else:
                keep.append(record)
        self.unacked = keep
        return lost

    def next_loss_deadline(self, interval: float) -> float | None:
        best: float | None = None
        for record in self.unacked:  # at most a few: no list, this runs per packet
            if record.status is ProbeStatus.UNACKED:
                t = self.timeout_for(record, interval)
                if best is None or t < best:
                    best = t
        return best

    def find(self, seq: int) -> ProbeRecord | None:
        for record in reversed(self.records):
            if record.seq == seq:
                return record
        return None

    def loss_run(self) -> tuple[int, float | None]:
        """Consecutive lost probes, most recent first (unanswered ones not yet lost are
        skipped: they may still be answered), and when the first of them was sent."""
        count, first = 0, None
        for record in reversed(self.records):
            if record.status is ProbeStatus.UNACKED:
                continue
            if record.status is ProbeStatus.ACKED:
                break
            count += 1
            first = record.start
        return count, first

    def target_loss_run(self, target: str) -> int:
        count = 0
        for record in reversed(self.records):
            if record.target != target or record.status is ProbeStatus.UNACKED:
                continue
            if record.status is ProbeStatus.ACKED:
                break
            count += 1
        return count

    def success_run(self) -> int:
        count = 0
        for record in reversed(self.records):
            if record.status is ProbeStatus.UNACKED:
                continue
            if record.status is not ProbeStatus.ACKED:
                break
            count += 1
        return count

    def rtt_allowed(self) -> bool:
        """Whether the answer just recorded may be an RTT sample: in.mpathd's
        incoming_echo_reply() takes none while the phyint is not PI_RUNNING, i.e. until
        NUM_PROBE_REPAIRS answers after a repair; the answer that completes them is
        still one of "the initial few responses", so sampling starts with the next."""
        if not self.settled:
            self.settled = self.success_run() > NUM_PROBE_REPAIRS
        return self.settled

    def clear(self) -> None:
        """Forget the probe history (link went down, targets replaced)."""
        self.records.clear()
        self.unacked.clear()
        self.rtt_probes.clear()


@dataclass
class Prober:
    """All families of one member, behind the Detector interface."""

    member: str
    families: dict[int, FamilyProber] = field(default_factory=dict)
    failed: bool = False  # the latch: set by the group logic, cleared by repairs
    has_targets: bool = False  # set by the engine each refresh
    name: str = "probe"
    # Transitive probing (engine/transitive.py): the layer-2 probe records, enabled only
    # while no family probes, and the member they go to.
    transitive: FamilyProber | None = None
    transitive_target: str | None = None

    @property
    def transitive_only(self) -> bool:
        """Judged by its transitive probes: no IP family probes on this member."""
        return self.transitive is not None and self.transitive.enabled

    @property
    def enabled(self) -> bool:
        return any(f.enabled for f in self.families.values()) or self.transitive_only

    def verdict(self) -> Verdict:
        if not self.enabled:
            return Verdict.UNKNOWN
        if self.failed:
            return Verdict.FAILED
        return Verdict.OK if self.has_targets else Verdict.UNKNOWN

    def probers(self) -> list[FamilyProber]:
        """The records that probe: every family, and the transitive ones when enabled."""
        found = list(self.families.values())
        if self.transitive is not None and self.transitive.enabled:
            found.append(self.transitive)
        return found

    def prober_for(self, family: int) -> FamilyProber | None:
        return self.transitive if family == TRANSITIVE else self.families.get(family)

    def next_deadline(self) -> float | None:
        return None  # the engine schedules probing itself (it needs the group's interval)

    def tick(self, now: float) -> list[str]:
        return []

    def repaired(self) -> bool:
        """NUM_PROBE_REPAIRS consecutive answered probes on either family."""
        return any(f.enabled and f.success_run() >= NUM_PROBE_REPAIRS
                   for f in self.families.values())

    def loss_runs(self, voters: Collection[int]) -> dict[int, tuple[int, float | None]]:
        return {fam: f.loss_run() for fam, f in self.families.items()
                if f.enabled and fam in voters}

    def all_families_failing(self, voters: Collection[int]) -> float | None:
        """in.mpathd's phyint_inst_probe_failure_state(): failed when every probing
        family that has targets (``voters``: PROBE_CAPABLE, pii_ntargets != 0) lost
        NUM_PROBE_FAILS in a row. A family without targets does not vote: it can
        neither fail the member nor keep a dead one alive. Returns the time of the
        first failure, or None."""
        runs = self.loss_runs(voters)
        if not runs or any(n < NUM_PROBE_FAILS for n, _ in runs.values()):
            return None
        return min(t for _, t in runs.values() if t is not None)

    def last_success(self) -> float | None:
        times = [f.last_success for f in self.families.values() if f.last_success is not None]
        return max(times, default=None)

    def targets_answered_since(self, since: float) -> bool:
        """Whether an IP family's probe to the targets was answered after ``since``."""
        return any(f.enabled and f.last_success is not None and f.last_success > since
                   for f in self.families.values())


def is_link_local(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_link_local
    except ValueError:
        return False
