"""The probe target lists' upkeep (in.mpathd's router targets), sans I/O.

Split from engine/probing.py so that it stays small: each group's target lists (one per
family; one per interface in the anonymous group, never shared across subnets) follow
the explicit targets and the routers on the probing subnets, and each member's
has-targets flag follows them.
"""

from __future__ import annotations

import ipaddress

from ipmp_core.engine.actions import Action, Log
from ipmp_core.engine.prober import FAMILY_NAME
from ipmp_core.engine.state import (
    Group,
    sync_member_targets,
    target_lists,
    target_phrase,
    targets_for,
)
from ipmp_core.engine.tables import Tables
from ipmp_core.engine.ungrouped import own_addresses, own_source

Routers = dict[int, list[tuple[str, str]]]


def update_has_targets(tables: Tables, group: Group) -> None:
    for member in tables.members_of(group):
        member.prober.has_targets = any(
            targets_for(group, member.name, f).active()
            for f, family_prober in member.prober.families.items() if family_prober.enabled
        ) or (member.prober.transitive_only and member.prober.transitive_target is not None)


def sync_targets(tables: Tables, routers: Routers, group: Group, now: float,
                 out: list[Action]) -> None:
    sync_member_targets(group)
    for owner, targets in target_lists(group):
        family = targets.family
        explicit = [t for t in group.explicit_targets
                    if ipaddress.ip_address(t).version == family]
        if explicit != targets.explicit:
            targets.set_explicit(explicit)
        if targets.set_routers(routers_for(tables, routers, group, family, owner), now):
            found = " ".join(t.address for t in targets.targets) or "none"
            out.append(Log("notice", f"Probe targets ({FAMILY_NAME[family]})"
                           f"{target_phrase(group, owner or '')}: routers {found}"))


def routers_for(tables: Tables, routers: Routers, group: Group, family: int,
                owner: str | None = None) -> list[str]:
    """Next hops of routes that lie in the subnet of the group's test addresses
    (IPv6: link-local next hops through a member), never our own addresses; with
    ``owner`` (an interface of the anonymous group), of its own addresses only."""
    members = [tables.members[owner]] if owner else tables.members_of(group)
    nets = [a.network for m in members for a in m.all_test_addresses
            if a.version == family]
    if group.transitive_probing:  # members probe from data addresses too
        nets += [a.network for a in group.binding if a.version == family]
    source = own_source(tables, group, members[0]) if owner and family == 4 else None
    if source is not None:  # an ungrouped interface probing from its own address
        nets += [a.network for a in own_addresses(tables, owner or "") if str(a.ip) == source]
    found: list[str] = []
    # The group's own declared routes count even while they are not installed (no
    # active member): otherwise a failed group would lose the very targets that
    # would tell it the path is back.
    declared = [(r.gateway, oif) for r in group.routes for oif in group.members[:1]]
    for gateway, oif in [*routers.get(family, []), *declared]:
        if ipaddress.ip_address(gateway).version != family:
            continue
        if gateway in found or gateway in tables.local_addresses:
            continue
        ip = ipaddress.ip_address(gateway)
        if family == 6:
            if ip.is_link_local and oif in ([owner] if owner else group.members):
                found.append(gateway)
        elif any(ip in net for net in nets):
            found.append(gateway)
    return found
