"""Transitive probes' wire format: layer-2 frames on an EtherType of our own, signed.

Solaris 11's transitive probing (in.mpathd(8)) lets a member without a test address prove
its path by a probe to another member of its group, at layer 2. Oracle does not document
its frame, so this one is ours: an Ethernet header with :data:`ETHERTYPE`, then

    magic "CVtp" | version u8 | type u8 | reserved u16 | seq u32 | nonce 16s |
    sent_ns u64 | HMAC-SHA256 32s                                  (big-endian)

The HMAC covers everything before it, the Ethernet header included (so a frame cannot be
re-addressed), keyed with a random per-daemon key that never leaves the host: only our
own daemon can make a request we answer or an answer we accept. Pure and standard-library
only; the sockets are in ``net/transitive.py``. Why: docs/design.md, "Wire format and
sockets".
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import struct
from enum import IntEnum
from typing import NamedTuple

from ipmp_core.net.mac import MAC_LEN, check_mac

__all__ = [
    "ETHERTYPE",
    "FRAME_LEN",
    "FrameCodec",
    "KEY_LEN",
    "NONCE_LEN",
    "TRANSITIVE_MAGIC",
    "WIRE_VERSION",
    "Frame",
    "FrameType",
    "Signer",
    "build_frame",
    "new_key",
    "new_nonce",
    "parse_frame",
    "reply_to",
]

# IEEE Std 802's "Local Experimental EtherType 1" (88-B6 is its twin): set aside for
# private protocols, so no stack on the link interprets or answers it.
ETHERTYPE = 0x88B5
# Tells our frames from anyone else's experiment on the same EtherType.
TRANSITIVE_MAGIC = b"CVtp"
# Bumped when the layout changes; a daemon drops frames of another version.
WIRE_VERSION = 1
# SHA-256's block size: the longest key HMAC uses as it is.
KEY_LEN = 32
# 128 bits per probe, never the same twice in a process: an answer cannot be taken from
# an older probe. They need not be unpredictable (only our key makes a valid answer), so
# they are a random prefix drawn at start and a counter, not a getrandom() per probe.
NONCE_LEN = 16

_ETH = struct.Struct("!6s6sH")
_BODY = struct.Struct(f"!4sBBHI{NONCE_LEN}sQ")
_SIGNED = struct.Struct(_ETH.format + _BODY.format[1:])  # the two, packed in one call
_TAG_LEN = hashlib.sha256().digest_size
_SIGNED_LEN = _SIGNED.size
FRAME_LEN = _SIGNED_LEN + _TAG_LEN
_SEQ_MASK = 0xFFFF_FFFF
_NS_MASK = 0xFFFF_FFFF_FFFF_FFFF
# RFC 2104's padded-key masks, as byte translation tables (what the stdlib's hmac uses).
_HMAC_BLOCK = hashlib.sha256().block_size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class FrameType(IntEnum):
    """Request (member -> member it probes) or reply (the other way)."""

    REQUEST = 1
    REPLY = 2


_TYPES = {t.value: t for t in FrameType}
_REQUEST = int(FrameType.REQUEST)
_REPLY = int(FrameType.REPLY)
_ETHERTYPE_AT = 12
_ETHERTYPE_FIELD = struct.Struct("!H")


class Frame(NamedTuple):
    """A frame whose HMAC checked out. ``dst``/``src`` are the Ethernet addresses;
    ``sent_ns`` is the requester's send time (CLOCK_MONOTONIC), echoed in the reply."""

    dst: bytes
    src: bytes
    type: FrameType
    seq: int
    nonce: bytes
    sent_ns: int


def new_key() -> bytes:
    """A fresh per-daemon HMAC key (kept in memory only, never written or sent)."""
    return os.urandom(KEY_LEN)


