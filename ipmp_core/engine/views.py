"""What the engine shows: the snapshot ipmpstat reads, and the configuration it persists.

Read-only: nothing here changes a record.
"""

from __future__ import annotations

from typing import Any

from ipmp_core.engine.rules import Rules, interface_state, link_state
from ipmp_core.engine.state import Group, Member, targets_for
from ipmp_core.engine.tables import ANONYMOUS, Tables
from ipmp_core.engine.transitive import label
from ipmp_core.model import (
    AddressView,
    AddrState,
    GroupState,
    GroupView,
    IfFlags,
    IfState,
    InterfaceView,
    ProbeState,
    Snapshot,
    TargetFamilyView,
    TargetMode,
)


def snapshot(tables: Tables, rules: Rules, state_error: str) -> Snapshot:
    """Groups, interfaces and addresses as ipmpstat -g / -i / -a / -t show them.

    Rows in a stable order, walked as ipmpstat's walk_if() and walk_addr() walk them,
    group by group: groups as created, each group's members as configured, its
    addresses as added; interfaces in no group last (in.mpathd's anonymous group is
    the first it creates, so its list, newest first, ends with it).
    """
    snap = Snapshot(state_error=state_error)
    anonymous: list[InterfaceView] = []
    for group in tables.groups.values():
        members = tables.members_of(group)
        active = [m.name for m in members if m.active]
        if group.name == ANONYMOUS:  # ipmpstat -i shows them with an empty GROUP
            anonymous = [interface_view(group, m) for m in members]
            continue
        snap.groups.append(group_view(group, members, group.state))
        for m in members:
            snap.interfaces.append(interface_view(group, m))
        # OUTBOUND: the members that carry the route to the address's subnet.
        outbound = {p.dst: list(p.members) for p in rules.route_plan(group, active)
                    if p.gateway is None}
        for addr, member in group.binding.items():
            snap.addresses.append(
                AddressView(
                    address=str(addr.ip),
                    prefixlen=addr.network.prefixlen,
                    # in.mpathd's getgraddrinfo(): the address's own IFF_UP, which
                    # no member failing takes away (INBOUND is then empty); a data
                    # address here is never administratively down
                    state=AddrState.UP,
                    group=group.name,
                    inbound=member or "",
                    owner=str(group.owners.get(addr, "")),
                    outbound=outbound.get(str(addr.network), []) if member else [],
                )
            )
    snap.interfaces += anonymous
    if tables.track_all:
        snap.groups.append(anonymous_view(tables))
    return snap


def group_view(group: Group, members: list[Member], state: GroupState) -> GroupView:
    """One line of ipmpstat -g (in.mpathd's getgroupinfo())."""
    return GroupView(
        name=group.name,
        state=state,
        # empty when nobody probes (link-based detection only), as in ipmpstat
        fdt_ms=group.fdt_current if any(m.prober.enabled for m in members) else None,
        failback=group.failback,
        active=[m.name for m in members if m.active],
        inactive=[m.name for m in members if m.usable and not m.active],
        unusable=[m.name for m in members if not m.usable],
    )


def anonymous_view(tables: Tables) -> GroupView:
    """The anonymous group's -g line, shown whenever TRACK_INTERFACES_ONLY_WITH_GROUPS=no,
    members or not (phyint_init() puts it in the group list for good; ipmpstat prints its
    empty name as "--"). Its state is always ok: in.mpathd creates it PG_OK and
    phyint_group_refresh_state() never changes it (its interfaces stand alone)."""
    group = tables.groups.get(ANONYMOUS) or Group(name=ANONYMOUS, fdt_ms=tables.default_fdt,
                                                  fdt_current=tables.default_fdt)
    return group_view(group, tables.members_of(group), GroupState.OK)


def interface_view(group: Group, m: Member) -> InterfaceView:
    """One line of ipmpstat -i / -t."""
    prober = m.prober
    mode, targets = firing_order(group, m)
    testaddrs = [f.source for _, f in sorted(prober.families.items())]
    if prober.transitive_only:  # Solaris 11 shows the member itself: <net1>
        testaddrs.append(label(m.name))
    testaddrs += [str(a.ip) for a in m.all_test_addresses if str(a.ip) not in testaddrs]
    ipv6 = carries_ipv6(group, m)
    ipv4 = carries_ipv4(group, m) or not ipv6
    flags = IfFlags(
        inactive=m.inactive,  # IFF_INACTIVE: never on a failed or offline member
        standby=m.standby,
        mcast4=ipv4 and group.nominees["inet"] == m.name,
        bcast4=ipv4 and group.nominees["inet"] == m.name,
        mcast6=ipv6 and group.nominees["inet6"] == m.name,
        down=m.down,  # no address of its own up: admin down, or offline (if_mpadm -d)
        duphw=m.duphw,
    )
    return InterfaceView(
        name=m.name,
        group=group.name,
        active=m.active,
        flags=flags,
        link=link_state(m),
        probe=probe_state(m),
        state=interface_state(m),
        testaddrs=testaddrs,
        target_mode=TargetMode(mode),
        targets=targets,
        present=m.present,
        mac=m.mac,
        target_families=family_views(group, m),
    )


