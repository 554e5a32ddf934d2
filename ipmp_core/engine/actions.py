"""What the engine asks the outside world to do.

The engine never touches the network. Every method of Engine returns a list of these;
the daemon turns them into netlink calls, packets, log lines and published events, in
order. Keeping them as plain frozen data makes the engine's decisions easy to assert on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Interface, IPv6Interface
from typing import Any

IPInterface = IPv4Interface | IPv6Interface


class ProbeKind(StrEnum):
    """Why a probe is sent: only unicast probes count for failure and repair."""

    UNICAST = "unicast"  # counts for failure and repair
    MULTICAST = "multicast"  # target discovery only
    RTT = "rtt"  # in.mpathd's PROBE_RTT: only lowers an RTT estimate (FDT raised)


@dataclass(frozen=True)
class SendProbe:
    """Send one ICMP echo from ``member``'s test address."""

    member: str
    family: int  # 4 or 6
    source: str
    dest: str
    seq: int
    kind: ProbeKind


@dataclass(frozen=True)
class SendTransitive:
    """Send one transitive probe (Solaris 11's probing without test addresses): a layer-2
    frame from ``member`` to ``target``, a member of the same group that carries a data
    address and answers it; ``seq`` names the probe in the answer."""

    member: str
    target: str
    seq: int


@dataclass(frozen=True)
class PlumbMember:
    """An interface joined a group: bring it up and make it answer ARP only for its own
    addresses (arp_ignore/arp_announce), so each data address has exactly one owner."""

    group: str
    member: str


@dataclass(frozen=True)
class UnplumbMember:
    """An interface left its group: restore what PlumbMember changed (``last``: no
    member is left at all, so the namespace-wide sysctls are restored too)."""

    group: str
    member: str
    last: bool = False


@dataclass(frozen=True)
class SetTestAddresses:
    """Add/remove test addresses on a member (deprecated: never a source for applications,
    never moved)."""

    member: str
    add: tuple[IPInterface, ...] = ()
    remove: tuple[IPInterface, ...] = ()


@dataclass(frozen=True)
class DhcpTest:
    """Run (or stop) a DHCP session for ``member``'s test address; its leases come back as
    Engine.dhcp_test_lease()."""

    group: str
    member: str
    enabled: bool


@dataclass(frozen=True)
class DhcpData:
    """Run (or stop) the DHCP session of a group's data-address slot; its requests go out
    through ``member`` (the one holding the address; before a lease the least loaded
    active one, or the first member when none is active)."""

    group: str
    slot: int
    member: str | None
    enabled: bool


@dataclass(frozen=True)
class BindAddress:
    """Put a data address on ``member`` (and take it off ``previous``), then announce it.

    ``announce`` is False only when the daemon adopts an address that the kernel already
    has in the right place (restart after a crash): nothing moved, nothing to announce."""

    group: str
    address: IPInterface
    member: str
    previous: str | None = None
    announce: bool = True
    dad: bool = False  # let the kernel run duplicate address detection (IPv6) first


@dataclass(frozen=True)
class UnbindAddress:
    """Take a data address off ``member``; it stays in the group, unbound."""

    group: str
    address: IPInterface
    member: str


@dataclass(frozen=True)
class RoutePlan:
    """One route of a group: ``dst`` (a prefix) through ``members``, via ``gateway`` or
    directly connected when it is None."""

    dst: str
    members: tuple[str, ...]
    gateway: str | None = None
    source: str | None = None  # preferred source: a data address, never a test address


@dataclass(frozen=True)
class SetRoutes:
    """The group's outbound routes must now be exactly ``plan`` (empty: none at all)."""

    group: str
    plan: tuple[RoutePlan, ...]


@dataclass(frozen=True)
class Nominate:
    """``member`` now receives multicast/broadcast for ``family`` ("inet" or "inet6");
    None when no member can."""

    group: str
    family: str
    member: str | None
    previous: str | None


@dataclass(frozen=True)
class PurgeMulticast:
    """``member`` joined ``group`` (or appeared again after DR) while ``nominee``
    receives its ``family``'s multicast: the multicast groups other processes joined on
    ``member`` move to ``nominee``, so that each datagram is received once, on the
    nominee (Solaris purges an interface's memberships when it joins a group)."""

    group: str
    member: str
    family: str
    nominee: str


