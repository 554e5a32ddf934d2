"""What the engine shows: the snapshot ipmpstat reads, and the configuration it persists.

Read-only: nothing here changes a record.
"""

from __future__ import annotations

from typing import Any

from ipmp_core.engine.rules import Rules, interface_state, link_state
from ipmp_core.engine.state import Group, Member
from ipmp_core.engine.tables import ANONYMOUS, Tables
from ipmp_core.model import (
    AddressView,
    AddrState,
    GroupView,
    IfFlags,
    InterfaceView,
    ProbeState,
    Snapshot,
    TargetFamilyView,
    TargetMode,
)


def snapshot(tables: Tables, rules: Rules, state_error: str) -> Snapshot:
    """Groups, interfaces and addresses as ipmpstat -g / -i / -a / -t show them."""
    snap = Snapshot(state_error=state_error)
    for group in tables.groups.values():
        members = tables.members_of(group)
        active = [m.name for m in members if m.active]
        if group.name == ANONYMOUS:  # ipmpstat -i shows them with an empty GROUP
            snap.interfaces += [interface_view(group, m) for m in members]
            continue
        snap.groups.append(
            GroupView(
                name=group.name,
                state=group.state,
                # empty when nobody probes (link-based detection only), as in ipmpstat
                fdt_ms=group.fdt_current if any(m.prober.enabled for m in members)
                else None,
                failback=group.failback,
                active=active,
                inactive=[m.name for m in members if m.usable and not m.active],
                unusable=[m.name for m in members if not m.usable],
            )
        )
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
                    state=AddrState.UP if member else AddrState.DOWN,
                    group=group.name,
                    inbound=member or "",
                    owner=str(group.owners.get(addr, "")),
                    outbound=outbound.get(str(addr.network), []) if member else [],
                )
            )
    return snap


def interface_view(group: Group, m: Member) -> InterfaceView:
    """One line of ipmpstat -i / -t."""
    prober = m.prober
    if not prober.enabled:
        probe = ProbeState.DISABLED
    elif prober.failed:
        probe = ProbeState.FAILED
    elif prober.has_targets and prober.last_success() is not None:
        probe = ProbeState.OK
    else:
        probe = ProbeState.UNKNOWN
    mode, targets = firing_order(group, m)
    testaddrs = [f.source for _, f in sorted(prober.families.items())]
    testaddrs += [str(a.ip) for a in m.all_test_addresses if str(a.ip) not in testaddrs]
    flags = IfFlags(
        inactive=m.inactive,  # IFF_INACTIVE: never on a failed or offline member
        standby=m.standby,
        mcast4=group.nominees["inet"] == m.name,
        bcast4=group.nominees["inet"] == m.name,
        mcast6=group.nominees["inet6"] == m.name,
        down=m.down,
        duphw=m.duphw,
    )
    return InterfaceView(
        name=m.name,
        group=group.name,
        active=m.active,
        flags=flags,
        link=link_state(m),
        probe=probe,
        state=interface_state(m),
        testaddrs=testaddrs,
        target_mode=TargetMode(mode),
        targets=targets,
        present=m.present,
        mac=m.mac,
        target_families=family_views(group, m),
    )


def family_views(group: Group, member: Member) -> list[TargetFamilyView]:
    """Per probing family: mode, test address, targets in firing order."""
    views = []
    for family, family_prober in sorted(member.prober.families.items()):
        if not family_prober.enabled:
            continue
        targets = group.targets[family]
        active = targets.active()
        i = family_prober.target_index % len(active) if active else 0
        views.append(TargetFamilyView(family, targets.mode, family_prober.source,
                                      active[i:] + active[:i]))
    return views


def firing_order(group: Group, member: Member) -> tuple[str, list[str]]:
    """(target mode, targets in the order this member will probe them)."""
    for family in (4, 6):
        family_prober = member.prober.families.get(family)
        if family_prober is None or not family_prober.enabled:
            continue
        targets = group.targets[family]
        active = targets.active()
        i = family_prober.target_index % len(active) if active else 0
        return str(targets.mode), active[i:] + active[:i]
    return "disabled", []


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
                "members": [
                    {
                        "name": m.name,
                        "standby": m.standby,
                        "offline": m.offline,
                        "test_addresses": _test_addresses(m),
                    }
                    for m in tables.members_of(g)
                ],
                "data_addresses": [str(a) for a in g.binding],
                "owners": {str(a): str(o) for a, o in g.owners.items()},
                "deprecated": [str(a) for a in g.binding if a in g.deprecated],
                "routes": [{"dst": r.dst, "gateway": r.gateway} for r in g.routes],
                "targets": list(g.explicit_targets),
                "linklocal_probes": g.linklocal_probes,
                "multicast": list(g.multicast),
                "dhcp_data": sorted(g.dhcp_slots),
                **({"attribute": {"name": g.attribute, "multiplier": g.multiplier,
                                  "dampen_ms": g.dampen_ms}} if g.attribute else {}),
            }
            for g in tables.groups.values()
            if g.name != ANONYMOUS
        ],
        "anonymous": [
            {"name": m.name, "test_addresses": _test_addresses(m)}
            for m in tables.members.values() if m.group == ANONYMOUS
        ],
    }
