"""The engine's rules (reference sections 5, 7 and 8), driven with a fake clock."""

from __future__ import annotations

import pytest

from ipmp_core import errors
from ipmp_core.constants import LINK_FLAP_WINDOW_MS
from ipmp_core.engine.actions import (
    BindAddress,
    Nominate,
    PlumbMember,
    PurgeMulticast,
    RoutePlan,
    SetRoutes,
    SetTestAddresses,
    UnbindAddress,
    UnplumbMember,
)
from ipmp_core.errors import EngineError
from ipmp_core.model import GroupState, IfState, LinkState
from ipmp_core.values import normalize_fdt
from tests.support.engine_helpers import World


def flags(w: World, name: str) -> str:
    f = w.iface(name).flags
    return "".join(
        c if on else "-"
        for c, on in zip(
            "ismbMdh",
            (f.inactive, f.standby, f.mcast4, f.bcast4, f.mcast6, f.down, f.duphw),
            strict=True,
        )
    )


# --------------------------------------------------------------------------- group state
def test_new_group_is_failed_until_a_member_is_usable():
    w = World("e0")
    w.record(w.engine.create_group("ipmp0", w.now))
    assert w.group_view("ipmp0").state is GroupState.FAILED
    w.record(w.engine.add_member("ipmp0", "e0", w.now))
    assert w.group_view("ipmp0").state is GroupState.OK
    # in.mpathd says "now usable" only after "now unusable" (pg_failmsg_printed)
    assert not any("is now usable" in line for line in w.logs())


def test_adding_a_member_plumbs_it():
    w = World("e0")
    w.record(w.engine.create_group("ipmp0", w.now))
    actions = w.record(w.engine.add_member("ipmp0", "e0", w.now))
    assert PlumbMember("ipmp0", "e0") in actions


def test_group_degraded_when_one_member_fails_and_failed_when_all_do():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    assert w.group_view("ipmp0").state is GroupState.OK
    w.link("e0", up=False)
    assert w.group_view("ipmp0").state is GroupState.DEGRADED
    w.link("e1", up=False)
    assert w.group_view("ipmp0").state is GroupState.FAILED
    assert "All IP interfaces in group ipmp0 are now unusable" in w.logs()


# --------------------------------------------------------------------------- link detection
def test_link_down_fails_member_at_once_with_in_mpathd_log_lines():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    actions = w.link("e0", up=False)
    assert w.iface("e0").state is IfState.FAILED
    assert w.iface("e0").link is LinkState.DOWN
    assert w.logs(actions)[:2] == [
        "The link has gone down on e0",
        "IP interface failure detected on e0 of group ipmp0",
    ]


def test_link_up_repairs_member():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.link("e0", up=False)
    actions = w.link("e0", up=True)
    assert w.iface("e0").state is IfState.OK
    assert "IP interface repair detected on e0 of group ipmp0" in w.logs(actions)


def test_link_already_down_at_start_counts_as_failure():
    w = World("e0", "e1")
    w.link("e1", up=False)
    w.group("ipmp0", "e0", "e1")
    assert w.iface("e1").state is IfState.FAILED
    assert w.group_view("ipmp0").unusable == ["e1"]
    assert "IP interface failure detected on e1 of group ipmp0" in w.logs()


