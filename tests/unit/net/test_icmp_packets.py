"""Probe packets: byte layout, checksums checked against independent implementations, and
the parser's refusals (everything that is not an intact echo reply carrying our magic)."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.packet import Raw
from scapy.utils import checksum as scapy_checksum

from ipmp_core.net.icmp import _kernel_stamp as kernel_stamp
from ipmp_core.net.icmp import realtime_to_monotonic
from ipmp_core.net.icmp_packets import (
    ICMP6_ECHO_REPLY,
    ICMP6_ECHO_REQUEST,
    ICMP_ECHO,
    ICMP_ECHOREPLY,
    PAYLOAD_LEN,
    PROBE_MAGIC,
    ProbeKind,
    Reply,
    build_echo,
    icmp_checksum,
    inspect_reply,
    parse_reply,
    probe_ident,
)

V4, V6 = socket.AF_INET, socket.AF_INET6
SENT = 1_234_567_890_123_456_789
RECV = SENT + 250_000
IDENT = 0xBEEF
SRC4 = "198.51.100.1"
SRC6 = "fe80::1"


def naive_checksum(data: bytes) -> int:
    """RFC 1071 word by word, the textbook way (independent of icmp_checksum's trick)."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def v4_reply(icmp: bytes, options: bytes = b"", src: str = SRC4) -> bytes:
    """An IPv4 datagram as a raw socket delivers it: header (with options), then ICMP."""
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(icmp)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        total,
        1,
        0,
        64,
        socket.IPPROTO_ICMP,
        0,
        socket.inet_aton(src),
        socket.inet_aton("198.51.100.11"),
    )
    header += options
    header = header[:10] + struct.pack("!H", naive_checksum(header)) + header[12:]
    return header + icmp


def as_reply(echo: bytes, family: int) -> bytes:
    """Turn one of our echo requests into the reply a responder sends back (type changed,
    IPv4 checksum recomputed with the naive implementation)."""
    reply_type = ICMP_ECHOREPLY if family == V4 else ICMP6_ECHO_REPLY
    body = bytes([reply_type]) + echo[1:2] + b"\x00\x00" + echo[4:]
    if family == V4:
        body = body[:2] + struct.pack("!H", naive_checksum(body)) + body[4:]
    return body


# --------------------------------------------------------------------------- building


@pytest.mark.parametrize("family,icmp_type", [(V4, ICMP_ECHO), (V6, ICMP6_ECHO_REQUEST)])
def test_echo_layout(family: int, icmp_type: int) -> None:
    pkt = build_echo(family, IDENT, 0x1234, ProbeKind.RTT, SENT)
    assert len(pkt) == 8 + PAYLOAD_LEN == 24
    assert pkt[0] == icmp_type and pkt[1] == 0
    assert pkt[4:6] == b"\xbe\xef"  # identifier
    assert pkt[6:8] == b"\x12\x34"  # sequence
    assert pkt[8:12] == PROBE_MAGIC
    assert pkt[12:14] == b"\x12\x34"  # seq again, in the payload
    assert pkt[14] == ProbeKind.RTT == 3
    assert pkt[15] == 0  # pad
    assert pkt[16:24] == SENT.to_bytes(8, "big")


def test_ipv6_checksum_left_to_kernel() -> None:
    assert build_echo(V6, IDENT, 1, ProbeKind.UNICAST, SENT)[2:4] == b"\x00\x00"


