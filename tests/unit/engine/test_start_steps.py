"""What a restart with many addresses is made of, cut into steps that let the daemon's
event loop run: the engine's stepped load (same outcome as the whole load, all or
nothing), its duplicate check within a batch, the struct-based netlink dump parser and
the snapshot's conversion to a dict."""

from __future__ import annotations

import dataclasses
import random
import socket
import struct

import pytest

from ipmp_core.constants import LOAD_CHUNK
from ipmp_core.engine.actions import BindAddress
from ipmp_core.engine.loading import run_steps
from ipmp_core.engine.signatures import Signatures
from ipmp_core.errors import EngineError
from ipmp_core.net import dump
from tests.support.engine_helpers import World

MANY = 3 * LOAD_CHUNK + 7


def addresses(count: int) -> list[str]:
    return [f"2001:db8:1::{i + 1:x}/64" for i in range(count)]


def saved(count: int) -> dict:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.record(w.engine.add_data_addresses("ipmp0", addresses(count), w.now))
    return w.engine.config()


def test_the_stepped_load_yields_between_chunks_and_ends_as_the_whole_load() -> None:
    config = saved(MANY)
    hints = {a.split("/")[0]: "e1" for a in addresses(MANY)}
    whole, stepped = World("e0", "e1"), World("e0", "e1")
    for w in (whole, stepped):  # gensig() is random per engine: the same for both here
        w.engine.tables.signatures = Signatures(random.Random(0))
    expected = whole.engine.load(config, whole.now, hints)
    steps = stepped.engine.load_steps(config, stepped.now, hints)
    pauses = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            actions = done.value
            break
        pauses += 1
    assert pauses == MANY // LOAD_CHUNK
    assert [repr(a) for a in actions] == [repr(a) for a in expected]
    assert stepped.engine.config() == whole.engine.config() == config
    # adopted where the kernel has them
    binds = [a for a in actions if isinstance(a, BindAddress)]
    assert len(binds) == MANY and {a.member for a in binds} == {"e1"}
    assert not any(a.announce for a in binds)


def test_check_steps_refuses_what_load_would_refuse_and_leaves_the_engine_alone() -> None:
    config = saved(MANY)
    config["groups"][0]["data_addresses"].append(config["groups"][0]["data_addresses"][5])
    w = World("e0", "e1")
    with pytest.raises(EngineError, match="already belongs to group ipmp0"):
        run_steps(w.engine.check_steps(config, {}))
    with pytest.raises(EngineError, match="already belongs to group ipmp0"):
        w.engine.check_config(config)
    assert w.engine.groups == {}


def test_the_duplicate_check_sees_other_groups_and_a_batch_rolled_back() -> None:
    w = World("e0", "e1", "e2")
    w.group("a", "e0")
    w.group("b", "e1", "e2")
    w.addr("a", "198.51.100.10/24")
    # the same address with another prefix is the same address
    with pytest.raises(EngineError, match="already belongs to group a"):
        w.engine.add_data_addresses("b", ["198.51.100.11/24", "198.51.100.10/25"], w.now)
    with pytest.raises(EngineError, match="already belongs to group b"):
        w.engine.add_data_addresses("b", ["198.51.100.12/24", "198.51.100.12/24"], w.now)
    # the rolled-back batches left nothing behind, in the engine or in its batch map
    assert set(w.where()) == {"198.51.100.10"}
    w.record(w.engine.add_data_addresses("b", ["198.51.100.11/24", "198.51.100.12/24"],
                                         w.now))
    assert set(w.where()) == {"198.51.100.10", "198.51.100.11", "198.51.100.12"}
    w.record(w.engine.remove_data_address("198.51.100.11", w.now))
    w.addr("a", "198.51.100.11/24")  # free again once removed
    assert w.where()["198.51.100.11"] == "e0"


def test_snapshot_to_dict_is_what_asdict_makes() -> None:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", standby=("e1",))
    w.record(w.engine.set_test_addresses("e0", ["198.51.100.21/24"], w.now))
    w.record(w.engine.add_data_addresses("ipmp0", addresses(5), w.now))
    w.link("e0", up=False)
    snap = w.engine.snapshot()
    assert snap.to_dict() == dataclasses.asdict(snap)


# --- the dump parser, on messages built as the kernel builds them


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _message(kind: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, 2, 1, 0) + body


def test_an_address_message_gives_its_ifa_address() -> None:
    body = (struct.pack("=BBBBI", socket.AF_INET6, 64, 0, 0, 7)
            + _attr(8, struct.pack("=I", 0x200))  # IFA_FLAGS first: skipped
            + _attr(dump.IFA_ADDRESS, socket.inet_pton(socket.AF_INET6, "2001:db8::1")))
    data = _message(dump.RTM_NEWADDR, body)
    assert dump.parse_address(data, 16, len(data)) == dump.DumpedAddress(
        7, "2001:db8::1", 64)
    bare = _message(dump.RTM_NEWADDR, struct.pack("=BBBBI", socket.AF_INET, 24, 0, 0, 7))
    assert dump.parse_address(bare, 16, len(bare)) is None


def test_a_route_message_gives_its_table_gateway_and_next_hops() -> None:
    def hop(gateway: str, ifindex: int) -> bytes:
        nested = _attr(dump.RTA_GATEWAY, socket.inet_aton(gateway))
        return struct.pack("=HBBi", 8 + len(nested), 0, 0, ifindex) + nested

    body = (struct.pack("=BBBBBBBBI", socket.AF_INET, 24, 0, 0, 252, 4, 0, 1, 0)
            + _attr(dump.RTA_TABLE, struct.pack("=I", 254))
            + _attr(dump.RTA_MULTIPATH, hop("192.0.2.1", 3) + hop("192.0.2.2", 4)))
    data = _message(dump.RTM_NEWROUTE, body)
    assert dump.parse_route(data, 16, len(data)) == dump.DumpedRoute(
        socket.AF_INET, 254, ((None, 0), ("192.0.2.1", 3), ("192.0.2.2", 4)))
    body = (struct.pack("=BBBBBBBBI", socket.AF_INET6, 0, 0, 0, 255, 2, 0, 1, 0)
            + _attr(dump.RTA_OIF, struct.pack("=I", 5))
            + _attr(dump.RTA_GATEWAY, socket.inet_pton(socket.AF_INET6, "fe80::1")))
    data = _message(dump.RTM_NEWROUTE, body)
    assert dump.parse_route(data, 16, len(data)) == dump.DumpedRoute(
        socket.AF_INET6, 255, (("fe80::1", 5),))
