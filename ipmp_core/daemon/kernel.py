"""Following the kernel: netlink notifications of links, addresses and routes become
engine observations; lost notifications and a dead reader are answered with a fresh dump
(resync), and data or test addresses someone else removed are put back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from ipmp_core.daemon.clock import now_ms
from ipmp_core.daemon.executor import Executor
from ipmp_core.engine.actions import Action
from ipmp_core.engine.engine import Engine
from ipmp_core.net.link_events import (
    AddrEvent,
    EventsLost,
    LinkGone,
    LinkInfo,
    RoutesChanged,
)
from ipmp_core.net.netlink import Netlink

log = logging.getLogger("ipmpd")

# The kernel event reader is restarted when it dies; one that dies this many times within
# EVENT_RESTART_WINDOW_S is broken, not unlucky: the daemon then exits non-zero so that
# its supervisor (Pacemaker, systemd) restarts it whole. A daemon that does not hear the
# kernel must never keep running: it would keep addresses on dead links.
EVENT_RESTARTS_MAX = 5
EVENT_RESTART_WINDOW_S = 60.0
# Pause before a restart: a dump that fails at once is not retried in a tight loop.
EVENT_RESTART_DELAY_S = 0.5


class KernelFollower:
    """Owns the kernel event reader and its supervision (restarts within a window), the
    coalescing of route notifications into router dumps (``routers_pending``), and the
    restoring of addresses removed behind the daemon's back. Works under the daemon's
    ``lock``; ``schedule`` sets the daemon's timer after each change, ``on_deaf`` stops
    the daemon when the kernel can no longer be followed."""

    def __init__(self, engine: Engine, netlink: Netlink, lock: asyncio.Lock,
                 executor: Executor, *, schedule: Callable[[], None],
                 stopping: asyncio.Event, on_deaf: Callable[[], None]) -> None:
        self.engine = engine
        self.netlink = netlink
        self.lock = lock
        self.executor = executor
        self.schedule = schedule
        self.stopping = stopping
        self.on_deaf = on_deaf
        self.routers_pending = False
        self.routers_task: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ supervision
    async def follow(self) -> None:
        """Supervise the kernel event reader: when it dies, log why, resynchronise and
        start it again; when it keeps dying, stop the daemon (``on_deaf``)."""
        restarts: deque[float] = deque()
        failure: str | None = None
        while True:
            try:
                if failure is not None:
                    await self.resync(f"the event reader restarted after: {failure}")
                await self._watch()
                raise RuntimeError("the kernel event stream ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
                now = time.monotonic()
                while restarts and now - restarts[0] > EVENT_RESTART_WINDOW_S:
                    restarts.popleft()
                if len(restarts) >= EVENT_RESTARTS_MAX:
                    log.critical("The kernel event reader failed %d times within %.0f s "
                                 "(last: %s); ipmpd exits so that it is restarted: it "
                                 "cannot follow the kernel", len(restarts) + 1,
                                 EVENT_RESTART_WINDOW_S, failure, exc_info=exc)
                    self.on_deaf()
                    return
                restarts.append(now)
                log.error("The kernel event reader failed (%s); restarting it", failure,
                          exc_info=exc)
                await asyncio.sleep(EVENT_RESTART_DELAY_S)

    def ended(self, task: asyncio.Task[None]) -> None:
        """The supervisor itself must not end while the daemon runs."""
        if task.cancelled() or self.stopping.is_set():
            return
        exc = task.exception()
        if exc is not None:
            log.critical("The kernel event supervisor failed: %r", exc, exc_info=exc)
        self.on_deaf()

    async def _watch(self) -> None:
        while True:
            try:
                async for event in self.netlink.stream():
                    try:
                        await self._event(event)
                    except Exception:  # a bad event must not stop failure detection
                        log.exception("error while handling %s", event)
            except EventsLost as lost:
                await self.resync(lost.reason)

    # ------------------------------------------------------------------ resync
    async def resync(self, reason: str) -> None:
        """Notifications may have been lost: listen again on a new socket, then feed a
        fresh dump of links and addresses through the engine as at start (what vanished
        included), put back the data and test addresses someone removed meanwhile, and
        read the routers again. Under the lock: nothing the daemon changes falls between
        the new socket and the dump."""
        async with self.lock:
            lost = await self.netlink.reopen_events()
            log.warning("Kernel notifications were lost (%s; %s); resynchronising from a "
                        "fresh dump of links, addresses and routes", reason,
                        f"{lost} notifications dropped" if lost is not None
                        else "number dropped unknown")
            # Every removal the daemon made happened before the new socket listened:
            # their notifications went with the old one.
            self.executor.own_removals.clear()
            now = now_ms()
            links = await self.netlink.links()
            addresses = await self.netlink.addresses()
            actions = self._forget_vanished(links, addresses, now)
            for a in addresses:
                actions += self.engine.address_observed(
                    self.netlink.names.get(a.ifindex, ""), a.address, True, now,
                    prefixlen=a.prefixlen)
            await self.executor.execute(actions)
            await self._restore_missing()
            actions = []
            for link in links:
                actions += self.engine.link_observed(
                    link.name, now, ifindex=link.ifindex, mac=link.mac,
                    carrier=link.carrier, admin_up=link.admin_up)
            await self.executor.execute(actions)
            self.schedule()
        await self.refresh_routers()
        log.info("Resynchronised with the kernel: %d links, %d addresses", len(links),
                 len(addresses))

    def _forget_vanished(self, links: list[LinkInfo], addresses: list[AddrEvent],
                         now: float) -> list[Action]:
        """Links and addresses the engine believes present that the dump lacks."""
        out: list[Action] = []
        names = {link.name for link in links}
        for name in [n for n in self.engine.observed if n not in names]:
            out += self.engine.link_removed(name, now)
        present = {(self.netlink.names.get(a.ifindex, ""), a.address) for a in addresses}
        ips = {ip for _, ip in present}
        for ifname, linklocal in list(self.engine.linklocals.items()):
            if (ifname, linklocal) not in present:
                out += self.engine.address_observed(ifname, linklocal, False, now)
        for ip in [ip for ip in self.engine.local_addresses if ip not in ips]:
            out += self.engine.address_observed("", ip, False, now)
        return out

    async def _restore_missing(self) -> None:
        """Data and test addresses missing from the member that should hold them (their
        removal notification was lost): restored as if it had been heard."""
        present = {(self.netlink.names.get(a.ifindex, ""), a.address)
                   for a in await self.netlink.addresses()}
        for ifname, ip in self.engine.placed_addresses():
            if (ifname, ip) not in present:
                await self._restore_if_ours(ifname, ip)

    # ------------------------------------------------------------------ events
    async def _event(self, event: LinkInfo | LinkGone | AddrEvent | RoutesChanged) -> None:
        if isinstance(event, RoutesChanged):
            self.routes_changed()
            return
        async with self.lock:
            now = now_ms()
            if isinstance(event, AddrEvent):
                ifname = self.netlink.names.get(event.ifindex, "")
                if not event.added:
                    await self._restore_if_ours(ifname, event.address)
                actions = self.engine.address_observed(ifname, event.address, event.added, now,
                                                       prefixlen=event.prefixlen)
            elif isinstance(event, LinkInfo):
                actions = self.engine.link_observed(
                    event.name, now, ifindex=event.ifindex, mac=event.mac,
                    carrier=event.carrier, admin_up=event.admin_up,
                )
                if event.carrier is False:
                    actions += self._recheck_carriers(event.name, now)
            else:
                actions = self.engine.link_removed(event.name, now)
            await self.executor.execute(actions)
            self.schedule()

    def _recheck_carriers(self, name: str, now: float) -> list[Action]:
        """One member lost carrier: read the others' carrier flags now. The kernel
        notifies carrier changes of most devices (physical NICs among them) in batches
        at most once a second, so a second NIC of the same failed switch would otherwise
        be reported up to a second later. Triggered by an event: no polling."""
        member = self.engine.members.get(name)
        if member is None:
            return []
        out: list[Action] = []
        for other_name in self.engine.groups[member.group].members:
            other = self.engine.members[other_name]
            if other_name == name or not other.link_up:
                continue
            try:
                with open(f"/sys/class/net/{other_name}/carrier", encoding="ascii") as fh:
                    carrier = fh.read().strip() == "1"
            except OSError:  # admin down reads EINVAL: its own event will say so
                continue
            if not carrier:
                seen = self.engine.observed.get(other_name)
                if seen is not None:
                    out += self.engine.link_observed(other_name, now, ifindex=seen.ifindex,
                                                     mac=seen.mac, carrier=False,
                                                     admin_up=seen.admin_up)
        return out

    def routes_changed(self) -> None:
        """Coalesce a burst of route changes: one dump in flight at a time, and one more
        after it when anything changed while it ran (a dump per notification made a
        burst of them cost a dump each, and the daemon fell minutes behind)."""
        self.routers_pending = True
        if self.routers_task is None or self.routers_task.done():
            self.routers_task = asyncio.ensure_future(self._refresh_routers_while_pending())

    async def _refresh_routers_while_pending(self) -> None:
        while self.routers_pending:
            await self.refresh_routers()

    async def refresh_routers(self) -> None:
        self.routers_pending = False
        gateways = await self.netlink.gateways()
        async with self.lock:
            now = now_ms()
            for family, found in gateways.items():
                await self.executor.execute(self.engine.routers_observed(family, found, now))
            self.schedule()

    async def _restore_if_ours(self, ifname: str, address: str) -> None:
        """A data or test address disappeared without us: put it back (NetworkManager,
        systemd-networkd, a DHCP client or an operator's `ip addr flush`)."""
        own = self.executor.own_removals
        if (ifname, address) in own:
            own.discard((ifname, address))
            return
        actions = self.engine.removed_by_someone(ifname, address)
        if actions:
            await self.executor.execute(actions)
