"""UDP echo server and 1 ms prober for the failover benchmark (standard library only).

Two sub-commands, each run inside a lab namespace by ``bench/failover/``:

``server --bind ADDR --port N``
    Echoes every datagram back to its sender. The socket is bound to the data address
    itself (with IP_FREEBIND, so binding works even while the address is in transit), so
    replies always leave with the data address as their source, whichever NIC holds it.

``linkwatch``
    Prints ``LINK <ifname> <0|1> <t>`` (``t``: time.monotonic()) whenever an interface of
    its namespace gains or loses carrier, from rtnetlink notifications. Run in the node
    namespace, it tells the driver when the kernel really dropped the link, so that
    reaction times can be measured from there rather than from the start of the
    ``ip link set ... down`` command (which takes several milliseconds to run).

``client --target ADDR --port N``
    Sends one datagram (sequence number + send time) every ``--interval-ms`` and records
    when each echo comes back. Once ``--ready-count`` consecutive echoes have arrived it
    prints ``READY``. The driver then pulls a cable and writes ``MARK <t>`` on stdin, ``t``
    being ``time.monotonic()`` just before the pull (CLOCK_MONOTONIC is shared by all
    namespaces). The prober keeps going until echoes have flowed again without a gap for
    ``--settle-ms`` (or ``--max-outage-s`` passed), then prints one JSON line with the
    measurement and exits:

    ``max_gap_ms``   longest interval between two consecutive echoes received from
                     ``--pre-ms`` before the mark to the end: the outage the client saw;
    ``jitter_ms``    the same, over the steady phase before that window (the noise floor);
    ``lost``         probes sent after the window start that never got an echo;
    ``lost_after_announce``  probes sent after that announcement reached the client that
                     never got an echo (the return path was not ready yet);
    ``announce_ms``  time from the mark to the first gratuitous ARP for the target that
                     reached the client (the implementation's reaction time, free of the
                     probe's 1 ms granularity; None if none was seen);
    ``recovered``    whether echoes resumed within ``--max-outage-s``.

Only the standard library is imported, so both ends start in a few tens of milliseconds
and the send loop is not disturbed by anything else. Every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import selectors
import socket
import struct
import sys
import time

# Linux <linux/in.h>; not exported by the socket module on every Python.
IP_FREEBIND = 15
_PAYLOAD = struct.Struct("!Qd")  # sequence number, send time (monotonic seconds)
ETH_P_ARP = 0x0806
# <asm-generic/socket.h>: receive timestamps taken by the kernel when the packet arrived.
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")
_ANC_SIZE = socket.CMSG_SPACE(_TIMESPEC.size)
# Ethernet header (14) + ARP: htype, ptype, hlen, plen, op, sha, spa, tha, tpa.
_ARP = struct.Struct("!14xHHBBH6s4s6s4s")


# rtnetlink: RTMGRP_LINK group, RTM_NEWLINK type, struct nlmsghdr / ifinfomsg, IFLA_IFNAME.
RTMGRP_LINK = 1
RTM_NEWLINK = 16
IFLA_IFNAME = 3
IFF_LOWER_UP = 0x10000
_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_RTATTR = struct.Struct("=HH")


def _ifname(attrs: bytes) -> str:
    pos = 0
    for _ in range(256):  # bounded walk over the attributes
        if pos + _RTATTR.size > len(attrs):
            break
        length, kind = _RTATTR.unpack_from(attrs, pos)
        if length < _RTATTR.size:
            break
        if kind == IFLA_IFNAME:
            return attrs[pos + 4 : pos + length].split(b"\0", 1)[0].decode(errors="replace")
        pos += (length + 3) & ~3
    return ""


def run_linkwatch(max_seconds: float) -> int:
    """Print carrier transitions of this namespace's interfaces until killed."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((0, RTMGRP_LINK))
    sock.settimeout(0.5)
    carrier: dict[str, bool] = {}
    print("READY", flush=True)
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        now = time.monotonic()
        pos = 0
        for _ in range(1024):  # bounded walk over the messages of one datagram
            if pos + _NLMSGHDR.size > len(data):
                break
            length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, pos)
            if length < _NLMSGHDR.size:
                break
            if kind == RTM_NEWLINK:
                body = pos + _NLMSGHDR.size
                _fam, _type, _index, flags, _change = _IFINFOMSG.unpack_from(data, body)
                name = _ifname(data[body + _IFINFOMSG.size : pos + length])
                up = bool(flags & IFF_LOWER_UP)
                if name and carrier.get(name) != up:
                    carrier[name] = up
                    print(f"LINK {name} {int(up)} {now:.6f}", flush=True)
            pos += (length + 3) & ~3
    return 0


