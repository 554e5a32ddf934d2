"""Type=notify: ipmpd tells systemd READY=1 only once its state is adopted (the groups of
its state file in the engine), and STOPPING=1 when it starts to shut down; the socket is
a path or an abstract name, taken from $NOTIFY_SOCKET and removed from the environment."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

import pytest

from ipmp_core.daemon.notify import NOTIFY_SOCKET_ENV, Notifier
from ipmp_core.daemon.service import Daemon
from ipmp_core.net.link_events import AddrEvent
from ipmp_core.persist import StateFile
from tests.unit.daemon.test_event_supervision import FakeNetlink

# Bounds for waiting on the daemon (it takes milliseconds with a fake kernel).
WAIT_S = 5.0
POLL_S = 0.01


class HeldNetlink(FakeNetlink):
    """A kernel whose address dump waits until the test lets it go: the start-up is then
    half-way (links seen, state not adopted) for as long as the test wants."""

    def __init__(self) -> None:
        super().__init__(failures=0)
        self.release = asyncio.Event()

    async def addresses(self) -> list[AddrEvent]:
        await self.release.wait()
        return []


def _manager_socket(tmp_path: Path, abstract: bool) -> tuple[socket.socket, str]:
    """The service manager's end: a bound datagram socket and its $NOTIFY_SOCKET value."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"clearview-ipmp-notify-test/{os.getpid()}/{tmp_path.name}"
        sock.bind("\0" + name)
        value = "@" + name
    else:
        value = str(tmp_path / "notify.sock")
        sock.bind(value)
    sock.setblocking(False)
    return sock, value


def _received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


async def _until(predicate: object, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_S)


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_after_the_state_is_adopted_and_stopping_at_shutdown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, abstract: bool) -> None:
    manager, value = _manager_socket(tmp_path, abstract)
    monkeypatch.setenv(NOTIFY_SOCKET_ENV, value)
    messages: list[str] = []

    async def scenario() -> None:
        fake = HeldNetlink()
        daemon = Daemon(StateFile(tmp_path / "state.json"), defaults_path=None,
                        control_address=f"\0clearview-ipmp-test/{os.getpid()}/{tmp_path.name}",
                        netlink=fake)  # type: ignore[arg-type]
        assert NOTIFY_SOCKET_ENV not in os.environ  # the daemon's children cannot notify
        run = asyncio.create_task(daemon.run())
        await _until(lambda: fake.names, "the link dump")
        await asyncio.sleep(0.1)  # serving the control socket, state not adopted yet
        messages.extend(_received(manager))
        assert messages == []
        assert not daemon.loaded.is_set()
        fake.release.set()
        await _until(lambda: _collect(manager, messages), "READY=1")
        assert daemon.loaded.is_set() and daemon.started
        assert messages[0].splitlines()[0] == "READY=1"
        assert "STATUS=0 group(s) adopted" in messages[0].splitlines()
        assert not daemon.stopping.is_set()
        daemon.stopping.set()
        await asyncio.wait_for(run, WAIT_S)
        messages.extend(_received(manager))

    try:
        asyncio.run(scenario())
    finally:
        manager.close()
    assert messages[1:] == ["STOPPING=1"]


def _collect(sock: socket.socket, into: list[str]) -> bool:
    into.extend(_received(sock))
    return bool(into)


def test_without_a_manager_nothing_is_sent() -> None:
    env: dict[str, str] = {}
    notifier = Notifier.from_environ(env)
    assert notifier.ready("x") is False
    assert notifier.stopping() is False


def test_an_unusable_socket_is_a_warning_never_an_exception(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ipmpd"):
        assert Notifier(str(tmp_path / "nobody-listens")).ready("x") is False
        assert Notifier("vsock:2:1234").ready("x") is False
    assert len(caplog.records) == 2
    assert "cannot notify the service manager" in caplog.records[0].getMessage()
    assert "not a Unix socket path" in caplog.records[1].getMessage()
