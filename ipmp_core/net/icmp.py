"""The daemon's probe sockets: in.mpathd-style ICMP / ICMPv6 echo probes on one interface.

The probe engine (sans-I/O, in ``ipmp_core.engine``) decides *when* to probe *what*; this
module only puts echo requests on the wire and hands back the replies that belong to them.
One :class:`ProbeSocket` per (interface, address family), as in.mpathd keeps one per
physical interface instance.

Why only the standard library (no scapy, no pyroute2): this is the daemon's hot path. A probe
goes out every FDT / 7 (about 1.4 s by default, far less with a short FDT) on every member,
and the RTT it measures feeds the adaptive failure-detection time, so building a packet must
cost microseconds, and the import must not add hundreds of milliseconds to start-up.

Wire format (in.mpathd's, see ipmp-semantics section 2): an ordinary echo request whose
identifier comes from the daemon's pid and the interface index (:func:`probe_ident`), and
whose payload is ``PROBE_MAGIC + seq (u16) + kind (u8) + pad (u8) + sent_ns (u64)``, all
big-endian.
Every echo responder copies the payload back, so the reply tells us which probe it answers,
what kind it was, and when it was sent, without any state on our side.

Why each socket option (see :class:`ProbeSocket`):

* ``SO_BINDTODEVICE`` + bind to the test address: a raw socket gets a copy of *every*
  ICMP packet the host receives, on any interface. Binding limits the copies to packets
  that arrived on our interface and are addressed to our test address, so e0's socket is
  not woken by e1's replies; the identifier check does the rest. It also pins the probe's
  outgoing interface: with ``oif`` fixed, Linux sends on-link even when no route covers
  the target (the test address may be ``noprefixroute``), which is what IPMP wants: a probe
  tests *this* NIC, never whichever one the routing table prefers.
* TTL / hop limit 1 (unicast and multicast): probes test the link; they must never be
  routed beyond it.
* ``IP_MULTICAST_IF`` / ``IPV6_MULTICAST_IF``: the all-hosts discovery probe (224.0.0.1 /
  ff02::1) must leave through this interface, not the one the multicast route picks.
* multicast loop off: otherwise our own all-hosts probe loops back to our own stack, and
  the host would discover itself as a target. It still hears the probe through the wire
  on its *other* NICs: over IPv6 (which answers ff02::1 by default) a probe from e0 is
  answered by e1's link-local too. Dropping our own addresses is the engine's job, which
  knows them all. (Not seen over IPv4, even with echo to 224.0.0.1 enabled on the host:
  the probe arrives from one of the host's own addresses.)
* ``ICMP_FILTER`` (IPv4) / ``ICMP6_FILTER`` (IPv6): the kernel drops every ICMP type but
  echo reply before it reaches us, so neighbour discovery, other hosts' pings and our own
  echo requests cost no wake-up. (The IPv4 filter covers types 0..31 only; higher types
  are passed by the kernel and counted as "not-reply" here.)
* ``SO_TIMESTAMPNS``: the receive time is the kernel's, taken when the packet arrived,
  not when the daemon's event loop got around to reading it.
  See :func:`realtime_to_monotonic`.

Validation: IPv4 raw sockets deliver the IP header and get their copy *before* the ICMP
layer has checked anything, so the ICMP checksum is verified here. For ICMPv6 the kernel
itself verifies the checksum of raw ICMPv6 sockets (which always have IPV6_CHECKSUM at
offset 2) and drops bad packets, so there is nothing to check (and we could not without the
pseudo-header's destination address).

Errors never raise out of :meth:`ProbeSocket.send` or :meth:`ProbeSocket.receive`: a probe
that could not be sent is a lost probe, and the engine counts it as such; the exception is
kept in ``last_error`` for the daemon to log. Only the constructor raises (bad interface,
address not yet usable, e.g. an IPv6 link-local still in DAD): the daemon retries later.
"""

from __future__ import annotations

import collections
import errno
import os
import socket
import struct
import sys
import time
from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "ICMP6_ECHO_REPLY",
    "ICMP6_ECHO_REQUEST",
    "ICMP_ECHO",
    "ICMP_ECHOREPLY",
    "IGNORE_REASONS",
    "PAYLOAD_LEN",
    "PROBE_MAGIC",
    "ProbeKind",
    "ProbeSocket",
    "Reply",
    "build_echo",
    "icmp_checksum",
    "inspect_reply",
    "parse_reply",
    "probe_ident",
    "realtime_to_monotonic",
]

# Identifies our payload among all the echo replies a raw socket sees ("ClearView Probe").
PROBE_MAGIC = b"CVpr"

