"""What a client on the data network sees of a floating address: ARP replies and pings.

Run inside the client namespace by the cluster harness, tests/support/cluster (standard
library only, root for raw sockets)::

    python client_probe.py arp ADDR --src 198.51.100.200 [--wait 0.3] [--count 1]
        -> one JSON object: {"macs": [...]} (sender hardware addresses of every ARP reply
           to our request(s) for ADDR)
    python client_probe.py watch ADDR --src 198.51.100.200 --out FILE [--duration 90]
        [--ping-interval 0.01] [--arp-interval 0.05]
        -> until SIGTERM/SIGINT or the duration ends: an ICMP echo to ADDR every
           ping-interval and an ARP request every arp-interval; then FILE gets
           {"pings": [[seq, sent, received-or-null], ...],
            "arp_rounds": [[sent, [mac, ...]], ...]}   (times: CLOCK_MONOTONIC seconds)

A reply is attributed to the ARP round (request) it arrived after; only replies addressed
to us (target protocol address = --src) whose sender protocol address is ADDR count, so
gratuitous ARPs (target = sender) are not mistaken for answers.
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

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
BROADCAST = b"\xff" * 6
# Never run unbounded: even `watch` without a stop signal ends after this long.
MAX_DURATION_S = 600.0


def _mac_bytes(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def _mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


class ArpProber:
    def __init__(self, iface: str, src: str, target: str) -> None:
        with open(f"/sys/class/net/{iface}/address", encoding="ascii") as fh:
            self.mac = _mac_bytes(fh.read().strip())
        self.src = socket.inet_aton(src)
        self.target = socket.inet_aton(target)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        self.sock.bind((iface, ETH_P_ARP))
        self.sock.setblocking(False)
        self.request = (
            BROADCAST
            + self.mac
            + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1)
            + self.mac
            + self.src
            + b"\x00" * 6
            + self.target
        )

    def send(self) -> None:
        self.sock.send(self.request)

    def drain(self) -> list[str]:
        """Sender MACs of the replies to us about the target received since the last call."""
        macs: list[str] = []
        while True:
            try:
                frame = self.sock.recv(2048)
            except BlockingIOError:
                return macs
            if len(frame) < 42:
                continue
            op = struct.unpack("!H", frame[20:22])[0]
            sha, spa, tpa = frame[22:28], frame[28:32], frame[38:42]
            if op == 2 and spa == self.target and tpa == self.src:
                macs.append(_mac_text(sha))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


class Pinger:
    def __init__(self, target: str) -> None:
        self.target = target
        self.ident = os.getpid() & 0xFFFF
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self.sock.setblocking(False)

    def send(self, seq: int) -> None:
        header = struct.pack("!BBHHH", 8, 0, 0, self.ident, seq & 0xFFFF)
        payload = b"clearview-cluster-probe"
        csum = _checksum(header + payload)
        header = struct.pack("!BBHHH", 8, 0, csum, self.ident, seq & 0xFFFF)
        try:
            self.sock.sendto(header + payload, (self.target, 0))
        except OSError:
            pass  # no ARP answer yet (EHOSTUNREACH): counts as lost

    def drain(self) -> list[int]:
        """Sequence numbers (16 bit) of the echo replies received since the last call."""
        seqs: list[int] = []
        while True:
            try:
                packet, (addr, _) = self.sock.recvfrom(2048)
            except BlockingIOError:
                return seqs
            ihl = (packet[0] & 0x0F) * 4
            if addr != self.target or len(packet) < ihl + 8:
                continue
            typ, _code, _csum, ident, seq = struct.unpack("!BBHHH", packet[ihl : ihl + 8])
            if typ == 0 and ident == self.ident:
                seqs.append(seq)


def cmd_arp(args: argparse.Namespace) -> int:
    prober = ArpProber(args.iface, args.src, args.addr)
    macs: list[str] = []
    for _ in range(max(1, min(args.count, 10))):
        prober.send()
        deadline = time.monotonic() + min(max(args.wait, 0.01), 5.0)
        while (left := deadline - time.monotonic()) > 0:
            select.select([prober.sock], [], [], left)
            macs += prober.drain()
    print(json.dumps({"macs": sorted(set(macs))}))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    stop = False

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    arp = ArpProber(args.iface, args.src, args.addr)
    pinger = Pinger(args.addr)
    pings: list[list[float | int | None]] = []  # [seq, sent, received]
    by_seq16: dict[int, int] = {}
    rounds: list[list[object]] = []  # [sent, [macs]]

    def collect() -> None:
        """Note the echo replies and ARP answers waiting in the sockets."""
        got = time.monotonic()
        for seq16 in pinger.drain():
            seq = by_seq16.get(seq16)
            if seq is not None and pings[seq][2] is None:
                pings[seq][2] = got
        macs = arp.drain()
        if macs and rounds:
            current = rounds[-1][1]
            assert isinstance(current, list)
            current.extend(macs)

    start = time.monotonic()
    end = start + min(args.duration, MAX_DURATION_S)
    next_ping = next_arp = start
    # Announce readiness only once the sockets exist, so the harness starts the failure
    # after the watch really covers it.
    print("ready", flush=True)
    while not stop:
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_ping:
            seq = len(pings)
            by_seq16[seq & 0xFFFF] = seq
            pings.append([seq, now, None])
            pinger.send(seq)
            next_ping += args.ping_interval
            if next_ping < now:
                next_ping = now + args.ping_interval
        if now >= next_arp:
            rounds.append([now, []])
            arp.send()
            next_arp += args.arp_interval
            if next_arp < now:
                next_arp = now + args.arp_interval
        timeout = max(0.0, min(next_ping, next_arp, end) - time.monotonic())
        try:
            select.select([pinger.sock, arp.sock], [], [], timeout)
        except InterruptedError:
            pass
        collect()
    time.sleep(0.05)  # late replies to the last probes
    collect()
    result = {"pings": pings, "arp_rounds": [[t, sorted(set(m))] for t, m in rounds]}
    tmp = f"{args.out}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    os.replace(tmp, args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_arp = sub.add_parser("arp")
    p_watch = sub.add_parser("watch")
    for p in (p_arp, p_watch):
        p.add_argument("addr")
        p.add_argument("--src", required=True, help="our IPv4 address (ARP sender)")
        p.add_argument("--iface", default="eth0")
    p_arp.add_argument("--wait", type=float, default=0.3)
    p_arp.add_argument("--count", type=int, default=1)
    p_watch.add_argument("--out", required=True)
    p_watch.add_argument("--duration", type=float, default=90.0)
    p_watch.add_argument("--ping-interval", type=float, default=0.01)
    p_watch.add_argument("--arp-interval", type=float, default=0.05)
    args = parser.parse_args(argv)
    return cmd_arp(args) if args.cmd == "arp" else cmd_watch(args)


if __name__ == "__main__":
    sys.exit(main())
