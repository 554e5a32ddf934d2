"""The sysctls a member gets while it is in a group (and the one global one), read and
written through /proc/sys of the caller's network namespace.
"""

from __future__ import annotations

import logging

log = logging.getLogger("ipmpd")

# Per-interface sysctls that make a member answer ARP only for addresses configured on it
# (arp_ignore=1), use one of its own addresses as ARP source (arp_announce=2), and keep
# the other data addresses of a subnet when one is removed (promote_secondaries=1).
MEMBER_SYSCTLS = {
    "net/ipv4/conf/{}/arp_ignore": "1",
    "net/ipv4/conf/{}/arp_announce": "2",
    "net/ipv4/conf/{}/promote_secondaries": "1",
}
# The effective arp_ignore is the larger of "all" and the interface's own value: without
# this, a NIC outside every group (Linux is a weak host) answers ARP for a data address
# with its own MAC whenever it shares the segment, and traffic lands on the wrong port.
# Set while any member is plumbed and restored after the last one leaves.
GLOBAL_SYSCTLS = {"net/ipv4/conf/all/arp_ignore": "1"}


def read_sysctl(key: str) -> str | None:
    try:
        with open(f"/proc/sys/{key}", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def write_sysctl(key: str, value: str) -> bool:
    try:
        with open(f"/proc/sys/{key}", "w", encoding="ascii") as fh:
            fh.write(value)
        return True
    except OSError as exc:
        log.warning("cannot set %s=%s: %s", key.replace("/", "."), value, exc.strerror)
        return False
