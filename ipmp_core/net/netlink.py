"""The daemon's netlink side, through pyroute2's asyncio API (the events, the address and
route dumps, the address batches and the route requests through ipmp_core.net
.event_reader, .dump, .addrbatch and .routereq: struct, fewer round trips, and the event
loop served in between).

Two sockets: one subscribed to link and address notifications (events, never polling),
one for requests. Nothing here decides anything; it reports what the kernel says and
carries out what the engine asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import socket
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV4_ROUTE,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_IPV6_ROUTE,
    RTMGRP_LINK,
)

from ipmp_core.net import dump
from ipmp_core.net.addrbatch import AddressBatch, AddrRequest, Request
from ipmp_core.net.event_reader import EventReader
from ipmp_core.net.event_socket import event_rcvbuf, netlink_drops, set_rcvbuf
from ipmp_core.net.link_events import (
    AddrEvent,
    EventsLost,
    LinkGone,
    LinkInfo,
    RoutesChanged,
    link_info,
)
from ipmp_core.net.routereq import RouteRequest
from ipmp_core.net.sysctl import MEMBER_SYSCTLS, read_sysctl, write_sysctl

# An address with its prefix, as the kernel holds it on an interface.
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

log = logging.getLogger("ipmpd")

IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
# How often to look at an IPv6 address still in duplicate address detection.
DAD_POLL_S = 0.05
IFA_F_NOPREFIXROUTE = 0x200
# Our routes carry their own protocol number so that the daemon finds (and only touches)
# the routes it installed, after a restart too. 0xcf: unassigned in rt_protos.
RTPROT_CLEARVIEW = 0xCF
INFINITY_LFT = 0xFFFFFFFF
# The groups of the event socket: links, addresses and routes (probe targets follow the
# routing table's next hops).
EVENT_GROUPS = (RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE
                | RTMGRP_IPV6_ROUTE)

RT_TABLE_MAIN = 254
# Address requests prepared between two returns to the event loop (add_addresses).
PREPARE_CHUNK = 200


class Netlink:
    """The daemon's rtnetlink: owns the event socket (links, addresses, routes) and the
    request socket that dumps and changes links, addresses and sysctls."""

    def __init__(self) -> None:
        self.events = EventReader(EVENT_GROUPS)
        self.ipr = AsyncIPRoute()
        self.names: dict[int, str] = {}
        self.rcvbuf = 0  # what the kernel granted the event socket
        self.events_inode = 0  # its inode, to find its drop count in PROC_NETLINK
        # Which interfaces (ifindex) carry each address, kept from the dumps, the events
        # and our own changes: asking "who else has it?" for every address bound cost a
        # full address dump each (quadratic at 1,000 addresses).
        self.kernel: dict[str, set[int]] = {}
        self.batch: AddressBatch | None = None

    async def open(self) -> None:
        self._listen(self.events)

    def _listen(self, reader: EventReader) -> None:
        self.rcvbuf = set_rcvbuf(reader.sock, event_rcvbuf())
        self.events_inode = os.fstat(reader.fileno()).st_ino

    async def reopen_events(self) -> int | None:
        """Replace the event socket by a new one (the old one may have lost messages);
        returns how many notifications the kernel dropped on the old one, if it says.
        The new socket listens before the caller dumps: nothing falls between the two."""
        old = self.events
        lost = netlink_drops(self.events_inode) if self.events_inode else None
        with contextlib.suppress(Exception):
            old.close()
        self.events = EventReader(EVENT_GROUPS)
        self._listen(self.events)
        return lost

    def close(self) -> None:
        self.events.close()
        self.ipr.close()
        if self.batch is not None:
            self.batch.close()

    def _index(self, added: bool, ifindex: int, address: str) -> None:
        key = _canonical(address)
        if added:
            self.kernel.setdefault(key, set()).add(ifindex)
        else:
            holders = self.kernel.get(key)
            if holders is not None:
                holders.discard(ifindex)
                if not holders:
                    del self.kernel[key]

    # ------------------------------------------------------------------ observing
    async def links(self) -> list[LinkInfo]:
        """Every link; the index -> name map becomes exactly what the dump says."""
        out = []
        names: dict[int, str] = {}
        async for msg in await self.ipr.link("dump"):
            info = link_info(msg)
            if info:
                names[info.ifindex] = info.name
                out.append(info)
        self.names = names
        return out

    async def addresses(self) -> list[AddrEvent]:
        """Every address; the address index becomes exactly what the dump says. Read
        with ipmp_core.net.dump: pyroute2 decoding 1,000 addresses held the event loop
        ~30 ms."""
        out = [AddrEvent(True, a.ifindex, a.address, a.prefixlen)
               for a in await dump.addresses()]
        self.kernel = {}
        for a in out:
            self._index(True, a.ifindex, a.address)
        return out

    async def gateways(self) -> dict[int, list[tuple[str, str]]]:
        """Next hops of the main table's routes per family: [(gateway, interface)].
        Read with ipmp_core.net.dump: the dump holds every table's routes (one local
        route per address), and pyroute2 decoding them held the event loop ~100 ms at
        1,000 addresses."""
        found: dict[int, list[tuple[str, str]]] = {4: [], 6: []}
        for route in await dump.routes():
            if route.table != RT_TABLE_MAIN:
                continue
            family = 6 if route.family == socket.AF_INET6 else 4
            main_oif = route.hops[0][1]
            for gateway, oif in route.hops:
                if gateway:
                    entry = (gateway, self.names.get(oif or main_oif, ""))
                    if entry not in found[family]:
                        found[family].append(entry)
        return found

    async def stream(self) -> AsyncIterator[LinkInfo | LinkGone | AddrEvent | RoutesChanged]:
        """Kernel notifications, for as long as the daemon runs. Raises EventsLost when
        the socket fails (then call reopen_events and resynchronise)."""
        while True:
            try:
                batch = await self.events.read()
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    raise EventsLost("ENOBUFS: the event socket's receive buffer "
                                     "overflowed") from exc
                raise EventsLost(f"event socket error {exc.errno}: {exc}") from exc
            for msg in batch:
                event = msg.get("event")
                if event == "RTM_NEWLINK":
                    info = link_info(msg)
                    if info is None:
                        continue
                    old = self.names.get(info.ifindex)
                    if old is not None and old != info.name:  # renamed: the old name left
                        yield LinkGone(old, info.ifindex)
                    self.names[info.ifindex] = info.name
                    yield info
                elif event == "RTM_DELLINK":
                    name = msg.get("ifname") or self.names.get(msg["index"])
                    self.names.pop(msg["index"], None)
                    if name:
                        yield LinkGone(name, msg["index"])
                elif event in ("RTM_NEWADDR", "RTM_DELADDR") and msg.get("address"):
                    self._index(event == "RTM_NEWADDR", msg["index"], msg.get("address"))
                    yield AddrEvent(event == "RTM_NEWADDR", msg["index"], msg.get("address"),
                                    msg["prefixlen"])
                elif event in ("RTM_NEWROUTE", "RTM_DELROUTE"):
                    # Our own routes are no news (the engine knows the gateways it
                    # declared), and a failover must not trigger a route dump storm:
                    # neither must the local table's routes, one per address added or
                    # removed, which never carry a next hop (gateways() reads only
                    # the main table).
                    table = msg.get("table") or msg.get("RTA_TABLE")
                    if (msg.get("proto") != RTPROT_CLEARVIEW
                            and table in (None, RT_TABLE_MAIN)):
                        yield RoutesChanged()

    def ifindex(self, name: str) -> int | None:
        for index, known in self.names.items():
            if known == name:
                return index
        return None

    # ------------------------------------------------------------------ members
    @staticmethod
    def set_sysctls(wanted: dict[str, str]) -> dict[str, str]:
        """Set sysctls; returns the values replaced (to restore later)."""
        saved: dict[str, str] = {}
        for key, value in wanted.items():
            old = read_sysctl(key)
            if old is not None and old != value and write_sysctl(key, value):
                saved[key] = old
        return saved

    async def plumb(self, name: str) -> dict[str, str]:
        """Prepare a member; returns the sysctl values it replaced (to restore later)."""
        saved = self.set_sysctls({k.format(name): v for k, v in MEMBER_SYSCTLS.items()})
        index = self.ifindex(name)
        if index is not None:
            try:
                await self.ipr.link("set", index=index, state="up")
            except NetlinkError as exc:
                log.warning("cannot bring %s up: %s", name, exc)
        return saved

    def unplumb(self, saved: dict[str, str]) -> None:
        for key, value in saved.items():
            write_sysctl(key, value)

    # ------------------------------------------------------------------ addresses
    async def add_address(
        self, name: str, addr: IPInterface, *, deprecated: bool = False, dad: bool = False
    ) -> bool:
        index = self.ifindex(name)
        if index is None:
            return False
        flags = IFA_F_NOPREFIXROUTE | (IFA_F_NODAD if addr.version == 6 and not dad else 0)
        kwargs: dict[str, Any] = {}
        if deprecated:
            # preferred_lft 0: the kernel never picks it as a source for applications.
            kwargs.update(preferred_lft=0, valid_lft=INFINITY_LFT)
        try:
            await self.ipr.addr(
                "replace" if deprecated else "add",
                index=index,
                address=str(addr.ip),
                prefixlen=addr.network.prefixlen,
                flags=flags,
                **kwargs,
            )
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                log.error("cannot add %s to %s: %s", addr, name, exc)
                return False
        self._index(True, index, str(addr.ip))
        return True

    async def address_flags(self, name: str, addr: IPInterface) -> int | None:
        index = self.ifindex(name)
        async for msg in await self.ipr.addr("dump"):
            if msg["index"] == index and msg.get("address") == str(addr.ip):
                return int(msg.get("flags") or msg["flags"])
        return None

    async def wait_dad(self, name: str, addr: IPInterface, timeout: float) -> bool:
        """Wait until the kernel's duplicate address detection for ``addr`` is over;
        False when it failed (someone else has the address) or did not end in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            flags = await self.address_flags(name, addr)
            if flags is None or flags & IFA_F_DADFAILED:
                return False
            if not flags & IFA_F_TENTATIVE:
                return True
            await asyncio.sleep(DAD_POLL_S)
        return False

    async def remove_address(self, name: str, addr: IPInterface) -> bool:
        index = self.ifindex(name)
        if index is None:
            return True  # the interface is gone, and its addresses with it
        self._index(False, index, str(addr.ip))
        try:
            await self.ipr.addr("del", index=index, address=str(addr.ip),
                                prefixlen=addr.network.prefixlen)
        except NetlinkError as exc:
            if exc.code not in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT):
                log.error("cannot remove %s from %s: %s", addr, name, exc)
                return False
        return True

    async def holders(self, ip: str) -> list[str]:
        """Interfaces that carry ``ip``, as far as the dumps, the events and our own
        changes say (no dump: this is asked for every address bound)."""
        return [self.names.get(i, str(i)) for i in sorted(self.kernel.get(_canonical(ip), ()))]

    async def add_addresses(self, items: list[tuple[str, IPInterface, bool, bool]]
                            ) -> list[bool]:
        """add_address for many (name, address, deprecated, dad) in few round trips."""
        requests: list[AddrRequest | None] = []
        for n, (name, addr, deprecated, dad) in enumerate(items):
            if n and not n % PREPARE_CHUNK:
                await asyncio.sleep(0)  # 1,000 cost ~30 ms: the event loop runs between
            index = self.ifindex(name)
            if index is None:
                requests.append(None)
                continue
            flags = IFA_F_NOPREFIXROUTE | (IFA_F_NODAD if addr.version == 6 and not dad
                                           else 0)
            requests.append(AddrRequest(True, index, str(addr.ip), addr.network.prefixlen,
                                        flags, (0, INFINITY_LFT) if deprecated else None))
        codes = await self._run_batch(requests)
        out = []
        for (name, addr, _, _), req, code in zip(items, requests, codes, strict=True):
            ok = req is not None and code in (0, errno.EEXIST)
            if ok and req is not None:
                self._index(True, req.ifindex, req.address)
            elif req is not None:
                log.error("cannot add %s to %s: %s", addr, name, os.strerror(code))
            out.append(ok)
        return out

    async def remove_addresses(self, items: list[tuple[str, IPInterface]]) -> list[bool]:
        """remove_address for many (name, address) in few round trips, in the reverse
        order: the first IPv4 address of a subnet on an interface is its primary, and
        removing a primary promotes the next secondary and re-adds the local routes of
        every other secondary (promote_secondaries). Removed first, the primary made a
        failover of 198 IPv4 addresses cost ~20,000 route notifications (19 MB queued on
        the event socket); removed last, none."""
        items = items[::-1]
        requests: list[AddrRequest | None] = []
        for name, addr in items:
            index = self.ifindex(name)
            requests.append(None if index is None else AddrRequest(
                False, index, str(addr.ip), addr.network.prefixlen))
        codes = await self._run_batch(requests)
        out = []
        for (name, addr), req, code in zip(items, requests, codes, strict=True):
            if req is not None:
                self._index(False, req.ifindex, req.address)
            ok = req is None or code in (0, errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT)
            if not ok:
                log.error("cannot remove %s from %s: %s", addr, name, os.strerror(code))
            out.append(ok)
        return out[::-1]

    async def _run_batch(self, requests: Sequence[Request | None]) -> list[int]:
        todo = [r for r in requests if r is not None]
        if not todo:
            return [0] * len(requests)
        if self.batch is None:
            self.batch = AddressBatch()
        codes = iter(await self.batch.run(todo))
        return [next(codes) if r is not None else 0 for r in requests]

    # ------------------------------------------------------------------ routes
    async def replace_route(self, spec: dict[str, Any]) -> bool:
        code = await self._route_request(RouteRequest(True, spec, RTPROT_CLEARVIEW))
        if code:
            log.error("cannot install route %s: %s", _route_text(spec), NetlinkError(code))
            return False
        return True

    async def delete_route(self, spec: dict[str, Any]) -> None:
        code = await self._route_request(RouteRequest(False, spec, RTPROT_CLEARVIEW))
        if code not in (0, errno.ESRCH, errno.ENOENT):
            log.warning("cannot remove route %s: %s", _route_text(spec), NetlinkError(code))

    async def _route_request(self, request: RouteRequest) -> int:
        (code,) = await self._run_batch([request])
        return code


def _route_text(spec: dict[str, Any]) -> str:
    hops = spec.get("multipath") or [spec]
    via = " ".join(
        f"{'via ' + h['gateway'] + ' ' if h.get('gateway') else ''}dev {h.get('oif')}"
        for h in hops
    )
    return f"{spec.get('dst')} {via}"


def _canonical(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address

