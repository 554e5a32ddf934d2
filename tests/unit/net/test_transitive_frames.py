"""Transitive probe frames: our bytes as scapy decodes them (an independent parser, with
the HMAC recomputed by hashlib), and the parser's refusals: every altered byte, another
key, a truncated frame, a foreign EtherType, magic, version or type."""

from __future__ import annotations

import hashlib
import hmac
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
    KEY_LEN,
    NONCE_LEN,
    TRANSITIVE_MAGIC,
    WIRE_VERSION,
    Frame,
    FrameType,
    Signer,
    build_frame,
    new_key,
    new_nonce,
    parse_frame,
    reply_to,
)

KEY = bytes(range(KEY_LEN))
E0 = bytes.fromhex("020000005301")
E1 = bytes.fromhex("020000005302")
NONCE = bytes(range(100, 100 + NONCE_LEN))
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
        StrFixedLenField("hmac", b"", 32),
    ]


bind_layers(Ether, TransitiveProbe, type=0x88B5)


def request(seq: int = 7, key: bytes = KEY) -> bytes:
    return build_frame(key, E0, E1, FrameType.REQUEST, seq, NONCE, SENT)


def test_request_as_scapy_decodes_it() -> None:
    raw = request(seq=0xDEADBEEF)
    pkt = Ether(raw)
    assert pkt.dst == "02:00:00:00:53:01" and pkt.src == "02:00:00:00:53:02"
    assert pkt.type == ETHERTYPE == 0x88B5
    probe = pkt[TransitiveProbe]
    assert probe.magic == TRANSITIVE_MAGIC == b"CVtp"
    assert probe.version == WIRE_VERSION == 1
    assert probe.type == FrameType.REQUEST == 1
    assert probe.reserved == 0
    assert probe.seq == 0xDEADBEEF
    assert probe.nonce == NONCE
    assert probe.sent_ns == SENT
    # the tag is HMAC-SHA256 over everything before it, the Ethernet header included
    signed = bytes(pkt)[:-32]
    assert probe.hmac == hmac.new(KEY, signed, hashlib.sha256).digest()
    assert len(raw) == FRAME_LEN == len(bytes(pkt))


def test_reply_swaps_addresses_keeps_seq_nonce_and_send_time() -> None:
    req = parse_frame(KEY, request(seq=42))
    assert isinstance(req, Frame)
    raw = reply_to(KEY, req)
    pkt = Ether(raw)
    assert pkt.dst == "02:00:00:00:53:02" and pkt.src == "02:00:00:00:53:01"
    probe = pkt[TransitiveProbe]
    assert (probe.type, probe.seq, probe.nonce, probe.sent_ns) == (2, 42, NONCE, SENT)
    assert probe.hmac == hmac.new(KEY, raw[:-32], hashlib.sha256).digest()
    parsed = parse_frame(KEY, raw)
    assert parsed == Frame(dst=E1, src=E0, type=FrameType.REPLY, seq=42, nonce=NONCE,
                           sent_ns=SENT)


def test_frame_built_by_scapy_with_the_key_is_accepted() -> None:
    body = TransitiveProbe(magic=b"CVtp", version=1, type=2, seq=9, nonce=NONCE, sent_ns=5)
    unsigned = bytes(Ether(dst=E0, src=E1, type=0x88B5) / body)[:-32]
    raw = unsigned + hmac.new(KEY, unsigned, hashlib.sha256).digest()
    assert parse_frame(KEY, raw) == Frame(E0, E1, FrameType.REPLY, 9, NONCE, 5)


def test_every_altered_byte_is_refused() -> None:
    raw = request()
    for i in range(len(raw)):
        altered = bytearray(raw)
        altered[i] ^= 0x01
        assert isinstance(parse_frame(KEY, bytes(altered)), str), i


def test_another_daemons_key_is_refused() -> None:
    assert parse_frame(new_key(), request()) == "bad-hmac"
    assert parse_frame(KEY, request(key=new_key())) == "bad-hmac"


def test_a_request_is_no_reply_and_a_reply_no_request() -> None:
    """The type is signed: a captured request cannot be reflected as an answer."""
    raw = bytearray(request())
    raw[14 + 5] = FrameType.REPLY
    assert parse_frame(KEY, bytes(raw)) == "bad-hmac"


@pytest.mark.parametrize("cut", [0, 13, 17, 18, FRAME_LEN - 1])
def test_truncated_frames(cut: int) -> None:
    assert parse_frame(KEY, request()[:cut]) == "truncated"


def test_padding_after_the_frame_is_allowed() -> None:
    assert isinstance(parse_frame(KEY, request() + b"\0" * 8), Frame)


def test_foreign_frames_are_not_ours() -> None:
    raw = request()
    other_type = raw[:12] + struct.pack("!H", 0x88B6) + raw[14:]
    assert parse_frame(KEY, other_type) == "not-ours"
    assert parse_frame(KEY, raw[:14] + b"XXXX" + raw[18:]) == "not-ours"
    bad_version = bytearray(raw)
    bad_version[18] = WIRE_VERSION + 1
    assert parse_frame(KEY, bytes(bad_version)) == "not-ours"
    bad_type = bytearray(raw)
    bad_type[19] = 9
    assert parse_frame(KEY, bytes(bad_type)) == "not-ours"


def test_bad_arguments_raise_value_error() -> None:
    with pytest.raises(ValueError):
        build_frame(KEY, E0[:5], E1, FrameType.REQUEST, 1, NONCE, 0)
    with pytest.raises(ValueError):
        build_frame(KEY, E0, E1, FrameType.REQUEST, 1, NONCE[:8], 0)


def test_bad_arguments_raise_value_error_also_for_the_mac_that_is_too_long() -> None:
    with pytest.raises(ValueError):  # struct would cut it to 6 bytes
        build_frame(KEY, E0, E1 + b"\0", FrameType.REQUEST, 1, NONCE, 0)


def test_keys_and_nonces_are_fresh() -> None:
    assert len(new_key()) == KEY_LEN and new_key() != new_key()
    nonces = [new_nonce() for _ in range(1000)]
    assert all(len(n) == NONCE_LEN for n in nonces) and len(set(nonces)) == len(nonces)


@given(st.binary(max_size=3 * 64), st.lists(st.binary(max_size=200), max_size=4))
def test_signer_tags_are_hmac_sha256(key: bytes, messages: list[bytes]) -> None:
    """The precomputed states give the stdlib's HMAC, for any key length (longer than
    the block: hashed first) and over several messages (each tag starts afresh)."""
    signer = Signer(key)
    for message in messages:
        assert signer.tag(message) == hmac.digest(key, message, "sha256")


@given(st.binary(max_size=2 * FRAME_LEN))
def test_parser_never_raises(data: bytes) -> None:
    result = parse_frame(KEY, data)
    assert isinstance(result, str)  # random bytes never carry a valid tag


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.binary(min_size=16,
                                                                        max_size=16))
def test_round_trip(seq: int, sent_ns: int, nonce: bytes) -> None:
    raw = build_frame(KEY, E0, E1, FrameType.REQUEST, seq, nonce, sent_ns)
    assert parse_frame(KEY, raw) == Frame(E0, E1, FrameType.REQUEST, seq, nonce, sent_ns)
