"""The engine's invariants (see tests/unit/engine/test_engine_properties.py), checked
after every engine call of a simulated world: shared by the property-based test and the
control fuzz target."""

from __future__ import annotations

from ipmp_core.constants import NUM_PROBE_REPAIRS
from ipmp_core.engine.actions import Action, BindAddress, UnbindAddress
from ipmp_core.model import GroupState
from tests.support.probe_sim import ProbeWorld

NICS = ("e0", "e1", "e2")
ADDRESSES = tuple(f"198.51.100.{i}/24" for i in range(10, 14)) + ("2001:db8:1::10/64",)
FDT = 700  # probe interval 100 ms: many probes per step, short simulated runs
GROUP = "ipmp0"


class CheckedWorld(ProbeWorld):
    """A ProbeWorld that keeps a model of the kernel's addresses from the actions and
    checks the invariants after every engine call."""

    def __init__(self) -> None:
        self.kernel: dict[str, set[str]] = {}
        self.checking = False
        super().__init__(*NICS, seed=7)
        self.was_failed: dict[str, bool] = {}
        self.member_was_failed: dict[str, bool] = {}
        self.checking = True

    def record(self, actions: list[Action]) -> list[Action]:
        for a in actions:
            if isinstance(a, BindAddress):
                holders = self.kernel.setdefault(str(a.address.ip), set())
                if a.previous is None:
                    holders.clear()  # the daemon removes any other copy of a new binding
                holders.add(a.member)
                if a.previous is not None and a.previous != a.member:
                    holders.discard(a.previous)
            elif isinstance(a, UnbindAddress):
                self.kernel.setdefault(str(a.address.ip), set()).discard(a.member)
        super().record(actions)
        if self.checking:
            check(self)
        return actions


def check(w: CheckedWorld) -> None:
    e = w.engine
    # the engine's index of data addresses by IP is exactly its bindings
    assert e.tables.bound_ips == {(a.version, int(a)): (g.name, a)
                            for g in e.groups.values() for a in g.binding}
    group = e.groups.get(GROUP)
    if group is None:
        return
    members = [e.members[n] for n in group.members]
    usable = [m for m in members if m.usable]
    active = [m for m in members if m.active]
    for m in active:
        assert m.usable, f"{m.name} is active but not usable"
    if usable:
        assert active, "usable members but none active"
    bound = {str(a.ip): b for a, b in group.binding.items()}
    for addr, member in bound.items():
        if member is not None:
            assert e.members[member].active, f"{addr} on {member}, which is not active"
            assert not e.members[member].is_offline
        elif active:
            raise AssertionError(f"{addr} unbound although {active[0].name} is active")
    for addr, holders in w.kernel.items():
        want = {bound[addr]} if bound.get(addr) else set()
        assert holders == want, f"kernel has {addr} on {holders}, binding says {want}"
    for m in members:
        if m.is_offline:
            assert m.name not in bound.values(), f"offline {m.name} holds an address"
            assert not m.prober.enabled, f"offline {m.name} still probes"
        if not m.usable:  # in.mpathd clears IFF_INACTIVE on failure and offline
            assert not m.inactive, f"{m.name} is out of service but flagged inactive"
    if not usable:
        assert group.state is GroupState.FAILED
    elif len(usable) == len(members):
        assert group.state is GroupState.OK
    else:
        assert group.state is GroupState.DEGRADED
    for m in members:
        was = w.was_failed.get(m.name)
        if was and not m.prober.failed and m.prober.enabled:
            runs = [fp.success_run() for fp in m.prober.families.values() if fp.enabled]
            assert max(runs, default=0) >= NUM_PROBE_REPAIRS, \
                f"{m.name} repaired by probes after only {runs} answers"
        w.was_failed[m.name] = m.prober.failed and m.prober.enabled
        # in.mpathd's phyint_repaired(): whatever failed a member that probes (its link
        # included), only NUM_PROBE_REPAIRS answers in a row repair it.
        if w.member_was_failed.get(m.name) and not m.failed and m.prober.enabled:
            runs = [fp.success_run() for fp in m.prober.families.values() if fp.enabled]
            assert max(runs, default=0) >= NUM_PROBE_REPAIRS, \
                f"{m.name} repaired after only {runs} answers"
        w.member_was_failed[m.name] = m.failed and m.present
    for seen in (w.was_failed, w.member_was_failed):
        for name in list(seen):
            if name not in e.members:
                del seen[name]
