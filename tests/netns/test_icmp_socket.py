"""Probe sockets against the real kernel: replies, multicast discovery, isolation between
members, forged replies, hop limits, kernel timestamps and sends that fail.

Sockets are created inside the lab's namespaces by a short-lived thread that has entered
the namespace with setns(2) (network namespaces are per thread); a socket stays in the
namespace it was created in, so the test's main thread then uses it directly, in-process,
without touching the namespace the test runs in.
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from netns_thread import in_netns

from ipmp_core.net.icmp import ProbeSocket
from ipmp_core.net.icmp_packets import (
    ICMP6_ECHO_REQUEST,
    ICMP_ECHO,
    PROBE_MAGIC,
    ProbeKind,
    Reply,
    build_echo,
    probe_ident,
)
from tests.support.lab import Lab

pytestmark = pytest.mark.netns

V4, V6 = socket.AF_INET, socket.AF_INET6
E0_ADDR, E1_ADDR = "198.51.100.11", "198.51.100.12"
ALL_HOSTS4, ALL_HOSTS6 = "224.0.0.1", "ff02::1"
MS = 1_000_000
T = TypeVar("T")



def collect(
    sock: ProbeSocket, done: Callable[[list[Reply]], bool], timeout: float = 2.0
) -> list[Reply]:
    """Receive until ``done(replies)`` or ``timeout`` s have passed; all replies so far."""
    replies: list[Reply] = []
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.01) + 10):
        replies += sock.receive()
        if done(replies):
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        select.select([sock], [], [], min(left, 0.05))
    return replies


def settle(*socks: ProbeSocket, seconds: float = 0.3) -> list[Reply]:
    """Whatever else arrives within ``seconds`` (to show that nothing more does)."""
    time.sleep(seconds)
    return [r for s in socks for r in s.receive()]


def link_local(lab: Lab, ns: str, dev: str, timeout: float = 5.0) -> str:
    """``dev``'s link-local address in ``ns``, once DAD has finished (bind refuses a
    tentative address)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 2):
        out = lab.run(ns, "ip", "-j", "-6", "addr", "show", "dev", dev, "scope", "link").stdout
        # iproute2 prints addresses the filter skipped as empty objects.
        infos = [a for a in json.loads(out)[0]["addr_info"] if a.get("local")]
        if infos and not infos[0].get("tentative") and not infos[0].get("dadfailed"):
            return str(infos[0]["local"])
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    raise AssertionError(f"no usable link-local on {ns}/{dev}")


def open_probe(lab: Lab, family: int, nic: str, source: str, pid: int | None = None) -> ProbeSocket:
    index = lab.ifindex(nic)
    return in_netns(lab.node, lambda: ProbeSocket(family, nic, index, source, pid=pid))


