"""The daemon's transitive-probe sockets: one AF_PACKET socket per member, on our
EtherType, and the table of exchanges they share.

A member that sends transitive probes (Solaris 11's probing without test addresses)
sends a request frame (``net/transitive_frames.py``) to the MAC of the member it probes;
that member's socket answers it. Requester and answerer are the same daemon, so the
request and the answer expected back are written together
(:func:`~ipmp_core.net.transitive_frames.exchange`) and the request is kept in the
daemon's :class:`Exchanges`, which all its sockets share. A socket answers a request
only if it is, byte for byte, one in that table, addressed to its interface and not
answered yet; the requester accepts an answer only if it is, byte for byte, the one
expected for one of its outstanding requests, once. Sockets never raise out of
send/receive: a failed send is a lost probe, a refused frame is counted in
:attr:`TransitiveSocket.ignored`. Kernel receive stamps as in ``net/icmp.py``. Why:
docs/design.md, "Wire format and sockets".
"""

from __future__ import annotations

import collections
import hmac
import socket
import time
from typing import NamedTuple

from ipmp_core.net.packet_rx import (
    MAX_DRAIN,
    OwnedSocket,
    RxStamps,
    attach_host_only_filter,
    drain,
    enable_rx_timestamps,
)
from ipmp_core.net.transitive_frames import (
    ETHERTYPE,
    FRAME_LEN,
    FRAME_PREFIX,
    NONCE_AT,
    NONCE_LEN,
    SEQ_AT,
    FrameType,
    exchange,
    refusal,
)

