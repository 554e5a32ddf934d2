"""Hostile clients and servers of the control channel, run as an unprivileged user.

    squat          bind the daemon's abstract name first and answer every request "ok"
                   with an invented state (an impostor); report every byte received.
    hold N SECS    open N connections and send nothing; for SECS seconds reopen those the
                   daemon closes (a sustained attack), then report, once the daemon's idle
                   timeout has passed, how many it closed and why.
    lurk           subscribe to the event stream and never read it.

Each prints one JSON line when it is ready and one when it is done; standard library only
(it runs under setpriv as nobody).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

NAME = "\0clearview-ipmp/ipmpd"
# The state an impostor claims: a healthy group, what a monitor would like to hear.
FAKE_SNAPSHOT = {
    "groups": [{"name": "ipmp0", "state": "ok", "active": ["e0", "e1"], "inactive": [],
                "unusable": [], "fdt_ms": 10000, "failback": True}],
    "interfaces": [], "addresses": [], "targets": [], "probes": [],
}
# Bounds of the helper's own loops.
SQUAT_MAX_S = 120.0
CONNECT_TIMEOUT_S = 5.0
BACKLOG_WAIT_S = 0.002
REOPEN_EVERY_S = 0.2
# Connections reopened per round at most: enough to keep the daemon's cap for one user
# full, not a connect flood (that would be a CPU attack, not an idle-connection one).
REOPEN_MAX = 100


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def squat() -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(NAME)
    server.listen(64)
    server.settimeout(0.5)
    say(ready=True, pid=os.getpid(), uid=os.getuid())
    deadline = time.monotonic() + SQUAT_MAX_S
    while time.monotonic() < deadline:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        conn.settimeout(1.0)
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        say(received=len(data), request=data[:200].decode(errors="replace"))
        if data:
            reply = {"ok": True, "result": FAKE_SNAPSHOT if b"snapshot" in data else
                     {"pid": os.getpid()} if b"ping" in data else None}
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass
        conn.close()


def _connect() -> socket.socket | None:
    """A connection, waiting while the daemon's listen backlog is full (a non-blocking
    Unix socket gets EAGAIN then, where a blocking client would just wait)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        try:
            sock.connect(NAME)
            return sock
        except BlockingIOError:
            if time.monotonic() > deadline:
                break
            time.sleep(BACKLOG_WAIT_S)
        except OSError:
            break
    sock.close()
    return None


def _closed(sock: socket.socket) -> bytes | None:
    """What the daemon sent before closing, or None while the connection is open."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return None
        except OSError:
            return data
        if not chunk:
            return data
        data += chunk


def hold(count: int, attack_s: float) -> None:
    socks = [s for s in (_connect() for _ in range(count)) if s is not None]
    say(ready=True, connected=len(socks), failed=count - len(socks))
    end = time.monotonic() + attack_s
    reopened = 0
    while time.monotonic() < end:
        time.sleep(REOPEN_EVERY_S)
        budget = REOPEN_MAX
        for i, sock in enumerate(socks):
            if budget and _closed(sock) is not None:
                sock.close()
                budget -= 1
                new = _connect()
                if new is not None:
                    socks[i] = new
                    reopened += 1
    last_open = time.monotonic()
    # Stop attacking: every connection still held must now be closed by the daemon.
    sys.stdin.readline()  # the test says when its idle timeout has passed
    replies: dict[str, int] = {}
    still_open = 0
    for sock in socks:
        got = _closed(sock)
        if got is None:
            still_open += 1
            continue
        code = "none"
        if got:
            try:
                code = json.loads(got.splitlines()[0])["error"]["code"]
            except (ValueError, KeyError, TypeError, IndexError):
                code = "garbled"
        replies[code] = replies.get(code, 0) + 1
        sock.close()
    say(done=True, reopened=reopened, still_open=still_open, replies=replies,
        waited=time.monotonic() - last_open)


def lurk() -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(NAME)
    sock.sendall(b'{"op": "subscribe", "args": {}}\n')
    say(ready=True)
    sys.stdin.readline()  # never read until told: the daemon must drop us meanwhile
    sock.settimeout(5.0)
    total, ended = 0, False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            break
        except OSError:
            ended = True
            break
        if not chunk:
            ended = True
            break
        total += len(chunk)
    say(done=True, ended=ended, read=total)


def main() -> None:
    mode = sys.argv[1]
    if mode == "squat":
        squat()
    elif mode == "hold":
        hold(int(sys.argv[2]), float(sys.argv[3]))
    elif mode == "lurk":
        lurk()
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
