"""Fakes of the daemon's I/O for unit tests: every call is recorded, in order, in one
list shared by all of them (``calls``), so that a test reads what reached the kernel,
the neighbours and the cluster, and in which order. No sockets, no netlink, no nft."""

from __future__ import annotations

import asyncio
from typing import Any

from ipmp_core.daemon.bursts import Bursts
from ipmp_core.daemon.dhcp_sessions import EngineCall
from ipmp_core.daemon.executor import Executor
from ipmp_core.daemon.probes import ProbeIO
from ipmp_core.daemon.routes import Routes
from ipmp_core.daemon.state import StateJournal
from ipmp_core.defaults_file import Defaults
from ipmp_core.engine.engine import Engine
from ipmp_core.persist import StateFile

Calls = list[tuple[Any, ...]]


class FakeNetlink:
    """The netlink calls the executor makes, recorded; the kernel's address table is a
    dict (``held``: ip -> interfaces) so that "who else has it" has an answer. Adding an
    address of ``refuse`` fails; DAD fails for every address (``dad_ok`` False) or for
    those of ``dad_fails``."""

    def __init__(self, calls: Calls, *, dad_ok: bool = True,
                 refuse: frozenset[str] = frozenset(),
                 dad_fails: frozenset[str] = frozenset()) -> None:
        self.calls = calls
        self.dad_ok = dad_ok
        self.refuse = refuse
        self.dad_fails = dad_fails
        self.names: dict[int, str] = {}
        self.held: dict[str, set[str]] = {}

    async def add_addresses(self, items: list[tuple[str, Any, bool, bool]]) -> list[bool]:
        self.calls.append(("add_addresses", [(m, str(a.ip)) for m, a, _d, _dad in items]))
        done = [str(addr.ip) not in self.refuse for _m, addr, _d, _dad in items]
        for (member, addr, _d, _dad), ok in zip(items, done, strict=True):
            if ok:
                self.held.setdefault(str(addr.ip), set()).add(member)
        return done

    async def remove_addresses(self, items: list[tuple[str, Any]]) -> list[bool]:
        self.calls.append(("remove_addresses", [(m, str(a.ip)) for m, a in items]))
        for member, addr in items:
            self.held.get(str(addr.ip), set()).discard(member)
        return [True] * len(items)

    async def add_address(self, name: str, addr: Any, deprecated: bool = False,
                          dad: bool = False) -> bool:
        self.calls.append(("add_address", name, str(addr.ip)))
        self.held.setdefault(str(addr.ip), set()).add(name)
        return True

    async def remove_address(self, name: str, addr: Any) -> bool:
        self.calls.append(("remove_address", name, str(addr.ip)))
        self.held.get(str(addr.ip), set()).discard(name)
        return True

    async def holders(self, ip: str) -> list[str]:
        return sorted(self.held.get(ip, set()))

    async def wait_dad(self, name: str, addr: Any, timeout: float) -> bool:
        self.calls.append(("wait_dad", name, str(addr.ip)))
        return self.dad_ok and str(addr.ip) not in self.dad_fails

    async def replace_route(self, spec: dict[str, Any]) -> bool:
        self.calls.append(("replace_route", spec["dst"]))
        return True

    async def delete_route(self, spec: dict[str, Any]) -> None:
        self.calls.append(("delete_route", spec["dst"]))

    async def plumb(self, name: str) -> dict[str, str]:
        self.calls.append(("plumb", name))
        return {}

    @staticmethod
    def set_sysctls(wanted: dict[str, str]) -> dict[str, str]:
        return {}

    def unplumb(self, saved: dict[str, str]) -> None:
        self.calls.append(("unplumb", dict(saved)))


class FakeAnnouncer:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def announce(self, ifname: str, ifindex: int, mac: bytes, ip: Any) -> None:
        self.calls.append(("announce", ifname, str(ip)))

    def close(self) -> None:
        return None


class FakeMulticast:
    """Records what the executor asks of multicast following (which would otherwise
    read /proc and move real sockets' memberships)."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def join_group_multicast(self, action: Any) -> None:
        self.calls.append(("join", action.group, action.family, action.member))

    def move_later(self, group: str, family: str, from_member: str) -> None:
        self.calls.append(("move_later", group, family, from_member))

    def after_batch(self) -> None:
        return None  # the moves would start now: nothing reaches the kernel here


class FakeAttributes:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def publish(self, name: str, value: int | None, dampen_ms: int) -> None:
        self.calls.append(("attribute", name, value))


class FakeMemberSets:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def sync(self, groups: dict[str, list[str]]) -> None:
        self.calls.append(("member_sets", groups))


class FakeDhcp:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def apply(self, action: Any) -> None:
        self.calls.append(("dhcp", action))

    def follow(self, action: Any) -> None:
        return None


def make_executor(engine: Engine, calls: Calls, state: StateFile,
                  netlink: FakeNetlink | None = None) -> Executor:
    """An executor as the daemon builds it, its I/O replaced by the fakes above."""
    netlink = netlink if netlink is not None else FakeNetlink(calls)

    async def run_locked(call: EngineCall) -> None:
        raise AssertionError("no DHCP lease in these tests")

    return Executor(
        engine, netlink,  # type: ignore[arg-type]
        journal=StateJournal(state, engine), probes=ProbeIO(engine),
        bursts=Bursts(engine, FakeAnnouncer(calls), Defaults()),  # type: ignore[arg-type]
        routes=Routes(engine, netlink, lambda: None),  # type: ignore[arg-type]
        dhcp=FakeDhcp(calls),  # type: ignore[arg-type]
        multicast=FakeMulticast(calls),  # type: ignore[arg-type]
        attributes=FakeAttributes(calls),  # type: ignore[arg-type]
        member_sets=FakeMemberSets(calls),  # type: ignore[arg-type]
        subscribers=set())


def close(executor: Executor) -> None:
    """Stop the bursts the executor started and close its epoll set."""
    executor.bursts.cancel_all()
    executor.probes.close()


async def settle() -> None:
    """Let the tasks started by a batch run their first step."""
    await asyncio.sleep(0)
