"""MAC addresses: the text the kernel and the daemon's snapshot show ("02:00:00:00:53:01")
and the six bytes that go into a frame. The one parser and formatter of the product.

Standard library only: the agents and the daemon's frame builders both use it.
"""

from __future__ import annotations

import functools

MAC_LEN = 6
BROADCAST_MAC = b"\xff" * MAC_LEN
# What a frame carries where no hardware address is known (an ARP request's target).
ZERO_MAC = b"\0" * MAC_LEN


# The daemon turns its members' MACs into bytes for every frame it sends (transitive
# probes, announcements); a node has a few dozen, so their bytes are kept.
MAC_CACHE_SIZE = 1024


@functools.lru_cache(maxsize=MAC_CACHE_SIZE)
def parse_mac(text: str) -> bytes:
    """ "aa:bb:cc:dd:ee:ff" (or with '-') -> 6 bytes; ValueError otherwise."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != MAC_LEN or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


def mac_text(raw: bytes) -> str:
    """6 bytes -> "aa:bb:cc:dd:ee:ff", as the kernel writes a MAC."""
    return ":".join(f"{b:02x}" for b in raw)


def check_mac(mac: bytes) -> None:
    """Refuse anything but 6 bytes before it goes into a frame (ValueError)."""
    if len(mac) != MAC_LEN:
        raise ValueError(f"MAC must be {MAC_LEN} bytes, got {len(mac)}")
