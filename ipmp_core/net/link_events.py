"""What the kernel's link, address and route notifications say, as plain values: the
event socket's vocabulary (ipmp_core.net.netlink reads the socket, the daemon's kernel
module acts on what it yields).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000


@dataclass(frozen=True)
class LinkInfo:
    """An interface as a link dump or event shows it."""

    name: str
    ifindex: int
    mac: str
    carrier: bool | None
    admin_up: bool


@dataclass(frozen=True)
class LinkGone:
    """An interface was deleted (RTM_DELLINK)."""

    name: str
    ifindex: int


@dataclass(frozen=True)
class AddrEvent:
    """An address was added to or removed from an interface."""

    added: bool
    ifindex: int
    address: str
    prefixlen: int


@dataclass(frozen=True)
class RoutesChanged:
    """Something in a routing table changed: probe targets may have too."""


class EventsLost(Exception):
    """The event socket failed (ENOBUFS: the kernel dropped notifications because the
    daemon did not read them fast enough; or any other error of the reader). What the
    daemon knows about the kernel may be stale: it must resynchronise from a dump."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def link_info(msg: Any) -> LinkInfo | None:
    """The interface a link message describes; None for a message without a name."""
    name = msg.get("ifname")
    if not name:
        return None
    flags = msg["flags"]
    carrier = msg.get("carrier")
    up = bool(carrier) if carrier is not None else bool(flags & IFF_LOWER_UP)
    return LinkInfo(
        name=name,
        ifindex=msg["index"],
        mac=(msg.get("address") or "").lower(),
        carrier=up,
        admin_up=bool(flags & IFF_UP),
    )
