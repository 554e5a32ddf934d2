"""Client side of the daemon's control channel.

One JSON object per line over the namespace's abstract Unix socket. A request is
``{"op": NAME, "args": {...}}``; a reply is ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": {"code": CODE, "message": TEXT}}``. ``subscribe`` turns the
connection into an event stream: one JSON event per line until the client closes it.

The daemon runs as root, and anyone can bind an abstract name first: before a request
leaves, the client reads the server's peer credentials (SO_PEERCRED) and talks only to a
process running as root (CONTROL_SERVER_UID), whoever the client is. A non-root server
can never be the real daemon (ipmpd refuses to start as non-root), so there is nothing
to gain by trusting a server of the client's own uid and an impostor to fear. The
refusal is UntrustedDaemon, an error of every command, never "not running".

This module is on the monitor path of the resource agents: standard library only.
"""

from __future__ import annotations

import json
import socket
import struct

from ipmp_core.constants import (
    CONTROL_MAX_LINE,
    CONTROL_SERVER_UID,
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
# Retry interval of a connect() refused because the daemon's listen backlog is full.
_BACKLOG_POLL_S = 0.005
# struct ucred: pid, uid, gid.
_CREDS = struct.Struct("3i")


class ControlError(Exception):
    """The daemon refused a request; ``code`` is one of ipmp_core.errors' codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DaemonUnreachable(ControlError):
    """No daemon answers on the control socket (not running in this namespace)."""

    def __init__(self, detail: str) -> None:
        super().__init__("daemon-unreachable", f"the IPMP daemon is not running ({detail})")


class UntrustedDaemon(ControlError):
    """The process answering on the control socket is not running as root: it is not
    ipmpd (which refuses to run as anyone else) and is not told anything."""

    def __init__(self, pid: int, uid: int) -> None:
        super().__init__(
            "untrusted-daemon",
            f"refusing the IPMP control socket: the process answering there (pid {pid}, "
            f"uid {uid}) is not running as root, so it is not ipmpd; something may be "
            f"impersonating the daemon (stop that process, then start ipmpd)")
        self.pid = pid
        self.uid = uid


def _connect(address: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        _connect_waiting(sock, address, timeout)
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDS.size)
    except OSError as exc:
        sock.close()
        raise DaemonUnreachable(exc.strerror or str(exc)) from None
    pid, uid, _gid = _CREDS.unpack(creds)
    if uid != CONTROL_SERVER_UID:
        sock.close()
        raise UntrustedDaemon(pid, uid)
    return sock


def _connect_waiting(sock: socket.socket, address: str, timeout: float) -> None:
    """connect(), waiting while the daemon's listen backlog is full: a Unix socket with a
    timeout (non-blocking underneath) gets EAGAIN then instead of waiting, which made a
    burst of clients fail as if no daemon were running."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            sock.connect(address)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError("the daemon accepts no connection") from None
            time.sleep(_BACKLOG_POLL_S)


def _read_reply(reader: Any) -> dict[str, Any]:
    """One reply line as a JSON object; ControlError("protocol") when it is not one."""
    line = reader.readline(CONTROL_MAX_LINE + 1)
    if not line:
        raise DaemonUnreachable("connection closed")
    if len(line) > CONTROL_MAX_LINE:
        raise ControlError("protocol", "reply too long")
    try:
        reply = json.loads(line)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise ControlError("protocol", "malformed reply from the IPMP daemon")
    return reply


def _refusal(reply: dict[str, Any]) -> ControlError:
    err = reply.get("error")
    err = err if isinstance(err, dict) else {}
    return ControlError(str(err.get("code", "error")), str(err.get("message",
                                                                   "request failed")))


class ControlClient:
    """One client of the daemon's control socket: owns the connection (checking that the
    server runs as root), sends requests as JSON lines and turns refusals into
    ControlError."""

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
                reply = _read_reply(reader)
        except TimeoutError:
            raise DaemonUnreachable("no answer in time") from None
        except OSError as exc:  # reset by a daemon that went away meanwhile
            raise DaemonUnreachable(exc.strerror or str(exc)) from None
        finally:
            sock.close()
        if reply.get("ok") is True:
            return reply.get("result")
        raise _refusal(reply)

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
                first = _read_reply(reader)
                if first.get("ok") is not True:
                    raise _refusal(first)
                while True:
                    yield _read_reply(reader)
        finally:
            sock.close()


def start_daemon(client: ControlClient | None = None,
                 timeout: float = DAEMON_START_TIMEOUT_S) -> None:
    """Start ipmpd in this network namespace: through systemd where it runs (the unit
    ipmpd@NS), else by itself, detached; return once it answers. By itself it logs to
    the system log when there is one, else next to its state file (a container without
    syslog), where its stderr (a traceback that escaped its log) goes anyway. Raises
    DaemonUnreachable when it does not come up."""
    import subprocess
    import sys
    import time

    from ipmp_core.daemon.logsinks import system_log
    from ipmp_core.persist import netns_name, state_dir
    from ipmp_core.service_manager import systemd_unit_for

    client = client or ControlClient()
    unit = systemd_unit_for(netns_name())
    if unit is not None and _started_by_systemd(unit, client, timeout):
        return
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / f"{netns_name()}.log"
    system = system_log()
    log_args = [] if system else ["--log-file", str(log_path)]
    with open(log_path, "ab") as log_file:
        subprocess.Popen(
            # -P: not the caller's working directory on the path: a root daemon started
            # from /tmp would import an ipmp_core planted there
            [sys.executable, "-P", "-m", "ipmp_core.cli.ipmpd", *log_args],
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
    where = f"the system log ({system}) and {log_path}" if system else str(log_path)
    raise DaemonUnreachable(f"it did not start within {timeout:.0f} s; see {where}")


def _started_by_systemd(unit: str, client: ControlClient, timeout: float) -> bool:
    """``systemctl start UNIT``; False when the unit is not installed (start by
    yourself), True once the daemon answers; DaemonUnreachable with systemctl's words
    when systemd could not start it."""
    import subprocess

    from ipmp_core.service_manager import SYSTEMCTL_NO_SUCH_UNIT, systemctl_start_argv

    argv = systemctl_start_argv(unit)
    try:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DaemonUnreachable(f"{' '.join(argv)}: {exc}") from None
    if res.returncode == SYSTEMCTL_NO_SUCH_UNIT:
        return False
    if res.returncode != 0:
        why = res.stderr.strip().splitlines()[-1:] or [f"exit status {res.returncode}"]
        raise DaemonUnreachable(f"{' '.join(argv)} failed: {why[0]}; see journalctl -u {unit}")
    if not client.ping():  # READY=1 came, so it answers: unless it died since
        raise DaemonUnreachable(f"{unit} started but does not answer; see journalctl -u {unit}")
    return True


def ensure_daemon(client: ControlClient | None = None) -> ControlClient:
    client = client or ControlClient()
    if not client.ping():
        start_daemon(client)
    return client
