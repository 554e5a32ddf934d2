"""Many address changes in few netlink round trips (and the daemon's route requests,
built by net/routereq.py, through the same socket).

pyroute2 sends one request and waits for its answer before the next (about 1.1 ms each
here, most of it Python encoding and decoding); a failover of 1,000 data addresses is
2,000 requests. Netlink takes any number of requests in one datagram and the kernel
applies them in order inside the send call, queuing one acknowledgement each: this module
builds RTM_NEWADDR/RTM_DELADDR messages with struct, sends them in chunks and reads the
acknowledgements back, which is what `ip -batch` does too. Standard library only.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

NETLINK_ROUTE = 0
RTM_NEWADDR = 20
RTM_DELADDR = 21
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_CACHEINFO = 6
IFA_FLAGS = 8
RT_SCOPE_UNIVERSE = 0
SOL_NETLINK = 270
# Acknowledgements carry only the request's header, not the whole request back.
NETLINK_CAP_ACK = 10
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
# Requests per datagram. The kernel applies a datagram's requests inside one send call
# (about 0.5 ms for an IPv6 address here) and queues an acknowledgement for each in our
# receive buffer (about 1 KiB of accounting each): 64 keeps a send under ~40 ms, so the
# event loop (control socket, probes) is never held up for long, and the acknowledgements
# of a chunk far below ACK_RCVBUF_BYTES.
CHUNK = 64
ACK_RCVBUF_BYTES = 1 << 20
# Upper bound of one acknowledgement datagram read.
RECV_BYTES = 1 << 16
# The acknowledgements are queued before the send returns; waiting longer than this for
# one means it was lost.
ACK_TIMEOUT_S = 2.0

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_CACHEINFO = struct.Struct("=IIII")  # preferred, valid, cstamp, tstamp


class Request(Protocol):
    """A netlink request that builds itself with a given sequence number."""

    def encode(self, seq: int) -> bytes: ...


@dataclass(frozen=True)
class AddrRequest:
    """Add (or remove) ``address``/``prefixlen`` on interface ``ifindex``. ``flags`` are
    IFA_F_* (32 bits); ``lifetimes`` (preferred, valid) make an add a replace that sets
    them (a deprecated address: preferred 0)."""

    add: bool
    ifindex: int
    address: str
    prefixlen: int
    flags: int = 0
    lifetimes: tuple[int, int] | None = None

    def encode(self, seq: int) -> bytes:
        return encode(self, seq)


def attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def encode(req: AddrRequest, seq: int) -> bytes:
    """One RTM_NEWADDR/RTM_DELADDR request, as `ip addr add/del` sends it."""
    ip = ipaddress.ip_address(req.address)
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    packed = ip.packed
    attrs = attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed)
    if req.add:
        attrs += attr(IFA_FLAGS, struct.pack("=I", req.flags))
        if req.lifetimes is not None:
            attrs += attr(IFA_CACHEINFO, _CACHEINFO.pack(*req.lifetimes, 0, 0))
        kind = RTM_NEWADDR
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (
            NLM_F_REPLACE if req.lifetimes is not None else NLM_F_EXCL)
    else:
        kind, flags = RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK
    body = _IFADDR.pack(family, req.prefixlen, req.flags & 0xFF, RT_SCOPE_UNIVERSE,
                        req.ifindex) + attrs
    return _HDR.pack(_HDR.size + len(body), kind, flags, seq, 0) + body


def decode_acks(data: bytes) -> list[tuple[int, int]]:
    """(seq, errno) of every acknowledgement in a datagram (errno 0: done)."""
    out = []
    offset = 0
    while offset + _HDR.size <= len(data):
        length, kind, _flags, seq, _pid = _HDR.unpack_from(data, offset)
        if length < _HDR.size:
            break
        if kind == NLMSG_ERROR and length >= _HDR.size + 4:
            (code,) = struct.unpack_from("=i", data, offset + _HDR.size)
            out.append((seq, -code))
        offset += (length + 3) & ~3
    return out


class AddressBatch:
    """A netlink socket of its own for batches of address changes (and route requests:
    anything with an ``encode(seq)``)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, ACK_RCVBUF_BYTES)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ACK_RCVBUF_BYTES)
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        except OSError:
            pass  # older kernels: acknowledgements are just longer
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    async def run(self, requests: Sequence[Request]) -> list[int]:
        """Carry out ``requests`` in order; the errno of each (0: done)."""
        results = [0] * len(requests)
        for start in range(0, len(requests), CHUNK):
            chunk = requests[start:start + CHUNK]
            first = self.seq + 1
            self.seq += len(chunk)
            data = b"".join(r.encode(first + i) for i, r in enumerate(chunk))
            self.sock.settimeout(ACK_TIMEOUT_S)
            self.sock.send(data)
            pending = set(range(first, first + len(chunk)))
            while pending:
                try:
                    reply = self.sock.recv(RECV_BYTES)
                except TimeoutError:
                    code = errno.ETIMEDOUT
                except OSError as exc:
                    if exc.errno != errno.ENOBUFS:
                        raise
                    code = errno.ENOBUFS
                else:
                    for seq, code in decode_acks(reply):
                        if seq in pending:
                            pending.discard(seq)
                            results[start + seq - first] = code
                    continue
                # Acknowledgements lost: the outcome of the rest is unknown.
                for seq in pending:
                    results[start + seq - first] = code
                break
            await asyncio.sleep(0)  # let the event loop run between chunks
        return results
