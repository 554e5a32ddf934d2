"""Interfaces in no group probed from their own address, sans I/O.

With TRACK_INTERFACES_ONLY_WITH_GROUPS=no and TRANSITIVE_PROBING=yes, an interface in no
group that has an IPv4 address of its own (the administrator's, seen through netlink)
is tracked in the anonymous group and probes its own subnet's routers from that
address; it leaves when it has none left, unless it still has a test address
(docs/design.md, "The anonymous group", says what Solaris 11 does and where we differ).
The interface's own addresses are its data addresses: no other member can answer for
them, so probing from them teaches no switch or neighbour a wrong MAC.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from ipmp_core.engine.actions import Action
from ipmp_core.engine.state import Group, Member
from ipmp_core.engine.tables import ANONYMOUS, Tables

if TYPE_CHECKING:
    from ipmp_core.engine.members import MemberRequests

# in.mpathd never tracks loopback (phyint_inst_init_from_k() skips IFF_LOOPBACK); Linux
# names it so in every namespace.
LOOPBACK = "lo"


def note_address(tables: Tables, ifname: str, address: str, prefixlen: int | None,
                 added: bool) -> str | None:
    """Keep ``ifname``'s IPv4 addresses (netlink's): the interface whose addresses
    changed, else None. A removal found by a resync names no interface: the one that
    had it. Link-local (169.254/16) and loopback ones are not kept: no router of ours
    lies on them. One dict operation per event: a failover moves a thousand addresses."""
    if ":" in address or (added and prefixlen is None):
        return None
    if not added:
        name = ifname or next((n for n, own in tables.own_ipv4.items() if address in own), "")
        return name if tables.own_ipv4.get(name, {}).pop(address, None) is not None else None
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return None
    if ip.is_link_local or ip.is_loopback or prefixlen is None:
        return None
    own = tables.own_ipv4.setdefault(ifname, {})
    changed = own.get(address) != prefixlen
    own[address] = prefixlen
    return ifname if changed else None


def own_addresses(tables: Tables, ifname: str) -> list[ipaddress.IPv4Interface]:
    """``ifname``'s own IPv4 addresses in the order they came: not a data address of a
    group (the daemon's, which move), nor one of its test addresses (which probe
    anyway)."""
    member = tables.members.get(ifname)
    tests = set(member.all_test_addresses) if member is not None else set()
    found = []
    for text, prefixlen in tables.own_ipv4.get(ifname, {}).items():
        addr = ipaddress.IPv4Interface(f"{text}/{prefixlen}")
        if (4, int(addr.ip)) in tables.bound_ips or addr in tests:
            continue
        found.append(addr)
    return found


def own_source(tables: Tables, group: Group, member: Member) -> str | None:
    """The address an interface of the anonymous group probes from when it has no test
    address: its first own IPv4 address, with transitive probing on (the defaults
    file's); never for an offline or absent one, nor one with an IPv4 test address
    (which probes, classic, its own subnet's routers)."""
    if group.name != ANONYMOUS or not group.transitive_probing:
        return None
    if any(a.version == 4 for a in member.all_test_addresses):
        return None
    if not member.present or member.is_offline:
        return None
    own = own_addresses(tables, member.name)
    return str(own[0].ip) if own else None


def wants_tracking(tables: Tables, ifname: str) -> bool:
    """Whether ``ifname`` belongs in the anonymous group for its own addresses: every
    interface tracked and transitive probing on, in no named group, not loopback nor
    named like a group (its IPMP interface), present, with an own IPv4 address."""
    if not (tables.track_all and tables.default_transitive):
        return False
    if ifname in (LOOPBACK, ANONYMOUS) or ifname in tables.groups:
        return False
    member = tables.members.get(ifname)
    if member is not None and member.group != ANONYMOUS:
        return False
    return ifname in tables.observed and bool(own_addresses(tables, ifname))


class UngroupedTracking:
    """Joins and drops the interfaces tracked for their own addresses (through the
    member requests, so that they join and leave as the test-address ones do)."""

    def __init__(self, tables: Tables, members: MemberRequests) -> None:
        self.tables = tables
        self.members = members

    def update(self, ifname: str, now: float) -> list[Action]:
        """Bring ``ifname`` in or out of the anonymous group, or refresh it there (its
        probe source and subnet may have changed)."""
        tables = self.tables
        member = tables.members.get(ifname)
        wanted = wants_tracking(tables, ifname)
        out: list[Action] = []
        if member is None:
            if wanted:
                out += self.members._join_anonymous(ifname, now)
                self.members.rules.refresh(tables.groups[ANONYMOUS], now, out)
            return out
        if member.group != ANONYMOUS:
            return out
        if not wanted and not member.test_addresses and not member.dhcp_test:
            return self.members.drop_member(member, now)
        self.members.rules.refresh(tables.groups[ANONYMOUS], now, out)
        return out

    def update_all(self, now: float) -> list[Action]:
        """Every interface again (the defaults file was applied: SIGHUP, start-up)."""
        out: list[Action] = []
        anon = self.tables.groups.get(ANONYMOUS)
        names = dict.fromkeys([*self.tables.observed, *(anon.members if anon else [])])
        for name in names:
            out += self.update(name, now)
        return out
