"""The groups' routes: kernel route specs for a group's route plan, and installing them.

Data addresses are added with noprefixroute, so the daemon owns the routes to their
subnets: outbound traffic must leave through active members only, and a failed member
must not keep a route (a carrier-down route is still used unless
ignore_routes_with_linkdown is set). The engine decides which members carry each route
(RoutePlan); this module spells that in netlink terms and keeps the kernel in step.
IPv4 routes spread over their members as one multipath route (per-flow hashing, like
Solaris' outbound spreading); IPv6 allows multipath only through gateways, so IPv6
device routes use the first member.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ipmp_core.engine.actions import ResyncRoutes, RoutePlan, SetRoutes
from ipmp_core.engine.engine import Engine
from ipmp_core.net.netlink import Netlink

# The routers are read again this long after the daemon changed its own routes, not at
# once: the dump (every route of the namespace, a local one per address) would compete
# with the moves of the failover that changed them (a failover of 1,000 addresses took
# ~100 ms longer).
OWN_ROUTES_REFRESH_DELAY_S = 1.0

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


class Routes:
    """Owns the routes the daemon installed for each group (``installed``: what the
    kernel was told last), so that a new plan changes only what differs; says
    (``on_own_change``, once per OWN_ROUTES_REFRESH_DELAY_S) when it changed any."""

    def __init__(self, engine: Engine, netlink: Netlink,
                 on_own_change: Callable[[], None]) -> None:
        self.engine = engine
        self.netlink = netlink
        self.on_own_change = on_own_change
        self.installed: dict[str, dict[str, dict[str, Any]]] = {}
        self.own_routes_timer: asyncio.TimerHandle | None = None

    async def apply(self, action: SetRoutes) -> None:
        index = {name: m.ifindex for name, m in self.engine.members.items() if m.present}
        wanted = route_specs(action.plan, index)
        installed = self.installed.get(action.group, {})
        changed = False
        for dst, spec in installed.items():
            if dst not in wanted:
                await self.netlink.delete_route(spec)
                changed = True
        for dst, spec in wanted.items():
            if installed.get(dst) != spec:
                await self.netlink.replace_route(spec)
                changed = True
        self.installed[action.group] = wanted
        if changed and self.own_routes_timer is None:
            # The stream leaves out our own routes, but they are next hops other groups
            # (the anonymous one) probe through: read the routers again, once, a little
            # later (OWN_ROUTES_REFRESH_DELAY_S).
            self.own_routes_timer = asyncio.get_running_loop().call_later(
                OWN_ROUTES_REFRESH_DELAY_S, self._own_routes_changed)

    def _own_routes_changed(self) -> None:
        self.own_routes_timer = None
        self.on_own_change()

    async def resync(self, action: ResyncRoutes) -> None:
        """The kernel dropped routes whose preferred source disappeared: the group's
        routes are installed again from scratch."""
        self.installed.pop(action.group, None)
        await self.apply(SetRoutes(action.group, action.plan))
