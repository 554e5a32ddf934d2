"""How the daemon carries out transitive probing's actions: a SendTransitive is sent at
once (also while the lock is held), the engine's actions for its send are carried out,
every batch ends with the sockets brought in line with the groups, and the timer hands
the answers that came in to the engine. The socket work itself: tests/netns/
test_transitive_io.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ipmp_core.daemon.service import Daemon
from ipmp_core.engine.actions import Action, Log, SendTransitive, SetRoutes
from ipmp_core.persist import StateFile
from tests.support.daemon_fakes import FakeNetlink

PROBE = SendTransitive("e1", "e0", 7)


class RecordingIO:
    """Stands in for TransitiveIO: records what the daemon asks of it."""

    def __init__(self, done: list[str]) -> None:
        self.done = done

    def send(self, action: SendTransitive) -> list[Action]:
        self.done.append(f"send {action.member}->{action.target} {action.seq}")
        return [Log("debug", "its sent event")]

    def sync(self) -> None:
        self.done.append("sync")

    def read_replies(self) -> list[Action]:
        self.done.append("read")
        return [Log("debug", "an answer's actions")]

    def flush(self) -> list[Action]:
        self.done.append("flush")
        return [Log("debug", "a flushed answer's actions")]

    def close(self) -> None:
        pass


def _daemon(tmp_path: Path, done: list[str]) -> Daemon:
    daemon = Daemon(StateFile(tmp_path / "state.json"), defaults_path=None,
                    netlink=FakeNetlink([]))  # type: ignore[arg-type]
    io: Any = RecordingIO(done)
    daemon.transitive = daemon.executor.transitive = io
    daemon.executor.now_ops[Log] = lambda action: done.append(f"Log {action.message}")
    return daemon


def test_transitive_probe_leaves_at_once_while_the_lock_is_held(tmp_path: Path) -> None:
    done: list[str] = []

    async def scenario() -> None:
        daemon = _daemon(tmp_path, done)

        async def routes(action: SetRoutes) -> None:
            done.append("SetRoutes")

        daemon.executor.ops[SetRoutes] = routes
        await daemon.lock.acquire()  # a reconfiguration is under way
        daemon.run_now_or_queue([SetRoutes("ipmp0", ()), PROBE])
        await asyncio.sleep(0.01)
        assert done == ["send e1->e0 7", "Log its sent event"]
        daemon.lock.release()
        for _ in range(100):
            if "SetRoutes" in done:
                break
            await asyncio.sleep(0.01)
        daemon.probes.close()

    asyncio.run(scenario())
    assert done == ["send e1->e0 7", "Log its sent event", "SetRoutes", "sync"]


def test_every_batch_ends_with_the_sockets_in_line(tmp_path: Path) -> None:
    done: list[str] = []

    async def scenario() -> None:
        daemon = _daemon(tmp_path, done)
        await daemon.executor.execute([PROBE])
        daemon.probes.close()

    asyncio.run(scenario())
    assert done == ["send e1->e0 7", "Log its sent event", "sync"]


def test_the_timer_hands_the_answers_to_the_engine(tmp_path: Path) -> None:
    """First the answers that came since the last wake-up, last (after the engine's
    timers sent the requests due) the flush of the requests just sent."""
    done: list[str] = []

    async def scenario() -> None:
        daemon = _daemon(tmp_path, done)
        daemon._tick()
        daemon.probes.close()
        if daemon.timer is not None:
            daemon.timer.cancel()

    asyncio.run(scenario())
    assert done == ["read", "Log an answer's actions", "flush", "Log a flushed answer's actions"]