@pytest.mark.parametrize("seq", [0, 1, 0x7FFF, 0xFFFF])
@pytest.mark.parametrize("sent", [0, 1, SENT, 2**64 - 1])
def test_ipv4_checksum_matches_independent_computations(seq: int, sent: int) -> None:
    pkt = build_echo(V4, IDENT, seq, ProbeKind.UNICAST, sent)
    (stored,) = struct.unpack("!H", pkt[2:4])
    zeroed = pkt[:2] + b"\x00\x00" + pkt[4:]
    assert stored == naive_checksum(zeroed) == scapy_checksum(zeroed)
    assert naive_checksum(pkt) == 0  # a correct checksum sums to zero
    # scapy dissects it as a valid echo request and computes the same checksum itself.
    parsed = ICMP(pkt)
    assert parsed.type == 8 and parsed.id == IDENT and parsed.seq == seq
    rebuilt = ICMP(type=8, id=IDENT, seq=seq) / Raw(pkt[8:])
    assert bytes(rebuilt) == pkt


@pytest.mark.parametrize("length", [0, 1, 2, 3, 7, 24, 25, 1499, 1500])
def test_icmp_checksum_odd_and_even_lengths(length: int) -> None:
    data = bytes((i * 37 + 11) & 0xFF for i in range(length))
    assert icmp_checksum(data) == naive_checksum(data) == scapy_checksum(data)


def test_build_rejects_unknown_family() -> None:
    with pytest.raises(ValueError):
        build_echo(socket.AF_UNIX, IDENT, 1, ProbeKind.UNICAST, SENT)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("kind", list(ProbeKind))
def test_round_trip_ipv4(kind: ProbeKind) -> None:
    reply = as_reply(build_echo(V4, IDENT, 42, kind, SENT), V4)
    got = parse_reply(V4, v4_reply(reply), SRC4, RECV, 7)
    assert got == Reply(V4, SRC4, IDENT, 42, kind, SENT, RECV, 7)
    assert got is not None and got.rtt_ns == 250_000


@pytest.mark.parametrize("kind", list(ProbeKind))
def test_round_trip_ipv6(kind: ProbeKind) -> None:
    reply = as_reply(build_echo(V6, IDENT, 0xFFFF, kind, SENT), V6)
    got = parse_reply(V6, reply, SRC6 + "%e0", RECV, 3)
    assert got == Reply(V6, SRC6, IDENT, 0xFFFF, kind, SENT, RECV, 3)


def test_round_trip_through_scapy_built_ipv4_reply() -> None:
    """A reply built entirely by scapy (IP header, ICMP checksum) parses."""
    payload = build_echo(V4, IDENT, 9, ProbeKind.MULTICAST, SENT)[8:]
    pkt = bytes(
        IP(src="198.51.100.200", dst="198.51.100.11") / ICMP(type=0, id=IDENT, seq=9) / Raw(payload)
    )
    got = parse_reply(V4, pkt, "198.51.100.200", RECV, 2)
    assert got is not None
    assert (got.source, got.seq, got.kind, got.sent_ns) == (
        "198.51.100.200",
        9,
        ProbeKind.MULTICAST,
        SENT,
    )


def test_ipv4_header_skipped_by_ihl() -> None:
    """IP options (IHL > 5) must not shift the ICMP header we read."""
    reply = as_reply(build_echo(V4, IDENT, 5, ProbeKind.UNICAST, SENT), V4)
    options = b"\x01\x01\x01\x00"  # NOP NOP NOP EOL
    got = parse_reply(V4, v4_reply(reply, options), SRC4, RECV, 1)
    assert got is not None and got.seq == 5


def test_ipv4_trailing_bytes_beyond_total_length_ignored() -> None:
    reply = as_reply(build_echo(V4, IDENT, 5, ProbeKind.UNICAST, SENT), V4)
    assert parse_reply(V4, v4_reply(reply) + b"\x00" * 6, SRC4, RECV, 1) is not None


@pytest.mark.parametrize("family", [V4, V6])
def test_echo_request_rejected(family: int) -> None:
    request = build_echo(family, IDENT, 1, ProbeKind.UNICAST, SENT)
    data = v4_reply(request) if family == V4 else request
    assert parse_reply(family, data, SRC4, RECV, 1) is None
    assert inspect_reply(family, data, SRC4, RECV, 1) == "not-reply"


