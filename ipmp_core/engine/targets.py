"""Probe targets of one group and address family (in.mpathd's target tables).

Routers first: the next hops of routes that lie in the test addresses' subnet. Without a
router, hosts that answer a multicast echo (224.0.0.1 / ff02::1) become targets, at most
MAX_PROBE_TARGETS. A router appearing replaces all host targets: a list is all-router or
all-host. Configured (explicit) targets, like bonding's arp_ip_target, replace both.
A dead router becomes slow after MIN_RECOVERY_TIME, a slow one unused after that long
again, and an unused one is probed when there is room (in.mpathd's target_next()); when
the last active router leaves the routing table, the slow and dead ones are probed
again at once (target_activate_all()).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ipmp_core.constants import MAX_PROBE_TARGETS, MIN_PROBE_TARGETS, MIN_RECOVERY_TIME
from ipmp_core.model import TargetMode


class TargetState(StrEnum):
    """Whether a target is probed now, and if not, why (in.mpathd's TG_* states)."""

    ACTIVE = "active"
    UNUSED = "unused"  # known but beyond MAX_PROBE_TARGETS
    SLOW = "slow"  # too slow, or dead for MIN_RECOVERY_TIME: unused after that long again
    DEAD = "dead"  # stopped answering while others answered


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
            self._activate_all(now)
        else:
            self.targets = []  # no router left: rediscover hosts by multicast
        return True

    def _activate_all(self, now: float) -> None:
        """in.mpathd's target_activate_all(), from target_delete(): the last active router
        left the routing table while slow or dead ones remain; up to MIN_PROBE_TARGETS
        of them are probed again at once, the best first (target_select_best())."""
        if any(t.state is TargetState.ACTIVE for t in self.targets):
            return
        for _ in range(MIN_PROBE_TARGETS):
            best = self._select_best(now)
            if best is None:
                return
            best.state = TargetState.ACTIVE

    def _select_best(self, now: float) -> Target | None:
        """An unused target, else a slow one that has recovered (made unused), any slow
        one, a dead one that has recovered (made slow), any dead one: in.mpathd's
        target_select_best(), which promotes every recovered one it passes."""
        slow = dead = slow_recovered = dead_recovered = None
        for t in self.targets:
            if t.state is TargetState.UNUSED:
                return t
            recovered = now >= t.since + MIN_RECOVERY_TIME
            if t.state is TargetState.SLOW:
                if recovered:
                    t.state = TargetState.UNUSED
                    slow_recovered = t
                else:
                    slow = t
            elif t.state is TargetState.DEAD:
                if recovered:
                    t.state, t.since = TargetState.SLOW, now
                    dead_recovered = t
                else:
                    dead = t
        return slow_recovered or slow or dead_recovered or dead

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
        """in.mpathd's target_next() as time passes: a dead target becomes slow after
        MIN_RECOVERY_TIME, a slow one unused after MIN_RECOVERY_TIME more, and unused
        ones are probed while fewer than MAX_PROBE_TARGETS are. Returns the addresses
        whose state changed."""
        changed: list[str] = []
        usable_again = False
        for target in self.targets:
            if now < target.since + MIN_RECOVERY_TIME:
                continue
            if target.state is TargetState.DEAD:
                target.state, target.since = TargetState.SLOW, now
                changed.append(target.address)
            elif target.state is TargetState.SLOW:
                target.state = TargetState.UNUSED
                changed.append(target.address)
                usable_again = usable_again or target.kind == "router"
        if usable_again:
            self.flush_hosts()  # a router appearing replaces all host targets
        if changed:
            self._fill()
        return changed

    def next_deadline(self) -> float | None:
        best: float | None = None
        for t in self.targets:
            if t.state is TargetState.SLOW or t.state is TargetState.DEAD:
                due = t.since + MIN_RECOVERY_TIME
                if best is None or due < best:
                    best = due
        return best
