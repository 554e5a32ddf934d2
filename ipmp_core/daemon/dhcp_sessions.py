"""DHCP sessions: a member's test address and a group's data addresses leased by DHCP.

Both kinds are one DR-safe session (net/dhcp.py: it survives the NIC being deleted and
re-created) started and stopped the same way; they differ in the client id (a member's,
or the group's RFC 4361 IAID+DUID so that whichever member holds a data address renews
the same lease) and in what the engine is told of a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ipmp_core.engine.actions import Action, DhcpData, DhcpTest, FollowDhcp
from ipmp_core.engine.engine import Engine

log = logging.getLogger("ipmpd")

# An engine call made with the lock held, its actions carried out in order.
EngineCall = Callable[[float], list[Action]]
RunLocked = Callable[[EngineCall], Awaitable[None]]


class DhcpSessions:
    """Owns the running DHCP sessions: ``test`` (member -> session of its test address)
    and ``data`` ((group, slot) -> session of that data address); leases go to the
    engine through ``run_locked``."""

    def __init__(self, engine: Engine, run_locked: RunLocked) -> None:
        self.engine = engine
        self.run_locked = run_locked
        self.test: dict[str, Any] = {}
        self.data: dict[tuple[str, int], Any] = {}

    async def apply(self, action: DhcpTest | DhcpData) -> None:
        """Start, restart or stop the session an action names (one path for both kinds)."""
        from ipmp_core.net import dhcp, dhcp_ids  # pyroute2's DHCP client: only when used

        table: dict[Any, Any]
        if isinstance(action, DhcpTest):
            table, key = self.test, action.member
        else:
            table, key = self.data, (action.group, action.slot)
        old = table.pop(key, None)
        if old is not None:
            await old.stop(release=True)
        if not action.enabled:
            return
        if isinstance(action, DhcpTest):
            ifname: str | None = action.member
            client_id = dhcp_ids.client_id_for_member(action.group or "anonymous", action.member)
            started = f"the test address of {action.member}"
        else:
            ifname = action.member  # the engine's choice (engine/addresses.py)
            if ifname is None:
                log.warning("DHCP data address of group %s: no member to ask through",
                            action.group)
                return
            client_id = dhcp_ids.client_id_for_group(action.group, action.slot)
            started = f"data address {action.slot} of group {action.group} through {ifname}"

        def on_lease(lease: Any) -> None:
            address = str(lease.address) if lease is not None else None
            asyncio.ensure_future(self.run_locked(
                lambda now: self._lease(action, address, now)))

        session = dhcp.DhcpSession(ifname, client_id=client_id, on_lease=on_lease)
        table[key] = session
        await session.start()
        log.info("DHCP started for %s", started)

    def _lease(self, action: DhcpTest | DhcpData, address: str | None,
               now: float) -> list[Action]:
        if isinstance(action, DhcpTest):
            return self.engine.dhcp_test_lease(action.member, address, now)
        return self.engine.dhcp_data_lease(action.group, action.slot, address, now)

    def follow(self, action: FollowDhcp) -> None:
        """A DHCP data address is on a member: its renewals go out through it."""
        session = self.data.get((action.group, action.slot))
        if session is not None and session.ifname != action.member:
            session.move(action.member)
            log.info("DHCP data address %s of group %s now renews through %s",
                     action.address, action.group, action.member)

    async def stop_all(self) -> None:
        """At exit: no release, a restarted daemon resumes them."""
        for session in [*self.test.values(), *self.data.values()]:
            with contextlib.suppress(Exception):
                await session.stop()
