"""The daemon's timer path: probes leave at once even when the rest of their batch
must wait for the lock (a reconfiguration holding it), and the rest keeps its order."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ipmp_core.daemon.service import Daemon
from ipmp_core.engine.actions import ConfigChanged, Log, ProbeKind, SendProbe, SetRoutes
from ipmp_core.persist import StateFile
from tests.support.daemon_fakes import Calls, FakeNetlink

PROBE = SendProbe("e0", 4, "198.51.100.21", "198.51.100.1", 7, ProbeKind.UNICAST)


def _daemon(tmp_path: Path, done: list[str]) -> Daemon:
    """A daemon whose executor records what it carries out: its handler tables are the
    seam (a probe "sent", a log line, routes, the member sets of a changed config)."""
    calls: Calls = []
    daemon = Daemon(StateFile(tmp_path / "state.json"), defaults_path=None,
                    netlink=FakeNetlink(calls))  # type: ignore[arg-type]
    executor = daemon.executor
    executor.now_ops[SendProbe] = lambda probe: done.append(f"send {probe.seq}")
    executor.now_ops[Log] = lambda action: done.append("Log")

    async def routes(action: SetRoutes) -> None:
        done.append("SetRoutes")

    executor.ops[SetRoutes] = routes
    executor.member_sets = DoneSets(done)  # type: ignore[assignment]
    return daemon


class DoneSets:
    """Member sets are synchronised once per batch that changed the configuration."""

    def __init__(self, done: list[str]) -> None:
        self.done = done

    async def sync(self, groups: dict[str, list[str]]) -> None:
        self.done.append("ConfigChanged")


def test_probes_leave_while_the_rest_of_the_batch_waits_for_the_lock(tmp_path: Path) -> None:
    done: list[str] = []

    async def scenario() -> None:
        daemon = _daemon(tmp_path, done)
        await daemon.lock.acquire()  # a reconfiguration is under way
        routes = SetRoutes("ipmp0", ())
        daemon.run_now_or_queue([Log("notice", "x"), PROBE, routes, ConfigChanged()])
        await asyncio.sleep(0.01)
        assert done == ["send 7"]
        daemon.lock.release()
        for _ in range(100):
            if len(done) >= 4:
                break
            await asyncio.sleep(0.01)
        daemon.probes.close()

    asyncio.run(scenario())
    assert done == ["send 7", "Log", "SetRoutes", "ConfigChanged"]


def test_a_batch_of_probes_and_logs_only_needs_no_lock(tmp_path: Path) -> None:
    done: list[str] = []

    async def scenario() -> None:
        daemon = _daemon(tmp_path, done)
        await daemon.lock.acquire()
        daemon.run_now_or_queue([PROBE, Log("notice", "x")])
        assert done == ["send 7", "Log"]  # at once, with the lock held by someone else
        daemon.lock.release()
        daemon.probes.close()

    asyncio.run(scenario())