def run_server(bind: str, port: int, max_seconds: float) -> int:
    """Echo datagrams until killed or ``max_seconds`` passed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((bind, port))
    sock.settimeout(0.5)
    print("READY", flush=True)
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        try:
            data, peer = sock.recvfrom(2048)
        except TimeoutError:
            continue
        except OSError:
            continue
        try:
            sock.sendto(data, peer)
        except OSError:
            pass  # no route for a moment (address or route in transit): the probe sees it
    return 0


class _Prober:
    """State of the client side: what was sent, what came back, and the mark."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.interval = args.interval_ms / 1000.0
        self.sent: list[float] = []  # index = sequence number -> send time
        self.replies: list[tuple[float, int]] = []  # (receive time, sequence number)
        self.times: list[float] = []  # receive times alone, ascending (for bisect)
        self.got: set[int] = set()
        self.mark: float | None = None
        self.ready = False
        self.run_of_ok = 0  # consecutive in-order echoes, for READY
        self.last_seq = -1
        self.target = socket.inet_aton(args.target)
        # Every gratuitous ARP for the target: (receive time, sender MAC). All are kept,
        # because the announcement may arrive before the MARK line has been read.
        self.garps: list[tuple[float, str]] = []

    def on_arp(self, frame: bytes, now: float) -> None:
        """Note a gratuitous ARP (sender IP == target IP == our target)."""
        if len(frame) < _ARP.size or len(self.garps) >= 10_000:
            return
        _ht, ptype, _hl, _pl, _op, sha, spa, _tha, tpa = _ARP.unpack_from(frame)
        if ptype == 0x0800 and spa == self.target and tpa == self.target:
            self.garps.append((now, sha.hex(":")))

    def on_reply(self, data: bytes, now: float) -> None:
        if len(data) < _PAYLOAD.size:
            return
        seq, _sent = _PAYLOAD.unpack_from(data)
        if seq >= len(self.sent) or seq in self.got:
            return
        self.got.add(seq)
        self.replies.append((now, seq))
        self.times.append(now)
        self.run_of_ok = self.run_of_ok + 1 if seq == self.last_seq + 1 else 1
        self.last_seq = seq
        if not self.ready and self.run_of_ok >= self.args.ready_count:
            self.ready = True
            print("READY", flush=True)

    def settled(self, now: float) -> bool:
        """After the mark: echoes have flowed again, with no gap, for settle_ms."""
        if self.mark is None or not self.replies:
            return False
        settle = self.args.settle_ms / 1000.0
        if now - self.mark < settle:
            return False
        window = self.times[bisect.bisect_left(self.times, now - settle) :]
        if not window or now - window[-1] > self.args.gap_ok_ms / 1000.0:
            return False
        # The echoes in the settle window must have no gap longer than gap_ok_ms, and the
        # window must start right at its beginning (echoes flowing all along).
        if window[0] - (now - settle) > self.args.gap_ok_ms / 1000.0:
            return False
        return all(b - a <= self.args.gap_ok_ms / 1000.0 for a, b in itertools.pairwise(window))

    def result(self, recovered: bool) -> dict[str, object]:
        assert self.mark is not None
        start = self.mark - self.args.pre_ms / 1000.0
        times = self.times
        # The last echo before the window start anchors the window: an outage that began
        # just before it still counts in full.
        before = [t for t in times if t < start]
        inside = [t for t in times if t >= start]
        series = before[-1:] + inside
        gaps = [b - a for a, b in itertools.pairwise(series)]
        max_gap = max(gaps, default=float("nan"))
        gap_end_idx = gaps.index(max_gap) + 1 if gaps else 0
        steady = [t for t in before if t >= before[0] + 0.05] if before else []
        jitter = max((b - a for a, b in itertools.pairwise(steady)), default=0.0)
        first_seq = next((i for i, t in enumerate(self.sent) if t >= start), len(self.sent))
        # Probes sent in the last gap_ok_ms may still be in flight: not counted as lost.
        last_seq = next(
            (i for i, t in enumerate(self.sent) if t >= self.sent[-1] - self.args.gap_ok_ms / 1e3),
            len(self.sent),
        )
        garp = next((g for g in self.garps if g[0] >= self.mark), None)
        lost = sum(1 for s in range(first_seq, last_seq) if s not in self.got)
        lost_after = None
        if garp is not None:
            after = next((i for i, t in enumerate(self.sent) if t >= garp[0]), last_seq)
            lost_after = sum(1 for s in range(after, last_seq) if s not in self.got)
        return {
            "recovered": recovered,
            "max_gap_ms": max_gap * 1000.0,
            "gap_start": series[gap_end_idx - 1] if gaps else None,
            "gap_end": series[gap_end_idx] if gaps else None,
            "mark": self.mark,
            "jitter_ms": jitter * 1000.0,
            "lost": lost,
            "announce_ms": (garp[0] - self.mark) * 1000.0 if garp else None,
            "announce_mac": garp[1] if garp else "",
            "announce_at": garp[0] if garp else None,
            "lost_after_announce": lost_after,
            "sent": len(self.sent),
            "received": len(self.replies),
        }


