"""A DHCPv4 lease as the daemon sees it, and the in-memory lease record pyroute2's
client keeps (seeded with the lease we hold, so that a restarted client re-confirms it).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
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
