"""The probe simulation with transitive probes: layer-2 frames between members, and
switch ports that drop every frame of a member (its ICMP probes as well)."""

from __future__ import annotations

import heapq

from ipmp_core.engine.actions import Action, SendProbe, SendTransitive
from ipmp_core.engine.prober import TRANSITIVE
from tests.support.probe_sim import ROUTER, ProbeWorld

# A frame across one switch and back: well under a millisecond on a LAN.
L2_RTT_MS = 0.2


class TransitiveWorld(ProbeWorld):
    """``deaf``: members whose switch port drops everything (the link stays up);
    ``dropped`` (ProbeWorld): members whose ICMP probes to the targets are lost while
    their frames to the other members still pass (a dead uplink)."""

    def __init__(self, *names: str, seed: int = 1, batched: bool = False) -> None:
        self.deaf: set[str] = set()
        self.l2_rtt = L2_RTT_MS
        self.transitive: list[tuple[float, SendTransitive]] = []
        super().__init__(*names, seed=seed, batched=batched)

    def record(self, actions: list[Action]) -> list[Action]:
        super().record(actions)
        for action in actions:
            if isinstance(action, SendTransitive):
                self._deliver_transitive(action)
        return actions

    def _deliver(self, probe: SendProbe) -> None:
        if probe.member in self.deaf:
            self.sent.append((self.now, probe))
            return
        super()._deliver(probe)

    def _deliver_transitive(self, probe: SendTransitive) -> None:
        self.transitive.append((self.now, probe))
        if probe.member in self.deaf or probe.target in self.deaf:
            return
        heapq.heappush(self.pending, (self.now + self.l2_rtt, next(self._tie), probe.member,
                                      TRANSITIVE, probe.seq, probe.target))

    def reply(self, member: str, family: int, seq: int, source: str, at: float
              ) -> list[Action]:
        if family == TRANSITIVE:
            return self.engine.transitive_reply(member, source, seq, at)
        return super().reply(member, family, seq, source, at)

    def from_member(self, member: str, since: float = 0.0) -> list[SendTransitive]:
        return [p for t, p in self.transitive if p.member == member and t >= since]

    def icmp_from(self, member: str, since: float = 0.0) -> list[SendProbe]:
        return [p for t, p in self.sent if p.member == member and t >= since]


def transitive_world(*members: str, seed: int = 1, fdt: int = 7000, failback: bool = True,
                     addresses: tuple[str, ...] = ("198.51.100.10/24",),
                     standby: tuple[str, ...] = (), batched: bool = False
                     ) -> TransitiveWorld:
    """A group of ``members`` without test addresses, transitive probing on, one router,
    run past the quiet period."""
    w = TransitiveWorld(*members, *standby, seed=seed, batched=batched)
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.record(w.engine.create_group("ipmp0", w.now, fdt_ms=fdt, failback=failback))
    w.engine.groups["ipmp0"].transitive_probing = True  # set by the configuration work
    for m in members:
        w.record(w.engine.add_member("ipmp0", m, w.now))
    for m in standby:
        w.record(w.engine.add_member("ipmp0", m, w.now, standby=True))
    for a in addresses:
        w.record(w.engine.add_data_address("ipmp0", a, w.now))
    w.run(3 * fdt)
    return w
