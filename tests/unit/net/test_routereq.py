"""The route requests built with struct (net/routereq.py) are byte for byte what pyroute2
sends for the same route spec: every shape daemon/routes.py produces (IPv4 multipath and
single hop, IPv6 device route, gateway routes, defaults, preferred sources), replaced and
deleted. Only the sequence number and the port id differ (pyroute2 numbers its own)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from pyroute2 import IPBatch

from ipmp_core.daemon.routes import route_specs
from ipmp_core.engine.actions import RoutePlan
from ipmp_core.net import routereq
from ipmp_core.net.netlink import RTPROT_CLEARVIEW
from ipmp_core.net.routereq import RouteRequest

INDEX = {"e0": 2, "e1": 3, "e2": 7}

PLANS = [
    RoutePlan("198.51.100.0/24", ("e0",)),
    RoutePlan("198.51.100.0/24", ("e1",), source="198.51.100.10"),
    RoutePlan("198.51.100.0/24", ("e0", "e1", "e2"), source="198.51.100.10"),
    RoutePlan("2001:db8:1::/64", ("e0", "e1")),
    RoutePlan("2001:db8:1::/64", ("e1",), source="2001:db8:1::10"),
    RoutePlan("default", ("e0",), gateway="198.51.100.1", source="198.51.100.10"),
    RoutePlan("default", ("e0", "e2"), gateway="198.51.100.1"),
    RoutePlan("203.0.113.0/24", ("e1", "e2"), gateway="198.51.100.1"),
    RoutePlan("default", ("e1",), gateway="2001:db8:1::1"),
    RoutePlan("default", ("e0", "e1"), gateway="2001:db8:1::1"),
    RoutePlan("2001:db8:2::/48", ("e2",), gateway="fe80::1"),
]


def _specs() -> list[dict[str, Any]]:
    specs = []
    for plan in PLANS:
        specs += route_specs([plan], INDEX).values()
    return specs


def _pyroute2(command: str, spec: dict[str, Any]) -> bytes:
    batch = IPBatch()
    try:
        if command == "del":  # what Netlink.delete_route passed pyroute2
            spec = {k: spec[k] for k in ("dst", "family", "table") if k in spec}
        batch.route(command, proto=RTPROT_CLEARVIEW, **spec)
        return bytes(batch.batch)
    finally:
        batch.close()


def _normalised(message: bytes) -> bytes:
    """Sequence number and port id zeroed (nlmsghdr bytes 8-16)."""
    return message[:8] + bytes(8) + message[16:]


def test_every_shape_is_covered() -> None:
    specs = _specs()
    assert len(specs) == len(PLANS)
    assert any("multipath" in s for s in specs) and any("oif" in s for s in specs)
    assert {s["family"] for s in specs} == {socket.AF_INET, socket.AF_INET6}
    assert any(s.get("flags") for s in specs) and any("prefsrc" in s for s in specs)


@pytest.mark.parametrize("spec", _specs(), ids=lambda s: f"{s['dst']}-{len(str(s))}")
def test_replace_is_byte_for_byte_pyroute2(spec: dict[str, Any]) -> None:
    ours = RouteRequest(True, spec, RTPROT_CLEARVIEW).encode(41)
    assert _normalised(ours) == _normalised(_pyroute2("replace", spec))
    assert ours[8:12] == (41).to_bytes(4, "little")


@pytest.mark.parametrize("spec", _specs(), ids=lambda s: f"{s['dst']}-{len(str(s))}")
def test_delete_is_byte_for_byte_pyroute2(spec: dict[str, Any]) -> None:
    ours = routereq.encode(RouteRequest(False, spec, RTPROT_CLEARVIEW), 9)
    assert _normalised(ours) == _normalised(_pyroute2("del", spec))


def test_unknown_keys_are_refused_not_dropped() -> None:
    with pytest.raises(ValueError, match="priority"):
        RouteRequest(True, {"dst": "198.51.100.0/24", "priority": 5}, RTPROT_CLEARVIEW).encode(1)
    with pytest.raises(ValueError, match="weight"):
        RouteRequest(True, {"dst": "198.51.100.0/24", "multipath": [{"oif": 2, "weight": 2}]},
                     RTPROT_CLEARVIEW).encode(1)
