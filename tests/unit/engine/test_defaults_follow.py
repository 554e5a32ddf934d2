"""SIGHUP applies the defaults file to every group whose setting nobody set (in.mpathd
re-executes itself on SIGHUP, and its FAILURE_DETECTION_TIME and FAILBACK are global);
a group's own setting (ipmpadm set-ipmp, the agent's parameter) wins. Fake clock."""

from __future__ import annotations

from ipmp_core.engine.actions import ConfigChanged
from ipmp_core.engine.engine import Engine
from ipmp_core.engine.state import FROM_DEFAULTS
from tests.support.engine_helpers import World


def _two_groups() -> World:
    w = World("e0", "e1", "e2", "e3")
    w.record(w.engine.create_group("plain", w.now))  # nothing set: follows the file
    w.record(w.engine.create_group("own", w.now, fdt_ms=5000, failback=True))
    for group, members in (("plain", ("e0", "e1")), ("own", ("e2", "e3"))):
        for m in members:
            w.record(w.engine.add_member(group, m, w.now))
    return w


def test_sighup_applies_the_defaults_file_to_groups_without_their_own_settings():
    w = _two_groups()
    assert (w.engine.groups["plain"].fdt_ms, w.engine.groups["plain"].failback) == (10000,
                                                                                     True)
    actions = w.record(w.engine.set_defaults(2000, False, w.now))
    plain, own = w.engine.groups["plain"], w.engine.groups["own"]
    assert (plain.fdt_ms, plain.fdt_current, plain.failback) == (2000, 2000, False)
    assert (own.fdt_ms, own.failback) == (5000, True)
    assert any(isinstance(a, ConfigChanged) for a in actions)
    assert w.logs(actions) == ["Group plain takes FAILBACK=no FAILURE_DETECTION_TIME=2000 "
                               "from the defaults file"]


def test_sighup_with_an_unchanged_defaults_file_changes_nothing():
    w = _two_groups()
    assert w.engine.set_defaults(10000, True, w.now) == []


def test_group_created_after_sighup_takes_the_new_defaults():
    w = World("e0")
    w.record(w.engine.set_defaults(3000, False, w.now))
    w.record(w.engine.create_group("ipmp0", w.now))
    assert (w.engine.groups["ipmp0"].fdt_ms, w.engine.groups["ipmp0"].failback) == (3000,
                                                                                    False)


def test_set_fdt_default_makes_a_group_follow_the_defaults_file_again():
    w = _two_groups()
    w.record(w.engine.set_defaults(2000, True, w.now))
    w.record(w.engine.set_fdt("own", FROM_DEFAULTS, w.now))
    assert w.engine.groups["own"].fdt_ms == 2000
    w.record(w.engine.set_defaults(4000, True, w.now))
    assert w.engine.groups["own"].fdt_ms == 4000
    w.record(w.engine.set_fdt("own", 6000, w.now))  # its own value again
    w.record(w.engine.set_defaults(7000, True, w.now))
    assert w.engine.groups["own"].fdt_ms == 6000


def test_failback_no_from_the_defaults_file_holds_a_repaired_member():
    w = _two_groups()
    w.record(w.engine.set_defaults(10000, False, w.now))
    w.link("e0", up=False)
    w.link("e0", up=True)
    assert w.iface("e0").active is False  # held: FAILBACK=no
    w.record(w.engine.set_defaults(10000, True, w.now))
    assert w.iface("e0").active is True  # FAILBACK=yes releases it, as set-failback does


def test_state_file_keeps_which_settings_follow_the_defaults_file():
    w = _two_groups()
    config = w.engine.config()
    plain = next(g for g in config["groups"] if g["name"] == "plain")
    own = next(g for g in config["groups"] if g["name"] == "own")
    assert plain["follows_defaults"] == ["failback", "fdt_ms", "transitive_probing"]
    assert own["follows_defaults"] == ["transitive_probing"]  # not set when created
    fresh = Engine()  # a restart with a changed defaults file
    fresh.default_fdt, fresh.default_failback = 4000, False
    fresh.load(config, 0.0)
    assert (fresh.groups["plain"].fdt_ms, fresh.groups["plain"].failback) == (4000, False)
    assert (fresh.groups["own"].fdt_ms, fresh.groups["own"].failback) == (5000, True)


def test_state_file_from_before_the_rule_keeps_every_setting_it_holds():
    old = {"version": 1, "groups": [{"name": "ipmp0", "failback": True, "fdt_ms": 10000,
                                     "members": []}]}
    fresh = Engine()
    fresh.default_fdt = 4000
    fresh.load(old, 0.0)
    assert fresh.groups["ipmp0"].fdt_ms == 10000
    assert fresh.set_defaults(3000, True, 0.0) == []


def test_the_anonymous_group_follows_the_defaults_fdt():
    w = World("e9")
    w.engine.track_all = True
    w.record(w.engine.set_test_addresses("e9", ["192.0.2.9/24"], w.now))
    w.record(w.engine.set_defaults(2500, True, w.now))
    assert w.engine.groups[""].fdt_ms == 2500
