"""Announcement bursts: gratuitous ARP / unsolicited neighbour advertisements that tell
the neighbours where a data address went, the first at once and the rest paced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ipmp_core.defaults_file import Defaults
from ipmp_core.engine.actions import AnnounceAgain
from ipmp_core.engine.engine import Engine
from ipmp_core.net.announce import Announcer
from ipmp_core.net.mac import ZERO_MAC, parse_mac


def mac_bytes(mac: str) -> bytes:
    """A member's MAC as bytes; all zeros while the kernel has not told it yet."""
    return parse_mac(mac) if mac else ZERO_MAC


class Bursts:
    """Owns the announcer's sockets and the running burst of each address (one at a
    time: a new one replaces it), paced by ``defaults`` (re-read on SIGHUP)."""

    def __init__(self, engine: Engine, announcer: Announcer, defaults: Defaults) -> None:
        self.engine = engine
        self.announcer = announcer
        self.defaults = defaults
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def announce(self, member_name: str, addr: Any) -> None:
        member = self.engine.members.get(member_name)
        if member is None:
            return
        key = str(addr.ip)
        self.cancel(key)
        mac = mac_bytes(member.mac)
        send: Callable[[], Any] = lambda: self.announcer.announce(  # noqa: E731
            member.name, member.ifindex, mac, addr.ip
        )
        d = self.defaults
        if d.announce_count <= 0:
            return
        send()  # the first one at once: it is what ends the outage
        self.tasks[key] = asyncio.create_task(_burst(send, d.announce_count,
                                                     d.announce_interval_ms,
                                                     d.announce_repeat_ms))

    def announce_again(self, again: AnnounceAgain) -> None:
        """Announce a data address again from the member holding it, as the engine
        clamped the request (an agent's arp_count_refresh, or its own count at start)."""
        member = self.engine.members[again.member]
        mac = mac_bytes(member.mac)
        ip = again.address.ip

        def send() -> Any:
            return self.announcer.announce(member.name, member.ifindex, mac, ip)

        if again.count:
            send()
            self.tasks[f"refresh {ip}"] = asyncio.create_task(
                _burst(send, again.count, again.interval_ms, 0))

    def cancel(self, key: str) -> None:
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for task in self.tasks.values():
            task.cancel()


async def _burst(send: Callable[[], Any], count: int, interval_ms: int,
                 repeat_ms: int) -> None:
    for _ in range(count - 1):
        await asyncio.sleep(interval_ms / 1000)
        send()
    if repeat_ms > 0:
        await asyncio.sleep(repeat_ms / 1000)
        for i in range(count):
            if i:
                await asyncio.sleep(interval_ms / 1000)
            send()
