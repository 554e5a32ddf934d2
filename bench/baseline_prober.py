"""The least a prober can do: the CPU baseline for bench.probing (standard library only).

For every member given as ``--member IFNAME=TESTADDR=TARGET`` it opens one raw ICMP socket,
bound to the interface (SO_BINDTODEVICE) and to the test address, and sends one ICMP echo
request to the target every ``--interval-ms`` (FDT / 7). The members' schedules are
strictly periodic and staggered evenly over one interval. One blocking ``select`` loop
waits for the next send time or a readable socket; replies are read and discarded (no
matching, no RTT, no state). Nothing else: no randomised send times, no loss detection,
no events, no timestamps from the kernel.

Prints ``READY`` once every socket is open and the first probes are scheduled, and at
exit one JSON line ``{"sent": N, "received": M, "send_errors": E, "seconds": S}``. Runs for
``--seconds`` (bounded), or until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from types import FrameType

ICMP_ECHO = 8
PAYLOAD = b"clearview-ipmp baseline probe\0\0\0"  # 32 bytes, like a small ping


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo(ident: int, seq: int) -> bytes:
    header = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq)
    csum = checksum(header + PAYLOAD)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, csum, ident, seq) + PAYLOAD


def open_socket(ifname: str, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    sock.bind((source, 0))
    sock.setblocking(False)
    return sock


def parse_member(text: str) -> tuple[str, str, str]:
    parts = text.split("=")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected IFNAME=TESTADDR=TARGET, not {text!r}")
    return parts[0], parts[1], parts[2]


def run(members: list[tuple[str, str, str]], interval: float, seconds: float) -> dict[str, float]:
    socks = [open_socket(ifname, source) for ifname, source, _ in members]
    targets = [(target, 0) for _, _, target in members]
    idents = [(os.getpid() + i) & 0xFFFF for i in range(len(members))]
    seqs = [0] * len(members)
    start = time.monotonic()
    due = [start + interval * (i + 1) / len(members) for i in range(len(members))]
    by_fd = {s.fileno(): s for s in socks}
    sent = received = errors = 0
    print("READY", flush=True)
    end = start + seconds
    try:
        while True:
            now = time.monotonic()
            if now >= end:
                break
            i = min(range(len(due)), key=due.__getitem__)
            if due[i] <= now:
                seqs[i] = (seqs[i] + 1) & 0xFFFF
                try:
                    socks[i].sendto(echo(idents[i], seqs[i]), targets[i])
                    sent += 1
                except OSError:
                    errors += 1
                due[i] += interval
                if due[i] <= now:  # a busy host: skip missed slots, do not bunch them
                    due[i] = now + interval
                continue
            readable, _, _ = select.select(by_fd, [], [], min(due[i], end) - now)
            for fd in readable:
                try:
                    by_fd[fd].recv(2048)
                    received += 1
                except OSError:
                    pass
    except KeyboardInterrupt:  # SIGTERM: stop and report
        pass
    finally:
        for sock in socks:
            sock.close()
    return {
        "sent": sent,
        "received": received,
        "send_errors": errors,
        "seconds": round(time.monotonic() - start, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--member", action="append", type=parse_member, required=True,
                        metavar="IFNAME=TESTADDR=TARGET")
    parser.add_argument("--interval-ms", type=float, required=True, help="FDT / 7")
    parser.add_argument("--seconds", type=float, default=600.0, help="exit after this long")
    args = parser.parse_args()
    if not 1.0 <= args.interval_ms <= 60_000.0:
        parser.error("--interval-ms must be 1..60000")

    def stop(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    result = run(args.member, args.interval_ms / 1000.0, args.seconds)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