_NONCE_PREFIX = os.urandom(NONCE_LEN // 2)
_NONCE_COUNTER = itertools.count()
_NONCE_COUNT = struct.Struct("!Q")


def new_nonce() -> bytes:
    """A nonce this process has not used before (wraps after 2**64 probes)."""
    return _NONCE_PREFIX + _NONCE_COUNT.pack(next(_NONCE_COUNTER) & _NS_MASK)


class Signer:
    """HMAC-SHA256 (RFC 2104) under one key, the padded key's inner and outer hash states
    computed once: a tag then costs two state copies and two short updates. The stdlib's
    hmac.digest() sets the key up again for every message, which cost a transitive probe
    (four tags) more than its two system calls; the tags are the same bytes (tested
    against hmac.digest)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _HMAC_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_HMAC_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def tag(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class FrameCodec:
    """Builds and checks frames under one key (a socket holds one for its life)."""

    __slots__ = ("_signer",)

    def __init__(self, key: bytes) -> None:
        self._signer = Signer(key)

    def build(self, dst: bytes, src: bytes, ftype: int, seq: int, nonce: bytes,
              sent_ns: int) -> bytes:
        """The whole frame, Ethernet header first, ready for an AF_PACKET SOCK_RAW
        socket. ValueError for a MAC that is not 6 bytes or a nonce that is not
        NONCE_LEN (struct would pad them silently)."""
        if len(dst) != MAC_LEN or len(src) != MAC_LEN:
            check_mac(dst)
            check_mac(src)
        if len(nonce) != NONCE_LEN:
            raise ValueError(f"nonce must be {NONCE_LEN} bytes, got {len(nonce)}")
        signed = _SIGNED.pack(dst, src, ETHERTYPE, TRANSITIVE_MAGIC, WIRE_VERSION, ftype, 0,
                              seq & _SEQ_MASK, nonce, sent_ns & _NS_MASK)
        return signed + self._signer.tag(signed)

    def reply_to(self, request: Frame) -> bytes:
        """The answer to a valid request: back to its sender, same seq, nonce and send
        time."""
        return self.build(request.src, request.dst, _REPLY, request.seq, request.nonce,
                          request.sent_ns)

    def parse(self, data: bytes) -> Frame | str:
        """The :class:`Frame` in ``data`` (Ethernet header included, trailing padding
        allowed), or why it was refused: "truncated", "not-ours" (other EtherType, magic,
        version or type) or "bad-hmac" (not made with this key: forged, altered, or
        another daemon's). Never raises."""
        if len(data) < FRAME_LEN:
            if len(data) < _ETH.size + len(TRANSITIVE_MAGIC):
                return "truncated"
            ethertype = _ETHERTYPE_FIELD.unpack_from(data, _ETHERTYPE_AT)[0]
            ours = ethertype == ETHERTYPE and data[_ETH.size:_ETH.size + 4] == TRANSITIVE_MAGIC
            return "truncated" if ours else "not-ours"
        (dst, src, ethertype, magic, version, ftype, _reserved, seq, nonce,
         sent_ns) = _SIGNED.unpack_from(data)
        if ethertype != ETHERTYPE or magic != TRANSITIVE_MAGIC:
            return "not-ours"
        frame_type = _TYPES.get(ftype)
        if version != WIRE_VERSION or frame_type is None:
            return "not-ours"
        signed = data[:_SIGNED_LEN]
        if not hmac.compare_digest(data[_SIGNED_LEN:FRAME_LEN], self._signer.tag(signed)):
            return "bad-hmac"
        return Frame(dst=dst, src=src, type=frame_type, seq=seq, nonce=nonce,
                     sent_ns=sent_ns)


def build_frame(key: bytes, dst: bytes, src: bytes, ftype: FrameType, seq: int,
                nonce: bytes, sent_ns: int) -> bytes:
    """:meth:`FrameCodec.build` with a codec made for this frame only."""
    return FrameCodec(key).build(dst, src, int(ftype), seq, nonce, sent_ns)


def reply_to(key: bytes, request: Frame) -> bytes:
    """:meth:`FrameCodec.reply_to` with a codec made for this frame only."""
    return FrameCodec(key).reply_to(request)


def parse_frame(key: bytes, data: bytes) -> Frame | str:
    """:meth:`FrameCodec.parse` with a codec made for this frame only."""
    return FrameCodec(key).parse(data)
