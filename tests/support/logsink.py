"""A stand-in for journald's or syslog's socket: the tests bind a datagram socket where
the daemon is told to log (IPMP_JOURNAL_SOCKET / IPMP_SYSLOG_SOCKET) and read what it
sent, byte for byte."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

# How long one recv waits before the deadline is checked again.
RECV_POLL_S = 0.2
MAX_DATAGRAM = 65536


def parse_journal(datagram: bytes) -> dict[str, str]:
    """The fields of one native-protocol datagram (KEY=value lines, or KEY, a 64-bit
    little-endian length and the raw value); a malformed one raises ValueError."""
    fields: dict[str, str] = {}
    rest = datagram
    while rest:
        line, nl, after = rest.partition(b"\n")
        if not nl:
            raise ValueError(f"field without a newline: {rest!r}")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            rest = after
        else:
            (size,) = struct.unpack("<Q", after[:8])
            value, end = after[8:8 + size], after[8 + size:9 + size]
            if end != b"\n":
                raise ValueError(f"binary field {line!r} not ended by a newline")
            key, rest = line, after[9 + size:]
        fields[key.decode()] = value.decode()
    return fields


class LogSink:
    """A bound datagram socket that collects every datagram sent to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(RECV_POLL_S)
        self.received: list[bytes] = []

    def wait_for(self, predicate: object, what: str, timeout: float) -> bytes:
        """The first datagram (received so far or until ``timeout``) that ``predicate``
        (bytes -> bool) accepts; AssertionError with what came instead."""
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for datagram in self.received[seen:]:
                if predicate(datagram):
                    return datagram
            seen = len(self.received)
            if time.monotonic() > deadline:
                raise AssertionError(f"no datagram with {what} within {timeout} s; got:\n"
                                     + "\n".join(repr(d) for d in self.received[-20:]))
            try:
                self.received.append(self.sock.recv(MAX_DATAGRAM))
            except TimeoutError:
                pass

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)
