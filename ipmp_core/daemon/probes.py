"""Probe I/O: the ICMP sockets the engine's probes leave through, and their replies."""

from __future__ import annotations

import logging
import socket

from ipmp_core.daemon.clock import now_ms
from ipmp_core.daemon.ready import ReadySet
from ipmp_core.engine.actions import Action, ProbeKind, SendProbe
from ipmp_core.engine.engine import Engine
from ipmp_core.net import icmp, icmp_packets

log = logging.getLogger("ipmpd")

# The engine's probe kinds as the payload carries them (in.mpathd's PROBE_* types).
_WIRE_KIND = {
    ProbeKind.UNICAST: icmp_packets.ProbeKind.UNICAST,
    ProbeKind.MULTICAST: icmp_packets.ProbeKind.MULTICAST,
    ProbeKind.RTT: icmp_packets.ProbeKind.RTT,
}


class ProbeIO:
    """Owns one probe socket per (member, family), opened on the first probe and
    re-opened when its source or ifindex changes, and the set that says which of them hold
    replies (``daemon/ready.py``): the sockets are read when the daemon's timer fires,
    not as each reply comes in (see TICK_BATCH_DIVISOR)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sockets: dict[tuple[str, int], icmp.ProbeSocket] = {}
        self.ready: ReadySet[tuple[str, int]] = ReadySet()
        self.errors: set[tuple[str, int]] = set()  # sockets that could not be opened

    def send(self, probe: SendProbe) -> list[Action]:
        """Send it; the engine's actions for it (its "sent" event) come back."""
        member = self.engine.members.get(probe.member)
        if member is None or not member.present:
            return []
        key = (probe.member, probe.family)
        sock = self.sockets.get(key)
        if sock is not None and (sock.source != probe.source or sock.ifindex != member.ifindex):
            self.close_socket(key)
            sock = None
        if sock is None:
            family = socket.AF_INET if probe.family == 4 else socket.AF_INET6
            try:
                sock = icmp.ProbeSocket(family, probe.member, member.ifindex, probe.source)
            except OSError as exc:
                # e.g. an IPv6 link-local still in DAD: the next probe tries again.
                level = logging.DEBUG if key in self.errors else logging.WARNING
                self.errors.add(key)
                log.log(level, "cannot probe from %s on %s: %s", probe.source, probe.member,
                        exc.strerror or exc)
                return []
            self.errors.discard(key)
            self.sockets[key] = sock
            self.ready.add(sock.fileno(), key)
        sent_ns = sock.send(probe.dest, probe.seq, _WIRE_KIND[probe.kind])
        if probe.kind is ProbeKind.MULTICAST:
            return []
        # The engine times the other two kinds (unicast and RTT-only probes).
        return self.engine.probe_sent(probe.member, probe.family, probe.seq, sent_ns / 1e6)

    def read_replies(self) -> list[Action]:
        """Every probe reply waiting in the sockets, given to the engine in the order
        the kernel received them, with the kernel's receive times and the time each is
        processed (in.mpathd's ackrecv and ackproc times)."""
        replies: list[tuple[int, str, int, icmp_packets.Reply]] = []
        for key in self.ready.ready(icmp.MAX_DRAIN):
            sock = self.sockets.get(key)
            if sock is not None:
                replies += [(r.recv_ns, key[0], key[1], r) for r in sock.receive(1)]
        if len(replies) > 1:
            replies.sort(key=lambda item: item[0])
        actions: list[Action] = []
        for recv_ns, member, family, reply in replies:
            actions += self.engine.probe_reply(
                member, family, reply.seq, reply.source, recv_ns / 1e6,
                processed_at=now_ms(),
            )
        return actions

    def close_socket(self, key: tuple[str, int]) -> None:
        sock = self.sockets.pop(key, None)
        if sock is not None:
            self.ready.discard(sock.fileno())
            sock.close()

    def close_stale(self) -> None:
        """Sockets of members gone, absent or no longer probing in that family."""
        for key in list(self.sockets):
            member = self.engine.members.get(key[0])
            fp = member.prober.families.get(key[1]) if member else None
            if fp is None or not fp.enabled or not member.present:
                self.close_socket(key)

    def close(self) -> None:
        for key in list(self.sockets):
            self.close_socket(key)
        self.ready.close()
