"""Which kernel routes a group needs, given its active members (pure).

Data addresses are added with noprefixroute, so the daemon owns the routes to their
subnets: outbound traffic must leave through active members only, and a failed member
must not keep a route (a carrier-down route is still used unless
ignore_routes_with_linkdown is set). IPv4 routes spread over all active members as one
multipath route (per-flow hashing, like Solaris' outbound spreading); IPv6 only allows
multipath through gateways, so device routes go through the first active member.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

RT_SCOPE_LINK = 253


def _hops(indexes: Sequence[int], gateway: str | None = None) -> dict[str, Any]:
    hops = [{"oif": i, **({"gateway": gateway} if gateway else {})} for i in indexes]
    if len(hops) == 1:
        return dict(hops[0])
    return {"multipath": hops}


def route_specs(
    networks: Sequence[str],
    routes: Sequence[tuple[str, str]],
    indexes: Sequence[int],
) -> dict[str, dict[str, Any]]:
    """Route specs keyed by destination: connected routes for each data-address network,
    then the declared (dst, gateway) routes; nothing when no member is active."""
    if not indexes:
        return {}
    specs: dict[str, dict[str, Any]] = {}
    for text in networks:
        net = ipaddress.ip_network(text)
        if net.version == 4:
            specs[str(net)] = {"dst": str(net), "family": socket.AF_INET,
                               "scope": RT_SCOPE_LINK, **_hops(indexes)}
        else:
            specs[str(net)] = {"dst": str(net), "family": socket.AF_INET6,
                               **_hops(indexes[:1])}
    for dst, gateway in routes:
        v6 = ":" in gateway
        family = socket.AF_INET6 if v6 else socket.AF_INET
        target = ("::/0" if v6 else "0.0.0.0/0") if dst == "default" else dst
        specs[target] = {"dst": target, "family": family, **_hops(indexes, gateway)}
    return specs
