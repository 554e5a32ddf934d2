"""The baseline for the failover benchmark: the least a failover can possibly do.

Run inside a lab's node namespace (no ipmpd there)::

    baseline_mover.py --address 198.51.100.10/24 --primary e0 --backup e1

It puts the address on the primary NIC, subscribes to netlink link notifications and then
reacts to carrier changes of the primary only:

* carrier lost: add the address on the backup, delete it from the primary (its prefix
  route would otherwise keep attracting the replies: a carrier-down route is still used
  unless ignore_routes_with_linkdown is set), and broadcast one gratuitous ARP out of the
  backup through a raw AF_PACKET socket;
* carrier back: the same in the other direction (so every trial starts from the primary).

No state machine, no configuration, no second announcement, no flap damping: this is the
floor that a real IPMP daemon is compared against. It prints ``READY`` once the address is
in place and one line per move (``MOVED <to> <t_event> <t_done>``, monotonic seconds) so
the driver can wait for it. Exits after ``--max-seconds`` or on SIGTERM.
"""

from __future__ import annotations

import argparse
import ipaddress
import select
import signal
import socket
import sys
import time
from types import FrameType

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_LINK

from ipmp_core.net.announce import ETH_P_ARP, gratuitous_arp_frame
from ipmp_core.net.mac import parse_mac

IFF_LOWER_UP = 0x10000
EEXIST = 17
EADDRNOTAVAIL = 99


class Mover:
    """Holds the netlink sockets and moves the one address between two NICs."""

    def __init__(self, address: str, primary: str, backup: str) -> None:
        self.iface = ipaddress.IPv4Interface(address)
        self.primary = primary
        self.backup = backup
        self.events = IPRoute()
        self.events.bind(groups=RTMGRP_LINK)
        self.ipr = IPRoute()
        self.index = {name: self.ipr.link_lookup(ifname=name)[0] for name in (primary, backup)}
        self.mac = {
            name: parse_mac(self.ipr.get_links(idx)[0].get("address"))
            for name, idx in self.index.items()
        }
        self.packet = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.holder: str | None = None

    def close(self) -> None:
        self.packet.close()
        self.events.close()
        self.ipr.close()

    def _addr(self, cmd: str, name: str) -> None:
        try:
            self.ipr.addr(
                cmd,
                index=self.index[name],
                address=str(self.iface.ip),
                prefixlen=self.iface.network.prefixlen,
            )
        except NetlinkError as exc:
            if exc.code not in (EEXIST, EADDRNOTAVAIL):
                raise

    def move_to(self, name: str, t_event: float) -> None:
        other = self.backup if name == self.primary else self.primary
        self._addr("add", name)
        self._addr("del", other)
        frame = gratuitous_arp_frame(self.mac[name], self.iface.ip)
        self.packet.sendto(frame, (name, ETH_P_ARP))
        self.holder = name
        print(f"MOVED {name} {t_event:.6f} {time.monotonic():.6f}", flush=True)

    def setup(self) -> None:
        """Put the address on the primary (and nowhere else), announce it once."""
        self.move_to(self.primary, time.monotonic())

    def on_link(self, msg: object, now: float) -> None:
        get = getattr(msg, "get", None)
        if get is None or get("event") != "RTM_NEWLINK" or get("ifname") != self.primary:
            return
        carrier = get("carrier")
        up = bool(carrier) if carrier is not None else bool(get("flags") & IFF_LOWER_UP)
        if not up and self.holder == self.primary:
            self.move_to(self.backup, now)
        elif up and self.holder != self.primary:
            self.move_to(self.primary, now)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="minimal address mover (benchmark baseline)")
    parser.add_argument("--address", required=True, help="ADDR/PREFIX (IPv4)")
    parser.add_argument("--primary", default="e0")
    parser.add_argument("--backup", default="e1")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args(argv)

    stop = False

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    mover = Mover(args.address, args.primary, args.backup)
    try:
        mover.setup()
        print("READY", flush=True)
        deadline = time.monotonic() + args.max_seconds
        while not stop and time.monotonic() < deadline:
            readable, _, _ = select.select([mover.events.fileno()], [], [], 0.5)
            if not readable:
                continue
            now = time.monotonic()
            for msg in mover.events.get():
                mover.on_link(msg, now)
    finally:
        mover.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
