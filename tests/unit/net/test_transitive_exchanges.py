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


def member(name: str, exchanges: Exchanges) -> tuple[TransitiveSocket, FakeKernelSocket]:
    sock = TransitiveSocket(name, IFINDEX[name], exchanges)
    kernel = sock._sock
    assert isinstance(kernel, FakeKernelSocket)
    return sock, kernel


@pytest.fixture
def daemon(fake_kernel: None) -> Iterator[dict[str, tuple[TransitiveSocket, FakeKernelSocket]]]:
    exchanges = Exchanges()
    members = {name: member(name, exchanges) for name in MACS}
    yield members
    for sock, _ in members.values():
        sock.close()


def ask(members: dict[str, tuple[TransitiveSocket, FakeKernelSocket]], seq: int = 7,
        requester: str = "e1", target: str = "e0", ifindex: int | None = None) -> bytes:
    """``requester`` sends request ``seq`` to ``target``; the request's bytes."""
    sock, kernel = members[requester]
    sock.send(MACS[requester], MACS[target], seq, target,
              IFINDEX[target] if ifindex is None else ifindex)
    return kernel.sent[-1]


@pytest.fixture(params=[True, False], ids=["stamped", "unstamped"])
def stamped(request: pytest.FixtureRequest) -> bool:
    """Both ways of reading: at a wake-up (kernel stamps) and in the flush (without)."""
    return bool(request.param)


STAMPED = [True]  # set by the autouse fixture below for each test


@pytest.fixture(autouse=True)
def _reading(stamped: bool) -> Iterator[None]:
    STAMPED[0] = stamped
    yield


def deliver(members: dict[str, tuple[TransitiveSocket, FakeKernelSocket]], name: str,
            *frames: bytes, pkttype: int = PACKET_HOST) -> list[transitive.TransitiveReply]:
    sock, kernel = members[name]
    kernel.inbox.extend((f, pkttype) for f in frames)
    return sock.receive(stamped=STAMPED[0])


def answered(members: dict[str, tuple[TransitiveSocket, FakeKernelSocket]], name: str
             ) -> list[bytes]:
    return members[name][1].sent


def test_a_genuine_request_is_answered_once_and_its_answer_accepted_once(daemon) -> None:  # noqa: ANN001
    request = ask(daemon)
    assert deliver(daemon, "e0", request) == []
    (answer,) = answered(daemon, "e0")
    assert daemon["e0"][0].answered == 1
    (reply,) = deliver(daemon, "e1", answer)
    assert (reply.peer, reply.seq) == ("e0", 7) and reply.sent_ns <= reply.recv_ns
    # replays: the request is answered no more, the answer accepted no more
    assert deliver(daemon, "e0", request) == [] and len(answered(daemon, "e0")) == 1
    assert deliver(daemon, "e1", answer) == []
    assert daemon["e0"][0].ignored == {"not-outstanding": 1}
    assert daemon["e1"][0].ignored == {"not-outstanding": 1}


def test_every_altered_byte_of_a_request_is_refused(daemon) -> None:  # noqa: ANN001
    request = ask(daemon)
    altered = []
    for i in range(len(request)):
        copy = bytearray(request)
        copy[i] ^= 0x01
        altered.append(bytes(copy))
    deliver(daemon, "e0", *altered)
    assert answered(daemon, "e0") == []
    assert sum(daemon["e0"][0].ignored.values()) == len(request)
    assert daemon["e0"][0].ignored["not-genuine"] > 0  # same nonce, other bytes
    # a forger's copies did not use up the exchange: the genuine request still counts
    deliver(daemon, "e0", request)
    assert len(answered(daemon, "e0")) == 1


def test_every_altered_byte_of_an_answer_is_refused(daemon) -> None:  # noqa: ANN001
    deliver(daemon, "e0", ask(daemon))
    (answer,) = answered(daemon, "e0")
    altered = []
    for i in range(len(answer)):
        copy = bytearray(answer)
        copy[i] ^= 0x01
        altered.append(bytes(copy))
    assert deliver(daemon, "e1", *altered) == []
    assert sum(daemon["e1"][0].ignored.values()) == len(answer)
    assert [r.seq for r in deliver(daemon, "e1", answer)] == [7]


def test_an_answer_needs_the_proof_only_the_member_asked_sends(daemon) -> None:  # noqa: ANN001
    """What anyone who saw the request can make: the request turned round (as a reply,
    the MACs swapped) with any proof. Refused: the proof is secret until e0 answers."""
    request = bytearray(ask(daemon))
    forged = request[6:12] + request[0:6] + request[12:19] + b"\x02" + request[20:-PROOF_LEN]
    for proof in (bytes(PROOF_LEN), b"\xff" * PROOF_LEN):
        assert deliver(daemon, "e1", bytes(forged) + proof) == []
    assert daemon["e1"][0].ignored == {"not-genuine": 2}


def test_another_daemons_requests_are_not_answered(fake_kernel: None) -> None:
    ours = {"e0": member("e0", Exchanges())}
    theirs = {"e1": member("e1", Exchanges())}
    request = ask({**ours, **theirs})
    assert deliver(ours, "e0", request) == []
    assert answered(ours, "e0") == [] and ours["e0"][0].ignored == {"not-outstanding": 1}


def test_a_request_is_answered_only_by_the_port_asked(daemon) -> None:  # noqa: ANN001
    """Two members with one MAC: the one whose socket the request reaches must be the
    one asked."""
    request = ask(daemon, target="e0")
    deliver(daemon, "e2", request)
    assert answered(daemon, "e2") == [] and daemon["e2"][0].ignored == {"wrong-port": 1}
    deliver(daemon, "e0", request)
    assert len(answered(daemon, "e0")) == 1


def test_frames_not_for_this_mac_are_not_answered(daemon) -> None:  # noqa: ANN001
    """The kernel's filter keeps them out; a frame queued before the filter was attached
    is refused by the stamped read, which sees its packet type."""
    request = ask(daemon)
    deliver(daemon, "e0", request, pkttype=1)  # PACKET_BROADCAST
    deliver(daemon, "e0", request, pkttype=3)  # PACKET_OTHERHOST (promiscuous)
    assert answered(daemon, "e0") == []
    assert daemon["e0"][0].ignored == ({"not-for-us": 2} if STAMPED[0] else {})


def test_requests_in_flight_are_bounded_and_forgotten_with_their_socket(fake_kernel: None
                                                                        ) -> None:
    exchanges = Exchanges()
    members = {name: member(name, exchanges) for name in ("e0", "e1")}
    first = ask(members, seq=0)
    for seq in range(1, 3 * MAX_OUTSTANDING):
        ask(members, seq=seq)
    assert len(exchanges) == MAX_OUTSTANDING  # the oldest are forgotten ...
    deliver(members, "e0", first)
    assert answered(members, "e0") == []  # ... and no longer answered
    last = ask(members, seq=5000)
    members["e1"][0].close()
    assert len(exchanges) == 0
    deliver(members, "e0", last)
    assert answered(members, "e0") == []
    members["e0"][0].close()


def test_a_reused_seq_voids_the_older_request(daemon) -> None:  # noqa: ANN001
    older = ask(daemon, seq=3)
    newer = ask(daemon, seq=3)
    deliver(daemon, "e0", older, newer)
    assert len(answered(daemon, "e0")) == 1  # the newer one only
    (reply,) = deliver(daemon, "e1", *answered(daemon, "e0"))
    assert reply.seq == 3
