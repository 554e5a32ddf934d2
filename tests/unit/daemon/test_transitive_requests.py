"""The control requests of the transitive-probing setting (what ipmpadm set-ipmp and the
ipmp agent send): set-transitive-probing's ``enabled`` (a boolean, a word, or "default")
and create-group's ``transitive_probing``, their argument types checked before any
handler runs."""

from __future__ import annotations

import json

import pytest

from ipmp_core.daemon.control_server import RequestError, parse_request
from ipmp_core.errors import EngineError
from tests.support.checked_world import GROUP
from tests.unit.daemon.test_fuzz_control import world


def test_set_transitive_probing_sets_follows_and_refuses() -> None:
    w, ops = world()
    group = w.engine.groups[GROUP]
    ops["set-transitive-probing"].handler({"group": GROUP, "enabled": "on"}, w.now)
    assert group.transitive_probing is True
    assert "transitive_probing" not in group.follows_defaults
    w.engine.default_transitive = False
    ops["set-transitive-probing"].handler({"group": GROUP, "enabled": "default"}, w.now)
    assert group.transitive_probing is False
    assert "transitive_probing" in group.follows_defaults
    with pytest.raises(EngineError, match="is not a boolean"):
        ops["set-transitive-probing"].handler({"group": GROUP, "enabled": "maybe"}, w.now)
    assert ops["set-transitive-probing"].privileged


def test_create_group_takes_the_setting_or_the_default() -> None:
    w, ops = world()
    w.engine.default_transitive = True
    ops["create-group"].handler({"group": "g1", "transitive_probing": False}, w.now)
    ops["create-group"].handler({"group": "g2"}, w.now)
    assert (w.engine.groups["g1"].transitive_probing,
            w.engine.groups["g2"].transitive_probing) == (False, True)
    assert "transitive_probing" in w.engine.groups["g2"].follows_defaults


@pytest.mark.parametrize(("op", "arg"), [("create-group", "transitive_probing"),
                                         ("set-transitive-probing", "enabled")])
def test_a_setting_of_another_type_is_refused_before_the_handler(op: str, arg: str) -> None:
    line = json.dumps({"op": op, "args": {"group": "g", arg: 1}}).encode()
    with pytest.raises(RequestError, match=f"'{arg}' must be a boolean or a string"):
        parse_request(line)
