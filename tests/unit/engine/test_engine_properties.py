"""Property-based test of the engine (hypothesis): random sequences of link events,
probe paths that drop or answer (on the fake clock), offline/online, members and data
addresses added and removed. After every single engine call the invariants of IPMP hold.

Invariants (issue 10): every data address is bound to exactly one member when a usable
member exists, and that member is active (so usable: not failed, not offline); an
offline member holds nothing and sends no probe; a member out of service is never
inactive (in.mpathd's IFF_INACTIVE); the addresses the actions put in the "kernel" are exactly
the binding (make before break, nothing left behind); a probe repair never happens
without NUM_PROBE_REPAIRS answered probes in a row, nor does the repair of a member that
probes after any failure, its link's included (in.mpathd's phyint_repaired()); the
group state matches its usable
members (none: failed, all: ok, else degraded).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from ipmp_core.errors import EngineError
from tests.support.checked_world import ADDRESSES, FDT, GROUP, NICS, CheckedWorld, check
from tests.support.probe_sim import ROUTER


@dataclass(frozen=True)
class Step:
    op: str
    nic: str
    arg: int


STEPS = st.builds(
    Step,
    # Time and probe paths weigh more: failures and repairs need several in a row.
    op=st.sampled_from(["run"] * 5 + ["drop"] * 3 + ["link"] * 2 + [
        "offline", "online", "add-member", "remove-member", "add-address",
        "remove-address", "standby", "failback", "router", "test-address"]),
    nic=st.sampled_from(NICS[:2] * 2 + NICS[2:]),  # the members at start, mostly
    arg=st.integers(min_value=0, max_value=len(ADDRESSES) - 1),
)


def apply(w: CheckedWorld, step: Step) -> None:
    e, now = w.engine, w.now
    try:
        if step.op == "link":
            w.link(step.nic, up=not w.engine.observed[step.nic].carrier)
        elif step.op == "drop":
            w.dropped.symmetric_difference_update({step.nic})
        elif step.op == "run":
            w.run(200 + FDT * step.arg)
        elif step.op == "offline":
            w.record(e.offline(step.nic, now))
        elif step.op == "online":
            w.record(e.online(step.nic, now))
        elif step.op == "add-member":
            w.record(e.add_member(GROUP, step.nic, now, standby=step.arg == 0))
            w.record(e.set_test_addresses(step.nic, [f"198.51.100.{21 + NICS.index(step.nic)}/24"],
                                          now))
        elif step.op == "remove-member":
            w.record(e.remove_member(step.nic, now))
        elif step.op == "add-address":
            w.record(e.add_data_address(GROUP, ADDRESSES[step.arg], now))
        elif step.op == "remove-address":
            w.record(e.remove_data_address(ADDRESSES[step.arg], now))
        elif step.op == "standby":
            w.record(e.set_standby(step.nic, step.arg % 2 == 0, now))
        elif step.op == "router":  # the only target stops (or starts again) answering
            if ROUTER in w.rtt:
                del w.rtt[ROUTER]
            else:
                w.rtt[ROUTER] = 1.0 + 50 * step.arg
        elif step.op == "test-address":  # probing off, or on again
            member = e.members.get(step.nic)
            has = bool(member and member.test_addresses)
            test = [] if has else [f"198.51.100.{21 + NICS.index(step.nic)}/24"]
            w.record(e.set_test_addresses(step.nic, test, now))
        elif step.op == "failback":
            w.record(e.set_failback(GROUP, step.arg % 2 == 0, now))
    except EngineError:
        pass  # refused requests change nothing; the next check would see it otherwise
    check(w)


def fresh_world() -> CheckedWorld:
    w = CheckedWorld()
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.probing_group(GROUP, "e0", "e1", fdt=FDT)
    w.record(w.engine.add_data_address(GROUP, ADDRESSES[0], w.now))
    w.run(2 * FDT)
    return w


@given(st.lists(STEPS, min_size=5, max_size=40))
def test_engine_invariants_hold_under_random_events(steps: list[Step]) -> None:
    w = fresh_world()
    for step in steps:
        apply(w, step)
    w.run(3 * FDT)
    check(w)
