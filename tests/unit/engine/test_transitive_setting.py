"""The transitive-probing setting of a group: set by a request (ipmpadm set-ipmp -p
transitive-probing=on|off|default, the agent's probing=transitive), given by the
defaults file's TRANSITIVE_PROBING to every group that did not set it (Solaris 11's
config/transitive-probing is node-wide; here it is the default of a per-group setting,
re-applied on SIGHUP like FAILBACK and the FDT), and kept in the state file. Fake clock.
"""

from __future__ import annotations

import json

import pytest

from ipmp_core.engine.actions import ConfigChanged
from ipmp_core.engine.engine import Engine
from ipmp_core.engine.state import FROM_DEFAULTS
from ipmp_core.errors import EngineError
from ipmp_core.state_json import StateFileError
from ipmp_core.state_schema import parse_state
from tests.support.engine_helpers import World


def _groups() -> World:
    """"plain" follows the defaults file; "own" set transitive probing off itself."""
    w = World("e0", "e1", "e2", "e3")
    w.record(w.engine.create_group("plain", w.now))
    w.record(w.engine.create_group("own", w.now, transitive_probing=False))
    for group, members in (("plain", ("e0", "e1")), ("own", ("e2", "e3"))):
        for m in members:
            w.record(w.engine.add_member(group, m, w.now))
    return w


def _on(w: World, name: str) -> bool:
    return w.engine.groups[name].transitive_probing


def test_a_new_group_has_transitive_probing_off_and_follows_the_defaults_file() -> None:
    w = _groups()
    assert (_on(w, "plain"), _on(w, "own")) == (False, False)
    assert "transitive_probing" in w.engine.groups["plain"].follows_defaults
    assert "transitive_probing" not in w.engine.groups["own"].follows_defaults


@pytest.mark.parametrize(("value", "expected"), [("on", True), ("yes", True), (True, True),
                                                 ("off", False), ("no", False)])
def test_set_transitive_probing_takes_the_values_of_a_boolean(value: object,
                                                              expected: bool) -> None:
    w = _groups()
    w.record(w.engine.set_transitive_probing("own", not expected, w.now))
    actions = w.record(w.engine.set_transitive_probing("own", value, w.now))
    assert _on(w, "own") is expected
    assert any(isinstance(a, ConfigChanged) for a in actions)  # the state file is saved


def test_a_bad_value_is_refused_and_changes_nothing() -> None:
    w = _groups()
    with pytest.raises(EngineError, match="'sometimes' is not a boolean"):
        w.engine.set_transitive_probing("plain", "sometimes", w.now)
    assert _on(w, "plain") is False
    assert "transitive_probing" in w.engine.groups["plain"].follows_defaults
    with pytest.raises(EngineError, match="no such group"):
        w.engine.set_transitive_probing("nosuch", True, w.now)


def test_sighup_turns_it_on_for_groups_that_follow_the_defaults_file_only() -> None:
    w = _groups()
    actions = w.record(w.engine.set_defaults(10000, True, w.now, transitive_probing=True))
    assert (_on(w, "plain"), _on(w, "own")) == (True, False)
    # the group's members start probing (the engine's own lines), the rest is the file's
    logs = [line for line in w.logs(actions) if not line.startswith("Starting ")]
    assert logs == ["Group plain takes TRANSITIVE_PROBING=yes from the defaults file"]
    assert not [line for line in w.logs(actions) if "group own" in line]
    # the same file again: nothing to do; the key gone (built-in default): off again
    assert w.engine.set_defaults(10000, True, w.now, transitive_probing=True) == []
    w.record(w.engine.set_defaults(10000, True, w.now))
    assert _on(w, "plain") is False


def test_set_to_default_follows_the_file_again_and_an_own_value_stops_following() -> None:
    w = _groups()
    w.record(w.engine.set_defaults(10000, True, w.now, transitive_probing=True))
    w.record(w.engine.set_transitive_probing("own", FROM_DEFAULTS, w.now))
    assert _on(w, "own") is True  # the file's value at once
    w.record(w.engine.set_transitive_probing("plain", False, w.now))  # its own now
    w.record(w.engine.set_defaults(10000, True, w.now, transitive_probing=False))
    w.record(w.engine.set_defaults(10000, True, w.now, transitive_probing=True))
    assert (_on(w, "plain"), _on(w, "own")) == (False, True)


def test_a_group_created_after_sighup_takes_the_files_value() -> None:
    w = World("e0")
    w.record(w.engine.set_defaults(10000, True, w.now, transitive_probing=True))
    w.record(w.engine.create_group("ipmp0", w.now))
    assert _on(w, "ipmp0") is True


def test_the_state_file_keeps_the_setting_and_whether_it_follows_the_file() -> None:
    w = _groups()
    w.record(w.engine.set_transitive_probing("own", True, w.now))
    config = w.engine.config()
    by_name = {g["name"]: g for g in config["groups"]}
    assert by_name["own"]["transitive_probing"] is True
    assert by_name["plain"]["transitive_probing"] is False
    parse_state(json.dumps(config).encode())  # what the daemon writes, it reads
    fresh = Engine()  # a restart with TRANSITIVE_PROBING=yes in the defaults file
    fresh.default_transitive = True
    fresh.load(config, 0.0)
    assert fresh.groups["own"].transitive_probing is True
    assert fresh.groups["plain"].transitive_probing is True  # it follows the file
    assert "transitive_probing" not in fresh.groups["own"].follows_defaults
    fresh.set_defaults(10000, True, 0.0, transitive_probing=False)
    assert (fresh.groups["own"].transitive_probing,
            fresh.groups["plain"].transitive_probing) == (True, False)


def test_a_state_file_from_before_the_setting_follows_the_defaults_file() -> None:
    old = {"version": 1, "groups": [{"name": "ipmp0", "failback": True, "fdt_ms": 10000,
                                     "members": []}]}
    parse_state(json.dumps(old).encode())
    fresh = Engine()
    fresh.default_transitive = True
    fresh.load(old, 0.0)
    assert fresh.groups["ipmp0"].transitive_probing is True
    assert fresh.groups["ipmp0"].follows_defaults == {"transitive_probing"}


@pytest.mark.parametrize(("value", "expected"), [
    ("yes", "groups[0].transitive_probing: 'yes' is a string, not a boolean"),
    (1, "groups[0].transitive_probing: 1 is an integer, not a boolean"),
])
def test_the_state_file_refuses_a_setting_that_is_not_a_boolean(value: object,
                                                                 expected: str) -> None:
    raw = {"version": 1, "groups": [{"name": "ipmp0", "transitive_probing": value}]}
    with pytest.raises(StateFileError) as info:
        parse_state(json.dumps(raw).encode())
    assert expected in info.value.message, info.value.message


def test_the_anonymous_group_follows_the_file_both_ways() -> None:
    """The anonymous group cannot be named in a request, so the defaults file's
    TRANSITIVE_PROBING is its value, taken on SIGHUP both ways (it stayed off)."""
    w = World("e9")
    w.engine.track_all = True
    w.record(w.engine.set_test_addresses("e9", ["192.0.2.9/24"], w.now))
    assert w.engine.groups[""].transitive_probing is False
    w.record(w.engine.set_defaults(10000, True, w.now, transitive_probing=True))
    assert w.engine.groups[""].transitive_probing is True
    assert "Group -- takes TRANSITIVE_PROBING=yes from the defaults file" in w.logs()
    w.record(w.engine.set_defaults(10000, True, w.now, transitive_probing=False))
    assert w.engine.groups[""].transitive_probing is False
