"""The kernel event reader is supervised: when it dies the daemon logs why, resynchronises
and starts it again; when it keeps dying the daemon stops with a non-zero status (a daemon
that does not hear the kernel must never keep running)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ipmp_core.daemon import kernel
from ipmp_core.daemon.service import EXIT_DEAF, Daemon
from ipmp_core.net.link_events import AddrEvent, LinkInfo
from ipmp_core.persist import StateFile

# Bounds for waiting on the daemon's tasks in these tests (they take milliseconds).
WAIT_S = 5.0
POLL_S = 0.01


class BrokenReader(Exception):
    """What the fake event stream raises: a reader bug, not a lost notification."""


class FakeNetlink:
    """The daemon's netlink side without a kernel: one link, no addresses; the event
    stream fails its first ``failures`` times (every time when negative)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.streams = 0
        self.reopened = 0
        self.names: dict[int, str] = {}

    async def open(self) -> None:
        return None

    async def reopen_events(self) -> int | None:
        self.reopened += 1
        return 3

    async def links(self) -> list[LinkInfo]:
        self.names = {2: "e0"}
        return [LinkInfo("e0", 2, "02:00:00:00:00:01", True, True)]

    async def addresses(self) -> list[AddrEvent]:
        return []

    async def gateways(self) -> dict[int, list[tuple[str, str]]]:
        return {4: [], 6: []}

    async def stream(self) -> AsyncIterator[LinkInfo]:
        self.streams += 1
        if self.failures < 0 or self.streams <= self.failures:
            raise BrokenReader(f"reader broke ({self.streams})")
        await asyncio.Event().wait()  # a healthy reader: waits for news for ever
        yield LinkInfo("e0", 2, "02:00:00:00:00:01", True, True)

    def close(self) -> None:
        return None


def _daemon(tmp_path: Path, failures: int) -> tuple[Daemon, FakeNetlink]:
    fake = FakeNetlink(failures)
    daemon = Daemon(StateFile(tmp_path / "state.json"), defaults_path=None,
                    control_address=f"\0clearview-ipmp-test/{os.getpid()}/{tmp_path.name}",
                    netlink=fake)  # type: ignore[arg-type]
    return daemon, fake


async def _until(predicate: object, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_S)


def test_a_dead_event_reader_is_logged_resynchronised_and_restarted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel, "EVENT_RESTART_DELAY_S", 0.0)
    daemon, fake = _daemon(tmp_path, failures=2)

    async def scenario() -> None:
        task = asyncio.create_task(daemon.kernel.follow())
        await _until(lambda: fake.streams == 3, "the third start of the reader")
        assert not task.done()
        assert not daemon.stopping.is_set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.INFO, logger="ipmpd"):
        asyncio.run(scenario())
    daemon.probes.close()
    restarts = [r for r in caplog.records
                if r.levelno == logging.ERROR and "restarting it" in r.getMessage()]
    assert len(restarts) == 2
    assert "reader broke (1)" in restarts[0].getMessage()
    # Each restart resynchronised from a fresh dump on a new socket, and said so.
    assert fake.reopened == 2
    resyncs = [r for r in caplog.records if "Kernel notifications were lost" in r.getMessage()]
    assert len(resyncs) == 2
    assert all(r.levelno == logging.WARNING for r in resyncs)
    assert "3 notifications dropped" in resyncs[0].getMessage()
    assert daemon.exit_status == 0
    assert "e0" in daemon.engine.observed  # the dump went through the engine


def test_a_reader_that_cannot_be_restarted_stops_the_daemon_non_zero(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel, "EVENT_RESTART_DELAY_S", 0.0)
    daemon, fake = _daemon(tmp_path, failures=-1)

    async def scenario() -> None:
        await asyncio.wait_for(daemon.run(), WAIT_S)  # returns by itself

    with caplog.at_level(logging.INFO, logger="ipmpd"):
        asyncio.run(scenario())
    assert daemon.exit_status == EXIT_DEAF != 0
    assert fake.streams == kernel.EVENT_RESTARTS_MAX + 1
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1
    assert "cannot follow the kernel" in critical[0].getMessage()


def test_the_daemon_command_exits_with_the_daemons_status(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ipmpd's exit status is the daemon's: its supervisor sees a deaf daemon fail."""
    from click.testing import CliRunner

    from ipmp_core.cli import ipmpd as cli_module

    async def deaf_run(self: Daemon) -> None:
        self.exit_status = EXIT_DEAF

    monkeypatch.setattr(Daemon, "run", deaf_run)
    # Its logging setup would stop the "ipmpd" logger from reaching other tests' caplog.
    monkeypatch.setattr(cli_module, "setup_logging", lambda *args: None)
    result = CliRunner().invoke(cli_module.cli, ["--state-dir", str(tmp_path),
                                                 "--defaults", str(tmp_path / "defaults")])
    assert result.exit_code == EXIT_DEAF
