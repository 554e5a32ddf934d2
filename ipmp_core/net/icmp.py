"""The daemon's probe sockets: one raw ICMP / ICMPv6 socket per (interface, address family).

The probe engine (sans-I/O, in ``ipmp_core.engine``) decides *when* to probe *what*; this
module only puts echo requests on the wire and hands back the replies that belong to them,
with the kernel's receive time. The packets themselves are built and checked in
``net/icmp_packets.py``. Why each socket option, why kernel timestamps, and why errors
never raise out of send/receive: docs/design.md, "Probe sockets".
"""

from __future__ import annotations

import collections
import os
import socket
import struct
import time

from ipmp_core.net.icmp_packets import (
    ICMP6_ECHO_REPLY,
    ICMP_ECHOREPLY,
    ProbeKind,
    Reply,
    build_echo,
    inspect_reply,
    probe_ident,
)

# kernel_stamp and realtime_to_monotonic: re-exported, the ICMP probe sockets' helpers
# before they were shared with the transitive ones.
from ipmp_core.net.packet_rx import (
    MAX_DRAIN,
    OwnedSocket,
    RxStamps,
    drain,
    enable_rx_timestamps,
    realtime_to_monotonic,
)
from ipmp_core.net.packet_rx import kernel_stamp as _kernel_stamp  # noqa: F401

__all__ = [
    "MAX_DRAIN",
    "PROBE_TTL",
    "ProbeSocket",
    "realtime_to_monotonic",
]

