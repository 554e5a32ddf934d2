"""The probes' wire format: in.mpathd-style ICMP / ICMPv6 echo requests and their replies.

This module owns the bytes: the identifier (:func:`probe_ident`), the payload
``PROBE_MAGIC + seq (u16) + kind (u8) + pad (u8) + sent_ns (u64)`` (big-endian), the checksum,
building a request and checking a reply. Pure and standard-library only (it is on the hot
path); the sockets that carry these packets are in ``net/icmp.py``. Why this format and
why the checks: docs/design.md, "Probe sockets".
"""

from __future__ import annotations

import socket
import struct
import sys
from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "ICMP6_ECHO_REPLY",
    "ICMP6_ECHO_REQUEST",
    "ICMP_ECHO",
    "ICMP_ECHOREPLY",
    "IGNORE_REASONS",
    "PAYLOAD_LEN",
    "PROBE_MAGIC",
    "ProbeKind",
    "Reply",
    "build_echo",
    "icmp_checksum",
    "inspect_reply",
    "parse_reply",
    "probe_ident",
]

# Identifies our payload among all the echo replies a raw socket sees ("ClearView Probe").
PROBE_MAGIC = b"CVpr"

ICMP_ECHOREPLY = 0
ICMP_ECHO = 8
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129

# Header: type, code, checksum, identifier, sequence (RFC 792 / RFC 4443, same layout).
_ICMP_HEADER = struct.Struct("!BBHHH")
# Payload: magic, seq, kind, one pad byte so that sent_ns is 8-byte aligned, sent_ns.
_PAYLOAD = struct.Struct("!4sHBxQ")
PAYLOAD_LEN = _PAYLOAD.size
_ECHO_LEN = _ICMP_HEADER.size + _PAYLOAD.size
_IPV4_MIN_HEADER = 20

# Why receive() dropped a datagram; keys of ProbeSocket.ignored.
IGNORE_REASONS = ("not-ours", "bad-checksum", "not-reply", "truncated")

class ProbeKind(IntEnum):
    """What a probe was sent for; travels in the payload (in.mpathd's PROBE_* types)."""

    UNICAST = 1  # PROBE_UNI: failure detection against a known target
    MULTICAST = 2  # PROBE_MULTI: all-hosts discovery of host targets
    RTT = 3  # PROBE_RTT: RTT measurement only


_KINDS = {kind.value: kind for kind in ProbeKind}


class Reply(NamedTuple):
    """One echo reply to one of our probes (a named tuple: one is made per reply).

    ``source`` is the responder's unicast address (also for replies to an all-hosts probe:
    that is how host targets are discovered), without any ``%scope`` suffix; ``sent_ns``
    comes from the payload, ``recv_ns`` is the kernel's receive time; both on the
    CLOCK_MONOTONIC scale, so ``recv_ns - sent_ns`` is the round-trip time.
    """

    family: int
    source: str
    ident: int
    seq: int
    kind: ProbeKind
    sent_ns: int
    recv_ns: int
    ifindex: int

    @property
    def rtt_ns(self) -> int:
        """Round-trip time in nanoseconds."""
        return self.recv_ns - self.sent_ns


def probe_ident(pid: int, ifindex: int) -> int:
    """The 16-bit ICMP identifier for probes of daemon ``pid`` on interface ``ifindex``.

    in.mpathd uses ``(pid & 0xff) << 8 | (ifindex & 0xff)``. We keep that layout (low byte:
    ifindex, high byte: pid) but fold the ifindex's upper byte into the pid byte, so that
    within one daemon every ifindex below 65536 gets a distinct identifier (in.mpathd's
    collides for ifindex 1 and 257, which long-running hosts with hot-plugged NICs or many
    VLANs do reach). Two daemons in one namespace collide when their pids agree modulo
    256, but each daemon owns its own test addresses, and the bind to the test address
    keeps their sockets from seeing each other's replies anyway.
    """
    if not 0 <= ifindex < 1 << 16:
        raise ValueError(f"ifindex out of range: {ifindex}")
    high = (pid ^ (ifindex >> 8)) & 0xFF
    return (high << 8) | (ifindex & 0xFF)


_LITTLE_ENDIAN = sys.byteorder == "little"


