"""The daemon's transitive-probe sockets: one AF_PACKET socket per member, on our EtherType.

A member that sends transitive probes (Solaris 11's probing without test addresses)
sends a signed request frame (``net/transitive_frames.py``) to the MAC of the member it
probes; that member's socket answers at once. The requester accepts only an answer to
one of its outstanding requests (same seq and nonce, from the MAC it asked), once.
Sockets never raise out of send/receive: a failed send is a lost probe, a refused frame
is counted in :attr:`TransitiveSocket.ignored`. Kernel receive stamps as in
``net/icmp.py``. Why: docs/design.md, "Wire format and sockets".
"""

from __future__ import annotations

import collections
import socket
import time
from typing import NamedTuple

from ipmp_core.net.packet_rx import MAX_DRAIN, OwnedSocket, RxStamps, drain, enable_rx_timestamps
from ipmp_core.net.transitive_frames import (
    ETHERTYPE,
    FRAME_LEN,
    Frame,
    FrameCodec,
    FrameType,
    new_nonce,
)

__all__ = [
    "IGNORE_REASONS",
    "MAX_OUTSTANDING",
    "TransitiveReply",
    "TransitiveSocket",
]

# sockaddr_ll's pkttype (linux/if_packet.h): only frames addressed to this interface's
# own MAC count, not broadcast or multicast ones, nor, in promiscuous mode (tcpdump),
# other hosts' (PACKET_OTHERHOST): one request makes one member answer.
PACKET_HOST = 0
# Requests remembered per socket for their answers: in.mpathd sends NUM_PROBE_FAILS + 2
# probes per failure detection time, so 64 covers many FDTs of late answers; the oldest
# is forgotten first (its answer then counts as "not-outstanding").
MAX_OUTSTANDING = 64
# Room for one frame and a little more: a longer one is not ours (MSG_TRUNC says so).
_RECV_BUFSIZE = FRAME_LEN + 64
_MSG_TRUNC = int(socket.MSG_TRUNC)
_REQUEST = int(FrameType.REQUEST)
# Why receive() dropped a frame; keys of TransitiveSocket.ignored.
IGNORE_REASONS = ("not-for-us", "not-ours", "truncated", "bad-hmac", "not-outstanding",
                  "wrong-peer")


class TransitiveReply(NamedTuple):
    """A validated answer to one of this socket's requests. ``peer`` is the label given
    to :meth:`TransitiveSocket.send` (the daemon's name of the member asked); ``sent_ns``
    and ``recv_ns`` on the CLOCK_MONOTONIC scale, ``recv_ns`` from the kernel's stamp."""

    peer: str
    seq: int
    sent_ns: int
    recv_ns: int


class _Request(NamedTuple):
    nonce: bytes
    peer_mac: bytes
    peer: str
    sent_ns: int


class TransitiveSocket(OwnedSocket):
    """An AF_PACKET socket bound to one interface and :data:`ETHERTYPE`, holding
    ``key`` (the daemon's HMAC key). It answers every valid request that reaches it and
    returns the valid answers to its own requests. The constructor raises OSError if
    the socket cannot be set up (no such interface, not root); nothing else raises."""

    def __init__(self, ifname: str, ifindex: int, key: bytes) -> None:
        self.ifname = ifname
        self.ifindex = ifindex
        self._codec = FrameCodec(key)
        self.ignored: collections.Counter[str] = collections.Counter()
        self.last_error: OSError | None = None
        self.answered = 0
        self._outstanding: collections.OrderedDict[int, _Request] = collections.OrderedDict()
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
        try:
            sock.setblocking(False)
            enable_rx_timestamps(sock)
            sock.bind((ifname, ETHERTYPE))
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def send(self, src_mac: bytes, dst_mac: bytes, seq: int, peer: str) -> int:
        """Send request ``seq`` from ``src_mac`` (this interface's MAC) to ``dst_mac``
        (the member ``peer``). Returns the send time (CLOCK_MONOTONIC ns) whether or not
        the kernel took the frame: a failed send is a lost probe (:attr:`last_error`)."""
        sent_ns = time.monotonic_ns()
        nonce = new_nonce()

        def send(sock: socket.socket) -> None:
            sock.send(self._codec.build(dst_mac, src_mac, _REQUEST, seq, nonce, sent_ns))
            self._remember(seq, _Request(nonce, dst_mac, peer, sent_ns))

        self._transmit(send, "transitive probe")
        return sent_ns

    def _remember(self, seq: int, request: _Request) -> None:
        self._outstanding.pop(seq, None)  # a reused seq: the older request is void
        self._outstanding[seq] = request
        while len(self._outstanding) > MAX_OUTSTANDING:
            self._outstanding.popitem(last=False)

    def receive(self, limit: int = MAX_DRAIN) -> list[TransitiveReply]:
        """Drain what is readable now (at most ``limit`` frames): answer the valid
        requests, return the valid answers to our requests, count the rest by reason in
        :attr:`ignored`. Never blocks, never raises."""
        replies: list[TransitiveReply] = []
        stamps = RxStamps()
        for data, ancdata, flags, addr, now in drain(self, _RECV_BUFSIZE, limit):
            if addr[2] != PACKET_HOST:  # broadcast, multicast, other hosts' frames
                self.ignored["not-for-us"] += 1
                continue
            if flags & _MSG_TRUNC:
                self.ignored["not-ours"] += 1
                continue
            frame = self._codec.parse(data)
            if isinstance(frame, str):
                self.ignored[frame] += 1
                continue
            if frame.type is FrameType.REQUEST:
                self._answer(frame)
                continue
            reply = self._match(frame, stamps.monotonic(ancdata, now), now)
            if reply is not None:
                replies.append(reply)
        return replies

    def _answer(self, request: Frame) -> None:
        """Answered on the socket it came in on: the path back is the one it proved."""
        if self._transmit(lambda sock: sock.send(self._codec.reply_to(request)), "answer"):
            self.answered += 1  # of the frames :attr:`sent`, the answers

    def _match(self, frame: Frame, stamp: int, now: int) -> TransitiveReply | None:
        """The answer to an outstanding request, consumed (a replay finds it gone)."""
        request = self._outstanding.get(frame.seq)
        if request is None or request.nonce != frame.nonce:
            self.ignored["not-outstanding"] += 1
            return None
        if request.peer_mac != frame.src:
            self.ignored["wrong-peer"] += 1
            return None
        del self._outstanding[frame.seq]
        # As for ICMP replies (net/icmp.py): a converted kernel stamp is clamped into
        # [sent, now], the interval the answer certainly arrived in.
        recv_ns = min(max(stamp, request.sent_ns), now)
        return TransitiveReply(request.peer, frame.seq, request.sent_ns, recv_ns)

    def __repr__(self) -> str:
        return f"<TransitiveSocket {self.ifname}#{self.ifindex} fd={self.fileno()}>"