ICMP_ECHOREPLY = 0
ICMP_ECHO = 8
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129

# Header: type, code, checksum, identifier, sequence (RFC 792 / RFC 4443, same layout).
_ICMP_HEADER = struct.Struct("!BBHHH")
# Payload: magic, seq, kind, one pad byte so that sent_ns is 8-byte aligned, sent_ns.
_PAYLOAD = struct.Struct("!4sHBxQ")
PAYLOAD_LEN = _PAYLOAD.size
_ECHO_LEN = _ICMP_HEADER.size + _PAYLOAD.size
_IPV4_MIN_HEADER = 20

# Socket options the socket module does not export (values from the Linux UAPI headers).
# SOL_RAW / ICMP_FILTER (linux/icmp.h): a u32 mask, a set bit drops ICMP type 0..31.
_SOL_RAW = 255
_ICMP_FILTER = 1
# ICMP6_FILTER (netinet/icmp6.h), level IPPROTO_ICMPV6: struct icmp6_filter, 8 x u32 in host
# order, a set bit blocks that type (ICMP6_FILTER_SETBLOCKALL, then SETPASS clears a bit).
_ICMP6_FILTER = 1
# SO_TIMESTAMPNS_NEW (asm-generic/socket.h, Linux >= 5.1) delivers a 64-bit
# __kernel_timespec on every architecture; SO_TIMESTAMPNS_OLD (35) is the fallback, whose
# timespec is the native one (64-bit on x86_64/arm64). The cmsg type equals the option.
_SO_TIMESTAMPNS_NEW = 64
_SO_TIMESTAMPNS_OLD = 35
_TIMESPEC64 = struct.Struct("=qq")
_TIMESPEC_NATIVE = struct.Struct("@ll")

# Probes never leave the link (in.mpathd sends with TTL / hop limit 1 for the same reason).
PROBE_TTL = 1
# Receive buffer per datagram: our replies are 20..60 + 24 bytes; anything longer is not
# ours, and MSG_TRUNC tells us so without reading it whole.
_RECV_BUFSIZE = 512
# At most this many datagrams per receive() call, so that a flood cannot pin the event
# loop; what is left is still readable and the loop calls us again.
MAX_DRAIN = 256
_MSG_TRUNC = int(socket.MSG_TRUNC)  # a plain int: IntFlag's & is slow, and this runs per packet
# A timespec carried as ancillary data: room for the 64-bit layout.
_ANC_BUFSIZE = socket.CMSG_SPACE(_TIMESPEC64.size)

# Why receive() dropped a datagram; keys of ProbeSocket.ignored.
IGNORE_REASONS = ("not-ours", "bad-checksum", "not-reply", "truncated")


class ProbeKind(IntEnum):
    """What a probe was sent for; travels in the payload (in.mpathd's PROBE_* types)."""

    UNICAST = 1  # PROBE_UNI: failure detection against a known target
    MULTICAST = 2  # PROBE_MULTI: all-hosts discovery of host targets
    RTT = 3  # PROBE_RTT: RTT measurement only


_KINDS = {kind.value: kind for kind in ProbeKind}


class Reply(NamedTuple):
    """One echo reply to one of our probes (a named tuple: one is made per reply).

    ``source`` is the responder's unicast address (also for replies to an all-hosts probe:
    that is how host targets are discovered), without any ``%scope`` suffix; ``sent_ns``
    comes from the payload, ``recv_ns`` is the kernel's receive time; both on the
    CLOCK_MONOTONIC scale, so ``recv_ns - sent_ns`` is the round-trip time.
    """

    family: int
    source: str
    ident: int
    seq: int
    kind: ProbeKind
    sent_ns: int
    recv_ns: int
    ifindex: int

    @property
    def rtt_ns(self) -> int:
        """Round-trip time in nanoseconds."""
        return self.recv_ns - self.sent_ns


def probe_ident(pid: int, ifindex: int) -> int:
    """The 16-bit ICMP identifier for probes of daemon ``pid`` on interface ``ifindex``.

    in.mpathd uses ``(pid & 0xff) << 8 | (ifindex & 0xff)``. We keep that layout (low byte:
    ifindex, high byte: pid) but fold the ifindex's upper byte into the pid byte, so that
    within one daemon every ifindex below 65536 gets a distinct identifier (in.mpathd's
    collides for ifindex 1 and 257, which long-running hosts with hot-plugged NICs or many
    VLANs do reach). Two daemons in one namespace collide when their pids agree modulo
    256, but each daemon owns its own test addresses, and the bind to the test address
    keeps their sockets from seeing each other's replies anyway.
    """
    if not 0 <= ifindex < 1 << 16:
        raise ValueError(f"ifindex out of range: {ifindex}")
    high = (pid ^ (ifindex >> 8)) & 0xFF
    return (high << 8) | (ifindex & 0xFF)


