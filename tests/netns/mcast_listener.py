"""An application that receives multicast: it joins groups on the interfaces it is told
(the way an application that knows nothing of IPMP joins on a NIC of its choice) and
writes one line per datagram received, "<group> <payload>", to stdout. Stops after
--seconds.

    mcast_listener.py --port 5000 --join 239.1.1.1@e1 --join ff15::1:1@e2 --seconds 60
"""

from __future__ import annotations

import argparse
import select
import socket
import struct
import sys
import time


def join(sock: socket.socket, group: str, ifname: str) -> None:
    ifindex = socket.if_nametoindex(ifname)
    if ":" in group:
        mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    else:
        mreqn = socket.inet_aton(group) + socket.inet_aton("0.0.0.0") + struct.pack("@i",
                                                                                  ifindex)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--join", action="append", default=[], help="GROUP@IFNAME")
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v4.bind(("0.0.0.0", args.port))
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    v6.bind(("::", args.port))
    for item in args.join:
        group, ifname = item.split("@")
        join(v6 if ":" in group else v4, group, ifname)
    print("joined", flush=True)
    end = time.monotonic() + args.seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([v4, v6], [], [], left)
        for sock in ready:
            data, _addr = sock.recvfrom(2048)
            sys.stdout.write(data.decode(errors="replace") + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
