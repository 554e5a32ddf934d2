"""Many addresses at once: the engine's batch (one refresh, all or nothing), the netlink
batch encoding, and the order of a batch of removals."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import struct
from typing import Any

import pytest

from ipmp_core.engine.actions import BindAddress, SetRoutes
from ipmp_core.errors import EngineError
from ipmp_core.net import addrbatch
from ipmp_core.net.addrbatch import AddrRequest, decode_acks, encode
from ipmp_core.net.netlink import Netlink
from tests.support.engine_helpers import World


def test_a_batch_of_data_addresses_is_placed_like_single_adds_with_one_refresh() -> None:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    texts = [f"198.51.100.{i}/24" for i in range(10, 30)]
    refreshes = 0
    original = w.engine.rules.refresh

    def counting(*args: Any) -> None:
        nonlocal refreshes
        if w.engine.rules.deferred is None:
            refreshes += 1
        original(*args)

    w.engine.rules.refresh = counting  # type: ignore[method-assign]
    actions = w.engine.add_data_addresses("ipmp0", texts, w.now)
    assert refreshes == 1
    binds = [a for a in actions if isinstance(a, BindAddress)]
    assert [str(b.address) for b in binds] == texts
    assert {b.member for b in binds} == {"e0", "e1"}  # spread over the active members
    assert sum(1 for a in actions if isinstance(a, SetRoutes)) == 1
    assert len(w.engine.groups["ipmp0"].binding) == 20


def test_a_batch_with_a_duplicate_leaves_the_engine_as_it_was() -> None:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now)
    before = dict(w.engine.groups["ipmp0"].binding)
    with pytest.raises(EngineError, match="already belongs"):
        w.engine.add_data_addresses("ipmp0", ["198.51.100.20/24", "198.51.100.10/24"],
                                    w.now)
    assert w.engine.groups["ipmp0"].binding == before
    assert w.engine.rules.deferred is None  # refreshes are no longer held back
    # and the engine still works: a later single add is placed and refreshed
    actions = w.engine.add_data_address("ipmp0", "198.51.100.21/24", w.now)
    assert any(isinstance(a, BindAddress) for a in actions)


def test_encoded_requests_are_what_ip_addr_sends() -> None:
    add = encode(AddrRequest(True, 7, "198.51.100.10", 24, 0x200), seq=5)
    length, kind, flags, seq, _pid = struct.unpack_from("=IHHII", add)
    assert (length, kind, seq) == (len(add), addrbatch.RTM_NEWADDR, 5)
    assert flags & addrbatch.NLM_F_CREATE and flags & addrbatch.NLM_F_EXCL
    family, prefixlen, _f, _scope, index = struct.unpack_from("=BBBBI", add, 16)
    assert (family, prefixlen, index) == (socket.AF_INET, 24, 7)
    assert ipaddress.ip_address("198.51.100.10").packed in add
    deprecated = encode(AddrRequest(True, 7, "2001:db8::1", 64, 0x202, (0, 0xFFFFFFFF)), 6)
    assert struct.unpack_from("=IHHII", deprecated)[2] & addrbatch.NLM_F_REPLACE
    delete = encode(AddrRequest(False, 7, "2001:db8::1", 64), seq=8)
    assert struct.unpack_from("=IHHII", delete)[1] == addrbatch.RTM_DELADDR


def test_acknowledgements_are_read_per_request() -> None:
    def ack(seq: int, code: int) -> bytes:
        return struct.pack("=IHHII", 36, addrbatch.NLMSG_ERROR, 0, seq, 0) + \
            struct.pack("=i", -code) + struct.pack("=IHHII", 16, 20, 0, seq, 0)

    assert decode_acks(ack(3, 0) + ack(4, errno.EEXIST)) == [(3, 0), (4, errno.EEXIST)]


def test_a_batch_of_removals_takes_the_last_added_first() -> None:
    """The subnet's primary IPv4 address (the first added) goes last: removing it first
    would make the kernel promote a secondary for every removal."""
    sent: list[list[Any]] = []

    class FakeBatch:
        async def run(self, requests: list[AddrRequest]) -> list[int]:
            sent.append(list(requests))
            return [0 if r.address != "198.51.100.11" else errno.EPERM for r in requests]

    netlink = Netlink()
    netlink.names = {3: "e0"}
    netlink.batch = FakeBatch()  # type: ignore[assignment]
    addrs = [ipaddress.ip_interface(f"198.51.100.{i}/24") for i in (10, 11, 12)]
    result = asyncio.run(netlink.remove_addresses([("e0", a) for a in addrs]))
    assert [r.address for r in sent[0]] == ["198.51.100.12", "198.51.100.11", "198.51.100.10"]
    assert result == [True, False, True]  # in the caller's order
