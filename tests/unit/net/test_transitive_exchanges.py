"""What makes a transitive frame genuine: the daemon's exchanges, shared by its sockets.
The sockets' kernel side is replaced by an in-memory one (the real kernel:
tests/netns/test_transitive_socket.py); everything else is the product's code.

A request is answered only if it is byte for byte one this daemon sent to that member
and not answered yet; an answer is accepted only if it is byte for byte the one expected
for an outstanding request, once. Every single altered byte is refused either way."""

from __future__ import annotations

import collections
from collections.abc import Iterator

import pytest

from ipmp_core.net import transitive
from ipmp_core.net.transitive import (
    MAX_OUTSTANDING,
    PACKET_HOST,
    Exchanges,
    TransitiveSocket,
)
from ipmp_core.net.transitive_frames import ETHERTYPE, PROOF_LEN

MACS = {"e0": bytes.fromhex("020000005301"), "e1": bytes.fromhex("020000005302"),
        "e2": bytes.fromhex("020000005303")}
IFINDEX = {"e0": 2, "e1": 3, "e2": 4}


class FakeKernelSocket:
    """An AF_PACKET socket's surface, in memory: frames sent are kept, frames put in
    ``inbox`` are received (as PACKET_HOST unless said otherwise), no stamps."""

    def __init__(self, *_args: object) -> None:
        self.sent: list[bytes] = []
        self.inbox: collections.deque[tuple[bytes, int]] = collections.deque()

    def setblocking(self, _flag: bool) -> None:
        pass

    def setsockopt(self, *_args: object) -> None:
        pass

    def bind(self, _addr: object) -> None:
        pass

    def fileno(self) -> int:
        return 99

    def close(self) -> None:
        pass

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        return len(data)

    def recvmsg(self, bufsize: int, _ancbufsize: int) -> tuple[bytes, list[object], int, tuple]:
        if not self.inbox:
            raise BlockingIOError
        data, pkttype = self.inbox.popleft()
        return data[:bufsize], [], 0, ("eth", ETHERTYPE, pkttype, 1, b"")

    def recv(self, bufsize: int) -> bytes:
        """What the kernel's filter lets through: frames to this interface's MAC."""
        while self.inbox:
            data, pkttype = self.inbox.popleft()
            if pkttype == PACKET_HOST:
                return data[:bufsize]
        raise BlockingIOError


@pytest.fixture
def fake_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transitive.socket, "socket", FakeKernelSocket)


class Node:
    """One daemon's sockets on the in-memory kernel, read one way (``stamped``: at a
    wake-up, with the kernel's stamps; or as the flush reads, without)."""

    def __init__(self, names: tuple[str, ...], stamped: bool,
                 exchanges: Exchanges | None = None) -> None:
        self.exchanges = Exchanges() if exchanges is None else exchanges
        self.stamped = stamped
        self.socks = {name: TransitiveSocket(name, IFINDEX[name], self.exchanges)
                      for name in names}

    def kernel(self, name: str) -> FakeKernelSocket:
        kernel = self.socks[name]._sock
        assert isinstance(kernel, FakeKernelSocket)
        return kernel

    def ask(self, seq: int = 7, requester: str = "e1", target: str = "e0",
            ifindex: int | None = None) -> bytes:
        """``requester`` sends request ``seq`` to ``target``; the request's bytes."""
        self.socks[requester].send(MACS[requester], MACS[target], seq, target,
                                   IFINDEX[target] if ifindex is None else ifindex)
        return self.kernel(requester).sent[-1]

    def deliver(self, name: str, *frames: bytes, pkttype: int = PACKET_HOST
                ) -> list[transitive.TransitiveReply]:
        self.kernel(name).inbox.extend((f, pkttype) for f in frames)
        return self.socks[name].receive(stamped=self.stamped)

    def answered(self, name: str) -> list[bytes]:
        return self.kernel(name).sent

    def ignored(self, name: str) -> dict[str, int]:
        return dict(self.socks[name].ignored)

    def close(self) -> None:
        for sock in self.socks.values():
            sock.close()


@pytest.fixture(params=[True, False], ids=["stamped", "unstamped"])
def stamped(request: pytest.FixtureRequest) -> bool:
    """Both ways of reading: at a wake-up (kernel stamps) and in the flush (without)."""
    return bool(request.param)


@pytest.fixture
def node(fake_kernel: None, stamped: bool) -> Iterator[Node]:
    daemon = Node(tuple(MACS), stamped)
    yield daemon
    daemon.close()


