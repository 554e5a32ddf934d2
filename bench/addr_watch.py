"""Times address moves from the kernel's own notifications (a helper of bench/scale/).

Runs in the node namespace. Reads a dump of the addresses, prints READY, then takes
commands on stdin, one per line:

    MOVE <trigger> <from> <to> <count>

<trigger> is "down:<nic>" (the notification that <nic> lost carrier), "up:<nic>" (that it
regained it) or "now" (the moment the command is read). The helper answers
``DONE <ms> <first_ms>``: the time from the trigger to the notification that left <count>
watched addresses on <to> and none of them on <from>, and to the first watched address
added on <to> (when the daemon started moving: after a link-up, a member that probes is
repaired only by 10 answered probes first); ``TIMEOUT`` after TIMEOUT_S.

Raw netlink with struct: pyroute2's decoding of a burst of 2,000 notifications would lag
behind the kernel and time the helper, not the move. The receive buffer is large
(SO_RCVBUFFORCE) so that no notification is dropped.
"""

from __future__ import annotations

import select
import socket
import struct
import sys
import time

RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTM_NEWLINK, RTM_NEWADDR, RTM_DELADDR = 16, 20, 21
RTM_GETADDR = 22
NLMSG_DONE = 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFF_LOWER_UP = 0x10000
IFA_ADDRESS, IFA_LOCAL = 1, 2
SO_RCVBUFFORCE = 33
RCVBUF = 64 << 20  # a few bursts of 2,000 notifications, never dropped
TIMEOUT_S = 60.0

_HDR = struct.Struct("=IHHII")


def messages(data: bytes):  # type: ignore[no-untyped-def]
    off = 0
    while off + 16 <= len(data):
        length, kind, _flags, _seq, _pid = _HDR.unpack_from(data, off)
        if length < 16:
            return
        yield kind, data[off + 16: off + length]
        off += (length + 3) & ~3


def attrs(body: bytes):  # type: ignore[no-untyped-def]
    off = 0
    while off + 4 <= len(body):
        length, kind = struct.unpack_from("=HH", body, off)
        if length < 4:
            return
        yield kind & 0x7FFF, body[off + 4: off + length]
        off += (length + 3) & ~3


def parse_addr(body: bytes) -> tuple[int, str] | None:
    family, _plen, _flags, _scope, index = struct.unpack_from("=BBBBI", body)
    found = {}
    for kind, value in attrs(body[8:]):
        found[kind] = value
    raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)
    if raw is None:
        return None
    return index, socket.inet_ntop(socket.AF_INET if family == socket.AF_INET
                                   else socket.AF_INET6, raw)


def main() -> None:
    ifindex = {name: index for index, name in socket.if_nameindex()}
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
    sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
    dump = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    dump.bind((0, 0))
    dump.send(_HDR.pack(16 + 8, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
              + struct.pack("=BBBBI", 0, 0, 0, 0, 0))
    where: dict[str, set[int]] = {}
    done = False
    while not done:
        for kind, body in messages(dump.recv(1 << 20)):
            if kind == NLMSG_DONE:
                done = True
            elif kind == RTM_NEWADDR:
                parsed = parse_addr(body)
                if parsed:
                    where.setdefault(parsed[1], set()).add(parsed[0])
    dump.close()
    print("READY", flush=True)
    watched: set[str] = set()
    t0: float | None = None
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] != "MOVE":
            continue
        trigger, src, dst, count = cmd[1], ifindex[cmd[2]], ifindex[cmd[3]], int(cmd[4])
        # The watched addresses: the global ones now on the source interface (its IPv6
        # link-local stays).
        watched = {ip for ip, ifs in where.items()
                   if src in ifs and not ip.lower().startswith("fe80:")}
        t0 = time.monotonic() if trigger == "now" else None
        want_nic, _, nic = trigger.partition(":")
        on_src = len(watched)
        on_dst = sum(1 for a in watched if dst in where[a])
        deadline = time.monotonic() + TIMEOUT_S
        result = first = None
        while result is None and time.monotonic() < deadline:
            if not select.select([sock], [], [], 0.5)[0]:
                continue
            data = sock.recv(1 << 20)
            now = time.monotonic()
            for kind, body in messages(data):
                if kind == RTM_NEWLINK and t0 is None:
                    _fam, _pad, _type, index, flags, _change = struct.unpack_from("=BBHiII",
                                                                                   body)
                    if index == ifindex.get(nic):
                        up = bool(flags & IFF_LOWER_UP)
                        if (want_nic == "down" and not up) or (want_nic == "up" and up):
                            t0 = now
                elif kind in (RTM_NEWADDR, RTM_DELADDR):
                    parsed = parse_addr(body)
                    if parsed is None:
                        continue
                    index, ip = parsed
                    holders = where.setdefault(ip, set())
                    before = index in holders
                    (holders.add if kind == RTM_NEWADDR else holders.discard)(index)
                    if ip not in watched or before == (index in holders):
                        continue
                    step = 1 if index in holders else -1
                    if index == src:
                        on_src += step
                    elif index == dst:
                        on_dst += step
                        if first is None and t0 is not None and step > 0:
                            first = (now - t0) * 1000.0
                    if t0 is not None and on_dst >= count and on_src == 0:
                        result = (now - t0) * 1000.0
        print(f"DONE {result:.1f} {first if first is not None else result:.1f}"
              if result is not None else "TIMEOUT", flush=True)


if __name__ == "__main__":
    main()
