"""Transitive probes' wire format: layer-2 frames on an EtherType of our own.

Solaris 11's transitive probing (in.mpathd(8)) lets a member without a test address prove
its path by a probe to another member of its group, at layer 2. Oracle does not document
its frame, so this one is ours: an Ethernet header with :data:`ETHERTYPE`, then

    magic "CVtp" | version u8 | type u8 | reserved u16 | seq u32 | nonce 16s |
    sent_ns u64 | proof 16s                                        (big-endian)

Requester and answerer are always the same daemon, so it writes both frames of an
exchange when it sends the request (:func:`exchange`): the request, with a random nonce
and a zero proof, and the answer the member asked must send back, with the same seq,
nonce and send time and a random proof that appears on the wire only in that answer.
The member asked answers a request only if it is, byte for byte, one the daemon sent to
it and has not answered yet; the requester accepts an answer only if it is, byte for
byte, the one it expects. Nobody without the daemon's memory can make a request we
answer (the nonce is unpredictable) or an answer we accept (the proof is secret until
the answer is sent), and every exchange is used once. Pure and standard-library only;
the sockets and the table of exchanges are in ``net/transitive.py``. Why: docs/design.md,
"Wire format and sockets".
"""

from __future__ import annotations

import os
import struct
from enum import IntEnum
from typing import NamedTuple

from ipmp_core.net.mac import MAC_LEN, check_mac

__all__ = [
    "ETHERTYPE",
    "FRAME_LEN",
    "FRAME_PREFIX",
    "NONCE_AT",
    "NONCE_LEN",
    "PROOF_LEN",
    "SEQ_AT",
    "TRANSITIVE_MAGIC",
    "WIRE_VERSION",
    "Exchange",
    "Frame",
    "FrameType",
    "exchange",
    "nonce_of",
    "parse_frame",
    "refusal",
    "seq_of",
]

# IEEE Std 802's "Local Experimental EtherType 1" (88-B6 is its twin): set aside for
# private protocols, so no stack on the link interprets or answers it.
ETHERTYPE = 0x88B5
# Tells our frames from anyone else's experiment on the same EtherType.
TRANSITIVE_MAGIC = b"CVtp"
# Bumped when the layout changes; a daemon drops frames of another version (1 was signed
# with HMAC-SHA256 instead of carrying a proof).
WIRE_VERSION = 2
# 128 random bits each: a request cannot be guessed before it is sent, an answer cannot
# be made before the member asked sends it.
NONCE_LEN = 16
PROOF_LEN = 16

_FRAME = struct.Struct(f"!6s6sH4sBBHI{NONCE_LEN}sQ{PROOF_LEN}s")
FRAME_LEN = _FRAME.size
_MAGIC_END = 14 + len(TRANSITIVE_MAGIC)  # after the Ethernet header (dst, src, type)
_SEQ = struct.Struct("!I")
SEQ_AT = 22
NONCE_AT = 26
_SEQ_MASK = 0xFFFF_FFFF
_NS_MASK = 0xFFFF_FFFF_FFFF_FFFF
_NO_PROOF = bytes(PROOF_LEN)


class FrameType(IntEnum):
    """Request (member -> member it probes) or reply (the other way)."""

    REQUEST = 1
    REPLY = 2


_TYPES = {t.value: t for t in FrameType}
_REQUEST = int(FrameType.REQUEST)
_REPLY = int(FrameType.REPLY)
# EtherType, magic and version: what every frame of ours has from byte 12 on.
FRAME_PREFIX = struct.pack("!H4sB", ETHERTYPE, TRANSITIVE_MAGIC, WIRE_VERSION)
_VERSION_END = 12 + len(FRAME_PREFIX)


class Frame(NamedTuple):
    """A frame decoded (:func:`parse_frame`); whether it is genuine only the daemon's
    exchanges can say. ``sent_ns`` is the requester's send time (CLOCK_MONOTONIC)."""

    dst: bytes
    src: bytes
    type: FrameType
    seq: int
    nonce: bytes
    sent_ns: int
    proof: bytes


class Exchange(NamedTuple):
    """Both frames of one transitive probe, as the daemon wrote them when it sent it."""

    request: bytes
    answer: bytes

    @property
    def nonce(self) -> bytes:
        return nonce_of(self.request)


class _RandomPool:
    """Random bytes from os.urandom, drawn a page at a time: one system call per 128
    exchanges rather than one per exchange. The bytes are as unpredictable (the kernel's
    CSPRNG either way) and, like the requests in flight, exist only in the daemon's
    memory until a frame carries them."""

    PAGE = 4096

    def __init__(self) -> None:
        self._buf = b""
        self._at = 0

    def take(self, n: int) -> bytes:
        at = self._at
        if at + n > len(self._buf):
            self._buf, at = os.urandom(self.PAGE), 0
        self._at = at + n
        return self._buf[at:at + n]


_random = _RandomPool()


def exchange(requester: bytes, target: bytes, seq: int, sent_ns: int) -> Exchange:
    """The request from MAC ``requester`` to MAC ``target`` and the answer expected back,
    ready for an AF_PACKET SOCK_RAW socket (Ethernet header first). ValueError for a MAC
    that is not 6 bytes (struct would pad or cut it silently)."""
    if len(requester) != MAC_LEN or len(target) != MAC_LEN:
        check_mac(requester)
        check_mac(target)
    secrets = _random.take(NONCE_LEN + PROOF_LEN)
    nonce, proof = secrets[:NONCE_LEN], secrets[NONCE_LEN:]
    seq &= _SEQ_MASK
    sent_ns &= _NS_MASK
    return Exchange(
        _FRAME.pack(target, requester, ETHERTYPE, TRANSITIVE_MAGIC, WIRE_VERSION,
                    _REQUEST, 0, seq, nonce, sent_ns, _NO_PROOF),
        _FRAME.pack(requester, target, ETHERTYPE, TRANSITIVE_MAGIC, WIRE_VERSION,
                    _REPLY, 0, seq, nonce, sent_ns, proof))


def refusal(data: bytes) -> str | None:
    """Why ``data`` is no frame of ours: "truncated" (ours, cut short), "not-ours" (other
    EtherType, magic, version or type); None if its layout is ours. Never raises."""
    if data[12:_VERSION_END] == FRAME_PREFIX and len(data) >= FRAME_LEN and data[19] in _TYPES:
        return None  # the common case, first
    if len(data) < _MAGIC_END:
        return "truncated"
    if data[12:_MAGIC_END] != FRAME_PREFIX[:-1]:
        return "not-ours"
    if len(data) < FRAME_LEN:
        return "truncated"
    return "not-ours"  # version or type


def parse_frame(data: bytes) -> Frame | str:
    """The :class:`Frame` in ``data`` (trailing padding allowed), or :func:`refusal`'s
    reason. Never raises."""
    reason = refusal(data)
    if reason is not None:
        return reason
    dst, src, _et, _magic, _version, ftype, _reserved, seq, nonce, sent_ns, proof = (
        _FRAME.unpack_from(data))
    return Frame(dst, src, _TYPES[ftype], seq, nonce, sent_ns, proof)


def seq_of(frame: bytes) -> int:
    """The seq of a frame :func:`refusal` accepted."""
    return int(_SEQ.unpack_from(frame, SEQ_AT)[0])


def nonce_of(frame: bytes) -> bytes:
    """The nonce of a frame :func:`refusal` accepted."""
    return frame[NONCE_AT:NONCE_AT + NONCE_LEN]