# Socket options the socket module does not export (values from the Linux UAPI headers).
# SOL_RAW / ICMP_FILTER (linux/icmp.h): a u32 mask, a set bit drops ICMP type 0..31.
_SOL_RAW = 255
_ICMP_FILTER = 1
# ICMP6_FILTER (netinet/icmp6.h), level IPPROTO_ICMPV6: struct icmp6_filter, 8 x u32 in host
# order, a set bit blocks that type (ICMP6_FILTER_SETBLOCKALL, then SETPASS clears a bit).
_ICMP6_FILTER = 1
# Probes never leave the link (in.mpathd sends with TTL / hop limit 1 for the same reason).
PROBE_TTL = 1
# Receive buffer per datagram: our replies are 20..60 + 24 bytes; anything longer is not
# ours, and MSG_TRUNC tells us so without reading it whole.
_RECV_BUFSIZE = 512
_MSG_TRUNC = int(socket.MSG_TRUNC)  # a plain int: IntFlag's & is slow, and this runs per packet
class ProbeSocket(OwnedSocket):
    """A raw ICMP (AF_INET) or ICMPv6 (AF_INET6) socket that probes from one test address
    on one interface and returns only the replies to its own probes.

    ``source`` is the test address (for IPv6 normally the interface's link-local, as
    in.mpathd probes from it). ``pid`` defaults to this process's; it only feeds
    :func:`probe_ident`. The constructor raises OSError if the socket cannot be set up
    (no such interface, address not (yet) assigned or still tentative, not root); nothing
    else in this class raises.

    The socket is non-blocking: register :meth:`fileno` with the event loop and call
    :meth:`receive` when it is readable.
    """

    def __init__(
        self,
        family: int,
        ifname: str,
        ifindex: int,
        source: str,
        *,
        pid: int | None = None,
    ) -> None:
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise ValueError(f"unsupported address family {family}")
        self.family = family
        self.ifname = ifname
        self.ifindex = ifindex
        self.source = source.split("%", 1)[0]
        self.ident = probe_ident(os.getpid() if pid is None else pid, ifindex)
        self.ignored: collections.Counter[str] = collections.Counter()
        self.last_error: OSError | None = None
        self.sent = 0
        self.send_errors = 0
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        self._sock: socket.socket | None = socket.socket(family, socket.SOCK_RAW, proto)
        try:
            self._setup(self._sock)
        except BaseException:
            self._sock.close()
            self._sock = None
            raise

    def _setup(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.ifname.encode())
        enable_rx_timestamps(sock)
        if self.family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, PROBE_TTL)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, PROBE_TTL)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            # struct ip_mreqn: multicast address (unused), local address, ifindex.
            mreqn = struct.pack(
                "=4s4si", b"\x00" * 4, socket.inet_pton(socket.AF_INET, self.source), self.ifindex
            )
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            # Drop every ICMP type below 32 except echo reply in the kernel.
            mask = ~(1 << ICMP_ECHOREPLY) & 0xFFFFFFFF
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("=I", mask))
            sock.bind((self.source, 0))
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, PROBE_TTL)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, PROBE_TTL)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
            words = [0xFFFFFFFF] * 8
            words[ICMP6_ECHO_REPLY >> 5] &= ~(1 << (ICMP6_ECHO_REPLY & 31)) & 0xFFFFFFFF
            sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("=8I", *words))
            # The scope id matters only for link-local sources, but is harmless otherwise.
            sock.bind((self.source, 0, 0, self.ifindex))

    # ------------------------------------------------------------------ I/O

    def send(self, dest: str, seq: int, kind: ProbeKind) -> int:
        """Send probe ``seq`` of ``kind`` to ``dest`` (a unicast target, 224.0.0.1 or ff02::1).

        Returns the send time (CLOCK_MONOTONIC ns, taken right before sendto and carried in
        the payload) whether or not the kernel accepted the packet: a failed send
        (ENETUNREACH, EHOSTUNREACH, ENOBUFS, EADDRNOTAVAIL, ENODEV after a NIC was removed,
        a closed socket, ...) is a lost probe, and the engine counts it as one. The error is
        kept in :attr:`last_error`.
        """
        dest = dest.split("%", 1)[0]
        addr: tuple[str, int] | tuple[str, int, int, int]
        if self.family == socket.AF_INET:
            addr = (dest, 0)
        else:
            addr = (dest, 0, 0, self.ifindex)
        sent_ns = time.monotonic_ns()
        packet = build_echo(self.family, self.ident, seq, kind, sent_ns)
        self._transmit(lambda sock: sock.sendto(packet, addr), f"probe destination {dest!r}")
        return sent_ns

    def receive(self, limit: int = MAX_DRAIN) -> list[Reply]:
        """Drain what is readable now (at most ``limit`` datagrams) and return the
        echo replies to this socket's own probes (identifier == :attr:`ident`).
        A caller that polls for readability can read one at a time and save the
        system call that would only find the socket empty.

        Everything else is counted in :attr:`ignored` by reason. Never blocks, never raises.
        """
        replies: list[Reply] = []
        stamps = RxStamps()
        for data, ancdata, flags, addr, now in drain(self, _RECV_BUFSIZE, limit):
            if flags & _MSG_TRUNC:
                # Longer than any reply to our probes: not ours, whatever it is (someone
                # else's big ping). "truncated" is for packets too *short* to be checked.
                self.ignored["not-ours"] += 1
                continue
            stamp = stamps.monotonic(ancdata, now)
            result = inspect_reply(self.family, data, str(addr[0]), stamp, self.ifindex)
            if isinstance(result, str):
                self.ignored[result] += 1
                continue
            if result.ident != self.ident:
                self.ignored["not-ours"] += 1
                continue
            # The reply certainly arrived between its send and now. A converted kernel
            # stamp can fall outside (the realtime clock is read at arrival, its offset
            # to the monotonic clock only now, and it may be slewed or stepped in
            # between: seen here up to 0.8 ms before the send, 2 replies in 4000), so it
            # is clamped into that interval. Not the read time: the daemon reads in
            # batches, and a reply read half a probe interval late is not a late reply.
            if not result.sent_ns <= stamp <= now:
                result = result._replace(recv_ns=min(max(stamp, result.sent_ns), now))
            replies.append(result)
        return replies

    def __repr__(self) -> str:
        fam = "inet" if self.family == socket.AF_INET else "inet6"
        return (
            f"<ProbeSocket {fam} {self.ifname}#{self.ifindex} from {self.source} "
            f"ident={self.ident:#06x} fd={self.fileno()}>"
        )
