"""Client side of the daemon's control channel.

One JSON object per line over the namespace's abstract Unix socket. A request is
``{"op": NAME, "args": {...}}``; a reply is ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": {"code": CODE, "message": TEXT}}``. ``subscribe`` turns the
connection into an event stream: one JSON event per line until the client closes it.

This module is on the monitor path of the resource agents: standard library only.
"""

from __future__ import annotations

import json
import socket

from ipmp_core.constants import (
    CONTROL_MAX_LINE,
    CONTROL_SOCKET_NAME,
    CONTROL_TIMEOUT_S,
    DAEMON_START_TIMEOUT_S,
)

TYPE_CHECKING = False  # noqa: N816  (typing costs milliseconds: not on the monitor path)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

# Poll interval while waiting for a daemon we started to answer.
_START_POLL_S = 0.05


class ControlError(Exception):
    """The daemon refused a request; ``code`` is one of ipmp_core.errors' codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DaemonUnreachable(ControlError):
    def __init__(self, detail: str) -> None:
        super().__init__("daemon-unreachable", f"the IPMP daemon is not running ({detail})")


def _connect(address: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError as exc:
        sock.close()
        raise DaemonUnreachable(exc.strerror or str(exc)) from None
    return sock


def _read_line(reader: Any) -> bytes:
    line = reader.readline(CONTROL_MAX_LINE + 1)
    if not line:
        raise DaemonUnreachable("connection closed")
    if len(line) > CONTROL_MAX_LINE:
        raise ControlError("protocol", "reply too long")
    return line


class ControlClient:
    def __init__(
        self, address: str = CONTROL_SOCKET_NAME, timeout: float = CONTROL_TIMEOUT_S
    ) -> None:
        self.address = address
        self.timeout = timeout

    def call(self, op: str, **args: Any) -> Any:
        sock = _connect(self.address, self.timeout)
        try:
            sock.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
            with sock.makefile("rb") as reader:
                try:
                    reply = json.loads(_read_line(reader))
                except TimeoutError:
                    raise DaemonUnreachable("no answer in time") from None
        finally:
            sock.close()
        if reply.get("ok"):
            return reply.get("result")
        err = reply.get("error") or {}
        raise ControlError(err.get("code", "error"), err.get("message", "request failed"))

    def ping(self) -> bool:
        try:
            self.call("ping")
        except DaemonUnreachable:
            return False
        return True

    def snapshot(self) -> dict[str, Any]:
        return self.call("snapshot")

    def subscribe(self) -> Iterator[dict[str, Any]]:
        """Yield events as the daemon publishes them (blocks; no timeout between events)."""
        sock = _connect(self.address, self.timeout)
        try:
            sock.sendall(json.dumps({"op": "subscribe", "args": {}}).encode() + b"\n")
            sock.settimeout(None)
            with sock.makefile("rb") as reader:
                first = json.loads(_read_line(reader))
                if not first.get("ok"):
                    err = first.get("error") or {}
                    raise ControlError(err.get("code", "error"), err.get("message", ""))
                while True:
                    yield json.loads(_read_line(reader))
        finally:
            sock.close()


def start_daemon(client: ControlClient | None = None,
                 timeout: float = DAEMON_START_TIMEOUT_S) -> None:
    """Start ipmpd in this network namespace, detached, logging next to its state file;
    return once it answers. Raises DaemonUnreachable when it does not come up."""
    import subprocess
    import sys
    import time

    from ipmp_core.persist import netns_name, state_dir

    client = client or ControlClient()
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / f"{netns_name()}.log"
    with open(log_path, "ab") as log_file:
        subprocess.Popen(
            [sys.executable, "-m", "ipmp_core.cli.daemon", "--log-file", str(log_path)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.ping():
            return
        time.sleep(_START_POLL_S)
    raise DaemonUnreachable(f"it did not start within {timeout:.0f} s; see {log_path}")


def ensure_daemon(client: ControlClient | None = None) -> ControlClient:
    client = client or ControlClient()
    if not client.ping():
        start_daemon(client)
    return client
