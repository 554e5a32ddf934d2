"""The IPMP rules: everything that decides a member's state, which members are active,
where each data address lives, and what the group looks like from outside.

Rules of this module (after h11's _state.py):
- Everything that decides member state, the active set, address placement,
  multicast nomination, the route plan, the group's state and its cluster attribute
  must live here, or in the files this header names. Requests (groups.py, members.py,
  addresses.py) and observations of members' links (member_links.py) only change
  records and call `Rules.refresh`; nothing outside changes a member's state.
- A member's state changes in one funnel, `Rules.set_member_state` (in.mpathd's
  phyint_chstate): if nothing changed it returns, else it sets the state and publishes
  one member-state event.
- The rules never read a clock (every call takes ``now``, ms) and never touch the
  network: they append actions to ``out``, in the order they must be carried out.

The rules that live beside this file, each in one place:
- which usable members are inactive (IFF_INACTIVE: standby, FAILBACK=no, one member
  activated per member lost): activation.py (in.mpathd's phyint_transition_to_running,
  phyint_activate_another); a test address two members share: testaddr_unique.py;
- where addresses go: placement.py (the kernel's ipmp_illgrp_* rules);
- what a member's probes say: judgement.py (in.mpathd's failure_state()), and the one
  place that acts on it, Probing.act in probing.py, which also says which members
  probe from which test address (a duplicated one disables probing);
- the adaptive FDT: adaptive_fdt.py; loss and repair counting: prober.py; the link's
  flapping rule: link.py; target choice: targets.py; RTT estimates: rtt.py;
- the order of every call's actions (make before break, announce last, only what the
  call left bound; DHCP sessions follow their addresses, new IPv6 addresses wait for
  DAD): batch.py (order_batch, applied to each entry point of the façade);
- the member a DHCP data address's session asks through (its typed owner: state.py),
  rolling back an address whose IPv6 DAD failed, restoring addresses someone else
  removed (with their routes and an announcement), the clamped 'announce' request:
  addresses.py;
- the test-address list with its "dhcp" entry (and a test address DAD refused), the
  namespace-wide sysctls restored with the last member: members.py;
- address object names (ipadm's ipmp0/v4, e0/test): address_objects.py; the event
  stream's signatures and version: signatures.py, probe events: probe_events.py; the
  settings that follow the defaults file (SIGHUP): groups.py (set_defaults);
- refusals of bad requests: the validators of ipmp_core/values.py and the checks in
  groups.py, members.py (minimum redundancy, test-address subnets) and addresses.py
  (among them the 'add-addresses' request's list).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ipmp_core.engine import activation, placement
from ipmp_core.engine.actions import (
    Action,
    BindAddress,
    Log,
    Nominate,
    Publish,
    PublishAttribute,
    PurgeMulticast,
    RoutePlan,
    SetRoutes,
    UnbindAddress,
)
from ipmp_core.engine.probing import Probing
from ipmp_core.engine.state import Group, Member
from ipmp_core.engine.tables import ANONYMOUS, Tables
from ipmp_core.engine.transitive import probing_seat
from ipmp_core.model import GroupState, IfState, LinkState
from ipmp_core.values import parse_ip


def interface_state(m: Member) -> IfState:
    """ipmpstat -i's STATE column."""
    if m.is_offline:
        return IfState.OFFLINE
    if m.failed:
        return IfState.FAILED
    if m.prober.enabled and not m.prober.has_targets:
        return IfState.UNKNOWN  # probing, but nothing to probe: not judged
    return IfState.OK


def link_state(m: Member) -> LinkState:
    return m.link.state if m.present else LinkState.UNKNOWN


def member_event(m: Member) -> Publish:
    return Publish({"type": "member-state", "group": m.group, "interface": m.name,
                    "state": str(interface_state(m)), "active": m.active,
                    "link": str(link_state(m))})


def _failure(group: Group, member: Member) -> Log:
    return Log("err", f"IP interface failure detected on {member.name} of group {group.name}",
               group.name, member.name)