@pytest.mark.parametrize("family", [V4, V6])
@pytest.mark.parametrize("icmp_type", [3, 11, 133, 135, 136])
def test_other_icmp_types_rejected(family: int, icmp_type: int) -> None:
    reply = bytearray(as_reply(build_echo(family, IDENT, 1, ProbeKind.UNICAST, SENT), family))
    reply[0] = icmp_type
    if family == V4:
        reply[2:4] = b"\x00\x00"
        reply[2:4] = struct.pack("!H", naive_checksum(bytes(reply)))
    data = v4_reply(bytes(reply)) if family == V4 else bytes(reply)
    assert inspect_reply(family, data, SRC4, RECV, 1) == "not-reply"


@pytest.mark.parametrize("family", [V4, V6])
def test_nonzero_code_rejected(family: int) -> None:
    reply = bytearray(as_reply(build_echo(family, IDENT, 1, ProbeKind.UNICAST, SENT), family))
    reply[1] = 1
    if family == V4:
        reply[2:4] = b"\x00\x00"
        reply[2:4] = struct.pack("!H", naive_checksum(bytes(reply)))
    data = v4_reply(bytes(reply)) if family == V4 else bytes(reply)
    assert parse_reply(family, data, SRC4, RECV, 1) is None


@pytest.mark.parametrize("family", [V4, V6])
def test_foreign_payload_rejected(family: int) -> None:
    """An echo reply to somebody else's ping (e.g. iputils ping's timeval payload)."""
    body = struct.pack(
        "!BBHHH", ICMP_ECHOREPLY if family == V4 else ICMP6_ECHO_REPLY, 0, 0, IDENT, 1
    ) + bytes(range(56))
    if family == V4:
        body = body[:2] + struct.pack("!H", naive_checksum(body)) + body[4:]
    data = v4_reply(body) if family == V4 else body
    assert inspect_reply(family, data, SRC4, RECV, 1) == "not-ours"


@pytest.mark.parametrize("family", [V4, V6])
def test_empty_echo_reply_rejected(family: int) -> None:
    body = struct.pack(
        "!BBHHH", ICMP_ECHOREPLY if family == V4 else ICMP6_ECHO_REPLY, 0, 0, IDENT, 1
    )
    if family == V4:
        body = body[:2] + struct.pack("!H", naive_checksum(body)) + body[4:]
    data = v4_reply(body) if family == V4 else body
    assert inspect_reply(family, data, SRC4, RECV, 1) == "not-ours"


@pytest.mark.parametrize("family", [V4, V6])
def test_payload_seq_must_match_header_seq(family: int) -> None:
    """A reply whose header and payload disagree was not produced by echoing our probe."""
    reply = bytearray(as_reply(build_echo(family, IDENT, 1, ProbeKind.UNICAST, SENT), family))
    reply[6:8] = b"\x00\x02"
    if family == V4:
        reply[2:4] = b"\x00\x00"
        reply[2:4] = struct.pack("!H", naive_checksum(bytes(reply)))
    data = v4_reply(bytes(reply)) if family == V4 else bytes(reply)
    assert inspect_reply(family, data, SRC4, RECV, 1) == "not-ours"


@pytest.mark.parametrize("family", [V4, V6])
def test_unknown_kind_rejected(family: int) -> None:
    reply = bytearray(as_reply(build_echo(family, IDENT, 1, ProbeKind.UNICAST, SENT), family))
    reply[14] = 99
    if family == V4:
        reply[2:4] = b"\x00\x00"
        reply[2:4] = struct.pack("!H", naive_checksum(bytes(reply)))
    data = v4_reply(bytes(reply)) if family == V4 else bytes(reply)
    assert inspect_reply(family, data, SRC4, RECV, 1) == "not-ours"


