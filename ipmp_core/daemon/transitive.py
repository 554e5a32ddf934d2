"""Transitive probe I/O: the engine's SendTransitive actions on the wire, the answers to
other members' requests, and the valid answers handed back to the engine.

Every present member of a group with transitive probing on gets one socket
(``net/transitive.py``): the members that probe send from theirs, the members probed
answer on theirs. Requester and answerer are this daemon, so the daemon knows when a
request is on its way: requests leave at the timer's wake-ups, and the same wake-up ends
with :meth:`TransitiveIO.flush`, which reads the members just asked (they answer) and
then the members that asked (the answers). Where the frames are back by then (a veth
pair and a Linux bridge deliver them within the sender's system call), a transitive
probe costs no wake-up of its own, like an ICMP probe whose reply waits for the next
tick. A request that arrives later (a physical switch, a busy host) wakes the event
loop, which watches the sockets of the members probed, and is answered at once, so the
requester's round trip never includes the daemon's timer; an answer that arrives later
waits for the next wake-up like an ICMP reply, timed by the kernel's receive stamp (see
ProbeIO). The exchanges in flight (what makes a request or an answer genuine) are in
memory only, shared by the daemon's sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ipmp_core.daemon.bursts import mac_bytes
from ipmp_core.daemon.clock import now_ms
from ipmp_core.daemon.ready import ReadySet
from ipmp_core.engine.actions import Action, SendTransitive
from ipmp_core.engine.engine import Engine
from ipmp_core.net.packet_rx import MAX_DRAIN
from ipmp_core.net.transitive import Exchanges, TransitiveReply, TransitiveSocket

log = logging.getLogger("ipmpd")


class TransitiveIO:
    """Owns the transitive sockets by member name (re-opened when the ifindex changes,
    closed when the member leaves, goes absent or its group stops transitive probing),
    the daemon's exchanges in flight, the set that says which sockets hold frames at a
    wake-up, and the answers read since the engine was last given them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.exchanges = Exchanges()
        self.sockets: dict[str, TransitiveSocket] = {}
        self.errors: set[str] = set()  # members whose socket could not be opened
        self.pending: list[tuple[str, TransitiveReply]] = []
        self.ready: ReadySet[str] = ReadySet()
        self._watched: dict[str, int] = {}  # members whose socket the event loop watches
        # Since the last flush: requests sent to each member probed, and by each member.
        self._asked: dict[str, int] = {}
        self._asking: dict[str, int] = {}

    # ------------------------------------------------------------------ sockets
    def wanted(self) -> dict[str, int]:
        """Member name -> ifindex of every present member of a transitive group."""
        members = self.engine.members
        out: dict[str, int] = {}
        for group in self.engine.groups.values():
            if not group.transitive_probing:
                continue
            for name in group.members:
                member = members.get(name)
                if member is not None and member.present and member.ifindex > 0:
                    out[name] = member.ifindex
        return out

    def sync(self) -> None:
        """Open the sockets wanted, close the others (after every batch)."""
        wanted = self.wanted()
        for name, sock in list(self.sockets.items()):
            if wanted.get(name) != sock.ifindex:
                self.close_socket(name)
        for name, ifindex in wanted.items():
            if name not in self.sockets:
                self._open(name, ifindex)

    def _open(self, name: str, ifindex: int) -> TransitiveSocket | None:
        try:
            sock = TransitiveSocket(name, ifindex, self.exchanges)
        except OSError as exc:
            level = logging.DEBUG if name in self.errors else logging.WARNING
            self.errors.add(name)
            log.log(level, "cannot send or answer transitive probes on %s: %s", name,
                    exc.strerror or exc)
            return None
        self.errors.discard(name)
        self.sockets[name] = sock
        self.ready.add(sock.fileno(), name)
        return sock

    def _watch(self, name: str, sock: TransitiveSocket) -> None:
        """A member probed answers a late request as it comes: the event loop reads its
        socket when readable (no loop, e.g. in tests: the next read_replies() does)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        fd = sock.fileno()
        loop.add_reader(fd, self._read, name, MAX_DRAIN)
        self._watched[name] = fd

    def _read(self, name: str, limit: int, stamped: bool = True) -> None:
        """At most ``limit`` frames from ``name``'s socket: its requests are answered, its
        answers kept for the engine (``stamped``: see TransitiveSocket.receive)."""
        sock = self.sockets.get(name)
        if sock is not None:
            for reply in sock.receive(limit, stamped):
                self.pending.append((name, reply))

    def _socket(self, name: str) -> TransitiveSocket | None:
        member = self.engine.members.get(name)
        if member is None or not member.present or member.ifindex <= 0:
            return None
        sock = self.sockets.get(name)
        if sock is not None and sock.ifindex != member.ifindex:
            self.close_socket(name)
            sock = None
        return sock if sock is not None else self._open(name, member.ifindex)

    # ------------------------------------------------------------------ I/O
    def send(self, action: SendTransitive) -> list[Action]:
        """Send it from ``member`` to ``target``'s MAC; the engine's actions for its
        send time come back. The target's socket is opened (and watched) too, so that
        it answers; both are read at the next :meth:`flush`."""
        members = self.engine.members
        name, target_name = action.member, action.target
        member, target = members.get(name), members.get(target_name)
        if member is None or target is None:
            return []
        sock = self.sockets.get(name)
        if sock is None or sock.ifindex != member.ifindex:
            sock = self._socket(name)
            if sock is None:
                return []
        if target_name not in self._watched:  # its first request (or a new socket)
            answering = self._socket(target_name)
            if answering is not None:
                self._watch(target_name, answering)
        # A MAC the kernel has not told yet is no MAC (not all zeros): the socket refuses
        # to build the frame, and the probe is lost rather than sent to nobody.
        sent_ns = sock.send(mac_bytes(member.mac) if member.mac else b"",
                            mac_bytes(target.mac) if target.mac else b"", action.seq,
                            target_name, target.ifindex)
        self._asked[target_name] = self._asked.get(target_name, 0) + 1
        self._asking[name] = self._asking.get(name, 0) + 1
        return self.engine.transitive_sent(name, action.seq, sent_ns / 1e6)

    def flush(self) -> list[Action]:
        """At the end of a wake-up that sent requests: the members asked read (at most)
        as many frames as they were sent, so they answer; then the members that asked
        read as many, so the answers that are back go to the engine now. A frame not
        back yet costs one receive that finds nothing here; it is read when it comes
        (a request, by the event loop) or at the next wake-up (an answer)."""
        if not self._asked:
            return []
        asked, self._asked = self._asked, {}
        asking, self._asking = self._asking, {}
        # Whatever is in these sockets came in during this wake-up (read_replies read
        # them at its start), so its read time is its receive time: no stamps needed.
        for counts in (asked, asking):
            for name, count in counts.items():
                self._read(name, count, stamped=False)
        return self._deliver() if self.pending else []

    def read_replies(self) -> list[Action]:
        """Every answer that came since the last call, given to the engine in the order
        the kernel received them, with the time each is processed."""
        for name in self.ready.ready(MAX_DRAIN):
            self._read(name, 1)
        return self._deliver()

    def _deliver(self) -> list[Action]:
        pending, self.pending = self.pending, []
        if len(pending) > 1:
            pending.sort(key=lambda item: item[1].recv_ns)
        actions: list[Action] = []
        for member, reply in pending:
            actions += self.engine.transitive_reply(member, reply.peer, reply.seq,
                                                    reply.recv_ns / 1e6,
                                                    processed_at=now_ms())
        return actions

    def ignored(self) -> dict[str, dict[str, int]]:
        """Refused frames by member and reason (for the statistics dump)."""
        return {name: dict(sock.ignored) for name, sock in self.sockets.items()
                if sock.ignored}

    def close_socket(self, name: str) -> None:
        sock = self.sockets.pop(name, None)
        if sock is None:
            return
        fd = sock.fileno()
        self.ready.discard(fd)
        if self._watched.pop(name, None) is not None:
            with contextlib.suppress(RuntimeError, ValueError, OSError):
                asyncio.get_running_loop().remove_reader(fd)
        sock.close()

    def close(self) -> None:
        for name in list(self.sockets):
            self.close_socket(name)
        self.ready.close()
