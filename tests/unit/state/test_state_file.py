"""The state file is read all or nothing: every corrupt variant is refused as a whole
with the path to the bad value, and what the daemon writes always reads back."""

from __future__ import annotations

import copy
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from ipmp_core.errors import EngineError
from ipmp_core.persist import StateFile
from ipmp_core.state_json import StateFileError
from ipmp_core.state_schema import STATE_VERSION, parse_state
from tests.support.engine_helpers import World
from tests.support.state_variants import BASE, VARIANTS, base_bytes


def world() -> World:
    w = World("e0", "e1", "e2")
    w.link("lo", up=True, mac="00:00:00:00:00:00", ifindex=1)
    return w


def check(raw: bytes) -> None:
    """What the daemon does before applying a file: the schema, then a scratch load."""
    world().engine.check_config(parse_state(raw))


def test_the_base_file_is_valid() -> None:
    check(base_bytes())


@pytest.mark.parametrize(("name", "make", "expected"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_corrupt_variant_is_refused_with_its_path(name: str, make, expected: str) -> None:
    with pytest.raises((StateFileError, EngineError)) as info:
        check(make())
    assert expected in info.value.message, info.value.message


def test_there_are_at_least_21_variants() -> None:
    assert len(VARIANTS) >= 21


def test_engine_load_is_all_or_nothing() -> None:
    """Before: a group with one bad value was skipped with a log line, and the next
    save dropped it for good. Now the load raises, naming the group."""
    config = json.loads(base_bytes())
    config["groups"].append({"name": "ipmp1", "members": [{"name": "lo"}]})
    w = world()
    with pytest.raises(EngineError, match=r"groups\[1\] \(group ipmp1\): the loopback"):
        w.engine.load(config, w.now)


def test_restart_with_no_usable_member_takes_the_address_off_the_kernel() -> None:
    """Down means on no member: an address the kernel still has from before the restart
    is not left there, held by a failed member that ipmpstat says holds nothing."""
    config = json.loads(base_bytes())
    w = world()
    for name in ("e0", "e1", "e2"):
        w.link(name, up=False)
    actions = w.record(w.engine.load(config, w.now, hints={"198.51.100.10": "e0"}))
    assert [(u.member, str(u.address)) for u in w.unbinds(actions)] == [
        ("e0", "198.51.100.10/24")]
    assert w.where() == {"198.51.100.10": ""}


def test_what_the_engine_writes_reads_back() -> None:
    """Every field config() can hold passes the schema (else a restart would refuse a
    file the daemon wrote itself)."""
    w = World("e0", "e1", "e2", "e3")
    w.group("ipmp0", "e0", "e1", standby=("e2",), failback=False)
    e = w.engine
    w.record(e.set_fdt("ipmp0", 2000, w.now))
    w.record(e.add_data_address("ipmp0", "198.51.100.10/24", w.now, owner="rsc1"))
    w.record(e.add_data_address("ipmp0", "2001:db8:1::10/64", w.now, deprecated=True))
    w.record(e.add_dhcp_data("ipmp0", w.now))
    w.record(e.set_test_addresses("e0", ["198.51.100.20/24", "dhcp"], w.now))
    w.record(e.add_route("ipmp0", "default", "198.51.100.1", w.now))
    w.record(e.add_route("ipmp0", "203.0.113.0/24", "198.51.100.1", w.now))
    w.record(e.set_targets("ipmp0", ["198.51.100.1", "fe80::1"], w.now))
    w.record(e.set_multicast("ipmp0", ["239.1.2.3"], w.now))
    w.record(e.set_linklocal_probes("ipmp0", True, w.now))
    w.record(e.offline("e1", w.now))
    e.track_all = True
    w.record(e.set_test_addresses("e3", ["198.51.100.23/24"], w.now))
    config = e.config()
    config["saved_sysctls"] = {"*": {"net/ipv4/conf/all/arp_ignore": "0"}}
    config["pending_removals"] = [{"interface": "e0", "address": "198.51.100.99/24"}]
    assert config["version"] == STATE_VERSION
    data = parse_state(json.dumps(config).encode())
    World("e0", "e1", "e2", "e3").engine.check_config(data)


def test_several_errors_are_reported_together() -> None:
    config = json.loads(base_bytes())
    config["groups"][0]["failback"] = "no"
    config["groups"][0]["members"][0]["test_addresses"] = ["bad"]
    with pytest.raises(StateFileError) as info:
        parse_state(json.dumps(config).encode())
    assert len(info.value.errors) == 2
    assert "groups[0].failback" in info.value.message
    assert "groups[0].members[0].test_addresses[0]" in info.value.message


# Random one-value mutations of BASE: enough to reach every key with every JSON type, and
# fast (a few ms each).
MUTATIONS = 3000
_ODD_VALUES: list[Any] = [None, True, False, 0, -1, 2**70, 1.5, "", "no", "dhcp", "lo",
                          "198.51.100.10/24", "198.51.100.20/24", "fe80::1", "239.1.1.1",
                          "e1", "default", [], {}, [None], {"name": "e0"}, ["e0"]]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _nodes(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _nodes(child, (*path, i))
    return out


def test_random_mutations_are_refused_cleanly_or_loaded_whole() -> None:
    """Whatever one value becomes, the file is either refused with StateFileError or
    EngineError (never another exception: a crash at start), or loads completely."""
    rng = random.Random(4)
    accepted = 0
    for _ in range(MUTATIONS):
        data = copy.deepcopy(BASE)
        path = rng.choice(_nodes(data)[1:])
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if rng.random() < 0.1 and isinstance(parent, dict):
            parent[f"x{rng.randint(0, 9)}"] = rng.choice(_ODD_VALUES)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(_ODD_VALUES))
        w = world()
        try:
            checked = parse_state(json.dumps(data).encode())
            w.engine.check_config(checked)
        except (StateFileError, EngineError):
            continue
        w.engine.load(checked, w.now)  # accepted: the real load takes all of it
        assert {g["name"] for g in w.engine.config()["groups"]} == {
            g["name"] for g in checked.get("groups", [])}
        accepted += 1
    assert 0 < accepted < MUTATIONS


# --------------------------------------------------------------------------- the file
def test_missing_file_is_an_empty_configuration(tmp_path: Path) -> None:
    assert StateFile(tmp_path / "x.json").load() == {}


def test_keep_aside_never_overwrites(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "default.json")
    kept = []
    for content in (b"first", b"second", b"third"):  # same second: names must differ
        state.path.write_bytes(content)
        kept.append(state.keep_aside())
        state.save({"version": 1})  # what the daemon does next: replace, by rename
        assert state.load() == {"version": 1}
        state.path.unlink()
    assert [p.read_bytes() for p in kept] == [b"first", b"second", b"third"]
    assert all(p.name.startswith("default.json.invalid-") for p in kept)


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "default.json")
    state.save(BASE)
    state.save({**BASE, "groups": []})
    assert os.listdir(tmp_path) == ["default.json"]
    assert state.load() == {**BASE, "groups": []}
    assert (state.path.stat().st_mode & 0o777) == 0o600
