"""A simulated network for the probe engine: targets with RTTs, paths that drop, hosts
that answer multicast echo. Time is a fake clock; a 10 s FDT scenario runs in
milliseconds."""

from __future__ import annotations

import heapq
import itertools
import math
import random

from ipmp_core.engine.actions import Action, ProbeKind, SendProbe
from ipmp_core.engine.engine import Engine
from tests.support.engine_helpers import World

ROUTER = "198.51.100.1"
ROUTER6 = "fe80::1"


class ProbeWorld(World):
    """``batched=True`` drives the engine the way the daemon does: it wakes up at
    ``engine.next_wake()``, hands over every reply that arrived since (with its arrival
    time, as the kernel's receive stamp gives it), then ticks. Otherwise every reply and
    every deadline is an event of its own, at its exact time."""

    def __init__(self, *names: str, seed: int = 1, batched: bool = False) -> None:
        self.batched = batched
        self.wakes = 0
        self._last_wake = -math.inf
        self.rtt: dict[str, float] = {}  # target -> ms (absent: does not answer)
        self.hosts: dict[int, list[str]] = {4: [], 6: []}  # answer multicast echo
        self.dropped: set[str] = set()  # members whose probe path drops everything
        self.pending: list[tuple[float, int, str, int, int, str]] = []
        self.sent: list[tuple[float, SendProbe]] = []
        self._tie = itertools.count()
        super().__init__(*names)
        self.engine = Engine(rng=random.Random(seed))
        for i, name in enumerate(names, start=2):
            self.link(name, up=True, mac=f"02:00:00:00:00:{i:02x}", ifindex=i)

    def record(self, actions: list[Action]) -> list[Action]:
        super().record(actions)
        for action in actions:
            if isinstance(action, SendProbe):
                self._deliver(action)
        return actions

    def _deliver(self, probe: SendProbe) -> None:
        self.sent.append((self.now, probe))
        if probe.member in self.dropped:
            return
        if probe.kind is ProbeKind.MULTICAST:
            responders = self.hosts[probe.family]
        else:
            responders = [probe.dest]
        for source in responders:
            if source in self.rtt:
                heapq.heappush(self.pending, (self.now + self.rtt[source], next(self._tie),
                                              probe.member, probe.family, probe.seq, source))

    def reply(self, member: str, family: int, seq: int, source: str, at: float
              ) -> list[Action]:
        """Hand one answer to the engine (a subclass may route some elsewhere)."""
        return self.engine.probe_reply(member, family, seq, source, at)

    def run(self, ms: float) -> None:
        """Advance the fake clock by ``ms``, delivering replies and timer ticks in order."""
        if self.batched:
            self._run_batched(ms)
            return
        end = self.now + ms
        for _ in range(1_000_000):  # bounded: a runaway engine fails the test
            deadline = self.engine.next_deadline()
            reply_at = self.pending[0][0] if self.pending else None
            candidates = [t for t in (deadline, reply_at) if t is not None and t <= end]
            if not candidates:
                self.now = end
                return
            self.now = max(self.now, min(candidates))
            self.wakes += 1
            if reply_at is not None and reply_at <= self.now:
                _, _, member, family, seq, source = heapq.heappop(self.pending)
                self.record(self.reply(member, family, seq, source, self.now))
            else:
                self.record(self.engine.tick(self.now))
        raise AssertionError("simulation did not settle")

    def _run_batched(self, ms: float) -> None:
        end = self.now + ms
        for _ in range(1_000_000):
            wake = self.engine.next_wake(self._last_wake)
            if wake is None or wake > end:
                self.now = end
                return
            self.now = self._last_wake = max(self.now, wake)
            self.wakes += 1
            while self.pending and self.pending[0][0] <= self.now:
                at, _, member, family, seq, source = heapq.heappop(self.pending)
                self.record(self.reply(member, family, seq, source, at))
            self.record(self.engine.tick(self.now))
        raise AssertionError("simulation did not settle")

    def run_until(self, predicate, limit_ms: float, step_ms: float = 10.0) -> float:  # noqa: ANN001
        """Run until predicate() holds; returns the simulated time it took."""
        start = self.now
        while self.now - start < limit_ms:
            if predicate():
                return self.now - start
            self.run(step_ms)
        raise AssertionError(f"condition not met within {limit_ms} ms")

    def probing_group(self, name: str, *members: str, fdt: int = 7000,
                      test_net: str = "198.51.100", first: int = 21, **kw) -> None:
        self.record(self.engine.create_group(name, self.now, fdt_ms=fdt,
                                             failback=kw.get("failback", True)))
        for i, m in enumerate(members):
            self.record(self.engine.add_member(name, m, self.now))
            self.record(self.engine.set_test_addresses(m, [f"{test_net}.{first + i}/24"],
                                                       self.now))

    def routers(self, *gateways: str, family: int = 4, oif: str = "e0") -> None:
        self.record(self.engine.routers_observed(family, [(g, oif) for g in gateways],
                                                 self.now))
