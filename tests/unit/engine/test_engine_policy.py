"""The IPMP rules that moved from the daemon into the engine: the order of a batch
(engine/batch.py), DAD rollback, restoring removed addresses, DHCP data sessions and the
request checks (engine/addresses.py), the last member's sysctls and the test-address
list (engine/members.py)."""

from __future__ import annotations

from ipaddress import ip_interface

import pytest

from ipmp_core import errors
from ipmp_core.engine.actions import (
    Action,
    Announce,
    AwaitDad,
    BindAddress,
    ClearStrayCopies,
    ConfigChanged,
    DhcpData,
    FollowDhcp,
    Log,
    RemoveOldCopy,
    RestoreAddress,
    ResyncRoutes,
    SetRoutes,
    SetTestAddresses,
    UnbindAddress,
    UnplumbMember,
)
from ipmp_core.engine.addresses import ANNOUNCE_AGAIN_MAX_COUNT, MAX_BATCH_ADDRESSES
from ipmp_core.engine.batch import order_batch
from ipmp_core.engine.members import MemberRequests
from ipmp_core.engine.state import DhcpOwner, parse_owner
from ipmp_core.errors import EngineError
from tests.support.engine_helpers import World

A10 = ip_interface("198.51.100.10/24")
A11 = ip_interface("198.51.100.11/24")
V6 = ip_interface("2001:db8:1::10/64")


