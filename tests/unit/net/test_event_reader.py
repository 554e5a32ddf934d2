"""The event socket read with struct (net/event_reader.py) gives the daemon what it read
of pyroute2's messages: the same LinkInfo, the same address events, the same route
protocol and table. Checked on messages pyroute2 encodes (every field the daemon reads,
present and absent) and on a live dump of this namespace's links, addresses and routes
(read only), each decoded by both."""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from ipmp_core.net import event_reader
from ipmp_core.net.link_events import link_info

NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_DONE = 3
RTM_GETLINK = 18
RTM_GETADDR = 22
RTM_GETROUTE = 26


def _encoded(msg: Any, kind: int, **fields: Any) -> bytes:
    msg["header"]["type"] = kind
    attrs = fields.pop("attrs", [])
    for key, value in fields.items():
        msg[key] = value
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data)


def _what_the_daemon_reads(msg: Any) -> tuple[Any, ...]:
    """The fields Netlink.stream reads of a message, whichever decoder made it."""
    event = msg.get("event")
    if event in ("RTM_NEWLINK", "RTM_DELLINK"):
        return (event, msg["index"], msg.get("ifname"), link_info(msg))
    if event in ("RTM_NEWADDR", "RTM_DELADDR"):
        return (event, msg["index"], msg.get("address"), msg["prefixlen"])
    return (event, msg.get("proto"), msg.get("table") or msg.get("RTA_TABLE"))


def _both(data: bytes) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    ours = [_what_the_daemon_reads(m) for m in event_reader.parse(data)]
    theirs = [_what_the_daemon_reads(m) for m in MarshalRtnl().parse(data)
              if m.get("event") in event_reader._EVENTS.values()
              and (not m.get("event").endswith("ADDR") or m.get("address"))]
    return ours, theirs


MESSAGES = [
    _encoded(ifinfmsg(), event_reader.RTM_NEWLINK, index=7, flags=0x11043, attrs=[
        ["IFLA_IFNAME", "e0"], ["IFLA_ADDRESS", "02:00:5e:00:53:01"], ["IFLA_CARRIER", 1]]),
    _encoded(ifinfmsg(), event_reader.RTM_NEWLINK, index=7, flags=0x1003, attrs=[
        ["IFLA_IFNAME", "e0"], ["IFLA_ADDRESS", "02:00:5e:00:53:01"], ["IFLA_CARRIER", 0]]),
    _encoded(ifinfmsg(), event_reader.RTM_NEWLINK, index=8, flags=0x10003, attrs=[
        ["IFLA_IFNAME", "e1"]]),  # no carrier attribute: IFF_LOWER_UP says
    _encoded(ifinfmsg(), event_reader.RTM_NEWLINK, index=9, flags=0x1, attrs=[]),  # no name
    _encoded(ifinfmsg(), event_reader.RTM_DELLINK, index=7, attrs=[["IFLA_IFNAME", "e0"]]),
    _encoded(ifaddrmsg(), event_reader.RTM_NEWADDR, family=socket.AF_INET, prefixlen=24,
             index=3, attrs=[["IFA_LOCAL", "198.51.100.10"], ["IFA_ADDRESS", "198.51.100.10"]]),
    _encoded(ifaddrmsg(), event_reader.RTM_DELADDR, family=socket.AF_INET6, prefixlen=64,
             index=4, attrs=[["IFA_ADDRESS", "2001:db8::10"]]),
    _encoded(rtmsg(), event_reader.RTM_NEWROUTE, family=socket.AF_INET, table=254,
             proto=0xCF, attrs=[["RTA_TABLE", 254], ["RTA_OIF", 3]]),
    _encoded(rtmsg(), event_reader.RTM_DELROUTE, family=socket.AF_INET6, table=255,
             proto=2, attrs=[]),
    _encoded(rtmsg(), event_reader.RTM_NEWROUTE, family=socket.AF_INET, table=252,
             proto=4, attrs=[["RTA_TABLE", 1000]]),
]


@pytest.mark.parametrize("data", MESSAGES, ids=lambda d: str(struct.unpack_from("=H", d, 4)[0]))
def test_encoded_messages_read_as_pyroute2_reads_them(data: bytes) -> None:
    ours, theirs = _both(data)
    assert ours == theirs and len(ours) == 1


def test_several_messages_in_one_datagram() -> None:
    ours, theirs = _both(b"".join(MESSAGES))
    assert ours == theirs and len(ours) == len(MESSAGES)


def test_an_error_message_raises_its_errno() -> None:
    error = struct.pack("=IHHIIi", 20, 2, 0, 1, 0, -105)  # ENOBUFS
    with pytest.raises(OSError) as raised:
        event_reader.parse(error)
    assert raised.value.errno == 105


def _dump(request: int, header: bytes) -> bytes:
    """Every datagram of a dump of this namespace, concatenated (read only)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as sock:
        sock.bind((0, 0))
        sock.settimeout(5.0)
        sock.send(struct.pack("=IHHII", 16 + len(header), request, NLM_F_REQUEST | NLM_F_DUMP,
                              1, 0) + header)
        out = b""
        for _ in range(1000):
            data = sock.recv(1 << 16)
            at = 0
            while at < len(data):  # NLMSG_DONE may follow the last messages
                length, kind = struct.unpack_from("=IH", data, at)
                if kind == NLMSG_DONE:
                    return out + data[:at]
                at += (length + 3) & ~3
            out += data
    raise AssertionError("the dump did not end")


@pytest.mark.parametrize(("request_type", "header"), [
    (RTM_GETLINK, struct.pack("=BxHiII", 0, 0, 0, 0, 0)),
    (RTM_GETADDR, struct.pack("=BBBBI", 0, 0, 0, 0, 0)),
    (RTM_GETROUTE, struct.pack("=BBBBBBBBI", 0, 0, 0, 0, 0, 0, 0, 0, 0)),
], ids=["links", "addresses", "routes"])
def test_live_dump_reads_as_pyroute2_reads_it(request_type: int, header: bytes) -> None:
    data = _dump(request_type, header)
    ours, theirs = _both(data)
    assert ours == theirs and ours  # (a namespace has at least lo and its routes)