_LITTLE_ENDIAN = sys.byteorder == "little"


def icmp_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``: one's complement of the one's-complement
    sum of its 16-bit big-endian words, an odd last byte padded with zero.

    Computed as one big integer sum and folded, which is much faster in CPython than a loop
    over words (sum of a memoryview cast to native u16, then byte-swapped if little-endian).
    """
    if len(data) % 2:
        data = bytes(data) + b"\x00"
    total = sum(memoryview(data).cast("H"))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    if _LITTLE_ENDIAN:  # the words were read byte-swapped
        total = ((total & 0xFF) << 8) | (total >> 8)
    return ~total & 0xFFFF


def build_echo(family: int, ident: int, seq: int, kind: ProbeKind, sent_ns: int) -> bytes:
    """An ICMP (IPv4) or ICMPv6 echo request carrying our payload, ready for a raw socket.

    IPv4: the checksum is computed here (a raw IPPROTO_ICMP socket sends the bytes as they
    are). IPv6: the checksum is left 0 because the kernel computes it for every raw ICMPv6
    socket (it needs the source address, which only routing knows for sure).
    """
    if family == socket.AF_INET:
        icmp_type = ICMP_ECHO
    elif family == socket.AF_INET6:
        icmp_type = ICMP6_ECHO_REQUEST
    else:
        raise ValueError(f"unsupported address family {family}")
    ident &= 0xFFFF
    seq &= 0xFFFF
    payload = _PAYLOAD.pack(PROBE_MAGIC, seq, int(kind), sent_ns & 0xFFFF_FFFF_FFFF_FFFF)
    packet = bytearray(_ICMP_HEADER.pack(icmp_type, 0, 0, ident, seq) + payload)
    if family == socket.AF_INET:
        struct.pack_into("!H", packet, 2, icmp_checksum(packet))
    return bytes(packet)


def inspect_reply(family: int, data: bytes, source: str, recv_ns: int, ifindex: int) -> Reply | str:
    """Like :func:`parse_reply`, but says why a datagram was rejected: one of
    :data:`IGNORE_REASONS` instead of None (``receive()`` counts them).

    The identifier is *not* checked here (the parser cannot know which socket it serves).
    """
    if family == socket.AF_INET:
        if len(data) < _IPV4_MIN_HEADER:
            return "truncated"
        if data[0] >> 4 != 4:
            return "not-reply"
        ihl = (data[0] & 0x0F) * 4
        if ihl < _IPV4_MIN_HEADER:
            return "not-reply"
        if data[9] != socket.IPPROTO_ICMP:
            return "not-reply"
        (total_len,) = struct.unpack_from("!H", data, 2)
        if total_len > len(data) or total_len < ihl:
            return "truncated"
        icmp = data[ihl:total_len]
        reply_type = ICMP_ECHOREPLY
    elif family == socket.AF_INET6:
        icmp = data
        reply_type = ICMP6_ECHO_REPLY
    else:
        return "not-reply"
    if len(icmp) < _ICMP_HEADER.size:
        return "truncated"
    icmp_type, code, _cksum, ident, seq = _ICMP_HEADER.unpack_from(icmp)
    if icmp_type != reply_type or code != 0:
        return "not-reply"
    if len(icmp) < _ECHO_LEN:
        # Too short for our payload: truncated if what is there starts like ours.
        tail = icmp[_ICMP_HEADER.size :]
        return "truncated" if PROBE_MAGIC.startswith(tail[:4]) and tail else "not-ours"
    if family == socket.AF_INET and icmp_checksum(icmp) != 0:
        return "bad-checksum"
    magic, pseq, kind, sent_ns = _PAYLOAD.unpack_from(icmp, _ICMP_HEADER.size)
    if magic != PROBE_MAGIC or pseq != seq:
        return "not-ours"
    probe_kind = _KINDS.get(kind)
    if probe_kind is None:
        return "not-ours"
    return Reply(
        family=family,
        source=source.split("%", 1)[0],
        ident=ident,
        seq=seq,
        kind=probe_kind,
        sent_ns=sent_ns,
        recv_ns=recv_ns,
        ifindex=ifindex,
    )


def parse_reply(family: int, data: bytes, source: str, recv_ns: int, ifindex: int) -> Reply | None:
    """The :class:`Reply` in ``data`` (as read from a raw socket of ``family``), or None for
    anything that is not an intact echo reply carrying our magic: echo requests, other ICMP
    types, truncated packets, IPv4 packets with a bad ICMP checksum, foreign payloads.

    IPv4 data starts with the IP header (raw sockets deliver it); it is skipped by its IHL.
    """
    result = inspect_reply(family, data, source, recv_ns, ifindex)
    return result if isinstance(result, Reply) else None


def _kernel_stamp(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The kernel's receive timestamp (CLOCK_REALTIME ns) from recvmsg's ancillary data;
    None if the kernel sent none (or an all-zero one: the skb was never stamped)."""
    for level, ctype, cdata in ancdata:
        if level != socket.SOL_SOCKET:
            continue
        if ctype == _SO_TIMESTAMPNS_NEW and len(cdata) >= _TIMESPEC64.size:
            sec, nsec = _TIMESPEC64.unpack_from(cdata)
        elif ctype == _SO_TIMESTAMPNS_OLD and len(cdata) >= _TIMESPEC_NATIVE.size:
            sec, nsec = _TIMESPEC_NATIVE.unpack_from(cdata)
        else:
            continue
        stamp = int(sec) * 1_000_000_000 + int(nsec)
        return stamp if stamp > 0 else None
    return None


