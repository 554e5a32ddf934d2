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
import errno
import socket
import time
from typing import NamedTuple

# The kernel-stamp helpers of the ICMP probe sockets, shared so that both kinds of
# probe are timed alike.
from ipmp_core.net.icmp import (
    _ANC_BUFSIZE,
    _SO_TIMESTAMPNS_NEW,
    _SO_TIMESTAMPNS_OLD,
    MAX_DRAIN,
    _kernel_stamp,
    realtime_to_monotonic,
)
from ipmp_core.net.transitive_frames import (
    ETHERTYPE,
    FRAME_LEN,
    Frame,
    FrameType,
    build_frame,
    new_nonce,
    parse_frame,
    reply_to,
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


class TransitiveSocket:
    """An AF_PACKET socket bound to one interface and :data:`ETHERTYPE`, holding
    ``key`` (the daemon's HMAC key). It answers every valid request that reaches it and
    returns the valid answers to its own requests. The constructor raises OSError if
    the socket cannot be set up (no such interface, not root); nothing else raises."""

    def __init__(self, ifname: str, ifindex: int, key: bytes) -> None:
        self.ifname = ifname
        self.ifindex = ifindex
        self._key = key
        self.ignored: collections.Counter[str] = collections.Counter()
        self.last_error: OSError | None = None
        self.sent = self.send_errors = self.answered = 0
        self._outstanding: collections.OrderedDict[int, _Request] = collections.OrderedDict()
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
        try:
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS_NEW, 1)
            except OSError:  # kernel < 5.1
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS_OLD, 1)
            sock.bind((ifname, ETHERTYPE))
        except BaseException:
            sock.close()
            raise
        self._sock: socket.socket | None = sock

    def fileno(self) -> int:
        """The socket's descriptor for select/poll/asyncio; -1 once closed."""
        return self._sock.fileno() if self._sock is not None else -1

    def send(self, src_mac: bytes, dst_mac: bytes, seq: int, peer: str) -> int:
        """Send request ``seq`` from ``src_mac`` (this interface's MAC) to ``dst_mac``
        (the member ``peer``). Returns the send time (CLOCK_MONOTONIC ns) whether or not
        the kernel took the frame: a failed send is a lost probe (:attr:`last_error`)."""
        sent_ns = time.monotonic_ns()
        nonce = new_nonce()
        try:
            if self._sock is None:
                raise OSError(errno.EBADF, "transitive probe socket is closed")
            frame = build_frame(self._key, dst_mac, src_mac, FrameType.REQUEST, seq, nonce,
                                sent_ns)
            self._remember(seq, _Request(nonce, dst_mac, peer, sent_ns))
            self._sock.send(frame)
        except OSError as exc:
            self.last_error = exc
            self.send_errors += 1
        except (ValueError, TypeError, OverflowError) as exc:  # a MAC not yet known
            self.last_error = OSError(errno.EINVAL, f"bad transitive probe: {exc}")
            self.send_errors += 1
        else:
            self.sent += 1
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
        sock = self._sock
        if sock is None:
            return replies
        offset: int | None = None  # MONOTONIC - REALTIME, taken once per drain
        for _ in range(min(limit, MAX_DRAIN)):
            try:
                data, ancdata, flags, addr = sock.recvmsg(_RECV_BUFSIZE, _ANC_BUFSIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.last_error = exc
                break
            now = time.monotonic_ns()
            if addr[2] != PACKET_HOST:  # our own outgoing frames, other hosts' frames
                self.ignored["not-for-us"] += 1
                continue
            if flags & _MSG_TRUNC:
                self.ignored["not-ours"] += 1
                continue
            frame = parse_frame(self._key, data)
            if isinstance(frame, str):
                self.ignored[frame] += 1
                continue
            if frame.type is FrameType.REQUEST:
                self._answer(sock, frame)
                continue
            real = _kernel_stamp(ancdata)
            if real is not None and offset is None:
                offset = realtime_to_monotonic(0)
            stamp = real + offset if real is not None and offset is not None else now
            reply = self._match(frame, stamp, now)
            if reply is not None:
                replies.append(reply)
        return replies

    def _answer(self, sock: socket.socket, request: Frame) -> None:
        try:
            sock.send(reply_to(self._key, request))
        except OSError as exc:
            self.last_error = exc
            self.send_errors += 1
        else:
            self.answered += 1

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

    def close(self) -> None:
        """Close the socket; safe to call twice. send() then only records EBADF."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> TransitiveSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TransitiveSocket {self.ifname}#{self.ifindex} fd={self.fileno()}>"
