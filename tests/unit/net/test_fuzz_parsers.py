"""Fuzz targets (hypothesis) for the parsers of what comes from outside: ICMP/ICMPv6 echo
replies, ARP frames (duplicate address detection), the defaults file, DHCP options.

Each never raises on any input and returns only values the rest of the daemon can use.
The number of cases follows the hypothesis profile (tests/unit/conftest.py): "ci" in
make test, "fuzz" in make fuzz.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import struct
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from ipmp_core.constants import MAX_ANNOUNCE_COUNT, MAX_ANNOUNCE_INTERVAL_MS
from ipmp_core.defaults_file import load_defaults
from ipmp_core.net import dad, icmp_packets
from ipmp_core.values import MAX_FDT_MS, MIN_FDT_MS

# --------------------------------------------------------------------------- ICMP replies
FAMILIES = st.sampled_from([socket.AF_INET, socket.AF_INET6])


def _echo_reply(family: int, seq: int, kind: int, sent_ns: int, ident: int) -> bytes:
    """A real echo reply to one of our probes, to mutate from (random bytes alone would
    almost never get past the first checks)."""
    request = bytearray(icmp_packets.build_echo(
        family, ident, seq, icmp_packets.ProbeKind.UNICAST, sent_ns))
    request[0] = (icmp_packets.ICMP_ECHOREPLY if family == socket.AF_INET
                  else icmp_packets.ICMP6_ECHO_REPLY)
    struct.pack_into("!B", request, 14, kind)  # kind byte of the payload
    if family == socket.AF_INET:
        struct.pack_into("!H", request, 2, 0)
        struct.pack_into("!H", request, 2, icmp_packets.icmp_checksum(bytes(request)))
        header = bytearray(20)
        header[0], header[9] = 0x45, socket.IPPROTO_ICMP
        struct.pack_into("!H", header, 2, 20 + len(request))
        return bytes(header + request)
    return bytes(request)


@st.composite
def replies(draw: st.DrawFn) -> tuple[int, bytes]:
    family = draw(FAMILIES)
    if draw(st.booleans()):
        return family, draw(st.binary(max_size=120))
    data = bytearray(_echo_reply(family, draw(st.integers(0, 0xFFFF)),
                                 draw(st.integers(0, 255)), draw(st.integers(0, 2**64 - 1)),
                                 draw(st.integers(0, 0xFFFF))))
    for _ in range(draw(st.integers(0, 3))):  # flip, cut or extend
        how = draw(st.sampled_from(["flip", "cut", "extend"]))
        if how == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif how == "cut":
            del data[draw(st.integers(0, len(data))):]
        else:
            data += draw(st.binary(max_size=16))
    return family, bytes(data)


@given(replies(), st.sampled_from(["198.51.100.1", "fe80::1%e0", "", "x"]),
       st.integers(0, 2**63), st.integers(0, 2**31))
def test_fuzz_icmp_reply_parser(reply: tuple[int, bytes], source: str, recv_ns: int,
                                ifindex: int) -> None:
    family, data = reply
    result = icmp_packets.inspect_reply(family, data, source, recv_ns, ifindex)
    if isinstance(result, str):
        assert result in icmp_packets.IGNORE_REASONS
        assert icmp_packets.parse_reply(family, data, source, recv_ns, ifindex) is None
        return
    assert result.family == family and "%" not in result.source
    assert 0 <= result.seq <= 0xFFFF and 0 <= result.ident <= 0xFFFF
    assert isinstance(result.kind, icmp_packets.ProbeKind)


# --------------------------------------------------------------------------- ARP frames
MAC = bytes.fromhex("020000000002")
IP = ipaddress.IPv4Address("198.51.100.10")


@st.composite
def arp_frames(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=80))
    frame = bytearray(dad.probe_frame(draw(st.binary(min_size=6, max_size=6)), IP))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(frame) - 1))
        frame[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del frame[draw(st.integers(0, len(frame))):]
    return bytes(frame)


@given(arp_frames())
def test_fuzz_arp_conflict_parser(frame: bytes) -> None:
    owner = dad.conflict_in(frame, MAC, IP)
    if owner is not None:
        assert len(bytes.fromhex(owner.replace(":", ""))) == 6
        assert owner != "02:00:00:00:00:02"  # our own frames never count


# --------------------------------------------------------------------------- defaults file
KEYS = ["FAILURE_DETECTION_TIME", "FAILBACK", "ANNOUNCE_COUNT", "ANNOUNCE_INTERVAL",
        "ANNOUNCE_REPEAT", "TRACK_INTERFACES_ONLY_WITH_GROUPS", "failback", "BOGUS"]
LINE = st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, sep, v: f"{k}{sep}{v}", st.sampled_from(KEYS),
              st.sampled_from(["=", " = ", "", "=="]),
              st.one_of(st.integers(-2**70, 2**70).map(str), st.text(max_size=12),
                        st.sampled_from(["yes", "no", "1e400", "nan", "-0", " 10 ", "0x10"]))),
)


@given(st.lists(LINE, max_size=12), st.sampled_from(["\n", "\r\n"]))
def test_fuzz_defaults_file(tmp_path_factory, lines: list[str], newline: str) -> None:
    path = Path(tmp_path_factory.getbasetemp()) / "fuzzed-defaults"  # one file, rewritten
    try:
        path.write_text(newline.join(lines), encoding="utf-8")
    except UnicodeEncodeError:
        assume(False)  # surrogates cannot be in a file we read as UTF-8 anyway
    d = load_defaults(path)
    assert MIN_FDT_MS <= d.fdt_ms <= MAX_FDT_MS
    assert isinstance(d.failback, bool) and isinstance(d.track_only_groups, bool)
    assert 0 <= d.announce_count <= MAX_ANNOUNCE_COUNT
    assert 1 <= d.announce_interval_ms <= MAX_ANNOUNCE_INTERVAL_MS
    assert 0 <= d.announce_repeat_ms
    assert all(isinstance(n, str) and "\n" not in n for n in d.notes)


def test_defaults_file_that_is_not_utf8_is_a_note_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "mpathd"
    path.write_bytes(b"FAILBACK=\xff\xfe\n")
    d = load_defaults(path)
    assert d.failback is True and d.notes


# --------------------------------------------------------------------------- DHCP options
OPTION_CODES = [1, 3, 51, 53, 54, 58, 59]  # mask, routers, lease, type, server, T1, T2


def _ack_header() -> bytes:
    """BOOTP header and magic cookie of an ACK (pyroute2 encodes it once)."""
    from pyroute2.dhcp.dhcp4msg import dhcp4msg

    msg = dhcp4msg({"op": 2, "yiaddr": "0.0.0.0", "chaddr": "02:00:00:00:00:01",
                    "options": {"message_type": 5}})
    return bytes(msg.encode().buf)[:240]


ACK_HEADER = _ack_header()
YIADDR = slice(16, 20)  # "your address" in the BOOTP header


@st.composite
def dhcp_acks(draw: st.DrawFn) -> bytes:
    header = bytearray(ACK_HEADER)
    header[YIADDR] = draw(st.binary(min_size=4, max_size=4))
    options = b""
    for _ in range(draw(st.integers(0, 8))):
        code = draw(st.sampled_from(OPTION_CODES) | st.integers(0, 255))
        value = draw(st.binary(max_size=12))
        options += bytes([code, len(value)]) + value
    return bytes(header) + options + b"\xff"


@given(dhcp_acks())
def test_fuzz_dhcp_options_to_lease(ack: bytes) -> None:
    from pyroute2.dhcp.dhcp4msg import dhcp4msg

    from ipmp_core.net.dhcp_lease import MemoryLease, lease_from_pyroute2

    msg = dhcp4msg(buf=ack)
    try:
        msg.decode()
    except Exception:  # pyroute2's decoder refusing a packet: its client drops it
        assume(False)
    lease = lease_from_pyroute2(MemoryLease(ack=msg, interface="e0",
                                             server_mac="02:00:00:00:00:02"), obtained_at=0.0)
    assert isinstance(lease.address, ipaddress.IPv4Interface)
    for value in (lease.lease_time, lease.renewal_time, lease.rebinding_time):
        assert value is not None and (value >= 0 or math.isinf(value))
    assert isinstance(lease.server, str)
    assert lease.router is None or isinstance(lease.router, str)
