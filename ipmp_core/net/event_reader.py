"""The kernel's link, address and route notifications, read with struct.

The event socket is the first step of a failover: the carrier loss arrives as an
RTM_NEWLINK. Read through pyroute2's asyncio socket it took ~0.4-0.5 ms from the datagram
arriving to the message in hand (a queue hand-over between two tasks, then the decoding
of every attribute of a ~1.5 KiB link message: statistics, link info, af_spec). The daemon
reads a handful of fields: this module reads the datagram itself and takes those fields
with struct, as net/dump.py does for the dumps. A message comes out as a dict with the
keys (and values) the daemon read of pyroute2's messages, so that
ipmp_core.net.link_events.link_info reads both. Standard library only.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from typing import Any

from ipmp_core.net.dump import attributes, parse_address

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_CARRIER = 33
RTA_TABLE = 15
# Upper bound of one notification datagram (the kernel sends one message per datagram,
# at most a page or two for a link with all its attributes).
RECV_BYTES = 1 << 16

_EVENTS = {RTM_NEWLINK: "RTM_NEWLINK", RTM_DELLINK: "RTM_DELLINK",
           RTM_NEWADDR: "RTM_NEWADDR", RTM_DELADDR: "RTM_DELADDR",
           RTM_NEWROUTE: "RTM_NEWROUTE", RTM_DELROUTE: "RTM_DELROUTE"}
_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, proto
_U32 = struct.Struct("=I")


def _link(data: bytes, start: int, end: int) -> dict[str, Any]:
    _family, _type, index, flags, _change = _IFINFO.unpack_from(data, start)
    attrs = attributes(data, start + _IFINFO.size, end)
    name = attrs.get(IFLA_IFNAME)
    mac = attrs.get(IFLA_ADDRESS)
    carrier = attrs.get(IFLA_CARRIER)
    return {
        "index": index,
        "flags": flags,
        "ifname": name.split(b"\0", 1)[0].decode(errors="replace") if name else None,
        "address": ":".join(f"{b:02x}" for b in mac) if mac else None,
        "carrier": carrier[0] if carrier else None,
    }


def _route(data: bytes, start: int, end: int) -> dict[str, Any]:
    _family, _dst, _src, _tos, table, proto, _scope, _type, _flags = \
        _RTMSG.unpack_from(data, start)
    raw = attributes(data, start + _RTMSG.size, end).get(RTA_TABLE, b"")
    return {"proto": proto, "table": _U32.unpack_from(raw)[0] if len(raw) >= 4 else table}


def parse(data: bytes) -> list[dict[str, Any]]:
    """The link, address and route messages of a datagram, each a dict with "event" and
    the fields the daemon reads: links "index", "flags", "ifname", "address" (the MAC),
    "carrier"; addresses "index", "address", "prefixlen"; routes "proto", "table"
    (RTA_TABLE when present). Other message types are skipped; an error raises OSError."""
    out: list[dict[str, Any]] = []
    at = 0
    while at + _HDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _HDR.unpack_from(data, at)
        if length < _HDR.size or at + length > len(data):
            break
        start, end = at + _HDR.size, at + length
        event = _EVENTS.get(kind)
        if kind == NLMSG_ERROR and length >= _HDR.size + 4:
            code = -struct.unpack_from("=i", data, start)[0]
            if code:
                raise OSError(code, os.strerror(code))
        elif kind in (RTM_NEWLINK, RTM_DELLINK):
            out.append({"event": event, **_link(data, start, end)})
        elif kind in (RTM_NEWADDR, RTM_DELADDR):
            addr = parse_address(data, start, end)
            if addr is not None:  # (the daemon skips an address message without one)
                out.append({"event": event, "index": addr.ifindex, "address": addr.address,
                            "prefixlen": addr.prefixlen})
        elif event is not None:
            out.append({"event": event, **_route(data, start, end)})
        at += (length + 3) & ~3
    return out


class EventReader:
    """Owns the event socket: a raw rtnetlink socket subscribed to ``groups``, read one
    datagram at a time on the event loop."""

    def __init__(self, groups: int) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK
                                  | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        try:
            self.sock.bind((0, groups))
        except OSError:
            self.sock.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    async def read(self) -> list[dict[str, Any]]:
        """The messages of the next datagram (OSError ENOBUFS: notifications were lost)."""
        data = await asyncio.get_running_loop().sock_recv(self.sock, RECV_BYTES)
        return parse(data)

    def close(self) -> None:
        self.sock.close()
