"""Print ipmpd's events with a CLOCK_MONOTONIC receive stamp, for bench.probing.

Run inside the node namespace (the daemon's control channel is an abstract Unix socket,
scoped by network namespace). It subscribes to the event stream and prints

``READY``
    once the daemon has confirmed the subscription;
``EV <t> <json>``
    for every event except probe events, and for probe events whose status is "lost"
    (``t``: ``time.monotonic()`` taken right after the bytes were read from the socket;
    CLOCK_MONOTONIC is shared by all network namespaces, so the driver can compare it with
    its own clock);
``STATS <t> <json>``
    every ``--stats-s`` seconds and at exit: probe events counted by interface and status.

Probe events are counted rather than printed: there are 7 per member and FDT, and the
driver only needs the losses. The daemon publishes per-probe events only while someone is
subscribed, so this helper adds that cost to the daemon; it is not used while CPU time is
measured.

Standard library plus ``ipmp_core.constants`` only; every wait is bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import sys
import time
from collections import Counter
from types import FrameType

from ipmp_core.constants import CONTROL_MAX_LINE, CONTROL_SOCKET_NAME

CONNECT_TIMEOUT_S = 10.0


def emit(line: str) -> None:
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # the driver stopped reading (shutting down)
        pass


def stats_line(counts: Counter[str]) -> str:
    return f"STATS {time.monotonic():.6f} {json.dumps(dict(sorted(counts.items())))}"


def handle(event: dict[str, object], stamp: float, counts: Counter[str]) -> None:
    if event.get("type") == "probe":
        counts[f"{event.get('interface')}:{event.get('status')}"] += 1
        if event.get("status") != "lost":
            return
    emit(f"EV {stamp:.6f} {json.dumps(event, separators=(',', ':'))}")


def run(seconds: float, stats_s: float) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT_S)
    sock.connect(CONTROL_SOCKET_NAME)
    sock.sendall(json.dumps({"op": "subscribe", "args": {}}).encode() + b"\n")
    sock.setblocking(False)
    buf = b""
    subscribed = False
    counts: Counter[str] = Counter()
    end = time.monotonic() + seconds
    next_stats = time.monotonic() + stats_s
    try:
        while True:
            now = time.monotonic()
            if now >= end:
                return 0
            if now >= next_stats:
                emit(stats_line(counts))
                next_stats = now + stats_s
            ready, _, _ = select.select([sock], [], [], min(end, next_stats) - now)
            if not ready:
                continue
            try:
                chunk = sock.recv(1 << 16)
            except BlockingIOError:
                continue
            stamp = time.monotonic()
            if not chunk:
                print("ipmp_events: the daemon closed the connection", file=sys.stderr)
                return 1
            buf += chunk
            if len(buf) > CONTROL_MAX_LINE:
                print("ipmp_events: line too long", file=sys.stderr)
                return 1
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                msg = json.loads(raw)
                if not subscribed:
                    if not msg.get("ok"):
                        print(f"ipmp_events: subscription refused: {msg}", file=sys.stderr)
                        return 1
                    subscribed = True
                    emit("READY")
                    continue
                handle(msg, stamp, counts)
    finally:
        emit(stats_line(counts))
        sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=3600.0, help="exit after this long")
    parser.add_argument("--stats-s", type=float, default=10.0, help="STATS line period")
    args = parser.parse_args()

    def stop(_sig: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    return run(args.seconds, args.stats_s)


if __name__ == "__main__":
    sys.exit(main())