__all__ = [
    "IGNORE_REASONS",
    "MAX_OUTSTANDING",
    "Exchanges",
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
# Room for one frame and a little more: a longer one is not ours (MSG_TRUNC says so, or,
# read without flags, it fills the buffer).
_RECV_BUFSIZE = FRAME_LEN + 64
_MSG_TRUNC = int(socket.MSG_TRUNC)
_TYPE_AT = 19
_REQUEST = int(FrameType.REQUEST)
_REPLY = int(FrameType.REPLY)
_REQUEST_BYTE = bytes([_REQUEST])
_SEQ_MASK = 0xFFFF_FFFF
_PREFIX_AT, _PREFIX_END = 12, 12 + len(FRAME_PREFIX)
_NONCE_END = NONCE_AT + NONCE_LEN
_SEQ_END = SEQ_AT + 4
# Why receive() dropped a frame; keys of TransitiveSocket.ignored. "not-outstanding": no
# exchange of ours is waiting for it (a stray, another daemon's, a replay, or one already
# used); "not-genuine": one is, but these are not its bytes (forged or altered);
# "wrong-port": a genuine request that reached another of our interfaces than the one
# asked (two members with one MAC).
IGNORE_REASONS = ("not-for-us", "not-ours", "truncated", "not-outstanding", "not-genuine",
                  "wrong-port")


class TransitiveReply(NamedTuple):
    """A validated answer to one of this socket's requests. ``peer`` is the label given
    to :meth:`TransitiveSocket.send` (the daemon's name of the member asked); ``sent_ns``
    and ``recv_ns`` on the CLOCK_MONOTONIC scale, ``recv_ns`` from the kernel's stamp
    (read unstamped: the read time, moments after the frame came in)."""

    peer: str
    seq: int
    sent_ns: int
    recv_ns: int


# One of a socket's requests waiting for its answer: (answer, peer, sent_ns, nonce), a
# plain tuple (one per probe, on the daemon's hottest path).
_Request = tuple[bytes, str, int, bytes]


class Exchanges(dict[bytes, tuple[int, bytes, bytes]]):
    """The daemon's requests in flight, by nonce: (the ifindex that is to answer, 0 for
    whichever of ours the MAC reaches; the request; its answer), until answered or
    forgotten by their requester (at most MAX_OUTSTANDING per socket). One per daemon,
    shared by all its sockets; another daemon's requests are not in it, so they are not
    answered. Plain tuples: a probe makes one, on the daemon's hottest path."""


class TransitiveSocket(OwnedSocket):
    """An AF_PACKET socket bound to one interface and :data:`ETHERTYPE`, sharing the
    daemon's ``exchanges``. It answers every genuine request that reaches it and returns
    the genuine answers to its own requests. The constructor raises OSError if the socket
    cannot be set up (no such interface, not root); nothing else raises."""

    def __init__(self, ifname: str, ifindex: int, exchanges: Exchanges) -> None:
        self.ifname = ifname
        self.ifindex = ifindex
        self._exchanges = exchanges
        self.ignored: collections.Counter[str] = collections.Counter()
        self.last_error: OSError | None = None
        self.answered = 0
        # By seq, oldest first (a dict keeps insertion order).
        self._outstanding: dict[int, _Request] = {}
        # Protocol 0 until bound: no frame is queued before the filter is in place.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.setblocking(False)
            enable_rx_timestamps(sock)
            attach_host_only_filter(sock)
            sock.bind((ifname, ETHERTYPE))
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def send(self, src_mac: bytes, dst_mac: bytes, seq: int, peer: str,
             peer_ifindex: int = 0) -> int:
        """Send request ``seq`` from ``src_mac`` (this interface's MAC) to ``dst_mac``
        (the member ``peer``, whose socket on ``peer_ifindex`` is to answer; 0: any of
        ours). Returns the send time (CLOCK_MONOTONIC ns) whether or not the kernel took
        the frame: a failed send is a lost probe (:attr:`last_error`)."""
        sent_ns = time.monotonic_ns()
        try:
            request, answer = exchange(src_mac, dst_mac, seq, sent_ns)
        except ValueError as exc:  # a MAC not known yet
            self._failed(exc, "transitive probe")
            return sent_ns
        if self._send(request, "transitive probe"):
            nonce = request[NONCE_AT:_NONCE_END]
            self._exchanges[nonce] = (peer_ifindex, request, answer)
            self._remember(seq & _SEQ_MASK, (answer, peer, sent_ns, nonce))
        return sent_ns

    def _remember(self, seq: int, request: _Request) -> None:
        outstanding, exchanges = self._outstanding, self._exchanges
        old = outstanding.pop(seq, None)  # a reused seq: the older request is void
        if old is not None:
            exchanges.pop(old[3], None)
        outstanding[seq] = request
        if len(outstanding) > MAX_OUTSTANDING:
            exchanges.pop(outstanding.pop(next(iter(outstanding)))[3], None)

    def receive(self, limit: int = MAX_DRAIN, stamped: bool = True) -> list[TransitiveReply]:
        """Drain what is readable now (at most ``limit`` frames): answer the genuine
        requests, return the genuine answers to our requests, count the rest by reason
        in :attr:`ignored`. Never blocks, never raises. ``stamped=False`` for frames known
        to have come in during this wake-up (TransitiveIO.flush, right after the sends):
        they are read with recv(), without the kernel's stamp, flags and sender address
        (half the cost of a recvmsg with them), their read time standing for the stamp."""
        replies: list[TransitiveReply] = []
        sock = self._sock
        if not stamped and sock is not None:
            for _ in range(min(limit, MAX_DRAIN)):
                try:
                    data = sock.recv(_RECV_BUFSIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    self.last_error = exc
                    break
                now = time.monotonic_ns()
                # a frame that fills the buffer was longer: not ours
                reply = self._take(data, len(data) >= _RECV_BUFSIZE, now, now)
                if reply is not None:
                    replies.append(reply)
            return replies
        stamps = RxStamps()
        for data, ancdata, flags, addr, now in drain(self, _RECV_BUFSIZE, limit):
            # The kernel's filter keeps other frames out (attach_host_only_filter); a
            # frame queued before it was attached is still refused here.
            if addr[2] != PACKET_HOST:
                self.ignored["not-for-us"] += 1
                continue
            stamp = stamps.monotonic(ancdata, now) if data[_TYPE_AT:_TYPE_AT + 1] != \
                _REQUEST_BYTE else now
            reply = self._take(data, bool(flags & _MSG_TRUNC), stamp, now)
            if reply is not None:
                replies.append(reply)
        return replies

    def _take(self, data: bytes, truncated: bool, stamp: int, now: int
              ) -> TransitiveReply | None:
        """A frame read at ``now`` (the kernel's ``stamp``): a request is answered, a
        genuine answer returned, anything else counted."""
        if (not truncated and data[_PREFIX_AT:_PREFIX_END] == FRAME_PREFIX
                and len(data) >= FRAME_LEN):  # ours, the common case
            kind = data[_TYPE_AT]
            if kind == _REQUEST:
                self._answer(data[:FRAME_LEN])  # without the link's padding, if any
                return None
            if kind == _REPLY:
                return self._match(data[:FRAME_LEN], stamp, now)
        self.ignored["not-ours" if truncated else refusal(data) or "not-ours"] += 1
        return None

    def _answer(self, request: bytes) -> None:
        """Answered on the socket it came in on: the path back is the one it proved."""
        nonce = request[NONCE_AT:_NONCE_END]
        pending = self._exchanges.get(nonce)
        if pending is None:
            self.ignored["not-outstanding"] += 1
            return
        ifindex, genuine, answer = pending
        if genuine != request:  # kept: the genuine request may still come
            self.ignored["not-genuine"] += 1
        elif ifindex and ifindex != self.ifindex:
            self.ignored["wrong-port"] += 1
        else:
            del self._exchanges[nonce]  # answered once
            if self._send(answer, "answer"):
                self.answered += 1  # of the frames :attr:`sent`, the answers

    def _match(self, answer: bytes, stamp: int, now: int) -> TransitiveReply | None:
        """The answer to an outstanding request, consumed (a replay finds it gone). The
        comparison takes the same time wherever the bytes differ: the proof is secret."""
        seq = int.from_bytes(answer[SEQ_AT:_SEQ_END], "big")
        request = self._outstanding.get(seq)
        if request is None:
            self.ignored["not-outstanding"] += 1
            return None
        expected, peer, sent_ns, _nonce = request
        if not hmac.compare_digest(answer, expected):
            self.ignored["not-genuine"] += 1
            return None
        del self._outstanding[seq]
        # As for ICMP replies (net/icmp.py): a converted kernel stamp is clamped into
        # [sent, now], the interval the answer certainly arrived in.
        return TransitiveReply(peer, seq, sent_ns, min(max(stamp, sent_ns), now))

    def close(self) -> None:
        """Close the socket and forget its requests (their answers can no longer come
        in); safe to call twice."""
        for request in self._outstanding.values():
            self._exchanges.pop(request[3], None)
        self._outstanding.clear()
        super().close()

    def __repr__(self) -> str:
        return f"<TransitiveSocket {self.ifname}#{self.ifindex} fd={self.fileno()}>"
