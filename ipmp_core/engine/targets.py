"""Probe targets of one group and address family (in.mpathd's target tables).

Routers first: the next hops of routes that lie in the test addresses' subnet. Without a
router, hosts that answer a multicast echo (224.0.0.1 / ff02::1) become targets, at most
MAX_PROBE_TARGETS. A router appearing replaces all host targets: a list is all-router or
all-host. Configured (explicit) targets, like bonding's arp_ip_target, replace both.
Slow or dead targets are tried again after TARGET_RECOVERY_MS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ipmp_core.constants import MAX_PROBE_TARGETS, TARGET_RECOVERY_MS
from ipmp_core.model import TargetMode


class TargetState(StrEnum):
    """Whether a target is probed now, and if not, why (in.mpathd's TG_* states)."""

    ACTIVE = "active"
    UNUSED = "unused"  # known but beyond MAX_PROBE_TARGETS
    SLOW = "slow"
    DEAD = "dead"


@dataclass
class Target:
    """One probe target of a family: its address, how it was found, its state."""

    address: str
    kind: str  # "router", "host" or "explicit"
    state: TargetState = TargetState.ACTIVE
    since: float = 0.0


@dataclass
class TargetList:
    """Owns a group's probe targets of one family: configured ones, or the routers of
    the routing table, else hosts found by multicast; which of them are probed."""

    family: int
    targets: list[Target] = field(default_factory=list)
    explicit: list[str] = field(default_factory=list)

    def _usable_routers(self) -> bool:
        return any(t.kind == "router" and t.state in (TargetState.ACTIVE, TargetState.UNUSED)
                   for t in self.targets)

    @property
    def mode(self) -> TargetMode:
        if self.explicit or self._usable_routers():
            return TargetMode.ROUTES
        return TargetMode.MULTICAST

    @property
    def are_hosts(self) -> bool:
        """Hosts are used while no configured target and no usable router exists (a dead
        router leaves room for host targets until it is tried again)."""
        return not self.explicit and not self._usable_routers()

    def active(self) -> list[str]:
        return [t.address for t in self.targets if t.state is TargetState.ACTIVE]

    def get(self, address: str) -> Target | None:
        return next((t for t in self.targets if t.address == address), None)

    def _fill(self) -> None:
        """Promote unused targets while fewer than the maximum are active."""
        for target in self.targets:
            if len(self.active()) >= MAX_PROBE_TARGETS:
                break
            if target.state is TargetState.UNUSED:
                target.state = TargetState.ACTIVE

    # ------------------------------------------------------------------ sources
    def set_explicit(self, addresses: list[str]) -> None:
        self.explicit = list(addresses)
        if self.explicit:
            self.targets = [Target(a, "explicit") for a in self.explicit]
            for t in self.targets[MAX_PROBE_TARGETS:]:
                t.state = TargetState.UNUSED
        else:
            self.targets = []

    def set_routers(self, routers: list[str], now: float) -> bool:
        """The routing table's next hops for this subnet; True when the list changed."""
        if self.explicit:
            return False
        old = [t.address for t in self.targets if t.kind == "router"]
        if old == routers:
            return False
        if routers:
            kept = {t.address: t for t in self.targets if t.kind == "router"}
            self.targets = [kept.get(r) or Target(r, "router", since=now) for r in routers]
            for t in self.targets:
                if t.state is TargetState.ACTIVE and len([x for x in self.targets
                                                          if x.state is TargetState.ACTIVE
                                                          and x is not t]) >= MAX_PROBE_TARGETS:
                    t.state = TargetState.UNUSED
        else:
            self.targets = []  # no router left: rediscover hosts by multicast
        return True

    def add_host(self, address: str, now: float) -> bool:
        """A host answered our multicast echo; True when it became a target."""
        known = self.get(address)
        if known is not None and known.kind == "router" and known.state in (
                TargetState.DEAD, TargetState.SLOW):
            # A router we gave up on answers again: it is a router target once more.
            known.state, known.since = TargetState.ACTIVE, now
            self.flush_hosts()
            return True
        if not self.are_hosts or known is not None:
            return False
        state = TargetState.ACTIVE if len(self.active()) < MAX_PROBE_TARGETS else None
        if state is None:
            return False
        self.targets.append(Target(address, "host", state, now))
        return True

    def flush_hosts(self) -> None:
        self.targets = [t for t in self.targets if t.kind != "host"]

    def remove(self, address: str) -> None:
        self.targets = [t for t in self.targets if t.address != address]
        self._fill()

    def mark(self, address: str, state: TargetState, now: float) -> None:
        target = self.get(address)
        if target is not None:
            target.state, target.since = state, now
            self._fill()

    # ------------------------------------------------------------------ time
    def tick(self, now: float) -> list[str]:
        """Slow and dead targets become eligible again; returns their addresses."""
        back = []
        for target in self.targets:
            if target.state in (TargetState.SLOW, TargetState.DEAD) and \
                    now >= target.since + TARGET_RECOVERY_MS:
                target.state = TargetState.UNUSED
                back.append(target.address)
        if not back:
            return back
        if any(t.kind == "router" for t in self.targets if t.address in back):
            self.flush_hosts()  # a router appearing replaces all host targets
        self._fill()
        return back

    def next_deadline(self) -> float | None:
        best: float | None = None
        for t in self.targets:
            if t.state is TargetState.SLOW or t.state is TargetState.DEAD:
                due = t.since + TARGET_RECOVERY_MS
                if best is None or due < best:
                    best = due
        return best
