"""Transitive probe sockets against the real kernel: two node NICs on the lab's switch, a
request from one is answered by the other and the answer validated; answers forged or
replayed from another namespace with scapy are refused; a port that drops everything
gets no answer; another daemon's requests are not answered.

Sockets are made in the lab's namespaces by a thread that joined them (netns_thread.py),
then used from the test's own thread."""

from __future__ import annotations

import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from netns_thread import in_netns

from ipmp_core.net.mac import parse_mac
from ipmp_core.net.transitive import Exchanges, TransitiveReply, TransitiveSocket
from ipmp_core.net.transitive_frames import ETHERTYPE, FRAME_LEN, PROOF_LEN, FrameType
from tests.support.lab import Lab

pytestmark = pytest.mark.netns

# An address no NIC of the lab has: requests to it stay outstanding for forgers to aim at.
GHOST_MAC = parse_mac("02:00:00:00:53:99")
ETH_P_ALL = 0x0003  # linux/if_ether.h: every protocol, outgoing frames included
PACKET_HOST_TYPE = 0  # linux/if_packet.h
PACKET_OUTGOING = 4
# How long a quiet socket is watched to show that nothing arrives (the lab's bridge
# forwards in well under a millisecond).
QUIET_S = 0.5


@pytest.fixture
def pair(make_lab: Callable[..., Lab]) -> Iterator[tuple[Lab, TransitiveSocket, TransitiveSocket]]:
    """A lab with e0 and e1 and no router, each NIC with a socket of one daemon (they
    share its exchanges)."""
    lab = make_lab(nics=2, with_router=False)
    exchanges = Exchanges()
    socks = [in_netns(lab.node,
                      lambda nic=nic: TransitiveSocket(nic, lab.ifindex(nic), exchanges))
             for nic in ("e0", "e1")]
    yield lab, socks[0], socks[1]
    for sock in socks:
        sock.close()


def mac(lab: Lab, nic: str) -> bytes:
    return parse_mac(lab.mac(nic))


def exchange(socks: list[TransitiveSocket], want: int, timeout: float = 2.0
             ) -> list[TransitiveReply]:
    """Let every socket receive (and answer) until ``want`` answers came or ``timeout``."""
    replies: list[TransitiveReply] = []
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.01) + 10):
        for sock in socks:
            replies += sock.receive()
        left = deadline - time.monotonic()
        if len(replies) >= want or left <= 0:
            break
        select.select(socks, [], [], min(left, 0.05))
    return replies


def test_request_is_answered_and_the_answer_validated(pair: tuple[Lab, TransitiveSocket,
                                                                  TransitiveSocket]) -> None:
    lab, s0, s1 = pair
    before = time.monotonic_ns()
    sent = [s1.send(mac(lab, "e1"), mac(lab, "e0"), seq, "e0") for seq in range(10, 15)]
    replies = exchange([s0, s1], want=5)
    after = time.monotonic_ns()
    assert sorted(r.seq for r in replies) == list(range(10, 15))
    assert {r.peer for r in replies} == {"e0"}
    assert sorted(r.sent_ns for r in replies) == sent
    assert all(before <= r.sent_ns <= r.recv_ns <= after for r in replies)
    assert s0.answered == 5 and s1.sent == 5 and s1.send_errors == 0
    # the other way round, and each socket saw its own outgoing frames only as such
    s0.send(mac(lab, "e0"), mac(lab, "e1"), 99, "e1")
    assert [(r.peer, r.seq) for r in exchange([s0, s1], want=1)] == [("e1", 99)]
    assert s1.answered == 1
    assert set(s1.ignored) <= {"not-for-us"} and set(s0.ignored) <= {"not-for-us"}


def sniff(lab: Lab, nic: str, run: Callable[[], object],
          keep: Callable[[bytes, tuple[Any, ...]], bool], most: int = 64) -> list[bytes]:
    """The transitive frames ``keep(data, address)`` chooses (up to ``most``) of those
    ``nic`` sends or receives while ``run`` runs, as the wire has them (what anyone on the
    link may see). Outgoing frames reach only ETH_P_ALL sockets."""
    sniffer = in_netns(lab.node, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                                       socket.htons(ETH_P_ALL)))
    try:
        sniffer.bind((nic, ETH_P_ALL))
        sniffer.setblocking(False)
        run()
        frames = []
        for _ in range(16 * most):  # other protocols' frames come in between
            try:
                data, addr = sniffer.recvfrom(FRAME_LEN + 64)
            except BlockingIOError:
                break
            if addr[1] == ETHERTYPE and keep(data, addr):
                frames.append(data)
                if len(frames) == most:
                    break
        return frames
    finally:
        sniffer.close()


def sniff_replies(lab: Lab, nic: str, run: Callable[[], object], most: int = 64
                  ) -> list[bytes]:
    """The answers (up to ``most``) that ``nic`` receives while ``run`` runs."""
    return sniff(lab, nic, run, lambda data, addr: addr[2] == PACKET_HOST_TYPE
                 and data[19] == FrameType.REPLY, most)


def sniff_request(lab: Lab, nic: str, run: Callable[[], object]) -> bytes:
    """The one request ``nic`` sends while ``run`` runs."""
    (request,) = sniff(lab, nic, run, lambda data, addr: addr[2] == PACKET_OUTGOING
                       and data[19] == FrameType.REQUEST, most=1)
    return request


def turned_round(request: bytes, proof: bytes) -> bytes:
    """A reply made from a request: MACs swapped, type 2, the given proof."""
    return (request[6:12] + request[0:6] + request[12:19] + bytes([FrameType.REPLY])
            + request[20:FRAME_LEN - PROOF_LEN] + proof)


