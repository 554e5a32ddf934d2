"""One set of value rules (ipmp_core/values.py), applied by the engine to every request:
the bad values of issue 10, point 6, each refused with a clear reason and no change."""

from __future__ import annotations

import copy

import pytest

from ipmp_core.errors import EngineError
from tests.support.engine_helpers import World

DATA = "198.51.100.10/24"
TEST0, TEST1 = "198.51.100.21/24", "198.51.100.22/24"


def world() -> World:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", DATA)
    w.record(w.engine.set_test_addresses("e0", [TEST0], w.now))
    w.record(w.engine.set_test_addresses("e1", [TEST1], w.now))
    w.record(w.engine.address_observed("e0", "198.51.100.99", True, w.now))
    return w


BAD = [
    # (request, arguments, words the error must contain)
    ("data", "198.51.100.50/0", "prefix /0"),
    ("data", "198.51.100.50/1", "prefix /1"),
    ("data", "2001:db8::50/0", "prefix /0"),
    ("data", "255.255.255.255/32", "limited broadcast"),
    ("data", "198.51.100.255/24", "broadcast address"),
    ("data", "224.0.0.1/24", "multicast"),
    ("data", "ff02::1/64", "multicast"),
    ("data", "0.0.0.0/24", "unspecified"),
    ("data", "::/64", "unspecified"),
    ("data", "127.0.0.2/8", "loopback"),
    ("data", "::1/128", "loopback"),
    ("data", "169.254.1.1/16", "link-local"),
    ("data", "fe80::10/64", "link-local"),
    ("data", "fe80::10%e0/64", "zone index"),
    ("data", "240.0.0.1/24", "reserved"),
    ("data", "198.51.100.50", "prefix length"),
    ("data", 198, "prefix length"),
    ("data", "198.51.100.21/24", "test address of e0"),
    ("test", ["2001:db8::21/64"], "must be link-local"),
    ("test", ["198.51.100.30/24", "198.51.100.30/24"], "given twice"),
    ("test", ["198.51.100.22/24"], "already used on e1"),
    ("test", ["198.51.100.10/24"], "data address"),
    ("test", ["198.51.100.30/0"], "prefix /0"),
    ("fdt", 0, "failure detection time"),
    ("fdt", -1, "failure detection time"),
    ("fdt", 99, "failure detection time"),
    ("fdt", 2**64, "failure detection time"),
    ("fdt", float("inf"), "failure detection time"),
    ("targets", ["224.0.0.1"], "multicast"),
    ("targets", ["0.0.0.0"], "unspecified"),
    ("targets", ["255.255.255.255"], "limited broadcast"),
    ("targets", ["198.51.100.10"], "own addresses"),
    ("targets", ["198.51.100.21"], "own addresses"),
    ("targets", ["198.51.100.99"], "own addresses"),
    ("targets", ["198.51.100.1", "198.51.100.1"], "twice"),
    ("targets", [f"198.51.100.{i}" for i in range(100, 106)], "at most 5"),
    ("targets", ["2001:db8::1"], "link-local"),
    ("targets", ["198.51.100.255"], "broadcast"),
    ("targets", "198.51.100.1", "list"),
    ("gateway", "203.0.113.1", "not on-link"),
    ("gateway", "198.51.100.10", "own addresses"),
    ("gateway", "198.51.100.255", "broadcast"),  # on-link, but not a host
    ("gateway", "224.0.0.1", "multicast"),
    ("gateway", "fe80::1%e0", "zone index"),
]


def _apply(w: World, what: str, value: object) -> None:
    e, now = w.engine, w.now
    if what == "data":
        e.add_data_address("ipmp0", value, now)  # type: ignore[arg-type]
    elif what == "test":
        e.set_test_addresses("e0", value, now)  # type: ignore[arg-type]
    elif what == "fdt":
        e.set_fdt("ipmp0", value, now)  # type: ignore[arg-type]
    elif what == "targets":
        e.set_targets("ipmp0", value, now)  # type: ignore[arg-type]
    elif what == "gateway":
        e.add_route("ipmp0", "default", value, now)  # type: ignore[arg-type]


@pytest.mark.parametrize(("what", "value", "words"), BAD,
                         ids=[f"{w}-{v}"[:40] for w, v, _ in BAD])
def test_bad_value_is_refused_and_changes_nothing(what, value, words):
    w = world()
    before = copy.deepcopy(w.engine.config())
    with pytest.raises(EngineError) as info:
        _apply(w, what, value)
    assert words in info.value.message, info.value.message
    assert w.engine.config() == before


def test_good_values_still_pass():
    w = world()
    _apply(w, "data", "198.51.100.11/24")
    _apply(w, "data", "2001:db8:1::10/64")
    _apply(w, "test", ["198.51.100.21/24", "fe80::21/64"])
    _apply(w, "fdt", 100)
    _apply(w, "fdt", 3_600_000)
    _apply(w, "targets", ["198.51.100.1", "198.51.100.2", "fe80::1", "198.51.100.3",
                          "198.51.100.4"])
    _apply(w, "gateway", "198.51.100.1")
    _apply(w, "gateway", "fe80::1")
    cfg = w.engine.config()["groups"][0]
    assert cfg["fdt_ms"] == 3_600_000 and len(cfg["targets"]) == 5
    assert {r["gateway"] for r in cfg["routes"]} == {"198.51.100.1", "fe80::1"}


def test_gateway_in_a_test_address_subnet_is_on_link():
    w = World("e0")
    w.group("ipmp0", "e0")
    w.record(w.engine.set_test_addresses("e0", ["203.0.113.21/24"], w.now))
    w.record(w.engine.add_route("ipmp0", "default", "203.0.113.1", w.now))
    with pytest.raises(EngineError, match="not on-link"):
        w.engine.add_route("ipmp0", "192.0.2.0/24", "198.51.100.1", w.now)


def test_saved_routes_load_after_the_addresses_that_make_them_on_link():
    w = world()
    w.record(w.engine.add_route("ipmp0", "default", "198.51.100.1", w.now))
    saved = w.engine.config()
    fresh = World("e0", "e1")
    fresh.record(fresh.engine.load(saved, fresh.now))
    assert fresh.engine.config()["groups"][0]["routes"] == saved["groups"][0]["routes"]


def test_data_address_added_by_hand_to_a_second_member_is_logged():
    w = world()
    bound = w.where()["198.51.100.10"]
    other = "e1" if bound == "e0" else "e0"
    assert not w.record(w.engine.address_observed(bound, "198.51.100.10", True, w.now))
    actions = w.record(w.engine.address_observed(other, "198.51.100.10", True, w.now))
    lines = w.logs(actions)
    assert len(lines) == 1 and f"found on {other}" in lines[0] and f"bound to {bound}" in lines[0]


@pytest.mark.parametrize(("rule", "value"), [
    ("check_name", ("group", "0bad")),
    ("parse_data_address", ("fe80::10/64",)),
    ("check_fdt", (99,)),
    ("parse_targets", (["224.0.0.1"],)),
    ("parse_gateway", ("224.0.0.1",)),
])
def test_a_refusal_is_an_engine_error_and_a_value_error(rule: str, value: tuple) -> None:
    """The engine and the daemon catch EngineError (code invalid); an ocf parameter's
    validator refuses by raising ValueError: the agents pass the rules directly."""
    from ipmp_core import errors, values

    with pytest.raises(errors.InvalidValue) as caught:
        getattr(values, rule)(*value)
    assert isinstance(caught.value, EngineError) and isinstance(caught.value, ValueError)
    assert caught.value.code == errors.INVALID
    assert str(caught.value) == caught.value.message