class Rules:
    """Owns the derivation of every group's state from its records (refresh) and the
    flags that govern when it runs: during a start-up load, and within a batch."""

    def __init__(self, tables: Tables, probing: Probing) -> None:
        self.tables = tables
        self.probing = probing
        # True while a persisted configuration is loaded (a daemon restart).
        self.starting = False
        # Groups whose refresh waits for the end of a batch (add_data_addresses, load):
        # a refresh walks every address of the group, so one per address added made a
        # batch of 1,000 quadratic. None: no batch under way.
        self.deferred: set[str] | None = None

    # ------------------------------------------------------------------ the funnel
    def set_member_state(self, member: Member, out: list[Action], *,
                         failed: bool | None = None, active: bool | None = None,
                         duphw: bool | None = None, log: Log | None = None) -> None:
        """The one place a member's state changes (in.mpathd's phyint_chstate): when
        nothing changes, nothing happens; else ``log`` and one member-state event."""
        changed = False
        if failed is not None and (failed != member.failed or not member.verdict_given):
            member.failed, member.verdict_given, changed = failed, True, True
        if active is not None and active != member.active:
            member.active, changed = active, True
        if duphw is not None and duphw != member.duphw:
            member.duphw, changed = duphw, True
        if not changed:
            return
        if log is not None:
            out.append(log)
        out.append(member_event(member))

    # ------------------------------------------------------------------ refresh
    def refresh(self, group: Group, now: float, out: list[Action]) -> None:
        """Re-derive everything about ``group`` after any event; append the actions."""
        if self.deferred is not None:
            self.deferred.add(group.name)
            return
        if group.name == ANONYMOUS:
            self._refresh_anonymous(group, now, out)
            return
        was_usable = group.state is not GroupState.FAILED
        members = self.tables.members_of(group)
        self.probing.sync(group, now, out)
        self._check_duplicate_mac(group, members, out)
        first: set[str] = set()
        repaired: set[str] = set()
        for member in members:
            functioning = member.functioning()
            if not member.verdict_given:
                # First verdict: a member that joins healthy is not "repaired", but one
                # whose link is already down at start is a failure (a transition).
                first.add(member.name)
                self.set_member_state(member, out, failed=not functioning, log=_failure(
                    group, member) if member.present and not functioning else None)
            elif member.failed and functioning:
                repaired.add(member.name)
                # LOG_ERR as in.mpathd's phyint_check_for_repair() logs it
                self.set_member_state(member, out, failed=False, log=Log(
                    "err", f"IP interface repair detected on {member.name} "
                    f"of group {group.name}", group.name, member.name))
            elif not member.failed and not functioning:
                self.set_member_state(member, out, failed=True, log=_failure(group, member))

        before = self.tables.active_names(group)
        self._activation(group, members, first, repaired, was_usable)
        active = [m.name for m in members if m.usable and not m.inactive]
        for member in members:
            self.set_member_state(member, out, active=member.name in active)
        newly = [m for m in active if m not in before]
        self._place(group, active, newly, out)
        if group.transitive_probing:  # who probes from a data address follows them
            self.probing.sync(group, now, out)
        self._nominate(group, active, out)
        self._routes(group, active, out)
        self._group_state(group, members, out)
        self.attribute(group, out)

    def _refresh_anonymous(self, group: Group, now: float, out: list[Action]) -> None:
        """Detection only: each interface is on its own, always active, never failed over."""
        self.probing.sync(group, now, out)
        for member in self.tables.members_of(group):
            functioning = member.functioning()
            log = None
            if member.verdict_given and member.failed == functioning:
                word = "repair" if functioning else "failure"
                log = Log("err", f"IP interface {word} detected on {member.name}",
                          interface=member.name)
            usable = functioning and not member.is_offline and member.admin_up
            self.set_member_state(member, out, failed=not functioning, active=usable,
                                  log=log)

    @contextlib.contextmanager
    def refresh_once(self, now: float, out: list[Action]) -> Iterator[None]:
        """Within: refreshes wait; at the end, each group touched is refreshed once (its
        actions appended to ``out``). Nests: only the outermost refreshes."""
        if self.deferred is not None:
            yield
            return
        self.deferred = set()
        try:
            yield
        finally:
            names, self.deferred = self.deferred, None
            self.tables.batch_ips = None
        for name in sorted(names):
            group = self.tables.groups.get(name)
            if group is not None:
                self.refresh(group, now, out)

    # ------------------------------------------------------------------ the active set
    def _activation(self, group: Group, members: list[Member], first: set[str],
                    repaired: set[str], was_usable: bool) -> None:
        """IFF_INACTIVE moved as in.mpathd moves it (engine/activation.py): members that
        left service first (each active one brings one inactive member into use), then
        members that came into service (joined, repaired, onlined)."""
        for member in members:
            if member.in_service and not member.usable:
                member.in_service = False
                if member.active:
                    activation.activate_another(members, member)
            if not member.usable:
                member.inactive = False  # a member out of service is never inactive
        for member in members:
            if member.in_service or not member.usable:
                continue
            member.in_service = True
            initial = member.name in first
            failback = group.failback and not self.probing.transitive.holds_back(member)
            activation.transition_to_running(
                members, member, onlining=not initial and member.name not in repaired,
                initial=initial, failback=failback, group_failed=not was_usable)
            if member.standby and initial:
                activation.refresh_standby(members, member)
        activation.keep_one_active(members)

    def _check_duplicate_mac(self, group: Group, members: list[Member],
                             out: list[Action]) -> None:
        """A member whose MAC equals another online member's is offlined (flag h) and
        onlined again by itself once its MAC is unique. The member that had the MAC
        first keeps it; the newcomer (latest MAC change) is the one taken offline."""
        claimed: dict[str, Member] = {}
        ordered = sorted(
            (m for m in members if m.present and m.mac and not m.offline),
            key=lambda m: (m.duphw, m.mac_since, group.members.index(m.name)),
        )
        for member in ordered:
            owner = claimed.get(member.mac)
            if owner is None:
                claimed[member.mac] = member
                if member.duphw:
                    self.set_member_state(member, out, duphw=False, log=Log(
                        "notice", f"IP interface {member.name} now has a unique "
                        "hardware address; bringing it back online"))
            elif not member.duphw:
                self.set_member_state(member, out, duphw=True, log=Log(
                    "err", f"IP interface {member.name} has a hardware address "
                    f"({member.mac}) that duplicates {owner.name}'s in group "
                    f"{group.name}; taking it offline"))

    # ------------------------------------------------------------------ what follows it
    def _place(self, group: Group, active: list[str], newly: list[str],
               out: list[Action]) -> None:
        # a failed group probing transitively keeps its addresses on one member
        seat = active or probing_seat(self.tables.members_of(group), group)
        new = placement.rebalance(group.binding, seat, newly)
        for addr, member in new.items():
            old = group.binding[addr]
            if old == member:
                continue
            if member is None:
                assert old is not None
                out.append(UnbindAddress(group.name, addr, old))
                out.append(Log("warning", f"Address {addr} of group {group.name} is down: "
                               "no active interface", group.name, old))
            else:
                out.append(BindAddress(group.name, addr, member, old))
                out.append(Log("notice", f"Address {addr.ip} of group {group.name} moved from "
                               f"{old or '(none)'} to {member}", group.name, member))
            out.append(Publish({"type": "address-moved", "group": group.name,
                                "address": str(addr), "from": old, "to": member}))
        group.binding = new

    def _nominate(self, group: Group, active: list[str], out: list[Action]) -> None:
        for family in ("inet", "inet6"):
            current = group.nominees.get(family)
            if current in active:
                continue
            nominee = active[0] if active else None
            if nominee != current:
                group.nominees[family] = nominee
                out.append(Nominate(group.name, family, nominee, current))

    @staticmethod
    def purge_multicast(group: Group, member: str, out: list[Action]) -> None:
        """A member joined the group or appeared again: what other processes joined on
        it belongs on the nominee of each family. Without a nominee (no usable member)
        the memberships stay where they are."""
        if group.name == ANONYMOUS:
            return
        for family in ("inet", "inet6"):
            nominee = group.nominees.get(family)
            if nominee is not None and nominee != member:
                out.append(PurgeMulticast(group.name, member, family, nominee))

    def _routes(self, group: Group, active: list[str], out: list[Action]) -> None:
        plan = self.route_plan(group, active)
        if plan != group.last_routes:
            group.last_routes = plan
            out.append(SetRoutes(group.name, plan))

    def route_plan(self, group: Group, active: list[str]) -> tuple[RoutePlan, ...]:
        """Outbound routes: each data-address subnet, and each declared route, through the
        active members that have an address of their own in that subnet.

        Why not every active member: Linux picks the sender address of an ARP request
        from the outgoing interface (arp_announce=2), falling back to any address of the
        host. A member with no address in the subnet would send ARP requests naming a
        data address bound to ANOTHER member, with its own MAC, and every neighbour
        would re-learn that address on the wrong port. Members that hold an address
        there announce only addresses they really answer for."""
        members = self.tables.members

        def holders(net: Any) -> tuple[str, ...]:
            found = [
                m for m in active
                if any(a.network == net or a.ip in net for a, b in group.binding.items()
                       if b == m and a.version == net.version)
                or any(t.ip in net for t in members[m].test_addresses
                       if t.version == net.version)
            ]
            return tuple(found)

        def source(net: Any) -> str | None:
            # The kernel does not skip deprecated IPv4 addresses when it picks a source,
            # and a test address added first would be the subnet's primary address: name
            # a data address explicitly (Solaris: test addresses are never a source).
            # Never a deprecated one (preferred_lft 0: "not a source for this node's own
            # traffic"); when there is no other, no src, and each hop's kernel-chosen
            # primary address (normally the member's test address) is the source.
            return next((str(a.ip) for a, b in group.binding.items()
                         if b is not None and a.ip in net and a not in group.deprecated),
                        None)

        plan: list[RoutePlan] = []
        networks = sorted({a.network for a in group.binding},
                          key=lambda n: (n.version, int(n.network_address), n.prefixlen))
        for net in networks:
            holding = holders(net)
            if holding:
                plan.append(RoutePlan(str(net), holding, None, source(net)))
        for route in group.routes:
            gw = parse_ip(route.gateway)
            subnets = [p.network for p in group.binding if gw in p.network]
            holding = tuple(m for n in subnets for m in holders(n))
            holding = tuple(dict.fromkeys(holding)) or tuple(active)
            src = next((s for n in subnets if (s := source(n))), None)
            if holding:
                plan.append(RoutePlan(route.dst, holding, route.gateway, src))
        return tuple(plan)

    def _group_state(self, group: Group, members: list[Member], out: list[Action]) -> None:
        usable = [m for m in members if m.usable]
        if not usable:
            state = GroupState.FAILED
        elif len(usable) == len(members):
            state = GroupState.OK
        else:
            state = GroupState.DEGRADED
        if state is group.state:
            return
        old, group.state = group.state, state
        # "now usable" only after "now unusable" (mpd_tables.c's pg_failmsg_printed): a
        # new group's first usable member is not news.
        if state is GroupState.FAILED and members:
            out.append(Log("err", f"All IP interfaces in group {group.name} are now unusable",
                           group.name))
            group.failmsg_printed = True
        elif group.failmsg_printed and usable:
            group.failmsg_printed = False
            out.append(Log("err", f"At least 1 IP interface ({usable[0].name}) in group "
                           f"{group.name} is now usable", group.name, usable[0].name))
        out.append(Publish({"type": "group-state", "group": group.name, "state": str(state),
                            "previous": str(old)}))

    def attribute(self, group: Group, out: list[Action]) -> None:
        """A group's cluster attribute follows its usable-member count, at once.

        Not while a persisted configuration is loaded (daemon restart): the group is
        rebuilt member by member, and its intermediate counts (0, then 1...) are not
        facts about the network; the load publishes the final value once."""
        if not group.attribute or group.name == ANONYMOUS or self.starting:
            return
        usable = sum(1 for m in self.tables.members_of(group) if m.usable)
        value = usable * group.multiplier
        if value != group.attribute_value:
            group.attribute_value = value
            out.append(PublishAttribute(group.name, group.attribute, value, group.dampen_ms))