def inject(lab: Lab, frames: list[bytes]) -> None:
    """Send raw frames with scapy's sendp from the client namespace, through the switch
    (a process of its own there: scapy learns its interfaces when imported)."""
    code = ("import sys\nfrom scapy.all import Ether, sendp\n"
            "sendp([Ether(bytes.fromhex(h)) for h in sys.argv[1:]], iface='eth0', verbose=0)\n")
    res = lab.run(lab.client or "", sys.executable, "-c", code, *(f.hex() for f in frames),
                  check=False)
    assert res.returncode == 0, res.stderr


def test_forged_and_replayed_answers_are_refused(pair: tuple[Lab, TransitiveSocket,
                                                             TransitiveSocket]) -> None:
    lab, s0, s1 = pair
    e0, e1 = mac(lab, "e0"), mac(lab, "e1")

    def genuine() -> None:
        s1.send(e1, e0, 1, "e0")
        assert len(exchange([s0, s1], want=1)) == 1

    captured = sniff_replies(lab, "e1", genuine)
    assert len(captured) == 1
    # outstanding requests for the forgers: to a MAC that answers nothing. What a forger
    # who saw them can send: each turned round as a reply, with a made-up proof.
    forged = []
    for seq in (2, 3, 4):
        request = sniff_request(lab, "e1", lambda seq=seq: s1.send(e1, GHOST_MAC, seq, "ghost"))
        forged.append(turned_round(request, bytes([seq]) * PROOF_LEN))
    altered = bytearray(captured[0])
    altered[-1] ^= 1  # the genuine answer with one bit of its proof changed
    inject(lab, [captured[0], captured[0], *forged, bytes(altered)])
    assert exchange([s0, s1], want=1, timeout=QUIET_S) == []
    assert s1.ignored["not-outstanding"] == 3  # the replays and the altered answer of seq 1
    assert s1.ignored["not-genuine"] == 3  # the answers made up for seqs 2, 3 and 4
    assert s0.answered == 1  # nothing in there was a request
    # the socket still takes a genuine answer. The replays carried e0's source MAC from
    # the client's port, so the switch may now send e0's frames there (MAC learning):
    # e0 speaks first, as the real owner does, and the switch learns its port again.
    s0.send(e0, GHOST_MAC, 9, "ghost")
    s1.send(e1, e0, 5, "e0")
    assert [r.seq for r in exchange([s0, s1], want=1)] == [5]


def test_port_dropping_everything_gets_no_answer(pair: tuple[Lab, TransitiveSocket,
                                                              TransitiveSocket]) -> None:
    lab, s0, s1 = pair
    e0, e1 = mac(lab, "e0"), mac(lab, "e1")
    s1.send(e1, e0, 1, "e0")
    assert len(exchange([s0, s1], want=1)) == 1
    lab.drop_port("e1")
    for seq in range(2, 7):
        s1.send(e1, e0, seq, "e0")
    assert exchange([s0, s1], want=1, timeout=QUIET_S) == []
    assert s0.answered == 1  # the requests never reached e0
    assert lab.carrier("e1")
    lab.undrop_icmp("e1")
    s1.send(e1, e0, 7, "e0")
    assert [r.seq for r in exchange([s0, s1], want=1)] == [7]


def test_another_daemons_requests_are_not_answered(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(nics=2, with_router=False, with_client=False)
    ours = in_netns(lab.node, lambda: TransitiveSocket("e0", lab.ifindex("e0"), Exchanges()))
    theirs = in_netns(lab.node,
                      lambda: TransitiveSocket("e1", lab.ifindex("e1"), Exchanges()))
    with ours, theirs:
        theirs.send(mac(lab, "e1"), mac(lab, "e0"), 1, "e0")
        assert exchange([ours, theirs], want=1, timeout=QUIET_S) == []
        assert ours.ignored["not-outstanding"] == 1 and ours.answered == 0


def test_send_errors_are_lost_probes_not_exceptions(pair: tuple[Lab, TransitiveSocket,
                                                                TransitiveSocket]) -> None:
    lab, s0, s1 = pair
    before = time.monotonic_ns()
    assert s1.send(b"\x02", mac(lab, "e0"), 1, "e0") >= before  # a MAC not yet known
    s1.close()
    assert s1.send(mac(lab, "e1"), mac(lab, "e0"), 2, "e0") >= before
    assert s1.send_errors == 2 and s1.sent == 0 and s1.receive() == []
    assert s1.fileno() == -1
    with pytest.raises(OSError):
        in_netns(lab.node, lambda: TransitiveSocket("nosuch0", 999, Exchanges()))


def test_only_frames_to_the_members_own_mac_are_answered(
        pair: tuple[Lab, TransitiveSocket, TransitiveSocket]) -> None:
    """A request must name the member's MAC: a broadcast one, or (in promiscuous mode,
    e.g. while tcpdump runs) one flooded to another MAC, is not answered. The kernel's
    filter drops them before they are queued: e1's socket never sees them, while a
    socket without the filter on the same NIC does."""
    lab, s0, s1 = pair
    lab.run(lab.node, "ip", "link", "set", "e1", "promisc", "on")
    unfiltered = in_netns(lab.node, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                                          socket.htons(ETHERTYPE)))
    try:
        unfiltered.bind(("e1", ETHERTYPE))
        s0.send(mac(lab, "e0"), b"\xff" * 6, 1, "everyone")
        s0.send(mac(lab, "e0"), GHOST_MAC, 2, "ghost")  # unknown to the switch: flooded
        assert exchange([s0, s1], want=1, timeout=QUIET_S) == []
        assert s1.answered == 0 and s1.ignored == {}
        seen = select.select([unfiltered], [], [], QUIET_S)[0]
        assert seen and unfiltered.recvfrom(FRAME_LEN + 64)[1][2] != 0  # not PACKET_HOST
    finally:
        unfiltered.close()
