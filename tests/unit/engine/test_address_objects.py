"""ipadm address objects (docs/design.md, "ipadm compatibility"): libipadm's rule for the
names an administrator gives, ipmgmtd's generated names, one name per interface, the
request path (a name instead of an address) and the state file (names survive a
restart; files written before names load and get generated ones)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ipmp_core import aobjname
from ipmp_core.errors import EngineError
from ipmp_core.state_json import StateFileError
from ipmp_core.state_schema import parse_state
from tests.support.engine_helpers import World

GROUP = "ipmp0"


def world() -> World:
    w = World("e0", "e1")
    w.group(GROUP, "e0", "e1")
    return w


def objects(w: World) -> dict[str, dict[str, Any]]:
    return {row["addrobj"]: row for row in w.engine.address_objects()}


# ---------------------------------------------------------------- the name rules


@pytest.mark.parametrize("name", ["v4", "test", "a", "Data1", "x" * 31])
def test_user_aobjname_valid_accepts_a_letter_then_letters_and_digits(name: str) -> None:
    assert aobjname.check_user_name(name) == name


@pytest.mark.parametrize("name", ["", "1v4", "_a", "v-4", "v.4", "v 4", "x" * 32, "vé",
                                  "v4/x"])
def test_user_aobjname_valid_refuses_other_names_with_the_rule(name: str) -> None:
    with pytest.raises(EngineError, match="starts with a letter, has only letters and "
                       "digits, and at most 31 characters"):
        aobjname.check_user_name(name)


def test_num2priv_aobjname_counts_in_letters_like_ipmgmtd() -> None:
    expected = {0: "_a", 1: "_b", 25: "_z", 26: "_aa", 27: "_ab", 52: "_ba", 701: "_zz",
                702: "_aaa"}
    assert {n: aobjname.generated_name(n) for n in expected} == expected
    assert all(aobjname.generated_number(name) == n for n, name in expected.items())
    assert aobjname.generated_number("v4") is None and aobjname.generated_number("_") is None


@pytest.mark.parametrize("text", ["ipmp0", "ipmp0/", "/v4"])
def test_an_address_object_needs_an_interface_and_a_name(text: str) -> None:
    with pytest.raises(EngineError, match="invalid address object name"):
        aobjname.split(text)


# ---------------------------------------------------------------- the engine


def test_create_addr_with_an_aobjname_names_the_data_address_on_its_group() -> None:
    w = world()
    w.record(w.engine.add_data_address(GROUP, "192.0.2.10/24", w.now, name="v4"))
    row = objects(w)["ipmp0/v4"]
    assert (row["type"], row["state"], row["addr"], row["test"]) == \
        ("static", "ok", "192.0.2.10/24", False)
    assert row["inbound"] in ("e0", "e1")


def test_an_address_without_a_name_gets_the_groups_next_generated_one() -> None:
    w = world()
    w.addr(GROUP, "192.0.2.10/24", "192.0.2.11/24")
    w.record(w.engine.add_data_address(GROUP, "192.0.2.12/24", w.now, name="v4"))
    w.addr(GROUP, "192.0.2.13/24")
    assert {r["addrobj"]: r["addr"] for r in w.engine.address_objects()} == {
        "ipmp0/_a": "192.0.2.10/24", "ipmp0/_b": "192.0.2.11/24",
        "ipmp0/v4": "192.0.2.12/24", "ipmp0/_c": "192.0.2.13/24"}


def test_lookupadd_amnode_refuses_a_name_the_interface_already_has() -> None:
    w = world()
    w.record(w.engine.add_data_address(GROUP, "192.0.2.10/24", w.now, name="v4"))
    before = w.engine.config()
    with pytest.raises(EngineError, match="address object ipmp0/v4 already exists"):
        w.engine.add_data_address(GROUP, "192.0.2.11/24", w.now, name="v4")
    assert w.engine.config() == before  # refused: nothing changed
    # another interface may use the same name
    w.record(w.engine.add_test_address("e0", "198.51.100.11/24", w.now, name="v4"))
    assert "e0/v4" in objects(w)


def test_delete_addr_takes_an_address_object_name_or_the_address() -> None:
    w = world()
    w.record(w.engine.add_data_address(GROUP, "192.0.2.10/24", w.now, name="v4"))
    w.addr(GROUP, "192.0.2.11/24")
    w.record(w.engine.remove_data_address("ipmp0/v4", w.now))
    w.record(w.engine.remove_data_address("192.0.2.11", w.now))
    assert objects(w) == {}
    with pytest.raises(EngineError, match="no data address object ipmp0/v4"):
        w.engine.remove_data_address("ipmp0/v4", w.now)
    # an IPv6 address with its prefix is an address, not a name
    w.addr(GROUP, "2001:db8::10/64")
    w.record(w.engine.remove_data_address("2001:db8::10/64", w.now))


def test_a_test_address_is_an_address_object_of_its_member() -> None:
    w = world()
    w.record(w.engine.add_test_address("e0", "198.51.100.11/24", w.now, name="test"))
    w.record(w.engine.add_test_address("e1", "198.51.100.12/24", w.now))
    rows = objects(w)
    assert rows["e0/test"]["addr"] == "198.51.100.11/24" and rows["e0/test"]["test"]
    assert rows["e0/test"]["current"].endswith("d")  # deprecated, as ipadm shows it
    assert rows["e1/_a"]["addr"] == "198.51.100.12/24"
    with pytest.raises(EngineError, match="address object e0/test already exists"):
        w.engine.add_test_address("e0", "198.51.100.13/24", w.now, name="test")
    w.record(w.engine.remove_test_address("e0/test", None, w.now))
    assert "e0/test" not in objects(w)
    with pytest.raises(EngineError, match="address object e0/test not found"):
        w.engine.remove_test_address("e0/test", None, w.now)


def test_a_data_address_with_no_active_member_is_inaccessible() -> None:
    w = world()
    w.record(w.engine.add_data_address(GROUP, "192.0.2.10/24", w.now, name="v4"))
    w.record(w.engine.add_test_address("e0", "198.51.100.11/24", w.now, name="test"))
    w.link("e0", up=False)
    w.link("e1", up=False)
    rows = objects(w)
    assert rows["ipmp0/v4"]["state"] == "inaccessible" and rows["ipmp0/v4"]["inbound"] == ""
    assert rows["e0/test"]["state"] == "inaccessible"


def test_names_survive_a_reload_of_the_saved_configuration() -> None:
    w = world()
    w.record(w.engine.add_data_address(GROUP, "192.0.2.10/24", w.now, name="v4"))
    w.addr(GROUP, "192.0.2.11/24")
    w.record(w.engine.add_test_address("e0", "198.51.100.11/24", w.now, name="test"))
    saved = w.engine.config()
    parse_state(json.dumps(saved).encode())  # the schema accepts what the engine writes
    again = World("e0", "e1")
    again.record(again.engine.load(saved, again.now))
    assert sorted(objects(again)) == ["e0/test", "ipmp0/_a", "ipmp0/v4"]
    # the count goes on after the generated names it read (ipmgmt_aobjmap_init)
    again.addr(GROUP, "192.0.2.12/24")
    assert objects(again)["ipmp0/_b"]["addr"] == "192.0.2.12/24"


def test_a_state_file_without_names_loads_and_gets_generated_names() -> None:
    w = world()
    w.addr(GROUP, "192.0.2.10/24", "192.0.2.11/24")
    w.record(w.engine.set_test_addresses("e0", ["198.51.100.11/24"], w.now))
    old = w.engine.config()
    for g in old["groups"]:
        del g["names"]
        for m in g["members"]:
            del m["names"]
    parse_state(json.dumps(old).encode())
    again = World("e0", "e1")
    again.record(again.engine.load(old, again.now))
    assert {k: v["addr"] for k, v in objects(again).items()} == {
        "ipmp0/_a": "192.0.2.10/24", "ipmp0/_b": "192.0.2.11/24", "e0/_a": "198.51.100.11/24"}


@pytest.mark.parametrize("names, problem", [
    ({"192.0.2.10/24": "1x"}, "is not an address object name"),
    ({"192.0.2.99/24": "v4"}, "not one of the interface's addresses"),
    ({"192.0.2.10/24": "v4", "192.0.2.11/24": "v4"}, "is used twice"),
    ([], "is a list, not an object"),
])
def test_the_state_file_refuses_bad_names_with_their_path(names: Any, problem: str) -> None:
    w = world()
    w.addr(GROUP, "192.0.2.10/24", "192.0.2.11/24")
    data = w.engine.config()
    data["groups"][0]["names"] = names
    with pytest.raises(StateFileError, match=problem) as info:
        parse_state(json.dumps(data).encode())
    assert "groups[0].names" in str(info.value)


def test_a_test_address_is_down_on_an_offline_member_and_disabled_on_a_missing_one() -> None:
    w = world()
    w.record(w.engine.add_test_address("e0", "198.51.100.11/24", w.now, name="test"))
    w.record(w.engine.add_test_address("e1", "198.51.100.12/24", w.now, name="test"))
    w.record(w.engine.offline("e0", w.now))
    w.record(w.engine.link_removed("e1", w.now))
    rows = objects(w)
    assert (rows["e0/test"]["state"], rows["e1/test"]["state"]) == ("down", "disabled")
    assert rows["e0/test"]["current"].startswith("-")  # not up


def test_a_dhcp_data_address_takes_the_name_of_its_object_lease_after_lease() -> None:
    w = world()
    w.record(w.engine.add_dhcp_data(GROUP, w.now, name="dhcp"))
    assert {k: (v["type"], v["addr"]) for k, v in objects(w).items()} == {
        "ipmp0/dhcp": ("dhcp", "?")}  # not leased yet: ipadm's "?"
    w.record(w.engine.dhcp_data_lease(GROUP, 0, "192.0.2.50/24", w.now))
    assert objects(w)["ipmp0/dhcp"]["addr"] == "192.0.2.50/24"
    w.record(w.engine.dhcp_data_lease(GROUP, 0, "192.0.2.51/24", w.now))  # a new lease
    assert list(objects(w)) == ["ipmp0/dhcp"] and objects(w)["ipmp0/dhcp"]["addr"] == \
        "192.0.2.51/24"
    with pytest.raises(EngineError, match="address object ipmp0/dhcp already exists"):
        w.engine.add_data_address(GROUP, "192.0.2.10/24", w.now, name="dhcp")
    saved = w.engine.config()
    parse_state(json.dumps(saved).encode())
    again = World("e0", "e1")
    again.record(again.engine.load(saved, again.now))
    assert objects(again)["ipmp0/dhcp"]["addr"] == "192.0.2.51/24"
    w.record(w.engine.remove_data_address("ipmp0/dhcp", w.now))
    assert objects(w) == {} and not w.engine.groups[GROUP].dhcp_slots


def test_delete_addr_of_a_dhcp_object_not_leased_yet_ends_its_session() -> None:
    w = world()
    w.record(w.engine.add_dhcp_data(GROUP, w.now))  # generated: ipmp0/_a
    assert list(objects(w)) == ["ipmp0/_a"]
    w.record(w.engine.remove_data_address("ipmp0/_a", w.now))
    assert objects(w) == {} and not w.engine.groups[GROUP].dhcp_slots
    assert w.engine.config()["groups"][0]["dhcp_names"] == {}


def test_the_state_file_refuses_a_dhcp_name_for_a_slot_it_does_not_list() -> None:
    w = world()
    w.record(w.engine.add_dhcp_data(GROUP, w.now, name="dhcp"))
    data = w.engine.config()
    data["groups"][0]["dhcp_names"] = {"7": "dhcp"}
    with pytest.raises(StateFileError, match=r"groups\[0\]\.dhcp_names\['7'\]: not one"):
        parse_state(json.dumps(data).encode())