@pytest.mark.parametrize("family", [V4, V6])
@pytest.mark.parametrize("cut", [1, 4, 7, 9, 12, 23])
def test_truncated_rejected(family: int, cut: int) -> None:
    reply = as_reply(build_echo(family, IDENT, 1, ProbeKind.UNICAST, SENT), family)[:cut]
    if family == V4:
        data = v4_reply(reply)
    else:
        data = reply
    assert parse_reply(family, data, SRC4, RECV, 1) is None
    assert inspect_reply(family, data, SRC4, RECV, 1) == "truncated"


def test_ipv4_truncated_header_and_total_length() -> None:
    reply = as_reply(build_echo(V4, IDENT, 1, ProbeKind.UNICAST, SENT), V4)
    full = v4_reply(reply)
    assert inspect_reply(V4, full[:19], SRC4, RECV, 1) == "truncated"
    # Total length says more than was delivered.
    assert inspect_reply(V4, full[:-1], SRC4, RECV, 1) == "truncated"


def test_ipv4_bad_checksum_rejected() -> None:
    reply = bytearray(as_reply(build_echo(V4, IDENT, 1, ProbeKind.UNICAST, SENT), V4))
    reply[20] ^= 0x01  # one bit of sent_ns flipped in transit
    data = v4_reply(bytes(reply))
    assert parse_reply(V4, data, SRC4, RECV, 1) is None
    assert inspect_reply(V4, data, SRC4, RECV, 1) == "bad-checksum"


def test_ipv4_garbage_rejected() -> None:
    reply = as_reply(build_echo(V4, IDENT, 1, ProbeKind.UNICAST, SENT), V4)
    not_ipv4 = b"\x60" + v4_reply(reply)[1:]
    assert inspect_reply(V4, not_ipv4, SRC4, RECV, 1) == "not-reply"
    bad_ihl = b"\x44" + v4_reply(reply)[1:]
    assert inspect_reply(V4, bad_ihl, SRC4, RECV, 1) == "not-reply"
    udp = bytearray(v4_reply(reply))
    udp[9] = socket.IPPROTO_UDP
    assert inspect_reply(V4, bytes(udp), SRC4, RECV, 1) == "not-reply"
    assert parse_reply(V4, b"", SRC4, RECV, 1) is None


# --------------------------------------------------------------------------- identifiers


def test_probe_ident_is_16_bit_and_stable() -> None:
    for pid in (1, 4242, 65535, 4_194_304):
        for ifindex in (1, 2, 255, 256, 65535):
            ident = probe_ident(pid, ifindex)
            assert 0 <= ident <= 0xFFFF
            assert ident == probe_ident(pid, ifindex)


def test_probe_ident_differs_per_interface() -> None:
    """Within one daemon, no two interfaces share an identifier (in.mpathd's own scheme
    would give ifindex 1 and 257 the same one)."""
    for pid in (1, 4242, 99_999):
        idents = {probe_ident(pid, ifindex) for ifindex in range(1, 1 << 16)}
        assert len(idents) == (1 << 16) - 1


def test_probe_ident_differs_per_daemon() -> None:
    assert probe_ident(100, 2) != probe_ident(101, 2)
    assert len({probe_ident(pid, 2) for pid in range(1000, 1256)}) == 256


def test_probe_ident_rejects_bad_ifindex() -> None:
    with pytest.raises(ValueError):
        probe_ident(1, -1)
    with pytest.raises(ValueError):
        probe_ident(1, 1 << 16)


# --------------------------------------------------------------------------- timestamps


def test_realtime_stamp_converted_to_monotonic() -> None:
    before = time.monotonic_ns()
    converted = realtime_to_monotonic(time.time_ns() - 5_000_000)  # arrived 5 ms ago
    after = time.monotonic_ns()
    assert before - 5_000_000 - 1_000_000 <= converted <= after - 5_000_000 + 1_000_000