def kinds(actions: list[Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


def last_index(actions: list[Action], kind: type) -> int:
    return max(i for i, a in enumerate(actions) if type(a) is kind)


def first_index(actions: list[Action], kind: type) -> int:
    return min(i for i, a in enumerate(actions) if type(a) is kind)


# ------------------------------------------------------------------ the batch's order
def test_a_failover_binds_and_routes_first_then_old_copies_then_announcements():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", "e2")
    w.addr("ipmp0", *(f"198.51.100.{i}/24" for i in range(10, 16)))
    actions = w.link("e0", up=False)
    moves = w.binds(actions)
    assert len(moves) == 2
    # the tail: every old copy, then every announcement, after the binds and routes
    assert max(last_index(actions, BindAddress), last_index(actions, SetRoutes)) \
        < first_index(actions, RemoveOldCopy)
    assert last_index(actions, RemoveOldCopy) < first_index(actions, Announce)
    assert kinds(actions)[-4:] == ["RemoveOldCopy"] * 2 + ["Announce"] * 2
    assert [a for a in actions if type(a) is RemoveOldCopy] == [
        RemoveOldCopy("ipmp0", m.address, "e0") for m in moves]
    assert [a for a in actions if type(a) is Announce] == [
        Announce("ipmp0", m.address, m.member) for m in moves]
    assert not any(isinstance(a, ClearStrayCopies | AwaitDad) for a in actions)


def test_an_address_moved_then_taken_down_in_one_batch_is_not_announced():
    """Both cables of a node out, read in one batch: the address moved to e1 and went
    down with it; its old copy still comes off, but it is never announced."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24")
    assert w.where()["198.51.100.10"] == "e0"
    both = w.link("e0", up=False) + w.link("e1", up=False)
    batch = order_batch(w.engine.tables, both)
    assert RemoveOldCopy("ipmp0", A10, "e0") in batch
    assert UnbindAddress("ipmp0", A10, "e1") in batch
    assert not any(isinstance(a, Announce) for a in batch)


def test_an_address_moved_away_and_back_keeps_the_copy_it_ends_on():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24")
    batch = order_batch(w.engine.tables, [BindAddress("ipmp0", A10, "e1", "e0"),
                                          BindAddress("ipmp0", A10, "e0", "e1")])
    assert batch[2:] == [RemoveOldCopy("ipmp0", A10, "e1"), Announce("ipmp0", A10, "e0")]


def test_ordering_twice_changes_nothing():
    """A batch ordered again (load orders the batch of load_steps) stays as it is."""
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", "e2")
    w.addr("ipmp0", *(f"198.51.100.{i}/24" for i in range(10, 16)))
    actions = w.link("e0", up=False)
    assert order_batch(w.engine.tables, actions) == actions


def test_a_new_address_clears_stray_copies_then_is_announced():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    actions = w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    assert actions[0] == BindAddress("ipmp0", A10, "e0")
    assert ConfigChanged() in actions
    assert actions[-2:] == [ClearStrayCopies("ipmp0", A10, "e0"),
                            Announce("ipmp0", A10, "e0")]


def test_a_new_ipv6_address_with_dad_waits_for_it_before_clearing_and_announcing():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    actions = w.engine.add_data_address("ipmp0", str(V6), w.now, dad=True)
    assert actions[-3:] == [AwaitDad("ipmp0", V6, "e0"), ClearStrayCopies("ipmp0", V6, "e0"),
                            Announce("ipmp0", V6, "e0")]
    # IPv4's check runs before the request (an ARP probe): nothing to wait for
    v4 = w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now, dad=True)
    assert not any(isinstance(a, AwaitDad) for a in v4)


def test_a_restart_adopts_in_place_clears_strays_and_announces_nothing():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")
    where, config = w.where(), w.engine.config()
    fresh = World("e0", "e1")
    actions = fresh.engine.load(config, fresh.now, hints=where)
    assert not any(isinstance(a, Announce | RemoveOldCopy) for a in actions)
    assert [a for a in actions if isinstance(a, ClearStrayCopies)] == [
        ClearStrayCopies("ipmp0", A10, "e0"), ClearStrayCopies("ipmp0", A11, "e1")]


# ------------------------------------------------------------------ DAD rollback
def test_failed_dad_rolls_the_address_back_and_says_why():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.engine.add_data_address("ipmp0", str(V6), w.now, dad=True)
    actions, message = w.engine.dad_failed({"2001:db8:1::10"}, w.now)
    assert UnbindAddress("ipmp0", V6, "e0") in actions
    assert ConfigChanged() in actions
    assert message == ("duplicate address detection failed for 2001:db8:1::10: another "
                       "host uses it")
    assert "2001:db8:1::10" not in w.where()


# ------------------------------------------------------------------ foreign removals
def test_a_data_address_someone_removed_is_restored_with_its_routes_and_announced():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now, deprecated=True)
    actions = w.engine.removed_by_someone("e0", "198.51.100.10")
    group = w.engine.groups["ipmp0"]
    assert actions == [
        Log("warning", "Data address 198.51.100.10/24 of group ipmp0 was removed from e0 "
            "by someone else; restoring it"),
        RestoreAddress("e0", A10, True),
        ResyncRoutes("ipmp0", w.engine.route_plan(group, ["e0", "e1"])),
        Announce("ipmp0", A10, "e0"),
    ]
    # not where the engine has it, or not ours: nothing to restore
    assert w.engine.removed_by_someone("e1", "198.51.100.10") == []
    assert w.engine.removed_by_someone("e0", "198.51.100.99") == []


def test_a_test_address_someone_removed_is_restored_deprecated():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.engine.set_test_addresses("e0", ["198.51.100.21/24"], w.now)
    assert w.engine.removed_by_someone("e0", "198.51.100.21") == [
        Log("warning", "Test address 198.51.100.21/24 of e0 was removed by someone else; "
            "restoring it"),
        RestoreAddress("e0", ip_interface("198.51.100.21/24"), True)]


def test_a_dhcp_test_address_someone_removed_is_restored():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.engine.set_test_addresses("e0", ["dhcp"], w.now)
    w.engine.dhcp_test_lease("e0", "198.51.100.30/24", w.now)
    assert w.engine.removed_by_someone("e0", "198.51.100.30") == [
        Log("warning", "DHCP test address 198.51.100.30/24 of e0 was removed by someone "
            "else; restoring it"),
        RestoreAddress("e0", ip_interface("198.51.100.30/24"), True)]


def test_nothing_is_restored_on_a_member_that_is_gone():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24")
    w.engine.link_removed("e0", w.now)
    assert w.engine.removed_by_someone("e0", "198.51.100.10") == []


# ------------------------------------------------------------------ the last member
def test_only_the_last_member_leaving_restores_the_global_sysctls():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    first = w.engine.remove_member("e0", w.now)
    assert [a for a in first if isinstance(a, UnplumbMember)] == [
        UnplumbMember("ipmp0", "e0", last=False)]
    last = w.engine.remove_member("e1", w.now)
    assert [a for a in last if isinstance(a, UnplumbMember)] == [
        UnplumbMember("ipmp0", "e1", last=True)]


# ------------------------------------------------------------------ DHCP data
def test_a_dhcp_data_session_asks_through_the_first_member_when_none_is_active():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.link("e0", up=False)
    w.link("e1", up=False)
    assert DhcpData("ipmp0", 0, "e0", True) in w.engine.add_dhcp_data("ipmp0", w.now)


def test_a_dhcp_data_address_is_typed_and_its_session_follows_it():
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", "e2")
    w.addr("ipmp0", "198.51.100.11/24")  # on e0: the session asks through e1
    assert DhcpData("ipmp0", 0, "e1", True) in w.engine.add_dhcp_data("ipmp0", w.now)
    lease = w.engine.dhcp_data_lease("ipmp0", 0, "198.51.100.10/24", w.now)
    assert FollowDhcp("ipmp0", 0, "e1", A10) in lease
    assert w.engine.groups["ipmp0"].owners[A10] == DhcpOwner(0)
    assert w.engine.config()["groups"][0]["owners"] == {"198.51.100.10/24": "dhcp:0"}
    assert {a.address: a.owner for a in w.engine.snapshot().addresses}["198.51.100.10"] \
        == "dhcp:0"
    moved = w.link("e1", up=False)
    follow = [a for a in moved if isinstance(a, FollowDhcp)]
    assert len(follow) == 1 and follow[0].member == w.where()["198.51.100.10"] != "e1"
    # the session's member is where a new lease of the slot goes
    w.engine.dhcp_data_lease("ipmp0", 0, "198.51.100.12/24", w.now)
    assert w.where()["198.51.100.12"] == follow[0].member
    # removing it stops its session
    assert DhcpData("ipmp0", 0, None, False) in w.engine.remove_data_address(
        "198.51.100.12", w.now)


def test_owner_text_is_parsed_in_one_place():
    assert parse_owner("dhcp:3") == DhcpOwner(3)
    assert str(DhcpOwner(3)) == "dhcp:3"
    assert parse_owner("ocf:vip1") == "ocf:vip1"
    assert parse_owner("dhcp:x") == "dhcp:x"


# ------------------------------------------------------------------ test addresses
def test_test_addresses_are_added_and_removed_keeping_the_dhcp_entry():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.engine.add_test_address("e0", "dhcp", w.now)
    w.engine.add_test_address("e0", "198.51.100.21/24", w.now)
    member = w.engine.members["e0"]
    assert MemberRequests.test_list(member) == ["198.51.100.21/24", "dhcp"]
    w.engine.remove_test_address("198.51.100.21", None, w.now)
    assert MemberRequests.test_list(member) == ["dhcp"]
    with pytest.raises(EngineError) as exc:
        w.engine.remove_test_address("dhcp", "e1", w.now)
    assert exc.value.code == errors.UNKNOWN_ADDRESS
    w.engine.dhcp_test_lease("e0", "198.51.100.30/24", w.now)
    w.engine.remove_test_address("198.51.100.30", None, w.now)  # the leased one: DHCP stops
    assert MemberRequests.test_list(member) == []
    with pytest.raises(EngineError) as exc:
        w.engine.remove_test_address("198.51.100.99", None, w.now)
    assert exc.value.code == errors.UNKNOWN_ADDRESS


def test_a_refused_test_address_leaves_the_configuration_never_touching_the_kernel():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.engine.set_test_addresses("e0", ["198.51.100.21/24", "dhcp"], w.now)
    addr = ip_interface("198.51.100.21/24")
    actions, message = w.engine.refuse_test_address("e0", addr, "IPv6 DAD failed", w.now)
    assert message == ("duplicate test address 198.51.100.21 on e0: another host has it "
                       "(IPv6 DAD failed)")
    assert actions[0] == Log("err", f"{message}; not configured")
    assert not any(isinstance(a, SetTestAddresses) and addr in a.remove for a in actions)
    assert ConfigChanged() in actions
    assert MemberRequests.test_list(w.engine.members["e0"]) == ["dhcp"]
    # already gone: only the message
    again, _ = w.engine.refuse_test_address("e0", addr, "why", w.now)
    assert kinds(again) == ["Log"]


# ------------------------------------------------------------------ request checks
def test_announce_again_clamps_its_count_and_interval():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24")
    again = w.engine.announce_again({"address": "198.51.100.10", "count": 100,
                                     "interval_ms": 0})
    assert (again.member, again.address, again.count, again.interval_ms) == \
        ("e0", A10, ANNOUNCE_AGAIN_MAX_COUNT, 1)
    default = w.engine.announce_again({"address": "198.51.100.10"})
    assert (default.count, default.interval_ms) == (1, 200)
    for args, code in (({"address": "198.51.100.99"}, errors.UNKNOWN_ADDRESS),
                       ({"address": "198.51.100.10", "count": "x"}, errors.INVALID),
                       ({"address": "198.51.100.10", "count": 1e400}, errors.INVALID)):
        with pytest.raises(EngineError) as exc:
            w.engine.announce_again(args)
        assert exc.value.code == code


@pytest.mark.parametrize(("addresses", "says"), [
    ([], "non-empty list"),
    ("198.51.100.10/24", "non-empty list"),
    (["198.51.100.10/24"] * (MAX_BATCH_ADDRESSES + 1), "at most"),
    ([1], "every address must be a string"),
    (["dhcp"], "one at a time"),
    (["198.51.100.10/24", "nonsense"], "(none of the 2 addresses was added)"),
])
def test_add_address_lists_are_checked_all_or_nothing(addresses: object, says: str) -> None:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    with pytest.raises(EngineError) as exc:
        w.engine.add_data_address_list({"group": "ipmp0", "addresses": addresses}, w.now)
    assert says in exc.value.message
    assert w.where() == {}


def test_an_add_address_list_is_one_ordered_batch():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    actions = w.engine.add_data_address_list(
        {"group": "ipmp0", "addresses": ["198.51.100.10/24", "198.51.100.11/24"],
         "owner": "vip"}, w.now)
    assert kinds(actions)[-4:] == ["ClearStrayCopies"] * 2 + ["Announce"] * 2
    assert w.engine.config()["groups"][0]["owners"] == {"198.51.100.10/24": "vip",
                                                        "198.51.100.11/24": "vip"}
