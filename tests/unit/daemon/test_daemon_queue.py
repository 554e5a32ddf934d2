"""The daemon's timer path: probes leave at once even when the rest of their batch
must wait for the lock (a reconfiguration holding it), and the rest keeps its order."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ipmp_core.daemon import Daemon
from ipmp_core.engine.actions import Action, ConfigChanged, Log, SetRoutes
from ipmp_core.engine.probe import ProbeKind, SendProbe
from ipmp_core.persist import StateFile

PROBE = SendProbe("e0", 4, "198.51.100.21", "198.51.100.1", 7, ProbeKind.UNICAST)


def _daemon(tmp_path: Path, done: list[str]) -> Daemon:
    daemon = Daemon(StateFile(tmp_path / "state.json"), defaults_path=None)
    daemon._send_probe = lambda probe: done.append(f"send {probe.seq}")  # type: ignore[method-assign]

    async def execute(actions: list[Action]) -> None:
        done.extend(type(a).__name__ for a in actions)

    daemon._execute = execute  # type: ignore[method-assign]
    return daemon


def test_probes_leave_while_the_rest_of_the_batch_waits_for_the_lock(tmp_path: Path) -> None:
    done: list[str] = []

    async def scenario() -> None:
        daemon = _daemon(tmp_path, done)
        await daemon.lock.acquire()  # a reconfiguration is under way
        routes = SetRoutes("ipmp0", ())
        daemon._run_now_or_queue([Log("notice", "x"), PROBE, routes, ConfigChanged()])
        await asyncio.sleep(0.01)
        assert done == ["send 7"]
        daemon.lock.release()
        for _ in range(100):
            if len(done) > 1:
                break
            await asyncio.sleep(0.01)
        daemon.probe_poll.close()

    asyncio.run(scenario())
    assert done == ["send 7", "Log", "SetRoutes", "ConfigChanged"]


def test_a_batch_of_probes_and_logs_only_needs_no_lock(tmp_path: Path) -> None:
    done: list[str] = []

    async def scenario() -> None:
        daemon = _daemon(tmp_path, done)
        await daemon.lock.acquire()
        daemon._run_now_or_queue([PROBE, Log("notice", "x")])
        assert done == ["send 7"]  # at once, with the lock held by someone else
        daemon.lock.release()
        daemon.probe_poll.close()

    asyncio.run(scenario())