class _Clock:
    """Converts the kernel's receive timestamps (CLOCK_REALTIME) to time.monotonic().

    Timing replies by when the kernel received them rather than when this process got
    around to reading them keeps the prober's own scheduling delays out of the gaps."""

    def __init__(self) -> None:
        self.offset = time.time() - time.monotonic()

    def stamp(self, ancdata: list[tuple[int, int, bytes]]) -> float:
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                sec, nsec = _TIMESPEC.unpack_from(data)
                return sec + nsec / 1e9 - self.offset
        return time.monotonic()


def _recv_stamped(sock: socket.socket, clock: _Clock) -> tuple[bytes, float]:
    data, ancdata, _flags, _addr = sock.recvmsg(2048, _ANC_SIZE)
    return data, clock.stamp(ancdata)


def run_client(args: argparse.Namespace) -> int:
    prober = _Prober(args)
    clock = _Clock()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    sock.connect((args.target, args.port))
    os.set_blocking(sys.stdin.fileno(), False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "sock")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
    arp: socket.socket | None = None
    if args.arp_dev:
        arp = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        arp.bind((args.arp_dev, ETH_P_ARP))
        arp.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        arp.setblocking(False)
        sel.register(arp, selectors.EVENT_READ, "arp")
    started = time.monotonic()
    deadline = started + args.max_seconds
    next_send = started
    stdin_buf = b""
    stdin_open = True
    next_check = started  # settled() is checked every 10 ms, not after every datagram
    while True:
        now = time.monotonic()
        if now >= deadline:
            print(json.dumps({"error": f"no result within {args.max_seconds} s"}), flush=True)
            return 1
        if prober.mark is not None and now >= next_check:
            next_check = now + 0.01
            if prober.settled(now):
                print(json.dumps(prober.result(True)), flush=True)
                return 0
            if now - prober.mark > args.max_outage_s:
                print(json.dumps(prober.result(False)), flush=True)
                return 0
        if now >= next_send:
            payload = _PAYLOAD.pack(len(prober.sent), now)
            prober.sent.append(now)
            try:
                sock.send(payload)
            except OSError:
                pass  # e.g. ECONNREFUSED from an earlier ICMP error; keep probing
            # Never burst to catch up: a late send just shifts the schedule.
            next_send = max(next_send + prober.interval, now)
        timeout = max(0.0, next_send - time.monotonic())
        for key, _ in sel.select(timeout):
            if key.data == "sock":
                for _ in range(64):  # bounded drain
                    try:
                        data, stamp = _recv_stamped(sock, clock)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        continue  # a queued ICMP error; the next recv gets data
                    prober.on_reply(data, stamp)
            elif key.data == "arp" and arp is not None:
                for _ in range(64):  # bounded drain
                    try:
                        frame, stamp = _recv_stamped(arp, clock)
                    except (BlockingIOError, InterruptedError):
                        break
                    prober.on_arp(frame, stamp)
            elif stdin_open:
                try:
                    chunk = os.read(sys.stdin.fileno(), 4096)
                except BlockingIOError:
                    continue
                if not chunk:
                    stdin_open = False
                    sel.unregister(sys.stdin.fileno())
                    continue
                stdin_buf += chunk
                while b"\n" in stdin_buf:
                    line, stdin_buf = stdin_buf.split(b"\n", 1)
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == b"MARK":
                        prober.mark = float(parts[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="mode", required=True)
    srv = sub.add_parser("server", help="UDP echo server")
    srv.add_argument("--bind", required=True)
    srv.add_argument("--port", type=int, required=True)
    srv.add_argument("--max-seconds", type=float, default=900.0)
    watch = sub.add_parser("linkwatch", help="print carrier transitions")
    watch.add_argument("--max-seconds", type=float, default=900.0)
    cli = sub.add_parser("client", help="1 ms UDP prober")
    cli.add_argument("--target", required=True)
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--interval-ms", type=float, default=1.0)
    cli.add_argument("--ready-count", type=int, default=100, help="consecutive echoes before READY")
    cli.add_argument(
        "--pre-ms", type=float, default=20.0, help="the gap window starts this long before the mark"
    )
    cli.add_argument(
        "--settle-ms",
        type=float,
        default=300.0,
        help="echoes must flow gap-free this long after the outage",
    )
    cli.add_argument(
        "--gap-ok-ms", type=float, default=20.0, help="longest gap still counted as 'flowing'"
    )
    cli.add_argument(
        "--arp-dev", default="", help="watch ARP on this device for the announcement time"
    )
    cli.add_argument("--max-outage-s", type=float, default=5.0)
    cli.add_argument("--max-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.mode == "server":
        return run_server(args.bind, args.port, args.max_seconds)
    if args.mode == "linkwatch":
        return run_linkwatch(args.max_seconds)
    return run_client(args)


if __name__ == "__main__":
    sys.exit(main())
