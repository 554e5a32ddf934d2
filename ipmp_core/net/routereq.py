"""The daemon's route requests (RTM_NEWROUTE replace, RTM_DELROUTE) built with struct.

A route replace is on the failover's path, between the bind and the announcement: through
pyroute2 it cost ~0.6 ms of Python encoding and decoding per request (a quarter of the
time from the carrier-loss notification to the first announcement); built here, request
and acknowledgement take ~0.1 ms. It goes through the address batches' socket
(net/addrbatch.py). Only the keys of daemon/routes.py's route specs are known; the
attributes come in the order of the spec's keys, as pyroute2 puts them, so that a request
is byte for byte what ``AsyncIPRoute.route()`` sent (checked in
tests/unit/net/test_routereq.py). Standard library only.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ipmp_core.net.addrbatch import NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, attr

RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PREFSRC = 7
RTA_MULTIPATH = 9
RT_TABLE_MAIN = 254
RT_SCOPE_UNIVERSE = 0
RTN_UNSPEC = 0
RTN_UNICAST = 1

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
# rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTNH = struct.Struct("=HBBi")  # rtnexthop: len, flags, hops, ifindex

# Keys of a route spec that are rtmsg fields rather than attributes.
_HEADER_KEYS = frozenset({"family", "scope", "flags"})


@dataclass(frozen=True)
class RouteRequest:
    """Replace (or delete) the route ``spec`` (a daemon/routes.py route spec: dst,
    family, scope, prefsrc, oif, gateway, flags, multipath) with protocol ``proto``.
    A delete names the route by its destination only, as the daemon's ever did."""

    replace: bool
    spec: Mapping[str, Any]
    proto: int

    def encode(self, seq: int) -> bytes:
        return encode(self, seq)


def _packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def _hop(hop: Mapping[str, Any]) -> bytes:
    """One rtnexthop of RTA_MULTIPATH, with its gateway as a nested attribute."""
    unknown = set(hop) - {"oif", "gateway", "flags"}
    if unknown:
        raise ValueError(f"route next hop keys not supported: {sorted(unknown)}")
    attrs = attr(RTA_GATEWAY, _packed(hop["gateway"])) if hop.get("gateway") else b""
    return _RTNH.pack(_RTNH.size + len(attrs), hop.get("flags", 0), 0,
                      hop.get("oif", 0)) + attrs


def encode(req: RouteRequest, seq: int) -> bytes:
    """One route request, as pyroute2's ``route("replace"/"del", proto=..., **spec)``."""
    spec = req.spec
    net = ipaddress.ip_network(spec["dst"])
    family = socket.AF_INET if net.version == 4 else socket.AF_INET6
    if req.replace:
        kind = RTM_NEWROUTE
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE | NLM_F_CREATE
        keys = list(spec)
        rtm = (spec.get("scope", RT_SCOPE_UNIVERSE), RTN_UNICAST, spec.get("flags", 0))
    else:
        kind, flags = RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK
        keys = ["dst"]
        rtm = (RT_SCOPE_UNIVERSE, RTN_UNSPEC, 0)
    attrs = b""
    for key in keys:
        value = spec[key]
        if key in _HEADER_KEYS:
            continue
        if key == "dst":
            if net.prefixlen:  # a default route names no destination
                attrs += attr(RTA_DST, net.network_address.packed)
        elif key == "prefsrc":
            attrs += attr(RTA_PREFSRC, _packed(value))
        elif key == "gateway":
            attrs += attr(RTA_GATEWAY, _packed(value))
        elif key == "oif":
            attrs += attr(RTA_OIF, struct.pack("=i", value))
        elif key == "multipath":
            attrs += attr(RTA_MULTIPATH, b"".join(_hop(h) for h in value))
        else:
            raise ValueError(f"route spec key not supported: {key}")
    body = _RTMSG.pack(family, net.prefixlen, 0, 0, RT_TABLE_MAIN, req.proto, *rtm) + attrs
    return _HDR.pack(_HDR.size + len(body), kind, flags, seq, 0) + body
