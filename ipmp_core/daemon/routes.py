"""Kernel route specs for a group's route plan (pure).

Data addresses are added with noprefixroute, so the daemon owns the routes to their
subnets: outbound traffic must leave through active members only, and a failed member
must not keep a route (a carrier-down route is still used unless
ignore_routes_with_linkdown is set). The engine decides which members carry each route
(RoutePlan); this module only spells that in netlink terms. IPv4 routes spread over their
members as one multipath route (per-flow hashing, like Solaris' outbound spreading);
IPv6 allows multipath only through gateways, so IPv6 device routes use the first member.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from ipmp_core.engine.actions import RoutePlan

RT_SCOPE_LINK = 253


# The gateway is on the members' link even while no connected route covers it (a group
# whose data addresses are all in another subnet, or not bound yet).
RTNH_F_ONLINK = 4


def _hops(indexes: Sequence[int], gateway: str | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"gateway": gateway, "flags": RTNH_F_ONLINK} if gateway else {}
    hops = [{"oif": i, **extra} for i in indexes]
    if len(hops) == 1:
        return dict(hops[0])
    return {"multipath": hops}


def route_specs(plan: Sequence[RoutePlan], index: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Route specs keyed by destination prefix; members without an ifindex are skipped."""
    specs: dict[str, dict[str, Any]] = {}
    for route in plan:
        indexes = [index[m] for m in route.members if index.get(m)]
        if not indexes:
            continue
        # IPv4 only: IPv6 source selection already skips deprecated addresses, and a
        # route naming an address still in DAD (tentative) is refused by the kernel.
        v4 = route.source is not None and ":" not in route.source
        prefsrc = {"prefsrc": route.source} if v4 else {}
        if route.gateway is None:
            net = ipaddress.ip_network(route.dst)
            if net.version == 4:
                specs[str(net)] = {"dst": str(net), "family": socket.AF_INET,
                                   "scope": RT_SCOPE_LINK, **prefsrc, **_hops(indexes)}
            else:
                specs[str(net)] = {"dst": str(net), "family": socket.AF_INET6,
                                   **prefsrc, **_hops(indexes[:1])}
            continue
        v6 = ":" in route.gateway
        family = socket.AF_INET6 if v6 else socket.AF_INET
        target = ("::/0" if v6 else "0.0.0.0/0") if route.dst == "default" else route.dst
        specs[target] = {"dst": target, "family": family, **prefsrc,
                         **_hops(indexes, route.gateway)}
    return specs
