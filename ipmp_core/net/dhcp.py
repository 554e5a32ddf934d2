"""DHCPv4 leases for the IPMP daemon: one :class:`DhcpSession` per DHCP-managed address
(a member's test address, a group's data address), which only *reports* leases through
``on_lease``: the daemon, not the DHCP client, owns addresses and routes.

The session supervises one pyroute2 client (net/dhcp_client.py) per incarnation of its
interface, so that a lease survives the NIC being replaced (DR) and a data address's lease
follows it to another member (``move``). Client ids: net/dhcp_ids.py; the lease record
and the held lease with its expiry: net/dhcp_lease.py; why it is built this way:
docs/design.md, "DHCP".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

from pyroute2 import AsyncIPRoute
from pyroute2.dhcp import fsm, messages
from pyroute2.dhcp.hooks import Hook, Trigger
from pyroute2.dhcp.leases import Lease as _P2Lease
from pyroute2.netlink.rtnl import RTMGRP_LINK

from ipmp_core.net.dhcp_client import (
    Client,
    Link,
    client_config,
    client_id_option,
    install_log_filter,
    query_link,
)
from ipmp_core.net.dhcp_lease import HeldLease, Lease

log = logging.getLogger("ipmpd.dhcp")

# How often the supervisor re-checks its interface without being woken by an event (an
# rtnetlink event can be lost when the socket buffer overflows). One ioctl per check.
RECHECK_S = 2.0
# Backoff between failed client starts (or clients that died on their own): 0.5 s, 1 s,
# 2 s ... at most 30 s. Reset once a lease is bound.
RESTART_BACKOFF_FIRST_S = 0.5
RESTART_BACKOFF_MAX_S = 30.0
# A held lease with less than this left is not worth an INIT-REBOOT: start from DISCOVER.
MIN_REBOOT_LEFT_S = 2.0
# Upper bound for tearing one pyroute2 client down, and for stop() as a whole.
CLOSE_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 10.0
# Every value DhcpSession.state can take.
SESSION_STATES = (
    "init",  # no lease yet; DISCOVERing (also before the first packet went out)
    "rebooting",  # holding a lease, confirming it (after start-up, DR, move, carrier)
    "bound",
    "renewing",  # T1 passed: unicast REQUESTs to the server that granted the lease
    "rebinding",  # T2 passed: broadcast REQUESTs to any server
    "expired",  # had a lease, lost it (expiry or NAK); DISCOVERing again
    "waiting",  # the interface is absent or admin-down; a held lease is kept until expiry
    "stopped",
)
_LINK_EVENTS = ("RTM_NEWLINK", "RTM_DELLINK")


class DhcpSession:
    """Acquire and keep one DHCPv4 lease, reported through ``on_lease``: owns the lease it
    holds (a HeldLease: the lease and its expiry timer) and the supervisor task running
    one pyroute2 client per interface incarnation (docs/design.md, "DHCP"). Runs in the
    caller's event loop and network namespace.

    ``client_id`` is the complete option-61 value (type byte + identifier), e.g. from
    net/dhcp_ids.py's ``client_id_for_member`` or ``client_id_for_group``.
    ``hostname``, if given, is sent as option 12.
    """

    def __init__(
        self,
        ifname: str,
        *,
        client_id: bytes,
        on_lease: Callable[[Lease | None], None],
        hostname: str | None = None,
    ) -> None:
        if not isinstance(ifname, str) or not ifname or len(ifname.encode()) > 15:
            raise ValueError(f"bad interface name {ifname!r}")
        self._cid_bytes = bytes(client_id)
        self._cid = client_id_option(client_id)
        self._hostname = hostname or None
        self._ifname = ifname
        self._held = HeldLease(on_lease, self._expired)
        self._client: Client | None = None
        self._gen = 0
        self._task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = False
        self._release_on_stop = False
        self._failures = 0
        self._bound_event = asyncio.Event()
        self._stop_lock = asyncio.Lock()
        self._nic_missing = False

    # ------------------------------------------------------------------ public API

    @property
    def ifname(self) -> str:
        """The interface requests go out through (changed by :meth:`move`)."""
        return self._ifname

    @property
    def client_id(self) -> bytes:
        return self._cid_bytes

    @property
    def lease(self) -> Lease | None:
        """The lease held now (None if none, or if it has run out)."""
        lease = self._held.lease
        if lease is not None and lease.expired():
            return None
        return lease

    @property
    def state(self) -> str:
        """One of :data:`SESSION_STATES`."""
        if self._stopped or self._stopping:
            return "stopped"
        client = self._client
        st: fsm.State | None = None
        if client is not None and not client.ended:
            st = client.state
        elif self._task is not None and self._nic_missing:
            return "waiting"
        if st is fsm.State.BOUND:
            return "bound"
        if st is fsm.State.RENEWING:
            return "renewing"
        if st is fsm.State.REBINDING:
            return "rebinding"
        if st in (fsm.State.INIT_REBOOT, fsm.State.REBOOTING) or self.lease is not None:
            return "rebooting"
        return "expired" if self._held.had_lease else "init"

    async def start(self) -> None:
        """Start acquiring a lease in the background; returns at once."""
        if self._task is not None or self._stopping:
            raise RuntimeError("DhcpSession already started (sessions are not restartable)")
        install_log_filter()
        self._watch_task = asyncio.create_task(
            self._watch_links(), name=f"dhcp link watch {self._ifname}"
        )
        self._task = asyncio.create_task(self._supervise(), name=f"dhcp {self._ifname}")

    async def stop(self, release: bool = False) -> None:
        """Stop; with ``release``, send a DHCPRELEASE for the lease first (if the interface
        is there to send it). Does not call ``on_lease``. Idempotent."""
        async with self._stop_lock:
            await self._stop(release)

    async def _stop(self, release: bool) -> None:
        if self._stopped:
            return
        self._release_on_stop = release
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("DHCP session on %s did not stop in time", self._ifname)
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            except Exception as exc:  # noqa: BLE001 - already logged by the task
                log.debug("DHCP session on %s ended with %r", self._ifname, exc)
        watch, self._watch_task = self._watch_task, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(BaseException):
                await watch
        self._held.close(forget=release)
        self._stopped = True

    def move(self, ifname: str) -> None:
        """From now on talk to the server through ``ifname`` (same client id and lease).

        The current client is closed without a RELEASE and a new one on ``ifname``
        re-confirms the lease at once (INIT-REBOOT), then renews there.
        """
        if not isinstance(ifname, str) or not ifname or len(ifname.encode()) > 15:
            raise ValueError(f"bad interface name {ifname!r}")
        if ifname == self._ifname:
            return
        log.info("DHCP session %s moves to %s", self._ifname, ifname)
        self._ifname = ifname
        self._wake.set()

    async def wait_for_lease(self, timeout: float | None = None) -> Lease:
        """Wait until a lease is held (now or later); TimeoutError after ``timeout`` s."""
        async with asyncio.timeout(timeout):
            while True:
                lease = self.lease
                if lease is not None:
                    return lease
                self._bound_event.clear()
                await self._bound_event.wait()

    # ------------------------------------------------------------------ lease bookkeeping

    def _got_lease(self, gen: int, p2: _P2Lease, trigger: str) -> None:
        if self._stopping or gen != self._gen:
            return
        lease = self._held.got(p2, trigger, self._ifname)
        self._failures = 0
        self._bound_event.set()
        self._held.notify(lease)

    def _lost_lease(self, why: str) -> None:
        if self._held.lose(why, self._ifname) and not self._stopping:
            self._held.notify(None)

    def _expired(self) -> None:
        self._lost_lease("expired")
        self._wake.set()

    def _hooks(self, gen: int) -> list[Hook]:
        async def lease_bound(lease: _P2Lease) -> None:
            self._got_lease(gen, lease, "bound")

        async def lease_renewed(lease: _P2Lease) -> None:
            self._got_lease(gen, lease, "renewed")

        async def lease_lost(lease: _P2Lease) -> None:
            if gen == self._gen:
                self._lost_lease("refused by the server (NAK) or expired")

        return [
            Hook(func=lease_bound, triggers={Trigger.BOUND}),
            Hook(func=lease_renewed, triggers={Trigger.RENEWED, Trigger.REBOUND}),
            Hook(func=lease_lost, triggers={Trigger.EXPIRED, Trigger.UNBOUND}),
        ]

    # ------------------------------------------------------------------ supervision

    async def _sleep_or_wake(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _watch_links(self) -> None:
        """Wake the supervisor on link events for our interface (by name or ifindex)."""
        while not self._stopping:
            try:
                async with AsyncIPRoute() as ipr:
                    await ipr.bind(groups=RTMGRP_LINK)
                    while not self._stopping:
                        seen = 0
                        async for msg in ipr.get():
                            seen += 1
                            if msg.get("event") not in _LINK_EVENTS:
                                continue
                            client = self._client
                            index = getattr(client._sock, "ifindex", None) if client else None
                            if msg.get("ifname") == self._ifname or msg.get("index") == index:
                                self._wake.set()
                        if not seen:  # closed underneath us: do not spin
                            await asyncio.sleep(RECHECK_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - polling covers for us meanwhile
                log.info("DHCP link watch for %s: %r; retrying", self._ifname, exc)
                await asyncio.sleep(RECHECK_S)

    async def _supervise(self) -> None:
        """Run one pyroute2 client per interface incarnation, for as long as we live."""
        next_start = 0.0
        while not self._stopping:
            self._wake.clear()
            ifname = self._ifname
            try:
                link = query_link(ifname)
                self._nic_missing = link is None or not link.up
                if link is None or not link.up:
                    await self._sleep_or_wake(RECHECK_S)
                    continue
                delay = next_start - time.monotonic()
                if delay > 0:
                    await self._sleep_or_wake(delay)
                    continue
                reason = await self._run_client(link)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a bug here must not end the session
                log.exception("DHCP session on %s: unexpected error", ifname)
                reason = "failed"
            if reason in ("failed", "died"):
                self._failures += 1
                backoff = min(
                    RESTART_BACKOFF_FIRST_S * 2 ** (self._failures - 1), RESTART_BACKOFF_MAX_S
                )
                next_start = time.monotonic() + backoff
                log.info("DHCP on %s: client %s, retrying in %.1fs", ifname, reason, backoff)
            else:
                log.debug("DHCP on %s: client closed (%s)", ifname, reason)

    async def _run_client(self, link: Link) -> str:
        """Open a client on ``link``, supervise it until it has to go, close it."""
        client = await self._open_client(link)
        if client is None:
            return "failed"
        self._client = client
        try:
            return await self._watch_client(client, link)
        finally:
            release = self._stopping and self._release_on_stop
            self._client = None
            await self._close_client(client, release=release)

    async def _open_client(self, link: Link) -> Client | None:
        lease = self.lease
        seed = (
            self._held.p2 if lease is not None and lease.remaining() > MIN_REBOOT_LEFT_S else None
        )
        reboot_for = None
        if seed is not None and lease is not None and not math.isinf(lease.lease_time):
            reboot_for = max(MIN_REBOOT_LEFT_S, lease.remaining())
        self._gen += 1
        config = client_config(self._ifname, seed=seed, reboot_for=reboot_for,
                               hooks=self._hooks(self._gen), hostname=self._hostname)
        client = Client(config, client_id=self._cid, on_trouble=self._wake.set)
        try:
            await client.__aenter__()
        except Exception as exc:  # noqa: BLE001 - NIC vanished in between, and the like
            log.info("DHCP on %s: cannot open the interface: %r", self._ifname, exc)
            client.force_close()
            return None
        if client._sock.ifindex != link.ifindex:
            await self._close_client(client, release=False)  # replaced meanwhile; again
            return None
        try:
            await client.bootstrap()
        except Exception as exc:  # noqa: BLE001
            log.info("DHCP on %s: cannot start: %r", self._ifname, exc)
            await self._close_client(client, release=False)
            return None
        return client

    async def _watch_client(self, client: Client, link: Link) -> str:
        """Until this client has to go; returns why."""
        ifname = client.config.interface
        carrier = link.carrier
        while True:
            self._wake.clear()
            if self._stopping:
                return "stop"
            if self._ifname != ifname:
                return "move"
            now = query_link(ifname)
            if now is None or now.ifindex != link.ifindex or not now.up:
                self._nic_missing = now is None or not now.up
                return "link"
            if client.ended:
                return "died"
            if now.carrier and not carrier and client.state is not fsm.State.BOUND:
                return "carrier"
            carrier = now.carrier
            await self._sleep_or_wake(RECHECK_S)

    async def _close_client(self, client: Client, *, release: bool) -> None:
        held = self._held
        if release and held.p2 is not None and held.lease is not None and not client.ended:
            # Queued before __aexit__ sets OFF; the send loop sends a RELEASE even then.
            client._sendq.put_nowait(messages.release(lease=held.p2))
            log.info("DHCP releasing %s on %s", held.lease.address, client.config.interface)
        try:
            await asyncio.wait_for(client.__aexit__(None, None, None), CLOSE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - includes the timeout
            log.info("DHCP on %s: closing the client: %r", client.config.interface, exc)
            client.force_close()