def test_flapping_link_is_not_repaired_until_a_minute_after_the_previous_link_up():
    """in.mpathd's phyint_repaired() for an interface without test addresses: the third
    link-up within a minute is not trusted, logged once in its words; the repair is
    retried a minute after the link-up before it (pi_whenup[], LINK_UP_PERMIN = 2)."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    ups = []
    for _ in range(2):  # two ups within the window: still trusted
        w.link("e0", up=False)
        w.advance(1_000)
        w.link("e0", up=True)
        ups.append(w.now)
        w.advance(1_000)
    assert w.iface("e0").state is IfState.OK
    w.link("e0", up=False)
    w.advance(1_000)
    actions = w.link("e0", up=True)  # third up within 60 s: flapping
    assert w.iface("e0").state is IfState.FAILED
    assert ("The link has come up on e0 more than 2 times in the last minute; "
            "disabling repair until it stabilizes") in w.logs(actions)
    deadline = w.engine.members["e0"].link.next_deadline()
    assert deadline == ups[1] + LINK_FLAP_WINDOW_MS  # the second-newest link-up, not the first
    assert w.engine.next_deadline() <= deadline
    w.advance(deadline - w.now - 1)
    assert w.iface("e0").state is IfState.FAILED
    actions = w.advance(1)
    assert w.iface("e0").state is IfState.OK
    assert "IP interface repair detected on e0 of group ipmp0" in w.logs(actions)


def test_flap_window_forgets_old_link_ups():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    for _ in range(5):  # link-ups further apart than the window never count as flapping
        w.link("e0", up=False)
        w.advance(LINK_FLAP_WINDOW_MS / 2)
        w.link("e0", up=True)
        w.advance(LINK_FLAP_WINDOW_MS / 2 + 1)
        assert w.iface("e0").state is IfState.OK


def test_removed_nic_fails_member_and_reappearing_nic_repairs_it():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    w.record(w.engine.link_removed("e0", w.now))
    assert w.iface("e0").state is IfState.FAILED
    assert set(w.where().values()) == {"e1"}
    actions = w.link("e0", up=True, mac="02:00:00:00:00:77", ifindex=42)
    assert PlumbMember("ipmp0", "e0") in actions
    assert w.iface("e0").state is IfState.OK
    assert w.engine.members["e0"].ifindex == 42


# --------------------------------------------------------------------------- placement
def test_new_addresses_go_to_least_loaded_active_member():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24", "198.51.100.12/24",
           "2001:db8:1::10/64")
    assert w.load() == {"e0": 2, "e1": 2}
    assert w.where()["198.51.100.10"] == "e0"
    assert w.where()["198.51.100.11"] == "e1"


def test_failed_member_addresses_move_to_survivors_and_are_announced():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", "e2")
    w.addr("ipmp0", *(f"198.51.100.{i}/24" for i in range(10, 16)))
    assert w.load() == {"e0": 2, "e1": 2, "e2": 2}
    actions = w.link("e0", up=False)
    moves = w.binds(actions)
    assert len(moves) == 2
    assert all(m.previous == "e0" and m.announce for m in moves)
    assert {m.member for m in moves} == {"e1", "e2"}  # spread, one each
    assert w.load() == {"e1": 3, "e2": 3}


def test_repaired_member_takes_addresses_from_busiest_until_balanced():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", "e2")
    w.addr("ipmp0", *(f"198.51.100.{i}/24" for i in range(10, 17)))
    w.link("e0", up=False)
    assert w.load() == {"e1": 4, "e2": 3}
    actions = w.link("e0", up=True)
    assert all(m.member == "e0" for m in w.binds(actions))
    counts = w.load()
    assert max(counts.values()) - min(counts.values()) <= 1
    assert sum(counts.values()) == 7


def test_no_active_member_leaves_addresses_unbound_then_binds_on_repair():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24", "2001:db8:1::10/64")
    w.link("e0", up=False)
    actions = w.link("e1", up=False)
    assert len(w.unbinds(actions)) == 2
    assert set(w.where().values()) == {""}
    # ipmpstat -a: still up (in.mpathd's getgraddrinfo() reads the address's IFF_UP),
    # with no INBOUND and no OUTBOUND
    views = w.engine.snapshot().addresses
    assert {(a.state, a.inbound, tuple(a.outbound)) for a in views} == {("up", "", ())}
    actions = w.link("e1", up=True)
    assert {b.member for b in w.binds(actions)} == {"e1"}
    assert set(w.where().values()) == {"e1"}


def test_address_added_to_failed_group_stays_down_until_a_member_is_usable():
    w = World("e0")
    w.link("e0", up=False)
    w.group("ipmp0", "e0")
    w.addr("ipmp0", "198.51.100.10/24")
    assert w.where() == {"198.51.100.10": ""}
    actions = w.link("e0", up=True)
    assert w.binds(actions) == [
        BindAddress("ipmp0", w.binds(actions)[0].address, "e0", None)
    ]


def routes(actions: list) -> tuple[RoutePlan, ...]:
    return [a for a in actions if isinstance(a, SetRoutes)][-1].plan


def test_routes_follow_the_active_members_that_hold_addresses():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", "e2")
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    w.record(w.engine.add_route("ipmp0", "default", "198.51.100.1", w.now))
    # e2 is active but has no address in the subnet: it carries no route (see route_plan)
    assert routes(w.actions) == (
        RoutePlan("198.51.100.0/24", ("e0", "e1"), None, "198.51.100.10"),
        RoutePlan("default", ("e0", "e1"), "198.51.100.1", "198.51.100.10"),
    )
    actions = w.link("e0", up=False)
    assert routes(actions)[0] == RoutePlan("198.51.100.0/24", ("e1", "e2"), None,
                                           "198.51.100.10")
    # The test address comes after the link: a member that probes would wait for
    # NUM_PROBE_REPAIRS answers after its link failure (phyint_repaired()).
    w.link("e0", up=True)
    actions = w.record(w.engine.set_test_addresses("e0", ["198.51.100.50/24"], w.now))
    assert routes(actions)[0].members[0] == "e0"


def test_a_test_address_qualifies_a_member_for_the_subnet_route():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.record(w.engine.set_test_addresses("e1", ["198.51.100.51/24"], w.now))
    w.addr("ipmp0", "198.51.100.10/24")
    # the data address, never the test address, is the subnet's preferred source
    assert routes(w.actions) == (RoutePlan("198.51.100.0/24", ("e0", "e1"), None,
                                           "198.51.100.10"),)


def test_a_deprecated_data_address_is_never_a_route_source():
    """preferred_lft 0 (the agent's preferred_lft=0) means "never a source for this
    node's own traffic": naming it as the routes' src would make it the source anyway."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.record(w.engine.set_test_addresses("e0", ["198.51.100.21/24"], w.now))
    w.record(w.engine.set_test_addresses("e1", ["198.51.100.22/24"], w.now))
    w.record(w.engine.add_route("ipmp0", "default", "198.51.100.1", w.now))
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.50/24", w.now, deprecated=True))
    # the only data address is deprecated: no src, each hop's own address is the source
    assert routes(w.actions) == (
        RoutePlan("198.51.100.0/24", ("e0", "e1"), None, None),
        RoutePlan("default", ("e0", "e1"), "198.51.100.1", None),
    )
    # a data address that is not deprecated is the source, whatever the order
    w.addr("ipmp0", "198.51.100.10/24")
    assert routes(w.actions) == (
        RoutePlan("198.51.100.0/24", ("e0", "e1"), None, "198.51.100.10"),
        RoutePlan("default", ("e0", "e1"), "198.51.100.1", "198.51.100.10"),
    )
    w.record(w.engine.remove_data_address("198.51.100.10", w.now))
    assert routes(w.actions)[0].source is None


# --------------------------------------------------------------------------- standby
def test_standby_is_inactive_until_needed_then_covers_and_steps_back():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", standby=("e2",))
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    assert flags(w, "e2") == "is-----"
    assert not w.iface("e2").active
    assert w.group_view("ipmp0").inactive == ["e2"]
    w.link("e0", up=False)
    assert w.iface("e2").active
    assert flags(w, "e2") == "-s-----"
    assert set(w.where().values()) <= {"e1", "e2"}
    w.link("e0", up=True)  # FAILBACK=yes: e0 back, the standby steps back
    assert w.iface("e0").active and not w.iface("e2").active
    assert "e2" not in w.where().values()


def test_all_standby_group_still_activates_one_member():
    w = World("e0", "e1")
    w.group("ipmp0", standby=("e0", "e1"))
    assert [w.iface(n).active for n in ("e0", "e1")] == [True, False]


def test_setting_standby_on_active_member_moves_its_addresses():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    w.record(w.engine.set_standby("e1", "on", w.now))
    assert not w.iface("e1").active
    assert set(w.where().values()) == {"e0"}


# --------------------------------------------------------------------------- failback
def test_failback_no_keeps_repaired_member_inactive_until_another_fails():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1", failback=False)
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    w.link("e0", up=False)
    w.link("e0", up=True)
    assert w.iface("e0").state is IfState.OK
    assert not w.iface("e0").active
    assert flags(w, "e0")[0] == "i"
    assert set(w.where().values()) == {"e1"}
    assert w.group_view("ipmp0").state is GroupState.OK
    w.link("e1", up=False)
    assert w.iface("e0").active
    assert set(w.where().values()) == {"e0"}


@pytest.mark.parametrize("how", ["remove", "admin-down"])
def test_failback_no_held_member_takes_over_when_the_active_one_leaves(how):
    """Found by the property-based test: a member held inactive by FAILBACK=no stayed
    inactive when the only active member left the group (or went admin-down), leaving a
    usable member and no active one: every data address down."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1", failback=False)
    w.addr("ipmp0", "198.51.100.10/24")
    w.link("e0", up=False)
    w.link("e0", up=True)
    assert not w.iface("e0").active and w.where() == {"198.51.100.10": "e1"}
    if how == "remove":
        w.record(w.engine.remove_member("e1", w.now))
    else:
        w.link("e1", up=True, admin_up=False)
    assert w.iface("e0").active
    assert w.where() == {"198.51.100.10": "e0"}


def test_failback_no_still_activates_after_group_failure():
    w = World("e0")
    w.group("ipmp0", "e0", failback=False)
    w.addr("ipmp0", "198.51.100.10/24")
    w.link("e0", up=False)
    w.link("e0", up=True)
    assert w.iface("e0").active
    assert w.where() == {"198.51.100.10": "e0"}


def test_switching_failback_on_releases_held_members():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1", failback=False)
    w.link("e0", up=False)
    w.link("e0", up=True)
    assert not w.iface("e0").active
    w.record(w.engine.set_failback("ipmp0", "yes", w.now))
    assert w.iface("e0").active


# --------------------------------------------------------------------------- offline
def test_offline_refused_when_no_other_usable_member_remains():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.link("e1", up=False)
    with pytest.raises(EngineError) as info:
        w.engine.offline("e0", w.now)
    assert info.value.code == errors.MIN_REDUNDANCY
    assert info.value.message == ("cannot offline e0: no other functioning interfaces are "
                                  "in its IPMP group")  # if_mpadm's IPMP_EMINRED wording
    assert w.iface("e0").state is IfState.OK


def test_offline_moves_addresses_activates_standby_and_online_restores():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", standby=("e2",))
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    w.record(w.engine.offline("e0", w.now))
    assert w.iface("e0").state is IfState.OFFLINE
    assert w.iface("e2").active
    assert "e0" not in w.where().values()
    assert w.group_view("ipmp0").state is GroupState.DEGRADED
    assert w.group_view("ipmp0").unusable == ["e0"]
    w.record(w.engine.online("e0", w.now))
    assert w.iface("e0").state is IfState.OK and w.iface("e0").active
    assert not w.iface("e2").active
    assert w.group_view("ipmp0").state is GroupState.OK


def test_offline_state_is_persisted_in_config():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.record(w.engine.offline("e1", w.now))
    members = w.engine.config()["groups"][0]["members"]
    assert [m["offline"] for m in members] == [False, True]


# --------------------------------------------------------------------------- duplicate MAC
def test_duplicate_mac_offlines_newcomer_and_unique_mac_brings_it_back():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    w.advance(10)
    actions = w.link("e1", up=True, mac=w.engine.members["e0"].mac)
    assert w.iface("e1").state is IfState.OFFLINE
    assert flags(w, "e1")[6] == "h"
    assert any("duplicates e0's" in line for line in w.logs(actions))
    assert set(w.where().values()) == {"e0"}
    w.advance(10)
    actions = w.link("e1", up=True, mac="02:00:00:00:00:55")
    assert w.iface("e1").state is IfState.OK and w.iface("e1").active
    assert flags(w, "e1")[6] == "-"
    assert any("unique hardware address" in line for line in w.logs(actions))


# --------------------------------------------------------------------------- nomination
def test_multicast_nomination_moves_with_deactivation():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24", "2001:db8:1::10/64")  # M needs IPv6 in the group
    assert flags(w, "e0") == "--mbM--"
    assert flags(w, "e1") == "-------"
    actions = w.link("e0", up=False)
    assert Nominate("ipmp0", "inet", "e1", "e0") in actions
    assert Nominate("ipmp0", "inet6", "e1", "e0") in actions
    assert flags(w, "e1") == "--mbM--"
    w.link("e0", up=True)
    assert flags(w, "e1") == "--mbM--"  # no needless move back


def test_member_joining_purges_its_multicast_to_the_nominee():
    w = World("e0", "e1", "e2")
    first = w.record(w.engine.create_group("ipmp0", w.now))
    first += w.record(w.engine.add_member("ipmp0", "e0", w.now))
    assert not [a for a in first if isinstance(a, PurgeMulticast)]  # e0 is the nominee
    actions = w.record(w.engine.add_member("ipmp0", "e1", w.now))
    assert [a for a in actions if isinstance(a, PurgeMulticast)] == [
        PurgeMulticast("ipmp0", "e1", "inet", "e0"),
        PurgeMulticast("ipmp0", "e1", "inet6", "e0"),
    ]
    actions = w.record(w.engine.add_member("ipmp0", "e2", w.now, standby=True))
    assert PurgeMulticast("ipmp0", "e2", "inet", "e0") in actions


def test_member_recreated_by_dr_purges_its_multicast_to_the_new_nominee():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.advance(10)
    actions = w.record(w.engine.link_removed("e0", w.now))
    assert Nominate("ipmp0", "inet", "e1", "e0") in actions  # the daemon moves e0's
    assert not [a for a in actions if isinstance(a, PurgeMulticast)]
    w.advance(10)
    actions = w.link("e0", up=True, ifindex=42)
    assert [a for a in actions if isinstance(a, PurgeMulticast)] == [
        PurgeMulticast("ipmp0", "e0", "inet", "e1"),
        PurgeMulticast("ipmp0", "e0", "inet6", "e1"),
    ]
    w.advance(10)
    actions = w.link("e0", up=True, ifindex=42)  # an ordinary link update: no purge
    assert not [a for a in actions if isinstance(a, PurgeMulticast)]


def test_multicast_stays_where_it_is_without_a_nominee():
    w = World("e0", "e1")
    w.link("e0", up=False)
    w.link("e1", up=False)
    w.group("ipmp0", "e0", "e1")
    assert w.engine.groups["ipmp0"].nominees == {"inet": None, "inet6": None}
    assert not [a for a in w.actions if isinstance(a, PurgeMulticast)]
    actions = w.link("e1", up=True)  # e1 becomes the nominee: nothing purged by the engine
    assert Nominate("ipmp0", "inet", "e1", None) in actions
    assert not [a for a in actions if isinstance(a, PurgeMulticast)]


def test_admin_down_member_is_flagged_and_unusable():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.link("e1", up=True, admin_up=False)
    assert flags(w, "e1")[5] == "d"
    assert w.group_view("ipmp0").unusable == ["e1"]


# --------------------------------------------------------------------------- config rules
def test_data_address_cannot_double_as_test_address():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.record(w.engine.set_test_addresses("e0", ["198.51.100.21/24"], w.now))
    with pytest.raises(EngineError, match="never double as a test address"):
        w.engine.add_data_address("ipmp0", "198.51.100.21/24", w.now)
    w.addr("ipmp0", "198.51.100.10/24")
    with pytest.raises(EngineError, match="never double as a data address"):
        w.engine.set_test_addresses("e1", ["198.51.100.10/24"], w.now)


def test_test_addresses_are_put_on_the_member_and_never_move():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    actions = w.record(w.engine.set_test_addresses("e0", ["198.51.100.21/24"], w.now))
    assert [a for a in actions if isinstance(a, SetTestAddresses)][0].member == "e0"
    moves = w.binds(w.link("e0", up=False))
    assert all(str(m.address.ip) != "198.51.100.21" for m in moves)
    assert w.iface("e0").testaddrs == ["198.51.100.21"]


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda e, now: e.add_member("nosuch", "e0", now), errors.UNKNOWN_GROUP),
        (lambda e, now: e.add_member("ipmp0", "e9", now), errors.UNKNOWN_INTERFACE),
        (lambda e, now: e.add_member("ipmp0", "e0", now), errors.IN_GROUP),
        (lambda e, now: e.create_group("ipmp0", now), errors.EXISTS),
        (lambda e, now: e.create_group("e1", now), errors.EXISTS),
        (lambda e, now: e.create_group("9bad", now), errors.INVALID),
        (lambda e, now: e.create_group("a" * 16, now), errors.INVALID),
        (lambda e, now: e.add_data_address("ipmp0", "198.51.100.10", now), errors.INVALID),
        (lambda e, now: e.add_data_address("ipmp0", "198.51.100.0/24", now), errors.INVALID),
        (lambda e, now: e.add_data_address("ipmp0", "300.1.1.1/24", now), errors.INVALID),
        (lambda e, now: e.add_data_address("ipmp0", "224.0.0.5/24", now), errors.INVALID),
        (lambda e, now: e.remove_data_address("198.51.100.99", now), errors.UNKNOWN_ADDRESS),
        (lambda e, now: e.offline("e1", now), errors.NOT_IN_GROUP),
        (lambda e, now: e.offline("e9", now), errors.UNKNOWN_INTERFACE),
        (lambda e, now: e.set_failback("ipmp0", "maybe", now), errors.INVALID),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(call, code):
    w = World("e0", "e1")
    w.group("ipmp0", "e0")
    before = w.engine.config()
    with pytest.raises(EngineError) as info:
        call(w.engine, w.now)
    assert info.value.code == code
    assert w.engine.config() == before


def test_same_data_address_cannot_be_in_two_groups():
    w = World("e0", "e1")
    w.group("a", "e0")
    w.group("b", "e1")
    w.addr("a", "198.51.100.10/24")
    with pytest.raises(EngineError, match="already belongs to group a"):
        w.engine.add_data_address("b", "198.51.100.10/25", w.now)


@pytest.mark.parametrize(("given", "expected"), [(0, 10_000), (-5, 10_000), (50, 100),
                                                 (2_000, 2_000), (7_200_000, 3_600_000)])
def test_defaults_file_fdt_is_normalized_like_in_mpathd(given, expected):
    note = normalize_fdt(given)
    assert note.value == expected
    assert bool(note.note) == (given != expected)


@pytest.mark.parametrize("given", [0, -5, 50, 99, 3_600_001, 2**64, 1.5, float("inf"),
                                   float("nan"), "ten", True, None, [1000]])
def test_fdt_out_of_range_in_a_request_is_refused(given):
    w = World("e0")
    with pytest.raises(EngineError, match="failure detection time"):
        w.engine.create_group("ipmp0", w.now, fdt_ms=given)
    assert "ipmp0" not in w.engine.groups
    w.group("ipmp1", "e0")
    with pytest.raises(EngineError, match="failure detection time"):
        w.engine.set_fdt("ipmp1", given, w.now)
    assert w.engine.groups["ipmp1"].fdt_ms == 10_000


# --------------------------------------------------------------------------- removal
def test_removing_a_member_moves_its_addresses_first():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    actions = w.record(w.engine.remove_member("e0", w.now))
    first_unplumb = next(i for i, a in enumerate(actions) if isinstance(a, UnplumbMember))
    first_move = next(i for i, a in enumerate(actions) if isinstance(a, BindAddress))
    assert first_move < first_unplumb
    assert set(w.where().values()) == {"e1"}
    assert "e0" not in w.engine.members


def test_deleting_a_group_unbinds_everything():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    actions = w.record(w.engine.delete_group("ipmp0", w.now))
    assert len([a for a in actions if isinstance(a, UnbindAddress)]) == 2
    assert not [a for a in actions if isinstance(a, BindAddress)]
    assert SetRoutes("ipmp0", ()) in actions
    assert w.engine.groups == {} and w.engine.members == {}


# --------------------------------------------------------------------------- restart
def test_restart_adopts_addresses_in_place_without_announcing():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", standby=("e2",))
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24", "2001:db8:1::10/64")
    w.link("e0", up=False)
    where = w.where()
    config = w.engine.config()

    fresh = World("e0", "e1", "e2")
    fresh.link("e0", up=False)
    actions = fresh.record(fresh.engine.load(config, fresh.now, hints=where))
    binds = fresh.binds(actions)
    assert binds and all(not b.announce and b.previous is None for b in binds)
    assert fresh.where() == where
    assert fresh.iface("e2").active


def test_restart_moves_address_found_on_a_failed_member():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24")
    config = w.engine.config()
    fresh = World("e0", "e1")
    fresh.link("e0", up=False)  # it failed while no daemon was watching
    actions = fresh.record(fresh.engine.load(config, fresh.now,
                                             hints={"198.51.100.10": "e0"}))
    assert [(b.member, b.announce) for b in fresh.binds(actions)] == [("e1", True)]


def test_config_round_trips():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", standby=("e2",), failback=False)
    w.addr("ipmp0", "198.51.100.10/24", "2001:db8:1::10/64")
    w.record(w.engine.set_test_addresses("e0", ["198.51.100.21/24"], w.now))
    w.record(w.engine.add_route("ipmp0", "default", "198.51.100.1", w.now))
    config = w.engine.config()
    fresh = World("e0", "e1", "e2")
    fresh.engine.load(config, fresh.now)
    assert fresh.engine.config() == config


def test_members_missing_at_load_join_when_they_appear():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    config = w.engine.config()
    fresh = World("e0")
    fresh.record(fresh.engine.load(config, fresh.now))
    assert fresh.iface("e1").state is IfState.FAILED and not fresh.iface("e1").present
    actions = fresh.link("e1", up=True, mac="02:00:00:00:00:31", ifindex=31)
    assert PlumbMember("ipmp0", "e1") in actions
    assert fresh.group_view("ipmp0").state is GroupState.OK


def test_failback_no_keeps_the_covering_standby_active():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", standby=("e2",), failback=False)
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    w.link("e0", up=False)
    assert w.iface("e2").active
    w.link("e0", up=True)
    assert not w.iface("e0").active and w.iface("e2").active and w.iface("e1").active
    assert "e0" not in w.where().values()


def test_outbound_lists_the_members_routing_the_address_subnet():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", "e2")
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24", "2001:db8:1::10/64")
    out = {a.address: a.outbound for a in w.engine.snapshot().addresses}
    assert out == {"198.51.100.10": ["e0", "e1"], "198.51.100.11": ["e0", "e1"],
                   "2001:db8:1::10": ["e2"]}
