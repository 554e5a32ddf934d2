"""The rtnetlink event socket's receive buffer and the notifications the kernel dropped
for it: how the daemon's event socket is sized and how it learns that it lost events.
"""

from __future__ import annotations

import os
import socket
from typing import Any

# Receive buffer of the event socket. A failover of 1,000 data addresses queues about four
# notifications per address (the new address and its local route, the old copy and its
# route), each accounted at about 1 KiB by the kernel: 4 MiB. The kernel's default cap
# (net.core.rmem_max, 208 KiB, doubled) holds about 400, so a move of 50 addresses
# overflowed it. 16 MiB leaves room for several such bursts back to back; the memory is
# only used while notifications wait to be read. Beyond rmem_max only SO_RCVBUFFORCE
# (CAP_NET_ADMIN, which the daemon has as root) sets it.
EVENT_RCVBUF_BYTES = 16 * 1024 * 1024
# Test hook: a receive buffer size (bytes) that replaces EVENT_RCVBUF_BYTES, so that a
# test can make the socket overflow with a small burst and watch the daemon resynchronise.
EVENT_RCVBUF_ENV = "IPMPD_EVENT_RCVBUF"
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
# Where the kernel counts, per netlink socket, the notifications it dropped (column Drops).
PROC_NETLINK = "/proc/net/netlink"


def event_rcvbuf() -> int:
    """The event socket's receive buffer: EVENT_RCVBUF_BYTES unless a test set
    EVENT_RCVBUF_ENV."""
    value = os.environ.get(EVENT_RCVBUF_ENV, "")
    try:
        return max(1, int(value)) if value else EVENT_RCVBUF_BYTES
    except ValueError:
        return EVENT_RCVBUF_BYTES


def set_rcvbuf(sock: Any, size: int) -> int:
    """Give ``sock`` a receive buffer of ``size`` bytes: SO_RCVBUFFORCE (root) ignores
    net.core.rmem_max; without the privilege, SO_RCVBUF up to that cap. Returns the size
    the kernel granted (it doubles the request for its bookkeeping)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def netlink_drops(inode: int) -> int | None:
    """Notifications the kernel dropped for the netlink socket with this inode (the
    Drops column of /proc/net/netlink); None when it cannot be read."""
    try:
        with open(PROC_NETLINK, encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines[1:]:
        fields = line.split()
        if len(fields) >= 10 and fields[9] == str(inode):
            try:
                return int(fields[8])
            except ValueError:
                return None
    return None
