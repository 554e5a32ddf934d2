"""A DHCPv4 lease as the daemon sees it, the one a session holds (with its expiry timer),
and the in-memory lease record pyroute2's client keeps (seeded with the lease we hold, so
that a restarted client re-confirms it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyroute2.dhcp.leases import Lease as _P2Lease
from pyroute2.dhcp.leases import MissingOptionError

log = logging.getLogger("ipmpd.dhcp")


@dataclass(frozen=True)
class Lease:
    """A lease as the daemon sees it. Times are in seconds; ``math.inf`` means infinite.

    ``renewal_time`` (T1) and ``rebinding_time`` (T2) are the server's values, or the
    RFC 2131 defaults (0.5 and 0.875 of ``lease_time``) when it sent none.
    ``obtained_at`` is ``time.monotonic()`` when the ACK arrived.
    """

    address: ipaddress.IPv4Interface
    server: str
    router: str | None
    lease_time: float
    renewal_time: float
    obtained_at: float
    rebinding_time: float | None = None

    @property
    def expires_at(self) -> float:
        """When the lease runs out, on the ``time.monotonic()`` clock."""
        return self.obtained_at + self.lease_time

    def remaining(self, now: float | None = None) -> float:
        """Seconds left (``math.inf`` if infinite, negative once expired)."""
        return self.expires_at - (time.monotonic() if now is None else now)

    def expired(self, now: float | None = None) -> bool:
        return self.remaining(now) <= 0


def _seconds(value: Any) -> float | None:
    """A DHCP time option as seconds; 0xffffffff (decoded as -1) is infinite."""
    if value is None:
        return None
    value = int(value)
    if value < 0 or value == 0xFFFFFFFF:
        return math.inf
    return float(value)


def _p2_option(p2: _P2Lease, name: str) -> Any:
    try:
        return getattr(p2, name)
    except (MissingOptionError, KeyError, IndexError, TypeError):
        return None


def lease_from_pyroute2(p2: _P2Lease, obtained_at: float | None = None) -> Lease:
    """Our Lease from one of pyroute2's (which wraps the server's ACK)."""
    mask = _p2_option(p2, "subnet_mask")
    try:
        address = ipaddress.IPv4Interface(f"{p2.ip}/{mask}" if mask else f"{p2.ip}/32")
    except ValueError:
        log.warning("DHCP server sent a bad netmask %r for %s; using /32", mask, p2.ip)
        address = ipaddress.IPv4Interface(f"{p2.ip}/32")
    lease_time = _seconds(_p2_option(p2, "lease_time"))
    if lease_time is None:  # pyroute2 ignores such an ACK; never reached in practice
        lease_time = math.inf
    t1 = _seconds(_p2_option(p2, "renewal_time"))
    t2 = _seconds(_p2_option(p2, "rebinding_time"))
    routers = _p2_option(p2, "routers") or []
    server = _p2_option(p2, "server_id") or str(p2.ack.get("siaddr") or "")
    return Lease(
        address=address,
        server=str(server),
        router=str(routers[0]) if routers else None,
        lease_time=lease_time,
        renewal_time=t1 if t1 is not None else lease_time * 0.5,
        obtained_at=time.monotonic() if obtained_at is None else obtained_at,
        rebinding_time=t2 if t2 is not None else lease_time * 0.875,
    )


class HeldLease:
    """The lease a session holds, pyroute2's record of it (needed to re-confirm or release
    it) and its expiry timer; ``on_lease`` hears of every lease and every loss, and a
    bug in it never reaches the session."""

    def __init__(self, on_lease: Callable[[Lease | None], None],
                 on_expired: Callable[[], None]) -> None:
        self.lease: Lease | None = None
        self.p2: _P2Lease | None = None
        self.had_lease = False
        self._on_lease = on_lease
        self._on_expired = on_expired
        self._expiry: asyncio.TimerHandle | None = None

    def notify(self, lease: Lease | None) -> None:
        try:
            self._on_lease(lease)
        except Exception:  # noqa: BLE001 - the caller's bug must not kill the session
            log.exception("DHCP on_lease callback failed")

    def got(self, p2: _P2Lease, trigger: str, ifname: str) -> Lease:
        """pyroute2's client bound or renewed ``p2`` on ``ifname``: hold it (logged)."""
        lease = lease_from_pyroute2(p2)
        old = self.lease
        self.adopt(lease, p2)
        if old is None or old.address != lease.address:
            log.info("DHCP %s: %s on %s from %s (lease %gs)", trigger, lease.address, ifname,
                     lease.server, lease.lease_time)
        else:
            log.debug("DHCP %s: %s on %s", trigger, lease.address, ifname)
        return lease

    def adopt(self, lease: Lease, p2: _P2Lease | None) -> None:
        """Hold ``lease`` (``p2`` None makes a restarted client start from DISCOVER)."""
        self.lease = lease
        self.p2 = p2
        self.had_lease = True
        self._arm_expiry(lease)

    def lose(self, why: str, ifname: str) -> bool:
        """Forget the lease (logged); False when none was held."""
        lease = self.lease
        if lease is None:
            return False
        self.lease = None
        self.p2 = None
        self.cancel_expiry()
        log.warning("DHCP lease %s on %s lost: %s", lease.address, ifname, why)
        return True

    def close(self, forget: bool) -> None:
        """No expiry any more; with ``forget`` (released), no lease either."""
        self.cancel_expiry()
        if forget:
            self.lease = None
            self.p2 = None

    def _arm_expiry(self, lease: Lease) -> None:
        self.cancel_expiry()
        if math.isinf(lease.lease_time):
            return
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(max(0.0, lease.remaining()), self._expiry_due, lease)

    def cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _expiry_due(self, lease: Lease) -> None:
        self._expiry = None
        if self.lease is not lease:
            return
        if not lease.expired():  # the loop's clock ran a hair early
            self._arm_expiry(lease)
            return
        self._on_expired()


class MemoryLease(_P2Lease):
    """pyroute2 lease kept in memory only (its default writes JSON to the cwd)."""

    seed: _P2Lease | None = None

    def dump(self) -> None:
        pass

    @classmethod
    def load(cls, interface: str) -> _P2Lease | None:
        # Called once by the client's __aenter__: a seeded lease means INIT-REBOOT.
        return cls.seed


def seeded_lease_type(seed: _P2Lease | None) -> type[MemoryLease]:
    """A lease class whose load() hands a new client the lease to re-confirm."""
    return type("_SeededLease", (MemoryLease,), {"seed": seed})
