"""What the daemon's probe sockets share: kernel receive stamps on the monotonic clock,
a bounded non-blocking drain, and the socket's life cycle (fileno, close, with-block).

Used by the ICMP probe sockets (``net/icmp.py``) and the transitive probe sockets
(``net/transitive.py``), so that both kinds of probe are timed alike. Why kernel stamps
and how they are converted: docs/design.md, "Probe sockets".
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any, Self

__all__ = [
    "ANC_BUFSIZE",
    "MAX_DRAIN",
    "OwnedSocket",
    "RxStamps",
    "attach_host_only_filter",
    "drain",
    "enable_rx_timestamps",
    "kernel_stamp",
    "realtime_to_monotonic",
]

# SO_TIMESTAMPNS_NEW (asm-generic/socket.h, Linux >= 5.1) delivers a 64-bit
# __kernel_timespec on every architecture; SO_TIMESTAMPNS_OLD (35) is the fallback, whose
# timespec is the native one (64-bit on x86_64/arm64). The cmsg type equals the option.
SO_TIMESTAMPNS_NEW = 64
SO_TIMESTAMPNS_OLD = 35
_TIMESPEC64 = struct.Struct("=qq")
_TIMESPEC_NATIVE = struct.Struct("@ll")
# At most this many datagrams per receive() call, so that a flood cannot pin the event
# loop; what is left is still readable and the loop calls us again.
MAX_DRAIN = 256
# A timespec carried as ancillary data: room for the 64-bit layout.
ANC_BUFSIZE = socket.CMSG_SPACE(_TIMESPEC64.size)


def enable_rx_timestamps(sock: socket.socket) -> None:
    """Ask the kernel to stamp every datagram it queues on ``sock`` (CLOCK_REALTIME)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS_NEW, 1)
    except OSError:  # kernel < 5.1
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS_OLD, 1)


# A classic BPF program (linux/filter.h) that keeps only frames addressed to the
# interface's own MAC: load the packet type (SKF_AD_PKTTYPE, an ancillary field at
# SKF_AD_OFF), accept PACKET_HOST whole, drop anything else (broadcast, multicast, and in
# promiscuous mode other hosts' frames) before it is queued. Each instruction is
# struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}.
_SO_ATTACH_FILTER = 26
_SKF_AD_PKTTYPE = (-0x1000 + 4) & 0xFFFF_FFFF
_PACKET_HOST = 0
_HOST_ONLY = (
    (0x30, 0, 0, _SKF_AD_PKTTYPE),  # BPF_LD | BPF_B | BPF_ABS
    (0x15, 0, 1, _PACKET_HOST),  # BPF_JMP | BPF_JEQ | BPF_K: host -> next, else skip one
    (0x06, 0, 0, 0xFFFF_FFFF),  # BPF_RET | BPF_K: the whole frame
    (0x06, 0, 0, 0),  # BPF_RET | BPF_K: nothing
)


def attach_host_only_filter(sock: socket.socket) -> None:
    """Make the kernel queue on ``sock`` only frames addressed to its interface's own MAC
    (PACKET_HOST). OSError if the kernel refuses the program."""
    program = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *insn)
                                                   for insn in _HOST_ONLY))
    # struct sock_fprog {unsigned short len; struct sock_filter *filter}, native layout;
    # the kernel copies the program during the call.
    fprog = struct.pack("@HP", len(_HOST_ONLY), ctypes.addressof(program))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


def kernel_stamp(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The kernel's receive timestamp (CLOCK_REALTIME ns) from recvmsg's ancillary data;
    None if the kernel sent none (or an all-zero one: the skb was never stamped)."""
    for level, ctype, cdata in ancdata:
        if level != socket.SOL_SOCKET:
            continue
        if ctype == SO_TIMESTAMPNS_NEW and len(cdata) >= _TIMESPEC64.size:
            sec, nsec = _TIMESPEC64.unpack_from(cdata)
        elif ctype == SO_TIMESTAMPNS_OLD and len(cdata) >= _TIMESPEC_NATIVE.size:
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


class RxStamps:
    """The kernel stamps of one drain on the monotonic scale; the clocks' offset is read
    once per drain (at the first stamped datagram), not per datagram."""

    def __init__(self) -> None:
        self._offset: int | None = None

    def monotonic(self, ancdata: list[tuple[int, int, bytes]], now: int) -> int:
        """The datagram's kernel stamp, or ``now`` (its read time) if it has none."""
        real = kernel_stamp(ancdata)
        if real is None:
            return now
        if self._offset is None:
            self._offset = realtime_to_monotonic(0)
        return real + self._offset


class OwnedSocket:
    """The life cycle the probe sockets share (``_sock`` is None once closed) and their
    sends, which never raise: a lost probe is the engine's to count, not an error."""

    _sock: socket.socket | None = None
    last_error: OSError | None = None
    sent = 0
    send_errors = 0

    def _transmit(self, send: Callable[[socket.socket], object], what: str) -> bool:
        """Run ``send`` on the socket; True if the kernel took it. A closed socket
        (EBADF), the kernel's refusal, or a bad argument (ValueError, TypeError,
        OverflowError: EINVAL, ``what`` names it) is kept in :attr:`last_error` and
        counted in :attr:`send_errors`."""
        try:
            if self._sock is None:
                raise OSError(errno.EBADF, "probe socket is closed")
            send(self._sock)
        except (OSError, ValueError, TypeError, OverflowError) as exc:
            return self._failed(exc, what)
        self.sent += 1
        return True

    def _send(self, data: bytes, what: str) -> bool:
        """:meth:`_transmit` for a frame sent as it is (no address), without a callable
        to make per frame: the transitive probes' path."""
        sock = self._sock
        try:
            if sock is None:
                raise OSError(errno.EBADF, "probe socket is closed")
            sock.send(data)
        except (OSError, ValueError, TypeError, OverflowError) as exc:
            return self._failed(exc, what)
        self.sent += 1
        return True

    def _failed(self, exc: Exception, what: str) -> bool:
        """A send that did not happen: kept and counted (see :meth:`_transmit`)."""
        self.last_error = exc if isinstance(exc, OSError) else OSError(
            errno.EINVAL, f"bad {what}: {exc}")
        self.send_errors += 1
        return False

    def fileno(self) -> int:
        """The socket's descriptor for select/poll/asyncio; -1 once closed."""
        return self._sock.fileno() if self._sock is not None else -1

    def close(self) -> None:
        """Close the socket; safe to call twice. send() then only records EBADF."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def drain(owner: OwnedSocket, bufsize: int, limit: int
          ) -> Iterator[tuple[bytes, list[tuple[int, int, bytes]], int, Any, int]]:
    """What is readable now on ``owner``'s socket, at most ``limit`` (<= MAX_DRAIN)
    datagrams: (data, ancdata, flags, address, read time in monotonic ns). Stops at the
    first error, kept in ``owner.last_error``. Never blocks, never raises."""
    sock = owner._sock
    if sock is None:
        return
    for _ in range(min(limit, MAX_DRAIN)):
        try:
            data, ancdata, flags, addr = sock.recvmsg(bufsize, ANC_BUFSIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            owner.last_error = exc
            return
        yield data, ancdata, flags, addr, time.monotonic_ns()

