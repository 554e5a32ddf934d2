"""Which probe sockets hold datagrams, asked when the daemon's timer fires.

The probe sockets (ICMP: ``daemon/probes.py``; transitive: ``daemon/transitive.py``) are
read at the timer's batched wake-ups, not as each datagram comes in (TICK_BATCH_DIVISOR):
one epoll set per kind says which of them to read, so that a wake-up costs one system
call for the sockets that hold nothing, and each datagram one receive.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["ReadySet"]

K = TypeVar("K")


class ReadySet(Generic[K]):
    """Descriptors registered under a key of the caller's; :meth:`ready` yields the keys of
    those that are readable now."""

    def __init__(self) -> None:
        self._poll = select.epoll()
        self._keys: dict[int, K] = {}

    def add(self, fd: int, key: K) -> None:
        self._keys[fd] = key
        self._poll.register(fd, select.EPOLLIN)

    def discard(self, fd: int) -> None:
        """Forget ``fd`` (before its socket is closed); unknown descriptors are ignored."""
        if self._keys.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):
                self._poll.unregister(fd)

    def ready(self, rounds: int) -> Iterator[K]:
        """The keys of the readable descriptors, round after round until none is readable
        (at most ``rounds`` rounds, so that a flood cannot pin the caller): read one
        datagram per key per round, since a socket rarely holds more than one, and
        reading it until it is empty would cost a second system call for each."""
        for _ in range(rounds):
            events = self._poll.poll(0)
            if not events:
                return
            for fd, _ in events:
                key = self._keys.get(fd)
                if key is not None:
                    yield key

    def close(self) -> None:
        self._keys.clear()
        self._poll.close()