@pytest.fixture
def ipmp_lab(make_lab: Callable[..., Lab]) -> Iterator[Lab]:
    """A two-NIC lab set up like an IPMP host, with test addresses e0 .11 and e1 .12.

    arp_ignore=1 / arp_announce=2: each test address is answered and announced only on its
    own NIC. Without it every NIC answers ARP for every address ("ARP flux"), a neighbour
    may send e0's replies to e1's MAC, and e0's socket (bound to e0) never sees them.
    noprefixroute: probes must work without any route (the socket's interface binding
    makes Linux treat the target as on-link).
    """
    lab = make_lab(nics=2)
    lab.sysctl(lab.node, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
    lab.run(lab.node, "ip", "addr", "add", f"{E0_ADDR}/24", "dev", "e0", "noprefixroute")
    lab.run(lab.node, "ip", "addr", "add", f"{E1_ADDR}/24", "dev", "e1", "noprefixroute")
    yield lab


def echo_hosts(lab: Lab) -> None:
    """Router and client answer echo requests sent to 224.0.0.1 (off by default)."""
    for ns in (lab.router, lab.client):
        assert ns is not None
        lab.sysctl(ns, "net.ipv4.icmp_echo_ignore_broadcasts", 0)


# --------------------------------------------------------------------------- IPv4


def test_ipv4_unicast_probe_is_answered(ipmp_lab: Lab) -> None:
    lab = ipmp_lab
    with open_probe(lab, V4, "e0", E0_ADDR) as ps:
        assert ps.ident == probe_ident(os.getpid(), lab.ifindex("e0"))
        for seq, kind in ((7, ProbeKind.UNICAST), (8, ProbeKind.RTT), (0xFFFF, ProbeKind.UNICAST)):
            sent = ps.send("198.51.100.1", seq, kind)
            assert ps.last_error is None
            (reply,) = collect(ps, lambda r: len(r) >= 1)
            assert reply == Reply(
                V4, "198.51.100.1", ps.ident, seq, kind, sent, reply.recv_ns, lab.ifindex("e0")
            )
            assert 0 < reply.rtt_ns < 100 * MS
            assert reply.recv_ns <= time.monotonic_ns()
        assert not ps.ignored


def test_ipv4_receive_time_is_the_kernels(ipmp_lab: Lab) -> None:
    """Read 300 ms after the reply arrived: the RTT still is the wire's, not the reader's."""
    lab = ipmp_lab
    with open_probe(lab, V4, "e0", E0_ADDR) as ps:
        ps.send("198.51.100.1", 1, ProbeKind.UNICAST)  # warm the router's ARP entry
        collect(ps, lambda r: len(r) >= 1)
        sent = ps.send("198.51.100.1", 2, ProbeKind.UNICAST)
        time.sleep(0.3)
        (reply,) = collect(ps, lambda r: len(r) >= 1)
        read = time.monotonic_ns()
        assert reply.sent_ns == sent
        assert 0 < reply.rtt_ns < 100 * MS
        assert read - reply.recv_ns > 200 * MS


def test_ipv4_probes_leave_with_ttl_one(ipmp_lab: Lab) -> None:
    """Seen by a raw socket on the router: unicast and all-hosts probes carry TTL 1."""
    lab = ipmp_lab
    assert lab.router is not None
    echo_hosts(lab)

    def sniffer() -> socket.socket:
        s = socket.socket(V4, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.setblocking(False)
        return s

    watch = in_netns(lab.router, sniffer)
    try:
        with open_probe(lab, V4, "e0", E0_ADDR) as ps:
            ps.send("198.51.100.1", 1, ProbeKind.UNICAST)
            ps.send(ALL_HOSTS4, 2, ProbeKind.MULTICAST)
            collect(ps, lambda r: len(r) >= 3)
        ttls: dict[str, int] = {}
        for _ in range(100):
            try:
                data = watch.recv(512)
            except BlockingIOError:
                break
            ihl = (data[0] & 0x0F) * 4
            if data[ihl] == ICMP_ECHO and data[ihl + 8 : ihl + 12] == PROBE_MAGIC:
                ttls[socket.inet_ntoa(data[16:20])] = data[8]
        assert ttls == {"198.51.100.1": 1, ALL_HOSTS4: 1}
    finally:
        watch.close()


def test_ipv4_multicast_discovers_router_and_client(ipmp_lab: Lab) -> None:
    lab = ipmp_lab
    echo_hosts(lab)
    with open_probe(lab, V4, "e0", E0_ADDR) as ps:
        sent = ps.send(ALL_HOSTS4, 3, ProbeKind.MULTICAST)
        replies = collect(ps, lambda r: len(r) >= 2)
        replies += settle(ps)
        # Sources are the responders' unicast addresses, never 224.0.0.1.
        assert sorted(r.source for r in replies) == ["198.51.100.1", "198.51.100.200"]
        for r in replies:
            assert (r.seq, r.kind, r.sent_ns, r.ident) == (3, ProbeKind.MULTICAST, sent, ps.ident)
            assert 0 < r.rtt_ns < 100 * MS


def test_ipv4_multicast_does_not_discover_own_other_nic(ipmp_lab: Lab) -> None:
    """Even when the node itself answers 224.0.0.1, e0's probe (heard by e1 through the
    switch) brings no reply from e1's address: unlike IPv6, see the next tests."""
    lab = ipmp_lab
    echo_hosts(lab)
    lab.sysctl(lab.node, "net.ipv4.icmp_echo_ignore_broadcasts", 0)
    with open_probe(lab, V4, "e0", E0_ADDR) as ps:
        ps.send(ALL_HOSTS4, 4, ProbeKind.MULTICAST)
        replies = collect(ps, lambda r: len(r) >= 2) + settle(ps)
        assert sorted(r.source for r in replies) == ["198.51.100.1", "198.51.100.200"]


def test_ipv4_multicast_unanswered_by_default(ipmp_lab: Lab) -> None:
    """Linux hosts ignore echo to 224.0.0.1 unless icmp_echo_ignore_broadcasts=0."""
    lab = ipmp_lab
    with open_probe(lab, V4, "e0", E0_ADDR) as ps:
        ps.send(ALL_HOSTS4, 1, ProbeKind.MULTICAST)
        assert ps.last_error is None
        assert settle(ps, seconds=0.4) == []


def test_members_never_see_each_others_replies_ipv4(ipmp_lab: Lab) -> None:
    lab = ipmp_lab
    echo_hosts(lab)
    with open_probe(lab, V4, "e0", E0_ADDR) as p0, open_probe(lab, V4, "e1", E1_ADDR) as p1:
        assert p0.ident != p1.ident
        for seq in (1, 2, 3):
            p0.send("198.51.100.1", seq, ProbeKind.UNICAST)
            p1.send("198.51.100.1", seq, ProbeKind.UNICAST)
            p0.send(ALL_HOSTS4, seq + 100, ProbeKind.MULTICAST)
            p1.send(ALL_HOSTS4, seq + 100, ProbeKind.MULTICAST)
        got0 = collect(p0, lambda r: len(r) >= 9)
        got1 = collect(p1, lambda r: len(r) >= 9)
        extra = settle(p0, p1)
        assert extra == []
        assert len(got0) == len(got1) == 9
        assert {r.ident for r in got0} == {p0.ident}
        assert {r.ident for r in got1} == {p1.ident}
        assert {r.ifindex for r in got0} == {lab.ifindex("e0")}
        assert {r.ifindex for r in got1} == {lab.ifindex("e1")}


def test_same_interface_other_ident_is_ignored_and_counted(ipmp_lab: Lab) -> None:
    """A second socket on the same NIC and address (another daemon, another pid) gets a
    copy of every reply, and must return none of them."""
    lab = ipmp_lab
    mine = open_probe(lab, V4, "e0", E0_ADDR)
    other = open_probe(lab, V4, "e0", E0_ADDR, pid=os.getpid() + 1)
    try:
        assert mine.ident != other.ident
        for seq in range(1, 4):
            mine.send("198.51.100.1", seq, ProbeKind.UNICAST)
        assert len(collect(mine, lambda r: len(r) >= 3)) == 3
        assert settle(other) == []
        assert other.ignored == {"not-ours": 3}
        assert not mine.ignored
    finally:
        mine.close()
        other.close()


def _forge_sender(lab: Lab) -> socket.socket:
    assert lab.client is not None
    return in_netns(lab.client, lambda: socket.socket(V4, socket.SOCK_RAW, socket.IPPROTO_ICMP))


def _forged_reply(ident: int, seq: int, *, corrupt: bool = False, icmp_type: int = 0) -> bytes:
    """What an echo reply to one of our probes looks like, with any identifier."""
    echo = bytearray(build_echo(V4, ident, seq, ProbeKind.UNICAST, time.monotonic_ns()))
    echo[0] = icmp_type
    echo[2:4] = b"\x00\x00"
    total = sum(struct.unpack(f"!{len(echo) // 2}H", bytes(echo)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    echo[2:4] = struct.pack("!H", ~total & 0xFFFF)
    if corrupt:
        echo[-1] ^= 0xFF
    return bytes(echo)


def test_forged_replies_are_ignored_and_counted(ipmp_lab: Lab) -> None:
    lab = ipmp_lab
    forger = _forge_sender(lab)
    try:
        with open_probe(lab, V4, "e0", E0_ADDR) as p0, open_probe(lab, V4, "e1", E1_ADDR) as p1:
            foreign = p0.ident ^ 0x8000
            assert foreign != p1.ident
            forger.sendto(_forged_reply(foreign, 1), (E0_ADDR, 0))  # wrong ident
            forger.sendto(_forged_reply(p0.ident, 2, corrupt=True), (E0_ADDR, 0))
            # An echo *request*: the kernel's ICMP_FILTER drops it before we see it.
            forger.sendto(_forged_reply(p0.ident, 3, icmp_type=ICMP_ECHO), (E0_ADDR, 0))
            # e0's identifier, but arriving on e1 (sent to e1's address): not e1's reply,
            # and never e0's either (it did not arrive on e0).
            forger.sendto(_forged_reply(p0.ident, 4), (E1_ADDR, 0))
            # Somebody else's big ping reply: longer than our receive buffer.
            big = _forged_reply(foreign, 7) + bytes(1000)
            forger.sendto(big, (E0_ADDR, 0))
            # Positive controls, sent last on the same path: once they are in, so is the rest.
            forger.sendto(_forged_reply(p0.ident, 5), (E0_ADDR, 0))
            forger.sendto(_forged_reply(p1.ident, 6), (E1_ADDR, 0))
            got0 = collect(p0, lambda r: len(r) >= 1)
            got1 = collect(p1, lambda r: len(r) >= 1)
            got0 += settle(p0)
            got1 += settle(p1)
            assert [(r.seq, r.source) for r in got0] == [(5, "198.51.100.200")]
            assert [(r.seq, r.source) for r in got1] == [(6, "198.51.100.200")]
            assert p0.ignored == {"not-ours": 2, "bad-checksum": 1}
            assert p1.ignored == {"not-ours": 1}
    finally:
        forger.close()


# --------------------------------------------------------------------------- IPv6


def test_ipv6_link_local_probe_is_answered(ipmp_lab: Lab) -> None:
    lab = ipmp_lab
    assert lab.router is not None
    router_ll = link_local(lab, lab.router, "eth0")
    with open_probe(lab, V6, "e0", link_local(lab, lab.node, "e0")) as ps:
        for seq, kind in ((1, ProbeKind.UNICAST), (2, ProbeKind.RTT)):
            sent = ps.send(router_ll, seq, kind)
            assert ps.last_error is None
            (reply,) = collect(ps, lambda r: len(r) >= 1)
            assert reply == Reply(
                V6, router_ll, ps.ident, seq, kind, sent, reply.recv_ns, lab.ifindex("e0")
            )
            assert 0 < reply.rtt_ns < 100 * MS
        # A scoped destination ("%e0") is accepted too.
        ps.send(f"{router_ll}%e0", 3, ProbeKind.UNICAST)
        assert [r.seq for r in collect(ps, lambda r: len(r) >= 1)] == [3]
        assert not ps.ignored


def test_ipv6_multicast_discovers_link_local_sources(ipmp_lab: Lab) -> None:
    lab = ipmp_lab
    assert lab.router is not None and lab.client is not None
    expected = {link_local(lab, lab.router, "eth0"), link_local(lab, lab.client, "eth0")}
    own_e1 = link_local(lab, lab.node, "e1")  # past DAD, so that e1 can answer
    with open_probe(lab, V6, "e0", link_local(lab, lab.node, "e0")) as ps:
        sent = ps.send(ALL_HOSTS6, 9, ProbeKind.MULTICAST)
        replies = collect(ps, lambda r: expected <= {x.source for x in r})
        replies += settle(ps)
        sources = {r.source for r in replies}
        assert expected <= sources
        # The node's own other NIC answers too (it hears ff02::1 through the switch): the
        # engine must drop its own addresses. Every source is a link-local unicast address.
        assert own_e1 in sources
        assert link_local(lab, lab.node, "e0") not in sources  # multicast loop is off
        assert all(s.startswith("fe80:") for s in sources)
        for r in replies:
            assert (r.seq, r.kind, r.sent_ns, r.ident) == (9, ProbeKind.MULTICAST, sent, ps.ident)


def test_ipv6_probes_leave_with_hop_limit_one(ipmp_lab: Lab) -> None:
    lab = ipmp_lab
    assert lab.router is not None
    router_ll = link_local(lab, lab.router, "eth0")

    def sniffer() -> socket.socket:
        s = socket.socket(V6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        return s

    watch = in_netns(lab.router, sniffer)
    try:
        with open_probe(lab, V6, "e0", link_local(lab, lab.node, "e0")) as ps:
            ps.send(router_ll, 1, ProbeKind.UNICAST)
            ps.send(ALL_HOSTS6, 2, ProbeKind.MULTICAST)
            collect(ps, lambda r: len(r) >= 3)
        hops: dict[int, int] = {}
        for _ in range(200):
            try:
                data, anc, _flags, _addr = watch.recvmsg(512, socket.CMSG_SPACE(4))
            except BlockingIOError:
                break
            if data[0] == ICMP6_ECHO_REQUEST and data[8:12] == PROBE_MAGIC:
                for level, ctype, cdata in anc:
                    if level == socket.IPPROTO_IPV6 and ctype == socket.IPV6_HOPLIMIT:
                        hops[struct.unpack("!H", data[6:8])[0]] = struct.unpack("=i", cdata)[0]
        assert hops == {1: 1, 2: 1}
    finally:
        watch.close()


def test_members_never_see_each_others_replies_ipv6(ipmp_lab: Lab) -> None:
    lab = ipmp_lab
    assert lab.router is not None
    router_ll = link_local(lab, lab.router, "eth0")
    ll0, ll1 = link_local(lab, lab.node, "e0"), link_local(lab, lab.node, "e1")
    with open_probe(lab, V6, "e0", ll0) as p0, open_probe(lab, V6, "e1", ll1) as p1:
        for seq in (1, 2):
            p0.send(router_ll, seq, ProbeKind.UNICAST)
            p1.send(router_ll, seq, ProbeKind.UNICAST)
        p0.send(ALL_HOSTS6, 50, ProbeKind.MULTICAST)
        p1.send(ALL_HOSTS6, 50, ProbeKind.MULTICAST)
        got0 = collect(p0, lambda r: len(r) >= 4)
        got1 = collect(p1, lambda r: len(r) >= 4)
        got0 += settle(p0)
        got1 += settle(p1)
        assert {r.ident for r in got0} == {p0.ident}
        assert {r.ident for r in got1} == {p1.ident}
        assert sorted(r.seq for r in got0 if r.kind == ProbeKind.UNICAST) == [1, 2]
        assert sorted(r.seq for r in got1 if r.kind == ProbeKind.UNICAST) == [1, 2]
        # Our own multicast is not looped back to our own stack: no reply from ourselves.
        assert ll0 not in {r.source for r in got0}
        assert ll1 not in {r.source for r in got1}


# --------------------------------------------------------------------------- failures


def test_send_with_cable_pulled_does_not_raise(ipmp_lab: Lab) -> None:
    lab = ipmp_lab
    ll0 = link_local(lab, lab.node, "e0")
    with open_probe(lab, V4, "e0", E0_ADDR) as p4, open_probe(lab, V6, "e0", ll0) as p6:
        lab.pull_cable("e0")
        assert not lab.carrier("e0")
        before = time.monotonic_ns()
        for seq in range(1, 4):
            assert p4.send("198.51.100.1", seq, ProbeKind.UNICAST) >= before
            assert p6.send("fe80::1", seq, ProbeKind.UNICAST) >= before
            assert p4.send(ALL_HOSTS4, seq, ProbeKind.MULTICAST) >= before
            assert p6.send(ALL_HOSTS6, seq, ProbeKind.MULTICAST) >= before
        assert settle(p4, p6) == []

        # The NIC vanishes altogether (hot-unplug): still no exception, the error is kept.
        lab.delete_nic("e0")
        t = p4.send("198.51.100.1", 9, ProbeKind.UNICAST)
        assert isinstance(t, int) and t >= before
        assert isinstance(p4.last_error, OSError)
        assert p4.last_error.errno in (errno.ENETUNREACH, errno.ENODEV, errno.ENXIO)
        p6.send(ALL_HOSTS6, 9, ProbeKind.MULTICAST)
        assert isinstance(p6.last_error, OSError)
        assert p4.receive() == [] and p6.receive() == []


def test_send_after_close_and_to_garbage_does_not_raise(ipmp_lab: Lab) -> None:
    lab = ipmp_lab
    ps = open_probe(lab, V4, "e0", E0_ADDR)
    ps.send("not-an-address", 1, ProbeKind.UNICAST)
    assert isinstance(ps.last_error, OSError)
    ps.close()
    ps.close()
    assert ps.fileno() == -1
    assert isinstance(ps.send("198.51.100.1", 2, ProbeKind.UNICAST), int)
    assert ps.last_error is not None and ps.last_error.errno == errno.EBADF
    assert ps.receive() == []


def test_constructor_refuses_an_address_not_on_the_host(ipmp_lab: Lab) -> None:
    """Binding fails for an address the node does not have: the daemon learns at once
    that its test address is gone, instead of sending probes nobody can answer."""
    lab = ipmp_lab
    with pytest.raises(OSError) as info:
        open_probe(lab, V4, "e0", "198.51.100.99")
    assert info.value.errno == errno.EADDRNOTAVAIL
    with pytest.raises(OSError) as info:
        in_netns(lab.node, lambda: ProbeSocket(V4, "nosuch0", 999, E0_ADDR))
    assert info.value.errno == errno.ENODEV  # SO_BINDTODEVICE