def probe_state(m: Member) -> ProbeState:
    """ipmpstat -i PROBE as in.mpathd's ifprobestate(): disabled without a probing
    family, failed whenever the interface is failed (PI_FAILED: a link failure too),
    unknown while no family has a target, else ok (targets exist; no answer needed).
    A failed interface whose targets all went while its link is up is PI_NOTARGETS
    in in.mpathd (target_delete()), so unknown, though its STATE stays failed."""
    if not m.prober.enabled:
        return ProbeState.DISABLED
    failed = interface_state(m) is IfState.FAILED
    if failed and (m.prober.has_targets or not m.link_up):
        return ProbeState.FAILED
    return ProbeState.OK if m.prober.has_targets else ProbeState.UNKNOWN


def carries_ipv6(group: Group, m: Member) -> bool:
    """Whether the group has IPv6, as Solaris' IPMP interface would be plumbed for
    inet6 (only then does the kernel nominate an M interface, gi_m6ifname): an IPv6
    data address, IPv6 probing or test address, or an IPv6 multicast group joined."""
    return (any(a.version == 6 for a in group.binding)
            or group.linklocal_probes
            or any(":" in g for g in group.multicast)
            or any(t.version == 6 for t in m.all_test_addresses)
            or any(f == 6 and p.enabled for f, p in m.prober.families.items()))


def carries_ipv4(group: Group, m: Member) -> bool:
    """Likewise for IPv4 (m and b, gi_m4ifname and gi_bcifname); a group without any
    address is IPv4, as ``ifconfig ipmp0 ipmp`` plumbs it."""
    return (any(a.version == 4 for a in group.binding)
            or any("." in g for g in group.multicast)
            or any(t.version == 4 for t in m.all_test_addresses))


def family_views(group: Group, member: Member) -> list[TargetFamilyView]:
    """Per probing family: mode, test address, targets in firing order."""
    views = []
    if member.prober.transitive_only:
        return [TargetFamilyView(0, TargetMode.TRANSITIVE, label(member.name),
                                 transitive_targets(member))]
    for family, family_prober in sorted(member.prober.families.items()):
        if not family_prober.enabled:
            continue
        targets = targets_for(group, member.name, family)
        active = targets.active()
        i = family_prober.target_index % len(active) if active else 0
        views.append(TargetFamilyView(family, targets.mode, family_prober.source,
                                      active[i:] + active[:i]))
    return views


def firing_order(group: Group, member: Member) -> tuple[str, list[str]]:
    """(target mode, targets in the order this member will probe them)."""
    if member.prober.transitive_only:
        return str(TargetMode.TRANSITIVE), transitive_targets(member)
    for family in (4, 6):
        family_prober = member.prober.families.get(family)
        if family_prober is None or not family_prober.enabled:
            continue
        targets = targets_for(group, member.name, family)
        active = targets.active()
        i = family_prober.target_index % len(active) if active else 0
        return str(targets.mode), active[i:] + active[:i]
    return "disabled", []


def transitive_targets(member: Member) -> list[str]:
    """The member a transitive member probes, as Solaris 11 names it: ``<net0>``."""
    target = member.prober.transitive_target
    return [label(target)] if target is not None else []


def _test_addresses(m: Member) -> list[str]:
    """As configured: the static ones, and "dhcp" for a leased one."""
    return [str(a) for a in m.test_addresses] + (["dhcp"] if m.dhcp_test else [])


def config_dump(tables: Tables) -> dict[str, Any]:
    """The desired configuration, as persisted and as Engine.load reads it back."""
    return {
        "version": 1,
        "groups": [
            {
                "name": g.name,
                "failback": g.failback,
                "fdt_ms": g.fdt_ms,
                **({"follows_defaults": sorted(g.follows_defaults)}
                   if g.follows_defaults else {}),
                "members": [
                    {
                        "name": m.name,
                        "standby": m.standby,
                        "offline": m.offline,
                        "test_addresses": _test_addresses(m),
                        "names": {str(a): n for a, n in m.test_names.items()},
                    }
                    for m in tables.members_of(g)
                ],
                "data_addresses": [str(a) for a in g.binding],
                "owners": {str(a): str(o) for a, o in g.owners.items()},
                "names": {str(a): n for a, n in g.names.items()},  # address objects
                "deprecated": [str(a) for a in g.binding if a in g.deprecated],
                "routes": [{"dst": r.dst, "gateway": r.gateway} for r in g.routes],
                "targets": list(g.explicit_targets),
                "linklocal_probes": g.linklocal_probes,
                "multicast": list(g.multicast),
                "dhcp_data": sorted(g.dhcp_slots),
                "dhcp_names": {str(s): n for s, n in sorted(g.dhcp_names.items())},
                **({"attribute": {"name": g.attribute, "multiplier": g.multiplier,
                                  "dampen_ms": g.dampen_ms}} if g.attribute else {}),
            }
            for g in tables.groups.values()
            if g.name != ANONYMOUS
        ],
        "anonymous": [
            {"name": m.name, "test_addresses": _test_addresses(m),
             "names": {str(a): n for a, n in m.test_names.items()}}
            # one tracked for its own address only is the kernel's, not configuration
            for m in tables.members.values() if m.group == ANONYMOUS and _test_addresses(m)
        ],
    }