def realtime_to_monotonic(realtime_ns: int) -> int:
    """Convert a CLOCK_REALTIME stamp taken moments ago to the CLOCK_MONOTONIC scale.

    Why SO_TIMESTAMPNS and this conversion: the kernel stamps every received skb with
    CLOCK_REALTIME (skb->tstamp), and no receive-timestamp option reports CLOCK_MONOTONIC.
    SO_TIMESTAMPING's software RX stamp is the very same skb->tstamp, so it would only add
    a more complex cmsg (three timespecs); hardware stamps come from a NIC's PHC clock,
    which veth and most NICs do not have. So: offset = MONOTONIC - REALTIME, sampled now,
    with time_ns() bracketed by two monotonic reads and the midpoint taken.

    The error: the few hundred nanoseconds between the clock reads, plus whatever the
    realtime clock was slewed or stepped between the packet's arrival and now (receive()
    runs microseconds to milliseconds after arrival). NTP slews by at most 500 ppm, under
    1 us per ms of delay, far below the RTTs that matter; only a step (settimeofday, NTP
    step) is large, and receive() clamps converted stamps into [sent, now] for that.
    """
    mono_before = time.monotonic_ns()
    real = time.time_ns()
    mono_after = time.monotonic_ns()
    return realtime_ns + (mono_before + mono_after) // 2 - real


class ProbeSocket:
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
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS_NEW, 1)
        except OSError:  # kernel < 5.1
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS_OLD, 1)
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

    def fileno(self) -> int:
        """The socket's descriptor for select/poll/asyncio; -1 once closed."""
        return self._sock.fileno() if self._sock is not None else -1

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
        try:
            if self._sock is None:
                raise OSError(errno.EBADF, "probe socket is closed")
            packet = build_echo(self.family, self.ident, seq, kind, sent_ns)
            self._sock.sendto(packet, addr)
        except OSError as exc:
            self.last_error = exc
            self.send_errors += 1
        except (ValueError, TypeError, OverflowError) as exc:  # unparsable destination
            self.last_error = OSError(errno.EINVAL, f"bad probe destination {dest!r}: {exc}")
            self.send_errors += 1
        else:
            self.sent += 1
        return sent_ns

    def receive(self, limit: int = MAX_DRAIN) -> list[Reply]:
        """Drain what is readable now (at most ``limit`` datagrams) and return the
        echo replies to this socket's own probes (identifier == :attr:`ident`).
        A caller that polls for readability can read one at a time and save the
        system call that would only find the socket empty.

        Everything else is counted in :attr:`ignored` by reason. Never blocks, never raises.
        """
        replies: list[Reply] = []
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
            if flags & _MSG_TRUNC:
                # Longer than any reply to our probes: not ours, whatever it is (someone
                # else's big ping). "truncated" is for packets too *short* to be checked.
                self.ignored["not-ours"] += 1
                continue
            real = _kernel_stamp(ancdata)
            if real is not None and offset is None:
                offset = realtime_to_monotonic(0)
            stamp = real + offset if real is not None and offset is not None else now
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

    def close(self) -> None:
        """Close the socket; safe to call twice. send() then only records EBADF."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> ProbeSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        fam = "inet" if self.family == socket.AF_INET else "inet6"
        return (
            f"<ProbeSocket {fam} {self.ifname}#{self.ifindex} from {self.source} "
            f"ident={self.ident:#06x} fd={self.fileno()}>"
        )
