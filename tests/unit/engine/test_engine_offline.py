"""Offline, online, standby and "now usable" as in.mpathd and if_mpadm do them
(docs/design.md, "Offline, online, standby and test-address uniqueness"), on the fake
clock."""

from __future__ import annotations

import pytest

from ipmp_core import errors
from ipmp_core.engine.actions import ProbeKind
from ipmp_core.engine.prober import ProbeStatus
from ipmp_core.errors import EngineError
from ipmp_core.model import GroupState, IfState, ProbeState
from tests.support.engine_helpers import World
from tests.support.probe_sim import ProbeWorld
from tests.unit.engine.test_engine import flags
from tests.unit.engine.test_probing import FDT, world


def test_offline_of_an_offline_member_is_refused_with_if_mpadm_words():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.record(w.engine.offline("e0", w.now))
    with pytest.raises(EngineError) as info:
        w.engine.offline("e0", w.now)
    assert info.value.message == "interface e0 is already offline"


def test_online_of_a_member_that_is_not_offline_is_refused_with_if_mpadm_words():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    with pytest.raises(EngineError) as info:
        w.engine.online("e1", w.now)
    assert info.value.code == errors.NOT_OFFLINE
    assert info.value.message == "interface e1 is not offline"


def test_offline_is_allowed_in_a_failed_group_to_replace_a_nic():
    """phyint_offline(): in a failed group any other member not offline counts."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.link("e0", up=False)
    w.link("e1", up=False)
    assert w.group_view("ipmp0").state is GroupState.FAILED
    w.record(w.engine.offline("e0", w.now))
    assert w.iface("e0").state is IfState.OFFLINE
    with pytest.raises(EngineError) as info:  # e0 is offline: e1 would be the last
        w.engine.offline("e1", w.now)
    assert info.value.code == errors.MIN_REDUNDANCY


def test_offline_member_stops_probing_and_is_flagged_down():
    """phyint_offline() -> stop_probing(); if_mpadm -d then downs every address (d)."""
    w = world("e0", "e1")
    w.record(w.engine.offline("e0", w.now))
    sent = len(w.sent)
    w.run(2 * FDT)
    members = [p.member for _, p in w.sent[sent:]]
    assert "e1" in members and "e0" not in members
    assert w.iface("e0").probe is ProbeState.DISABLED
    assert w.iface("e0").flags.down and not w.iface("e0").flags.inactive
    w.record(w.engine.online("e0", w.now))
    w.run(2 * FDT)
    assert "e0" in [p.member for _, p in w.sent[sent:]]
    assert not w.iface("e0").flags.down and w.iface("e0").state is IfState.OK


def test_undo_offline_with_failback_no_activates_the_member():
    """phyint_undo_offline() -> phyint_transition_to_running(): onlining is case 2."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1", failback=False)
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    w.record(w.engine.offline("e0", w.now))
    assert set(w.where().values()) == {"e1"}
    w.record(w.engine.online("e0", w.now))
    assert w.iface("e0").active and flags(w, "e0")[0] == "-"
    assert set(w.where().values()) == {"e0", "e1"}


def test_after_a_failure_held_members_are_reactivated_one_at_a_time():
    """phyint_activate_another(): one inactive member per failed active one."""
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", "e2", failback=False)
    for name in ("e0", "e1"):
        w.link(name, up=False)
    for name in ("e0", "e1"):  # FAILBACK=no: both repaired members are held inactive
        w.link(name, up=True)
    assert [w.iface(n).active for n in ("e0", "e1", "e2")] == [False, False, True]
    w.link("e2", up=False)
    assert [w.iface(n).active for n in ("e0", "e1")] == [True, False]
    assert flags(w, "e1")[0] == "i"


def test_after_a_failure_a_held_standby_is_reactivated_first():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", standby=("e2",), failback=False)
    w.link("e0", up=False)
    assert w.iface("e2").active
    w.link("e0", up=True)  # FAILBACK=no: e0 held, the standby keeps covering
    assert not w.iface("e0").active
    w.link("e2", up=False)  # the covering standby fails: the held e0 takes over
    assert w.iface("e0").active
    w.link("e2", up=True)  # a repaired standby at capacity steps back
    w.link("e1", up=False)  # e1 fails: the standby goes before the plain member
    assert w.iface("e2").active


def test_failed_standby_is_not_inactive():
    """The failure path clears IFF_INACTIVE: ipmpstat shows -s----- not is-----."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", standby=("e1",))
    assert flags(w, "e1") == "is-----"
    w.link("e1", up=False)
    assert w.iface("e1").state is IfState.FAILED
    assert flags(w, "e1") == "-s-----"
    assert w.group_view("ipmp0").inactive == []


def test_now_usable_is_logged_only_after_now_unusable():
    w = World("e0")
    w.group("ipmp0", "e0")
    assert not any("usable" in line for line in w.logs())
    w.link("e0", up=False)
    w.link("e0", up=True)
    said = [line for line in w.logs() if "usable" in line]
    assert said == ["All IP interfaces in group ipmp0 are now unusable",
                    "At least 1 IP interface (e0) in group ipmp0 is now usable"]


def test_onlined_member_answers_count_after_multicast_discovery():
    """Found by the netns test: an onlined member probes afresh from sequence 1, and the
    discovery probes its earlier prober sent must not claim those answers (they made an
    onlined member fail at once)."""
    w = ProbeWorld("e0", "e1")
    w.hosts[4] = [f"198.51.100.{i}" for i in range(200, 207)]
    w.rtt.update({h: 0.5 for h in w.hosts[4]})
    w.probing_group("ipmp0", "e0", "e1", fdt=FDT)
    w.run(3 * FDT)
    assert any(p.member == "e0" and p.kind is ProbeKind.MULTICAST for _, p in w.sent)
    w.record(w.engine.offline("e0", w.now))
    w.run(FDT)
    w.record(w.engine.online("e0", w.now))
    w.run(3 * FDT)
    records = w.engine.members["e0"].prober.families[4].records
    assert [r.seq for r in records if r.status is ProbeStatus.LOST] == []
    assert w.iface("e0").state is IfState.OK


def test_online_of_a_member_offlined_for_a_duplicate_mac_is_refused_with_libipmp_words():
    """phyint_undo_offline() answers IPMP_EHWADDRDUP while the MAC is still shared."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.advance(10)
    w.link("e1", up=True, mac=w.engine.members["e0"].mac)
    with pytest.raises(EngineError) as info:
        w.engine.online("e1", w.now)
    assert info.value.code == errors.HWADDR_DUPLICATE
    assert info.value.message == ("cannot undo-offline e1: interface has duplicate hardware "
                                  "address")
    with pytest.raises(EngineError) as info:
        w.engine.offline("e1", w.now)  # IFF_OFFLINE is set: if_mpadm -d says so
    assert info.value.message == "interface e1 is already offline"
