"""One funnel changes a member's state (in.mpathd's phyint_chstate): a member-state event
is published on a real change only, never again for a refresh that changed nothing."""

from __future__ import annotations

from ipmp_core.engine.actions import Action, Publish
from tests.support.probe_sim import ROUTER, ProbeWorld

FDT = 700
ELSEWHERE = "203.0.113.1"  # a router outside the test subnet: never a probe target


def member_states(actions: list[Action], name: str) -> list[dict]:
    return [a.event for a in actions if isinstance(a, Publish)
            and a.event.get("type") == "member-state" and a.event.get("interface") == name]


def test_a_refresh_that_changes_nothing_publishes_no_member_state() -> None:
    w = ProbeWorld("e0", "e1", "e3")
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.probing_group("ipmp0", "e0", "e1", fdt=FDT)
    w.engine.track_all = True  # e3 joins the anonymous group: detection only
    w.record(w.engine.set_test_addresses("e3", ["198.51.100.30/24"], w.now))
    w.run(3 * FDT)
    assert member_states(w.actions, "e3")[-1]["state"] == "ok"
    # A routing-table change refreshes every group; nothing about any member changed.
    out = w.engine.routers_observed(4, [(ROUTER, "e0"), (ELSEWHERE, "e1")], w.now)
    assert member_states(out, "e3") == []
    assert member_states(out, "e0") == [] and member_states(out, "e1") == []


def test_each_real_change_publishes_one_member_state() -> None:
    w = ProbeWorld("e0", "e1")
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.probing_group("ipmp0", "e0", "e1", fdt=FDT)
    w.run(3 * FDT)
    before = len(w.actions)
    w.link("e1", up=False)
    events = member_states(w.actions[before:], "e1")
    assert [(e["state"], e["active"]) for e in events] == [("failed", True),
                                                           ("failed", False)]
