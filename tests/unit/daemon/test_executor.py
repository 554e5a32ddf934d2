"""The executor against a fake netlink: the order in which a batch reaches the kernel,
the neighbours and the cluster (make before break: the new copies, then the routes,
then the old copies removed, then the announcements), and its batching (a run of binds
or unbinds is one netlink request; log lines and events do not split it)."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

from ipmp_core.engine.actions import (
    Action,
    BindAddress,
    Log,
    Publish,
    PublishAttribute,
    UnbindAddress,
)
from ipmp_core.persist import StateFile
from tests.support.daemon_fakes import Calls, FakeNetlink, close, make_executor
from tests.support.engine_helpers import World

ADDRESSES = ["198.51.100.10/24", "198.51.100.11/24", "198.51.100.12/24"]
IPS = [a.split("/")[0] for a in ADDRESSES]
SUBNET = "198.51.100.0/24"


def _world() -> World:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", standby=("e1",))
    return w


def _run(w: World, tmp_path: Path, *batches: list[Action],
         netlink: FakeNetlink | None = None) -> list[Calls]:
    """Execute each batch in turn; the calls each made."""
    calls: Calls = netlink.calls if netlink is not None else []
    executor = make_executor(w.engine, calls, StateFile(tmp_path / "state.json"),
                             netlink=netlink)
    out: list[Calls] = []

    async def scenario() -> None:
        for batch in batches:
            calls.clear()
            await executor.execute(batch)
            out.append(list(calls))
        close(executor)

    asyncio.run(scenario())
    return out


def _kernel_and_wire(calls: Calls) -> Calls:
    """What reached the kernel and the neighbours (not the bookkeeping around them)."""
    keep = ("add_addresses", "remove_addresses", "replace_route", "delete_route",
            "announce", "attribute")
    return [c for c in calls if c[0] in keep]


def test_a_failover_is_made_before_broken_and_announced_last(tmp_path: Path) -> None:
    w = _world()
    added = w.engine.add_data_addresses("ipmp0", ADDRESSES, w.now)
    failover = w.link("e0", up=False)
    # The engine interleaves a log line and an event with every move.
    assert any(isinstance(a, Log) for a in failover)
    assert any(isinstance(a, Publish) for a in failover)
    _, moved = _run(w, tmp_path, added, failover)
    assert _kernel_and_wire(moved) == [
        ("add_addresses", [("e1", ip) for ip in IPS]),  # one batch: the new copies
        ("replace_route", SUBNET),  # then the routes, through the live member
        ("remove_addresses", [("e0", ip) for ip in IPS]),  # then the old copies
        *[("announce", "e1", ip) for ip in IPS],  # and only then the neighbours hear
    ]


def test_new_addresses_are_announced_once_no_other_interface_holds_them(
        tmp_path: Path) -> None:
    w = _world()
    netlink = FakeNetlink([])
    netlink.held[IPS[0]] = {"e1"}  # left over from a daemon killed half-way
    (added,) = _run(w, tmp_path, w.engine.add_data_addresses("ipmp0", ADDRESSES[:1], w.now),
                    netlink=netlink)
    assert _kernel_and_wire(added) == [
        ("add_addresses", [("e0", IPS[0])]),
        ("replace_route", SUBNET),
        ("remove_addresses", [("e1", IPS[0])]),
        ("announce", "e0", IPS[0]),
    ]


def test_a_run_of_unbinds_is_one_batch_and_immediate_actions_do_not_split_it(
        tmp_path: Path) -> None:
    w = _world()
    added = w.engine.add_data_addresses("ipmp0", ADDRESSES, w.now)
    addrs = [ipaddress.ip_interface(a) for a in ADDRESSES]
    batch: list[Action] = [
        UnbindAddress("ipmp0", addrs[0], "e0"), Log("notice", "one"),
        UnbindAddress("ipmp0", addrs[1], "e0"), Publish({"type": "x"}),
        UnbindAddress("ipmp0", addrs[2], "e0"),
        BindAddress("ipmp0", addrs[0], "e1", previous=None, announce=False),
    ]
    _, removed = _run(w, tmp_path, added, batch)
    assert _kernel_and_wire(removed)[:2] == [
        ("remove_addresses", [("e0", ip) for ip in IPS]),
        ("add_addresses", [("e1", IPS[0])]),  # a bind ends the run of unbinds
    ]


def test_a_node_attribute_goes_out_before_the_netlink_work_of_its_batch(
        tmp_path: Path) -> None:
    w = _world()
    batch = [*w.engine.add_data_addresses("ipmp0", ADDRESSES[:1], w.now),
             PublishAttribute("ipmp0", "ipmp-ok", 1)]
    (calls,) = _run(w, tmp_path, batch)
    assert _kernel_and_wire(calls)[0] == ("attribute", "ipmp-ok", 1)
    assert _kernel_and_wire(calls)[1][0] == "add_addresses"


def test_an_ipv6_address_that_fails_dad_is_taken_off_and_never_announced(
        tmp_path: Path) -> None:
    """In two steps (engine/batch.py): the batch waits for DAD and, on failure, neither
    clears other copies of the address nor announces it; the request's rollback
    (Engine.dad_failed) then takes it off."""
    w = _world()
    calls: Calls = []
    netlink = FakeNetlink(calls, dad_ok=False)
    netlink.held["2001:db8:1::10"] = {"e1"}  # the stray copy stays: the address is not ours
    executor = make_executor(w.engine, calls, StateFile(tmp_path / "state.json"),
                             netlink=netlink)
    failed: set[str] = set()

    async def scenario() -> None:
        await executor.execute(w.engine.add_data_address("ipmp0", "2001:db8:1::10/64",
                                                         w.now, dad=True))
        failed.update(executor.dad_failed)
        rollback, _ = w.engine.dad_failed(executor.dad_failed, w.now)
        await executor.execute(rollback)
        close(executor)

    asyncio.run(scenario())
    assert failed == {"2001:db8:1::10"}
    assert [c for c in calls if c[0] != "member_sets"] == [
        ("add_addresses", [("e0", "2001:db8:1::10")]),
        ("replace_route", "2001:db8:1::/64"),
        ("wait_dad", "e0", "2001:db8:1::10"),
        # the rollback: off again, with its route; never announced, e1's copy untouched
        ("remove_addresses", [("e0", "2001:db8:1::10")]),
        ("delete_route", "2001:db8:1::/64"),
    ]
