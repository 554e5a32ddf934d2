"""What netlink says of interfaces, addresses and routers, taken in by the engine: a
member's link and MAC (engine/member_links.py), the node's own addresses (never probe
targets), the members' IPv6 link-locals (their IPv6 test addresses), an ungrouped
interface's IPv4 addresses (engine/ungrouped.py) and the routing table's next hops (probe
targets). The Engine façade delegates its observation calls here."""

from __future__ import annotations

from ipmp_core.engine.actions import Action
from ipmp_core.engine.addresses import AddressRequests
from ipmp_core.engine.member_links import MemberLinks
from ipmp_core.engine.prober import is_link_local
from ipmp_core.engine.probing import Probing
from ipmp_core.engine.rules import Rules
from ipmp_core.engine.tables import LinkObservation, Tables
from ipmp_core.engine.ungrouped import UngroupedTracking, note_address


class Observations:
    """Netlink's observations in, actions out (through the parts they concern)."""

    def __init__(self, tables: Tables, rules: Rules, probing: Probing,
                 member_links: MemberLinks, address_requests: AddressRequests,
                 ungrouped: UngroupedTracking) -> None:
        self.tables = tables
        self.rules = rules
        self.probing = probing
        self.member_links = member_links
        self.address_requests = address_requests
        self.ungrouped = ungrouped

    def link_observed(self, name: str, now: float, *, ifindex: int, mac: str,
                      carrier: bool | None, admin_up: bool) -> list[Action]:
        """Netlink reported an interface (RTM_NEWLINK or a dump at start)."""
        self.tables.observed[name] = LinkObservation(ifindex, mac, carrier, admin_up)
        member = self.tables.members.get(name)
        if member is None:  # an ungrouped interface tracked for its own address?
            return self.ungrouped.update(name, now) if self.tables.own_ipv4.get(name) else []
        return self.member_links.link_observed(member, now, ifindex=ifindex, mac=mac,
                                                carrier=carrier, admin_up=admin_up)

    def link_removed(self, name: str, now: float) -> list[Action]:
        """Netlink reported RTM_DELLINK: the NIC is gone (hot removal, DR)."""
        self.tables.observed.pop(name, None)
        member = self.tables.members.get(name)
        out = [] if member is None else self.member_links.link_removed(member, now)
        if self.tables.own_ipv4.pop(name, None):  # its addresses went with it
            out += self.ungrouped.update(name, now)
        return out

    def address_observed(self, ifname: str, address: str, added: bool,
                         now: float, prefixlen: int | None = None) -> list[Action]:
        """Netlink RTM_NEWADDR/RTM_DELADDR: our own addresses are never probe targets, a
        member's IPv6 link-local is its IPv6 test address, and an ungrouped interface's
        IPv4 address (with ``prefixlen``) may make it tracked (engine/ungrouped.py)."""
        tables = self.tables
        if added:
            tables.local_addresses.add(address)
        else:
            tables.local_addresses.discard(address)
        out: list[Action] = []
        changed = note_address(tables, ifname, address, prefixlen, added)
        if changed is not None and tables.track_all and tables.default_transitive:
            out += self.ungrouped.update(changed, now)
        linklocal6 = is_link_local(address) and ":" in address
        if linklocal6:
            if added:
                tables.linklocals[ifname] = address
            elif tables.linklocals.get(ifname) == address:
                del tables.linklocals[ifname]
        if added and not is_link_local(address):
            stray = self.address_requests.stray_copy(ifname, address)
            if stray is not None:
                return [*out, stray]
        member = tables.members.get(ifname)
        if member is None or not linklocal6:
            return out
        return out + self.member_links.linklocal_observed(member, address, added, now)

    def routers_observed(self, family: int, routers: list[tuple[str, str]],
                         now: float) -> list[Action]:
        """The routing table's next hops [(gateway, interface)] for ``family``."""
        if self.probing.routers.get(family) == routers:
            return []
        self.probing.routers[family] = list(routers)
        out: list[Action] = []
        for group in self.tables.groups.values():
            self.rules.refresh(group, now, out)
        return out