@dataclass(frozen=True)
class Log:
    """A line for the system log, at syslog ``level`` (in.mpathd's priority for the
    same message); ``group`` and ``interface`` become the journal's GROUP= and
    INTERFACE= fields, so that an admin can filter on them (journalctl GROUP=ipmp0)."""

    level: str  # "err", "warning", "notice", "info", "debug"
    message: str
    group: str = ""
    interface: str = ""


@dataclass(frozen=True)
class Publish:
    """An event for subscribers of the control channel (ipmpstat -p, agents)."""

    event: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishAttribute:
    """The cluster must learn a group's node attribute now: ``name`` = ``value`` (the
    group's usable members x its multiplier), or deleted when ``value`` is None. Emitted
    when the usable-member count changes (and when the attribute is (re)configured); the
    daemon hands it to the cluster's attribute daemon without waiting for it."""

    group: str
    name: str
    value: int | None
    dampen_ms: int = 0


@dataclass(frozen=True)
class ConfigChanged:
    """The desired configuration changed: the daemon persists it."""


# ---------------------------------------------------------------- the batch's tail
# After the binds, routes and the rest of a call's actions, the engine appends these, in
# this order (engine/batch.py, order_batch): the old copies of moved addresses, the
# DHCP sessions that follow their addresses, the DAD waits, the stray copies of new
# addresses, then the announcements.


@dataclass(frozen=True)
class RemoveOldCopy(UnbindAddress):
    """The copy a moved address left on its previous member (``member`` here) comes off,
    once the whole batch is in place: make before break. The executor skips it when the
    address could not be put on its new member."""


@dataclass(frozen=True)
class FollowDhcp:
    """The DHCP data address of ``slot`` is now on ``member``: its session renews
    through that member (the server answers there)."""

    group: str
    slot: int
    member: str
    address: IPInterface


@dataclass(frozen=True)
class AwaitDad:
    """Wait for the kernel's duplicate address detection of a new IPv6 address on
    ``member``; on failure the executor reports it (Engine.dad_failed rolls it back) and
    neither clears nor announces that address."""

    group: str
    address: IPInterface
    member: str


@dataclass(frozen=True)
class ClearStrayCopies:
    """A new (or re-adopted) address: copies of it the kernel has on interfaces other
    than ``member`` come off (only the executor knows the kernel's holders)."""

    group: str
    address: IPInterface
    member: str


@dataclass(frozen=True)
class Announce:
    """Announce a data address from ``member`` (the configured burst): emitted only for
    an address the call left bound there."""

    group: str
    address: IPInterface
    member: str


@dataclass(frozen=True)
class AnnounceAgain:
    """Announce a data address again from the member holding it, ``count`` times
    ``interval_ms`` apart (an agent's refresh): the request's values, clamped."""

    group: str
    address: IPInterface
    member: str
    count: int
    interval_ms: int


@dataclass(frozen=True)
class RestoreAddress:
    """Put back an address someone else removed from ``member`` (a data address with
    its deprecated flag, a test address always deprecated), unchecked: it was ours."""

    member: str
    address: IPInterface
    deprecated: bool


@dataclass(frozen=True)
class ResyncRoutes:
    """The group's routes must be installed again from scratch as ``plan``: the kernel
    dropped those whose preferred source disappeared."""

    group: str
    plan: tuple[RoutePlan, ...]


Action = (
    SendProbe
    | SendTransitive
    | PlumbMember
    | UnplumbMember
    | SetTestAddresses
    | DhcpTest
    | DhcpData
    | BindAddress
    | UnbindAddress
    | SetRoutes
    | Nominate
    | PurgeMulticast
    | Log
    | Publish
    | PublishAttribute
    | ConfigChanged
    | RemoveOldCopy
    | FollowDhcp
    | AwaitDad
    | ClearStrayCopies
    | Announce
    | AnnounceAgain
    | RestoreAddress
    | ResyncRoutes
)
