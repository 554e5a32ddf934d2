"""Tell the neighbours that an address moved: gratuitous ARP (IPv4) and unsolicited NA (IPv6).

Two pure functions build the frames; :class:`Announcer` sends them and never raises
(False, and the error in ``last_error``). Why the standard library only, and the
sockets' lifetime: docs/design.md, "Announcements".
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct

from ipmp_core.net.mac import BROADCAST_MAC, ZERO_MAC, check_mac

__all__ = [
    "Announcer",
    "ETH_P_ARP",
    "gratuitous_arp_frame",
    "unsolicited_na",
]

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
ARPOP_REQUEST = 1
ARPOP_REPLY = 2
ND_NEIGHBOR_ADVERT = 136
ND_OPT_TARGET_LINKADDR = 2
# NA flags (RFC 4861 4.4), the first byte of the 32-bit flags word: Router, Solicited, Override.
NA_FLAG_ROUTER = 0x80
NA_FLAG_SOLICITED = 0x40
NA_FLAG_OVERRIDE = 0x20
# Receivers drop ND messages whose hop limit is not 255 (proof they were not routed).
ND_HOP_LIMIT = 255
# Shortest Ethernet frame without the FCS. Real NICs pad short frames themselves, but veth,
# tap and some software switches pass a 42-byte ARP frame on as a runt; pad it like the
# kernel's own ARP frames look on the wire.
ETH_MIN_FRAME = 60
ALL_NODES = "ff02::1"
# ICMP6_FILTER from <netinet/icmp6.h> (not in the socket module): a bitmap of 256 types,
# a set bit blocks that type. All ones: this send-only socket receives no ICMPv6 at all.
ICMP6_FILTER = 1
_BLOCK_ALL_ICMP6 = b"\xff" * 32

_ARP_HEADER = struct.Struct("!HHBBH")  # htype, ptype, hlen, plen, op
_NA_HEADER = struct.Struct("!BBHB3x")  # type, code, checksum, flags, reserved


def gratuitous_arp_frame(mac: bytes, ip: ipaddress.IPv4Address, reply: bool = False) -> bytes:
    """An Ethernet broadcast frame with a gratuitous ARP for ``ip`` at ``mac``.

    Sender and target protocol address are both ``ip``; the sender hardware address is
    ``mac``. Request mode (the default) is what Linux's arp_notify and IPaddr2 send: op 1
    with an all-zero target hardware address.

    Reply mode (op 2) is for devices that only learn from ARP replies (IPaddr2's
    ``send_arp -A``). Its target hardware address is ``mac`` itself, as send_arp/arping
    put it: Linux only treats a *reply* as gratuitous (and applies it even within
    ``locktime`` of the last update) when target and sender hardware address are equal;
    with a broadcast target it is an ordinary reply that a recently updated entry ignores.
    """
    check_mac(mac)
    ip = ipaddress.IPv4Address(ip)
    op = ARPOP_REPLY if reply else ARPOP_REQUEST
    tha = mac if reply else ZERO_MAC
    frame = b"".join(
        (
            BROADCAST_MAC,
            mac,
            struct.pack("!H", ETH_P_ARP),
            _ARP_HEADER.pack(ARPHRD_ETHER, ETH_P_IP, 6, 4, op),
            mac,
            ip.packed,
            tha,
            ip.packed,
        )
    )
    return frame.ljust(ETH_MIN_FRAME, b"\x00")


def unsolicited_na(mac: bytes, ip: ipaddress.IPv6Address) -> bytes:
    """The ICMPv6 part of an unsolicited Neighbor Advertisement for ``ip`` at ``mac``.

    Override set (replace the cached link-layer address), Solicited clear (it answers no
    solicitation; receivers drop solicited NAs sent to multicast), Router clear (we are a
    host; setting it would make neighbours think we route). One Target Link-Layer Address
    option carries ``mac``. The checksum is left 0: the kernel computes it for raw ICMPv6
    sockets (RFC 3542 section 3.1), since it covers the IPv6 pseudo-header we do not build.
    """
    check_mac(mac)
    ip = ipaddress.IPv6Address(ip)
    return b"".join(
        (
            _NA_HEADER.pack(ND_NEIGHBOR_ADVERT, 0, 0, NA_FLAG_OVERRIDE),
            ip.packed,
            struct.pack("!BB", ND_OPT_TARGET_LINKADDR, 1),  # length in units of 8 bytes
            mac,
        )
    )


class Announcer:
    """Sends gratuitous ARPs and unsolicited NAs; one per daemon, sockets opened lazily.

    All methods return True when the kernel accepted the frame and False on any error
    (the exception is kept in ``last_error``); none of them raises. Needs CAP_NET_RAW.
    The sockets belong to the network namespace the Announcer's process is in when they
    are first used.

    ``ifindex`` and ``ifname`` name the same interface. The ARP path addresses it by name
    (that is what Python's AF_PACKET addresses take); the NA path by index.
    """

    def __init__(self) -> None:
        self._packet: socket.socket | None = None
        self._icmp6: socket.socket | None = None
        self.last_error: Exception | None = None

    def __enter__(self) -> Announcer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sockets

    def _packet_socket(self) -> socket.socket:
        if self._packet is None:
            # Protocol 0: the socket sends only. Bound to ETH_P_ARP it would also receive a
            # copy of every ARP frame on the host, which nobody reads. The interface and
            # ethertype are given per frame in sendto().
            self._packet = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        return self._packet

    def _icmp6_socket(self) -> socket.socket:
        if self._icmp6 is None:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            try:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ND_HOP_LIMIT)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ND_HOP_LIMIT)
                # Our own stack needs no copy of our advertisement to ff02::1.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
                # A raw ICMPv6 socket gets a copy of all ICMPv6 the host receives: block it.
                sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, _BLOCK_ALL_ICMP6)
            except OSError:
                sock.close()
                raise
            self._icmp6 = sock
        return self._icmp6

    def close(self) -> None:
        """Close the sockets; the Announcer stays usable (they reopen on the next send)."""
        for sock in (self._packet, self._icmp6):
            if sock is not None:
                sock.close()
        self._packet = None
        self._icmp6 = None

    # -- sending

    def send_garp(
        self,
        ifname: str,
        ifindex: int,
        mac: bytes,
        ip: ipaddress.IPv4Address,
        reply: bool = False,
    ) -> bool:
        """Broadcast one gratuitous ARP for ``ip`` at ``mac`` out of ``ifname``.

        ``ifindex`` is accepted for symmetry with send_na; the frame goes to the interface
        that is called ``ifname`` at the moment of sending.
        """
        try:
            frame = gratuitous_arp_frame(mac, ipaddress.IPv4Address(ip), reply)
            self._packet_socket().sendto(frame, (ifname, ETH_P_ARP))
        except (OSError, ValueError) as exc:
            self.last_error = exc
            return False
        return True

    def send_na(self, ifname: str, ifindex: int, mac: bytes, ip: ipaddress.IPv6Address) -> bool:
        """Send one unsolicited NA for ``ip`` at ``mac`` to ff02::1 out of ``ifindex``.

        The source address is ``ip`` itself (the daemon adds data addresses with nodad, so
        it is not tentative), chosen per message with IPV6_PKTINFO, which also pins the
        outgoing interface. If the kernel refuses that source (not on the interface, or
        still tentative), the NA goes out with a source the kernel picks: Linux receivers
        accept it from any source, and a late announcement beats none. If the interface
        has no usable source at all (no address, or only a link-local still in DAD), the
        kernel refuses to send (EADDRNOTAVAIL; an NA from '::' would be invalid anyway)
        and this returns False.
        ``ifname`` is only used in ``last_error`` messages.
        """
        try:
            addr = ipaddress.IPv6Address(ip)
            body = unsolicited_na(mac, addr)
            sock = self._icmp6_socket()
            dest = (ALL_NODES, 0, 0, ifindex)
            index = struct.pack("@I", ifindex)
            try:
                cmsg = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, addr.packed + index)]
                sock.sendmsg([body], cmsg, 0, dest)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.EADDRNOTAVAIL):
                    raise
                any_source = ipaddress.IPv6Address(0).packed
                cmsg = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, any_source + index)]
                sock.sendmsg([body], cmsg, 0, dest)
        except (OSError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.filename is None:
                exc.filename = ifname
            self.last_error = exc
            return False
        return True

    def announce(
        self,
        ifname: str,
        ifindex: int,
        mac: bytes,
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | str,
    ) -> bool:
        """Announce ``ip`` the standard way for its version: GARP request or unsolicited NA."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError as exc:
            self.last_error = exc
            return False
        if addr.version == 4:
            return self.send_garp(ifname, ifindex, mac, addr)
        return self.send_na(ifname, ifindex, mac, addr)
