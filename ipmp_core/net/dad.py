"""IPv4 duplicate address detection with ARP probes (RFC 5227), standard library only.

Used by the daemon before it adds an IPv4 data address (a floating address's agent
start among them) and before it puts a static IPv4 test address on a member: if another host already
answers for it, bringing it up here would split the traffic between two hosts. Probes
carry sender address 0.0.0.0 so that they update no neighbour's cache. IPv6 uses the
kernel's own DAD instead (the daemon adds the address without nodad and waits for the
verdict).
"""

from __future__ import annotations

import ipaddress
import math
import select
import socket
import struct
import threading
import time

from ipmp_core.net.mac import BROADCAST_MAC, ZERO_MAC, mac_text

ETH_P_ARP = 0x0806
ARP_REQUEST = 1
ARP_REPLY = 2
# RFC 5227 sends 3 probes 1-2 s apart; a cluster start cannot wait that long. Two probes
# and a short wait catch any live host on a LAN, whose answer comes back in milliseconds.
PROBE_COUNT = 2
PROBE_INTERVAL_S = 0.1
PROBE_WAIT_S = 0.3
# The bounds of a client's wait (the agent's dad_wait): shorter could miss a live owner
# under load, longer only delays the start.
MIN_WAIT_MS = 10
MAX_WAIT_MS = 10_000
_HEADER = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")


def probe_frame(mac: bytes, ip: ipaddress.IPv4Address) -> bytes:
    arp = _ARP.pack(1, 0x0800, 6, 4, ARP_REQUEST, mac, b"\0" * 4, ZERO_MAC, ip.packed)
    frame = _HEADER.pack(BROADCAST_MAC, mac, ETH_P_ARP) + arp
    return frame.ljust(60, b"\0")


def conflict_in(frame: bytes, mac: bytes, ip: ipaddress.IPv4Address) -> str | None:
    """The MAC of another host claiming ``ip`` in this ARP frame (a reply or request from
    it, or its own probe for the same address), else None."""
    claim = claim_in(frame, mac)
    return claim[1] if claim is not None and claim[0] == ip.packed else None


def claim_in(frame: bytes, mac: bytes) -> tuple[bytes, str] | None:
    """(address, MAC) another host claims in this ARP frame: the sender address of a
    request or reply, or the target of its own probe; None for ours or anything else."""
    if len(frame) < _HEADER.size + _ARP.size:
        return None
    _, _, ethertype = _HEADER.unpack_from(frame)
    if ethertype != ETH_P_ARP:
        return None
    _, ptype, _, _, op, sha, spa, _, tpa = _ARP.unpack_from(frame, _HEADER.size)
    if ptype != 0x0800 or sha == mac or op not in (ARP_REQUEST, ARP_REPLY):
        return None
    owner = mac_text(sha)
    if spa == b"\0" * 4:
        return (tpa, owner) if op == ARP_REQUEST else None
    return spa, owner


def probe_timing(wait_ms: object) -> dict[str, float]:
    """arp_probe's timing for a client's whole wait in ms (the floating-address agent's
    dad_wait): two probes (one may be lost), the second a quarter of the wait later, then
    listening for the rest. {} (the defaults above) for anything but a finite number."""
    if isinstance(wait_ms, bool) or not isinstance(wait_ms, int | float) or \
            not math.isfinite(wait_ms):
        return {}
    wait_s = min(max(float(wait_ms), MIN_WAIT_MS), MAX_WAIT_MS) / 1000
    return {"count": 2, "interval": wait_s / 4, "wait": wait_s * 3 / 4}


def arp_probe(ifname: str, mac: bytes, ip: ipaddress.IPv4Address, *,
              count: int = PROBE_COUNT, interval: float = PROBE_INTERVAL_S,
              wait: float = PROBE_WAIT_S) -> str | None:
    """Probe for ``ip`` on ``ifname``; return the MAC of a host that has it, or None."""
    return arp_probe_many(ifname, mac, [ip], count=count, interval=interval,
                          wait=wait).get(ip)


def arp_probe_many(ifname: str, mac: bytes, ips: list[ipaddress.IPv4Address], *,
                   count: int = PROBE_COUNT, interval: float = PROBE_INTERVAL_S,
                   wait: float = PROBE_WAIT_S) -> dict[ipaddress.IPv4Address, str]:
    """Probe for every address of ``ips`` at once on ``ifname`` (one round of frames per
    interval, one wait for all: a batch of 1,000 costs what one address costs); return
    {address: MAC of the host that has it} for those somebody else answers for."""
    found: dict[ipaddress.IPv4Address, str] = {}
    if not ips:
        return found
    # Protocol 0 at creation, ARP at bind: a packet socket created with a protocol is
    # already hooked in, and binding it again unhooks it first, waiting for an RCU grace
    # period (synchronize_net, 8-11 ms measured); unhooked, the bind is free.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.bind((ifname, ETH_P_ARP))
        frames = [probe_frame(mac, ip) for ip in ips]
        wanted = {ip.packed: ip for ip in ips}
        sends = [time.monotonic() + i * interval for i in range(count)]
        deadline = sends[-1] + wait
        # bounded: each pass sends a round, reads a frame or times out
        for _ in range(10_000 + 4 * len(ips) * count):
            now = time.monotonic()
            if sends and now >= sends[0]:
                sends.pop(0)
                for ip, frame in zip(ips, frames, strict=True):
                    if ip not in found:
                        sock.send(frame)
                continue
            if now >= deadline or len(found) == len(ips):
                break
            until = min(sends[0] if sends else deadline, deadline)
            ready, _, _ = select.select([sock], [], [], max(0.0, until - now))
            if ready:
                claim = claim_in(sock.recv(2048), mac)
                ip = wanted.get(claim[0]) if claim is not None else None
                if claim is not None and ip is not None:
                    found.setdefault(ip, claim[1])
        return found
    finally:
        _close_later(sock)


def _close_later(sock: socket.socket) -> None:
    """Close ``sock`` in a thread of its own: closing a packet socket waits for an RCU
    grace period in the kernel (packet_release calls synchronize_net: 7-16 ms measured),
    time the daemon spends adding the address instead. The verdict is known and
    nothing reads the socket any more; a process that exits first closes it on exit."""
    threading.Thread(target=sock.close, name="arp-probe-close", daemon=True).start()


async def owner_of_test_address(ifname: str, mac: bytes,
                                ip: ipaddress.IPv4Address) -> str | None:
    """``arp_probe`` off the event loop (it takes about PROBE_COUNT x PROBE_INTERVAL_S +
    PROBE_WAIT_S); None, logged, when the probe cannot be sent (the address then goes on
    unchecked rather than not at all).

    asyncio and logging are imported here, not at the top: this module stays cheap to
    import (it used to be on the agents' failover path, where importing asyncio alone
    cost 30-40 ms); in the daemon both are loaded already."""
    import asyncio
    import logging

    try:
        return await asyncio.to_thread(arp_probe, ifname, mac, ip)
    except OSError as exc:
        logging.getLogger("ipmpd").warning(
            "duplicate address detection of test address %s on %s skipped: %s", ip, ifname,
            exc.strerror or exc)
        return None