def test_a_genuine_request_is_answered_once_and_its_answer_accepted_once(node: Node) -> None:
    request = node.ask()
    assert node.deliver("e0", request) == []
    (answer,) = node.answered("e0")
    assert node.socks["e0"].answered == 1
    (reply,) = node.deliver("e1", answer)
    assert (reply.peer, reply.seq) == ("e0", 7) and reply.sent_ns <= reply.recv_ns
    # replays: the request is answered no more, the answer accepted no more
    assert node.deliver("e0", request) == [] and len(node.answered("e0")) == 1
    assert node.deliver("e1", answer) == []
    assert node.ignored("e0") == {"not-outstanding": 1}
    assert node.ignored("e1") == {"not-outstanding": 1}


def test_every_altered_byte_of_a_request_is_refused(node: Node) -> None:
    request = node.ask()
    altered = []
    for i in range(len(request)):
        copy = bytearray(request)
        copy[i] ^= 0x01
        altered.append(bytes(copy))
    node.deliver("e0", *altered)
    assert node.answered("e0") == []
    assert sum(node.ignored("e0").values()) == len(request)
    assert node.ignored("e0")["not-genuine"] > 0  # same nonce, other bytes
    # a forger's copies did not use up the exchange: the genuine request still counts
    node.deliver("e0", request)
    assert len(node.answered("e0")) == 1


def test_every_altered_byte_of_an_answer_is_refused(node: Node) -> None:
    node.deliver("e0", node.ask())
    (answer,) = node.answered("e0")
    altered = []
    for i in range(len(answer)):
        copy = bytearray(answer)
        copy[i] ^= 0x01
        altered.append(bytes(copy))
    assert node.deliver("e1", *altered) == []
    assert sum(node.ignored("e1").values()) == len(answer)
    assert [r.seq for r in node.deliver("e1", answer)] == [7]


def test_an_answer_needs_the_proof_only_the_member_asked_sends(node: Node) -> None:
    """What anyone who saw the request can make: the request turned round (as a reply,
    the MACs swapped) with any proof. Refused: the proof is secret until e0 answers."""
    request = bytearray(node.ask())
    forged = request[6:12] + request[0:6] + request[12:19] + b"\x02" + request[20:-PROOF_LEN]
    for proof in (bytes(PROOF_LEN), b"\xff" * PROOF_LEN):
        assert node.deliver("e1", bytes(forged) + proof) == []
    assert node.ignored("e1") == {"not-genuine": 2}


def test_another_daemons_requests_are_not_answered(fake_kernel: None, stamped: bool) -> None:
    ours, theirs = Node(("e0",), stamped), Node(("e1",), stamped)
    request = theirs.ask()
    assert ours.deliver("e0", request) == []
    assert ours.answered("e0") == [] and ours.ignored("e0") == {"not-outstanding": 1}
    ours.close()
    theirs.close()


def test_a_request_is_answered_only_by_the_port_asked(node: Node) -> None:
    """Two members with one MAC: the one whose socket the request reaches must be the
    one asked."""
    request = node.ask(target="e0")
    node.deliver("e2", request)
    assert node.answered("e2") == [] and node.ignored("e2") == {"wrong-port": 1}
    node.deliver("e0", request)
    assert len(node.answered("e0")) == 1


def test_frames_not_for_this_mac_are_not_answered(node: Node) -> None:
    """The kernel's filter keeps them out; a frame queued before the filter was attached
    is refused by the stamped read, which sees its packet type."""
    request = node.ask()
    node.deliver("e0", request, pkttype=1)  # PACKET_BROADCAST
    node.deliver("e0", request, pkttype=3)  # PACKET_OTHERHOST (promiscuous)
    assert node.answered("e0") == []
    assert node.ignored("e0") == ({"not-for-us": 2} if node.stamped else {})


def test_requests_in_flight_are_bounded_and_forgotten_with_their_socket(node: Node) -> None:
    first = node.ask(seq=0)
    for seq in range(1, 3 * MAX_OUTSTANDING):
        node.ask(seq=seq)
    assert len(node.exchanges) == MAX_OUTSTANDING  # the oldest are forgotten ...
    node.deliver("e0", first)
    assert node.answered("e0") == []  # ... and no longer answered
    last = node.ask(seq=5000)
    node.socks["e1"].close()
    assert len(node.exchanges) == 0
    node.deliver("e0", last)
    assert node.answered("e0") == []


def test_a_reused_seq_voids_the_older_request(node: Node) -> None:
    older = node.ask(seq=3)
    newer = node.ask(seq=3)
    node.deliver("e0", older, newer)
    assert len(node.answered("e0")) == 1  # the newer one only
    (reply,) = node.deliver("e1", *node.answered("e0"))
    assert reply.seq == 3
