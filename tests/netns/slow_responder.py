"""A probe target that answers ICMP echo slowly (this kernel has no netem).

Run inside a namespace whose kernel echo replies are off
(net.ipv4.icmp_echo_ignore_all=1): it answers every echo request addressed to it after
the delay written in DELAY_FILE (milliseconds, re-read for every request), so a test can
make a target slow and fast again while the daemon probes it. Stops after --seconds.
"""

from __future__ import annotations

import argparse
import heapq
import select
import socket
import struct
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def reply_for(packet: bytes) -> tuple[str, bytes] | None:
    ihl = (packet[0] & 0x0F) * 4
    icmp = packet[ihl:]
    if len(icmp) < 8 or icmp[0] != 8:  # echo requests only
        return None
    source = socket.inet_ntoa(packet[12:16])
    rest = icmp[4:]  # identifier, sequence number and payload come back unchanged
    reply = struct.pack("!BBH", 0, 0, checksum(b"\0\0\0\0" + rest)) + rest
    return source, reply


def kind_of(packet: bytes) -> int:
    """The kind byte of an echo request carrying our payload (0 for anything else):
    after the IP header, the 8-byte ICMP header, the 4-byte magic and the 2-byte seq."""
    offset = (packet[0] & 0x0F) * 4 + 8 + 4 + 2
    return packet[offset] if len(packet) > offset else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-file", required=True)
    parser.add_argument("--seconds", type=float, default=600)
    # one line per request answered: the probe kind byte of our payload (1 failure
    # detection, 2 multicast, 3 PROBE_RTT; see net/icmp_packets.py), for the test to read
    parser.add_argument("--kinds-file")
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    pending: list[tuple[float, int, str, bytes]] = []
    end = time.monotonic() + args.seconds
    n = 0
    while time.monotonic() < end:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else 0.5
        readable, _, _ = select.select([sock], [], [], min(timeout, 0.5))
        if readable:
            packet = sock.recv(65535)
            answer = reply_for(packet)
            if answer is not None:
                try:
                    with open(args.delay_file) as fh:
                        delay = float(fh.read().strip() or 0) / 1000
                except (OSError, ValueError):
                    delay = 0.0
                n += 1
                heapq.heappush(pending, (time.monotonic() + delay, n, *answer))
                if args.kinds_file:
                    with open(args.kinds_file, "a") as fh:
                        fh.write(f"{kind_of(packet)}\n")
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, dest, payload = heapq.heappop(pending)
            try:
                sock.sendto(payload, (dest, 0))
            except OSError:
                pass


if __name__ == "__main__":
    main()
