"""Address and route dumps read with struct, returning to the event loop between datagrams.

pyroute2 decodes a whole dump in one go, every attribute of every message: with 1,000
data addresses the address dump held the daemon's event loop ~30 ms and the route dump
(one local route per address) up to ~100 ms, so the control socket went unanswered that
long at each start-up and each re-read of the routers. The daemon needs a handful of
fields: this module asks the kernel for the dump on its own socket, reads one datagram at
a time (a few hundred messages), takes those fields with struct and lets the event loop
run before the next datagram. Standard library only, as ``addrbatch``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from dataclasses import dataclass

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
RTM_NEWADDR = 20
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_GETROUTE = 26
IFA_ADDRESS = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_MULTIPATH = 9
RTA_TABLE = 15
# Upper bound of one dump datagram: the kernel fills at most 32 KiB per datagram.
RECV_BYTES = 1 << 16
# A dump is answered at once; waiting longer than this for the next datagram means the
# kernel will not send it.
DUMP_TIMEOUT_S = 5.0
# Messages parsed between two returns to the event loop (a few microseconds each).
PARSE_CHUNK = 500

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, ...
_RTA = struct.Struct("=HH")  # rtattr: len, type
_RTNH = struct.Struct("=HBBi")  # rtnexthop: len, flags, hops, ifindex
_U32 = struct.Struct("=I")


@dataclass(frozen=True)
class DumpedAddress:
    ifindex: int
    address: str  # IFA_ADDRESS, as `ip addr` and pyroute2's "address"
    prefixlen: int


@dataclass(frozen=True)
class DumpedRoute:
    family: int
    table: int  # RTA_TABLE when present, else the header's
    # (gateway, oif) of the route itself and of each of its multipath next hops; a hop
    # without RTA_OIF/ifindex has 0.
    hops: tuple[tuple[str | None, int], ...]


def attributes(data: bytes, start: int, end: int) -> dict[int, bytes]:
    """The rtattrs in data[start:end], by type (the last of a repeated type wins)."""
    out: dict[int, bytes] = {}
    while start + _RTA.size <= end:
        length, kind = _RTA.unpack_from(data, start)
        if length < _RTA.size:
            break
        out[kind & 0x7FFF] = data[start + _RTA.size:start + length]
        start += (length + 3) & ~3
    return out


def _ntop(family: int, raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return socket.inet_ntop(family, raw)
    except (ValueError, OSError):
        return None


def parse_address(data: bytes, start: int, end: int) -> DumpedAddress | None:
    family, prefixlen, _flags, _scope, index = _IFADDR.unpack_from(data, start)
    address = _ntop(family, attributes(data, start + _IFADDR.size, end).get(IFA_ADDRESS))
    return DumpedAddress(index, address, prefixlen) if address else None


def parse_route(data: bytes, start: int, end: int) -> DumpedRoute:
    family, _dst, _src, _tos, table, _proto, _scope, _type, _flags = \
        _RTMSG.unpack_from(data, start)
    attrs = attributes(data, start + _RTMSG.size, end)
    if RTA_TABLE in attrs and len(attrs[RTA_TABLE]) >= 4:
        table = _U32.unpack_from(attrs[RTA_TABLE])[0]
    oif = _U32.unpack_from(attrs[RTA_OIF])[0] if len(attrs.get(RTA_OIF, b"")) >= 4 else 0
    hops: list[tuple[str | None, int]] = [(_ntop(family, attrs.get(RTA_GATEWAY)), oif)]
    multipath = attrs.get(RTA_MULTIPATH, b"")
    at = 0
    while at + _RTNH.size <= len(multipath):
        length, _hflags, _hops, ifindex = _RTNH.unpack_from(multipath, at)
        if length < _RTNH.size:
            break
        nested = attributes(multipath, at + _RTNH.size, at + length)
        hops.append((_ntop(family, nested.get(RTA_GATEWAY)), ifindex))
        at += (length + 3) & ~3
    return DumpedRoute(family, table, tuple(hops))


async def _dump(request_type: int, header: bytes, reply_type: int
                ) -> list[tuple[bytes, int, int]]:
    """(datagram, start, end) of each reply message's body, every datagram read with a
    return to the event loop after it. OSError when the kernel refuses the dump."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK
                         | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        sock.bind((0, 0))
        seq = 1
        sock.send(_HDR.pack(_HDR.size + len(header), request_type,
                            NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + header)
        out: list[tuple[bytes, int, int]] = []
        while True:
            data = await asyncio.wait_for(loop.sock_recv(sock, RECV_BYTES), DUMP_TIMEOUT_S)
            at = 0
            while at + _HDR.size <= len(data):
                length, kind, _flags, _seq, _pid = _HDR.unpack_from(data, at)
                if length < _HDR.size:
                    raise OSError(errno.EPROTO, "malformed netlink message in a dump")
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    code = struct.unpack_from("=i", data, at + _HDR.size)[0]
                    if code:
                        raise OSError(-code, os.strerror(-code))
                elif kind == reply_type:
                    out.append((data, at + _HDR.size, at + length))
                at += (length + 3) & ~3
            await asyncio.sleep(0)  # the next datagram after the control socket's turn
    finally:
        sock.close()


async def addresses() -> list[DumpedAddress]:
    """Every address of the namespace (RTM_GETADDR dump), in the kernel's order."""
    found = []
    for n, (data, start, end) in enumerate(await _dump(
            RTM_GETADDR, _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0), RTM_NEWADDR)):
        if n and not n % PARSE_CHUNK:
            await asyncio.sleep(0)
        parsed = parse_address(data, start, end)
        if parsed is not None:
            found.append(parsed)
    return found


async def routes() -> list[DumpedRoute]:
    """Every route of every table (RTM_GETROUTE dump)."""
    found = []
    for n, (data, start, end) in enumerate(await _dump(
            RTM_GETROUTE, _RTMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0, 0),
            RTM_NEWROUTE)):
        if n and not n % PARSE_CHUNK:
            await asyncio.sleep(0)
        found.append(parse_route(data, start, end))
    return found