def icmp_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``: one's complement of the one's-complement
    sum of its 16-bit big-endian words, an odd last byte padded with zero.

    Computed as one big integer sum and folded, which is much faster in CPython than a loop
    over words (sum of a memoryview cast to native u16, then byte-swapped if little-endian).
    """
    if len(data) % 2:
        data = bytes(data) + b"\x00"
    total = sum(memoryview(data).cast("H"))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    if _LITTLE_ENDIAN:  # the words were read byte-swapped
        total = ((total & 0xFF) << 8) | (total >> 8)
    return ~total & 0xFFFF


def build_echo(family: int, ident: int, seq: int, kind: ProbeKind, sent_ns: int) -> bytes:
    """An ICMP (IPv4) or ICMPv6 echo request carrying our payload, ready for a raw socket.

    IPv4: the checksum is computed here (a raw IPPROTO_ICMP socket sends the bytes as they
    are). IPv6: the checksum is left 0 because the kernel computes it for every raw ICMPv6
    socket (it needs the source address, which only routing knows for sure).
    """
    if family == socket.AF_INET:
        icmp_type = ICMP_ECHO
    elif family == socket.AF_INET6:
        icmp_type = ICMP6_ECHO_REQUEST
    else:
        raise ValueError(f"unsupported address family {family}")
    ident &= 0xFFFF
    seq &= 0xFFFF
    payload = _PAYLOAD.pack(PROBE_MAGIC, seq, int(kind), sent_ns & 0xFFFF_FFFF_FFFF_FFFF)
    packet = bytearray(_ICMP_HEADER.pack(icmp_type, 0, 0, ident, seq) + payload)
    if family == socket.AF_INET:
        struct.pack_into("!H", packet, 2, icmp_checksum(packet))
    return bytes(packet)


def inspect_reply(family: int, data: bytes, source: str, recv_ns: int, ifindex: int) -> Reply | str:
    """Like :func:`parse_reply`, but says why a datagram was rejected: one of
    :data:`IGNORE_REASONS` instead of None (``receive()`` counts them).

    The identifier is *not* checked here (the parser cannot know which socket it serves).
    """
    if family == socket.AF_INET:
        if len(data) < _IPV4_MIN_HEADER:
            return "truncated"
        if data[0] >> 4 != 4:
            return "not-reply"
        ihl = (data[0] & 0x0F) * 4
        if ihl < _IPV4_MIN_HEADER:
            return "not-reply"
        if data[9] != socket.IPPROTO_ICMP:
            return "not-reply"
        (total_len,) = struct.unpack_from("!H", data, 2)
        if total_len > len(data) or total_len < ihl:
            return "truncated"
        icmp = data[ihl:total_len]
        reply_type = ICMP_ECHOREPLY
    elif family == socket.AF_INET6:
        icmp = data
        reply_type = ICMP6_ECHO_REPLY
    else:
        return "not-reply"
    if len(icmp) < _ICMP_HEADER.size:
        return "truncated"
    icmp_type, code, _cksum, ident, seq = _ICMP_HEADER.unpack_from(icmp)
    if icmp_type != reply_type or code != 0:
        return "not-reply"
    if len(icmp) < _ECHO_LEN:
        # Too short for our payload: truncated if what is there starts like ours.
        tail = icmp[_ICMP_HEADER.size :]
        return "truncated" if PROBE_MAGIC.startswith(tail[:4]) and tail else "not-ours"
    if family == socket.AF_INET and icmp_checksum(icmp) != 0:
        return "bad-checksum"
    magic, pseq, kind, sent_ns = _PAYLOAD.unpack_from(icmp, _ICMP_HEADER.size)
    if magic != PROBE_MAGIC or pseq != seq:
        return "not-ours"
    probe_kind = _KINDS.get(kind)
    if probe_kind is None:
        return "not-ours"
    return Reply(
        family=family,
        source=source.split("%", 1)[0],
        ident=ident,
        seq=seq,
        kind=probe_kind,
        sent_ns=sent_ns,
        recv_ns=recv_ns,
        ifindex=ifindex,
    )


def parse_reply(family: int, data: bytes, source: str, recv_ns: int, ifindex: int) -> Reply | None:
    """The :class:`Reply` in ``data`` (as read from a raw socket of ``family``), or None for
    anything that is not an intact echo reply carrying our magic: echo requests, other ICMP
    types, truncated packets, IPv4 packets with a bad ICMP checksum, foreign payloads.

    IPv4 data starts with the IP header (raw sockets deliver it); it is skipped by its IHL.
    """
    result = inspect_reply(family, data, source, recv_ns, ifindex)
    return result if isinstance(result, Reply) else None
