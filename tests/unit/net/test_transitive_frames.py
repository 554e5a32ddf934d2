"""Transitive probe frames: our bytes as scapy decodes them (an independent parser), both
frames of an exchange, and the decoder's refusals: a truncated frame, a foreign
EtherType, magic, version or type. Whether a frame is genuine is the exchanges' to say:
tests/unit/net/test_transitive_exchanges.py."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.fields import ByteField, IntField, LongField, ShortField, StrFixedLenField
from scapy.layers.l2 import Ether
from scapy.packet import Packet, bind_layers

from ipmp_core.net.transitive_frames import (
    ETHERTYPE,
    FRAME_LEN,
    NONCE_LEN,
    PROOF_LEN,
    TRANSITIVE_MAGIC,
    WIRE_VERSION,
    Frame,
    FrameType,
    exchange,
    nonce_of,
    parse_frame,
    refusal,
    seq_of,
)

E0 = bytes.fromhex("020000005301")
E1 = bytes.fromhex("020000005302")
SENT = 1_234_567_890_123_456_789


class TransitiveProbe(Packet):
    """The layout as docs/design.md describes it, written independently in scapy."""

    name = "TransitiveProbe"
    fields_desc = [
        StrFixedLenField("magic", b"", 4),
        ByteField("version", 0),
        ByteField("type", 0),
        ShortField("reserved", 0),
        IntField("seq", 0),
        StrFixedLenField("nonce", b"", 16),
        LongField("sent_ns", 0),
        StrFixedLenField("proof", b"", 16),
    ]


bind_layers(Ether, TransitiveProbe, type=0x88B5)


def request(seq: int = 7) -> bytes:
    return exchange(E1, E0, seq, SENT).request


def test_both_frames_as_scapy_decodes_them() -> None:
    frames = exchange(E1, E0, 0xDEADBEEF, SENT)
    ask, answer = Ether(frames.request), Ether(frames.answer)
    assert (ask.dst, ask.src) == ("02:00:00:00:53:01", "02:00:00:00:53:02")
    assert (answer.dst, answer.src) == ("02:00:00:00:53:02", "02:00:00:00:53:01")
    for pkt, ftype in ((ask, FrameType.REQUEST), (answer, FrameType.REPLY)):
        assert pkt.type == ETHERTYPE == 0x88B5
        probe = pkt[TransitiveProbe]
        assert probe.magic == TRANSITIVE_MAGIC == b"CVtp"
        assert probe.version == WIRE_VERSION == 2
        assert probe.type == ftype
        assert probe.reserved == 0
        assert probe.seq == 0xDEADBEEF
        assert probe.sent_ns == SENT
        assert len(bytes(pkt)) == FRAME_LEN
    assert ask[TransitiveProbe].nonce == answer[TransitiveProbe].nonce == frames.nonce
    assert len(frames.nonce) == NONCE_LEN
    assert ask[TransitiveProbe].proof == bytes(PROOF_LEN)  # the proof is the answer's only
    assert len(answer[TransitiveProbe].proof) == PROOF_LEN
    assert answer[TransitiveProbe].proof != bytes(PROOF_LEN)


def test_nonces_and_proofs_are_fresh_per_exchange() -> None:
    """Unpredictable, never repeated: 1000 exchanges of the same probe differ in both."""
    frames = [exchange(E1, E0, 1, SENT) for _ in range(1000)]
    assert len({f.nonce for f in frames}) == 1000
    assert len({f.answer[-PROOF_LEN:] for f in frames}) == 1000
    assert all(f.request[:26] == frames[0].request[:26] for f in frames)  # up to the seq


def test_decoded_frame_and_its_fields() -> None:
    frames = exchange(E1, E0, 42, SENT)
    assert parse_frame(frames.answer) == Frame(E1, E0, FrameType.REPLY, 42, frames.nonce,
                                               SENT, frames.answer[-PROOF_LEN:])
    assert seq_of(frames.request) == 42 and nonce_of(frames.answer) == frames.nonce


def test_frame_built_by_scapy_decodes() -> None:
    body = TransitiveProbe(magic=b"CVtp", version=2, type=2, seq=9, nonce=b"n" * 16,
                           sent_ns=5, proof=b"p" * 16)
    raw = bytes(Ether(dst=E0, src=E1, type=0x88B5) / body)
    assert parse_frame(raw) == Frame(E0, E1, FrameType.REPLY, 9, b"n" * 16, 5, b"p" * 16)


@pytest.mark.parametrize("cut", [0, 13, 17, 18, FRAME_LEN - 1])
def test_truncated_frames(cut: int) -> None:
    assert parse_frame(request()[:cut]) == "truncated" == refusal(request()[:cut])


def test_padding_after_the_frame_is_allowed() -> None:
    assert isinstance(parse_frame(request() + b"\0" * 8), Frame)


def test_foreign_frames_are_not_ours() -> None:
    raw = request()
    assert refusal(raw) is None
    other_type = raw[:12] + struct.pack("!H", 0x88B6) + raw[14:]
    assert parse_frame(other_type) == "not-ours"
    assert parse_frame(raw[:14] + b"XXXX" + raw[18:]) == "not-ours"
    assert parse_frame(raw[:14] + b"XXXX") == "not-ours"  # short, but not ours anyway
    for at, value in ((18, WIRE_VERSION - 1), (18, WIRE_VERSION + 1), (19, 0), (19, 9)):
        altered = bytearray(raw)
        altered[at] = value
        assert parse_frame(bytes(altered)) == "not-ours", (at, value)


def test_bad_macs_raise_value_error() -> None:
    for requester, target in ((E1[:5], E0), (E1, E0 + b"\0"), (b"", E0)):
        with pytest.raises(ValueError):  # struct would pad or cut them silently
            exchange(requester, target, 1, SENT)


@given(st.binary(max_size=2 * FRAME_LEN))
def test_decoder_never_raises(data: bytes) -> None:
    result = parse_frame(data)
    assert isinstance(result, str | Frame)
    assert (refusal(data) is None) == isinstance(result, Frame)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1))
def test_round_trip(seq: int, sent_ns: int) -> None:
    frames = exchange(E1, E0, seq, sent_ns)
    assert parse_frame(frames.request) == Frame(E0, E1, FrameType.REQUEST, seq,
                                                frames.nonce, sent_ns, bytes(PROOF_LEN))
    assert parse_frame(frames.answer)[:6] == (E1, E0, FrameType.REPLY, seq,  # type: ignore[index]
                                              frames.nonce, sent_ns)