def test_kernel_stamp_from_ancillary_data() -> None:
    new = (socket.SOL_SOCKET, 64, struct.pack("=qq", 1_700_000_000, 123_456_789))
    old = (socket.SOL_SOCKET, 35, struct.pack("@ll", 1_700_000_000, 5))
    assert kernel_stamp([new]) == 1_700_000_000_123_456_789
    assert kernel_stamp([old]) == 1_700_000_000_000_000_005
    other = (socket.IPPROTO_IP, 64, struct.pack("=qq", 1, 2))
    assert kernel_stamp([other, new]) == 1_700_000_000_123_456_789
    assert kernel_stamp([]) is None
    assert kernel_stamp([(socket.SOL_SOCKET, 64, b"\x00" * 16)]) is None  # never stamped
    assert kernel_stamp([(socket.SOL_SOCKET, 64, b"\x01" * 4)]) is None  # short


class _FakeRawSocket:
    """Hands out queued (data, ancdata) datagrams the way recvmsg does, then EAGAIN."""

    def __init__(self, datagrams: list[tuple[bytes, list[tuple[int, int, bytes]]]]) -> None:
        self.datagrams = datagrams

    def recvmsg(self, bufsize: int, ancbufsize: int) -> tuple[bytes, list, int, tuple]:
        if not self.datagrams:
            raise BlockingIOError
        data, anc = self.datagrams.pop(0)
        return data, anc, 0, (SRC4, 0)


def _socket_with(datagrams: list[tuple[bytes, list[tuple[int, int, bytes]]]]):  # noqa: ANN202
    from ipmp_core.net.icmp import ProbeSocket

    sock = ProbeSocket.__new__(ProbeSocket)
    sock.family, sock.ifname, sock.ifindex, sock.source = V4, "e0", 7, "198.51.100.21"
    sock.ident = IDENT
    sock.ignored = __import__("collections").Counter()
    sock.last_error = None
    sock._sock = _FakeRawSocket(datagrams)  # type: ignore[assignment]
    return sock


def _stamp_cmsg(realtime_ns: int) -> tuple[int, int, bytes]:
    return (socket.SOL_SOCKET, 64, struct.pack("=qq", *divmod(realtime_ns, 1_000_000_000)))


@pytest.mark.parametrize("skew_ns", [-800_000, -40_000, 3_600 * 10**9])
def test_receive_clamps_a_kernel_stamp_outside_send_and_read(skew_ns: int) -> None:
    """A converted kernel stamp before the send (the realtime clock moved between the
    arrival and the read: seen up to 0.8 ms) or after the read becomes the nearest
    bound, not the read time: the daemon reads in batches, half a probe interval late,
    and that must not turn into a late reply."""
    sent = time.monotonic_ns()
    echo = build_echo(V4, IDENT, 9, ProbeKind.UNICAST, sent)
    real_at_send = time.time_ns() - (time.monotonic_ns() - sent)
    datagram = v4_reply(as_reply(echo, V4))
    time.sleep(0.02)  # read 20 ms after the send, like a batched read
    [reply] = _socket_with([(datagram, [_stamp_cmsg(real_at_send + skew_ns)])]).receive()
    read_late = time.monotonic_ns()
    if skew_ns < 0:
        assert reply.recv_ns == reply.sent_ns == sent  # arrived at once, not 20 ms late
    else:
        assert sent + 20_000_000 <= reply.recv_ns <= read_late


def test_receive_keeps_a_kernel_stamp_inside_send_and_read() -> None:
    sent = time.monotonic_ns()
    echo = build_echo(V4, IDENT, 9, ProbeKind.UNICAST, sent)
    real_at_send = time.time_ns() - (time.monotonic_ns() - sent)
    time.sleep(0.02)
    [reply] = _socket_with([(v4_reply(as_reply(echo, V4)),
                             [_stamp_cmsg(real_at_send + 300_000)])]).receive(1)
    assert reply.rtt_ns == pytest.approx(300_000, abs=200_000)  # not the 20 ms read delay
