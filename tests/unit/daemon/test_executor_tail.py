"""The executor runs the tail of a batch (engine/batch.py) in order, and keeps only the
I/O facts: an address whose bind or DAD failed keeps its old copy and is neither
cleared elsewhere nor announced. Driven against the fake netlink of daemon_fakes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ipmp_core.daemon.executor import Executor
from ipmp_core.engine.actions import Action
from ipmp_core.persist import StateFile
from tests.support.daemon_fakes import Calls, FakeNetlink, close, make_executor
from tests.support.engine_helpers import World

# What reached the kernel's addresses and the neighbours.
ADDRESS_CALLS = ("add_addresses", "remove_addresses", "wait_dad", "announce")


def run(tmp_path: Path, w: World, netlink: FakeNetlink, actions: list[Action]) -> Executor:
    executor = make_executor(w.engine, netlink.calls, StateFile(tmp_path / "state.json"),
                             netlink=netlink)

    async def scenario() -> None:
        await executor.execute(actions)
        close(executor)

    asyncio.run(scenario())
    return executor


def addresses(calls: Calls) -> Calls:
    return [c for c in calls if c[0] in ADDRESS_CALLS]


def failover(w: World) -> list[Action]:
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24", "198.51.100.11/24")  # e0, e1
    w.engine.set_test_addresses("e1", [], w.now)
    return w.link("e0", up=False)


def test_a_failover_binds_then_removes_the_old_copy_then_announces(tmp_path: Path) -> None:
    w = World("e0", "e1")
    netlink = FakeNetlink([])
    run(tmp_path, w, netlink, failover(w))
    assert addresses(netlink.calls) == [("add_addresses", [("e1", "198.51.100.10")]),
                                        ("remove_addresses", [("e0", "198.51.100.10")]),
                                        ("announce", "e1", "198.51.100.10")]


def test_an_address_that_could_not_be_bound_keeps_its_old_copy(tmp_path: Path) -> None:
    w = World("e0", "e1")
    netlink = FakeNetlink([], refuse=frozenset({"198.51.100.10"}))
    executor = run(tmp_path, w, netlink, failover(w))
    # no removal, no announcement
    assert addresses(netlink.calls) == [("add_addresses", [("e1", "198.51.100.10")])]
    assert executor.unplaced == {"198.51.100.10"}


def test_a_new_address_clears_stray_copies_unless_its_dad_failed(tmp_path: Path) -> None:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    netlink = FakeNetlink([], dad_fails=frozenset({"2001:db8:1::11"}))
    netlink.held = {"2001:db8:1::10": {"e9"}, "2001:db8:1::11": {"e9"}}
    actions = (w.engine.add_data_address("ipmp0", "2001:db8:1::10/64", w.now, dad=True)
               + w.engine.add_data_address("ipmp0", "2001:db8:1::11/64", w.now, dad=True))
    executor = run(tmp_path, w, netlink, actions)
    calls = addresses(netlink.calls)
    assert ("wait_dad", "e0", "2001:db8:1::10") in calls
    assert ("remove_addresses", [("e9", "2001:db8:1::10")]) in calls
    assert ("announce", "e0", "2001:db8:1::10") in calls
    assert not any(c[0] == "announce" and c[2] == "2001:db8:1::11" for c in calls)
    assert not any(c[0] == "remove_addresses" and ("e9", "2001:db8:1::11") in c[1]
                   for c in calls)
    assert executor.dad_failed == {"2001:db8:1::11"}
    assert "2001:db8:1::11" in executor.unplaced


def test_an_address_whose_bind_failed_is_not_waited_for_nor_reported_as_dad(
        tmp_path: Path) -> None:
    """As before the move of the policy: a failed bind is not a DAD failure (the request
    is not rolled back as a duplicate), and there is nothing to wait for."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    netlink = FakeNetlink([], refuse=frozenset({"2001:db8:1::10"}))
    executor = run(tmp_path, w, netlink, w.engine.add_data_address(
        "ipmp0", "2001:db8:1::10/64", w.now, dad=True))
    assert addresses(netlink.calls) == [("add_addresses", [("e0", "2001:db8:1::10")])]
    assert executor.dad_failed == set()
