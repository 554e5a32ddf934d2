"""Announcements: byte-exact frames, and on the real kernel, neighbours that re-learn."""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ipmp_core.net.announce import (
    Announcer,
    gratuitous_arp_frame,
    unsolicited_na,
)
from ipmp_core.net.mac import parse_mac
from tests.support.lab import Lab

MAC = bytes.fromhex("020000005301")
IP4 = ipaddress.IPv4Address("198.51.100.10")
IP6 = ipaddress.IPv6Address("2001:db8:1::10")
REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- frames


def test_garp_request_layout() -> None:
    f = gratuitous_arp_frame(MAC, IP4)
    assert len(f) == 60  # padded to the Ethernet minimum
    assert f[0:6] == b"\xff" * 6  # broadcast
    assert f[6:12] == MAC
    assert f[12:14] == b"\x08\x06"  # ethertype ARP
    assert f[14:16] == b"\x00\x01"  # htype Ethernet
    assert f[16:18] == b"\x08\x00"  # ptype IPv4
    assert f[18] == 6 and f[19] == 4  # hlen, plen
    assert f[20:22] == b"\x00\x01"  # op request
    assert f[22:28] == MAC  # sender hw
    assert f[28:32] == IP4.packed  # sender ip
    assert f[32:38] == b"\x00" * 6  # target hw: zero, as Linux's arp_notify sends it
    assert f[38:42] == IP4.packed  # target ip == sender ip
    assert f[42:] == b"\x00" * 18


def test_garp_reply_layout() -> None:
    f = gratuitous_arp_frame(MAC, IP4, reply=True)
    assert len(f) == 60
    assert f[0:6] == b"\xff" * 6
    assert f[20:22] == b"\x00\x02"  # op reply
    assert f[22:28] == MAC and f[28:32] == IP4.packed
    # Target hw = sender hw (send_arp -A): only then does Linux treat a reply as gratuitous.
    assert f[32:38] == MAC
    assert f[38:42] == IP4.packed


def test_unsolicited_na_layout() -> None:
    b = unsolicited_na(MAC, IP6)
    assert len(b) == 32
    assert b[0] == 136 and b[1] == 0  # type NA, code 0
    assert b[2:4] == b"\x00\x00"  # checksum: the kernel fills it in
    assert b[4:8] == b"\x20\x00\x00\x00"  # Override only: not Router, not Solicited
    assert b[8:24] == IP6.packed  # target
    assert b[24] == 2 and b[25] == 1  # option: target link-layer address, 1 x 8 bytes
    assert b[26:32] == MAC


def test_builders_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        gratuitous_arp_frame(b"\x00" * 5, IP4)
    with pytest.raises(ValueError):
        unsolicited_na(MAC + b"\x00", IP6)
    with pytest.raises(ValueError):
        unsolicited_na(MAC, ipaddress.ip_address("198.51.100.10"))  # type: ignore[arg-type]
    assert parse_mac("02:00:00:00:53:01") == MAC
    assert parse_mac("02-00-00-00-53-01") == MAC
    with pytest.raises(ValueError):
        parse_mac("02:00:00:00:53")


def test_announcer_errors_return_false() -> None:
    ann = Announcer()
    # Bad input never reaches a socket.
    assert ann.send_garp("e0", 1, b"\x00", IP4) is False
    assert isinstance(ann.last_error, ValueError)
    assert ann.announce("e0", 1, MAC, "not an address") is False
    ann.close()


@pytest.mark.netns
def test_announcer_errors_on_missing_interface(lab: Lab) -> None:
    """Sending on an interface that does not exist (deleted NIC) returns False."""
    code = (
        "import ipaddress\n"
        "from ipmp_core.net.announce import Announcer\n"
        "a = Announcer()\n"
        "m = bytes.fromhex('020000005301')\n"
        "print(a.send_garp('nosuch0', 999, m, ipaddress.ip_address('198.51.100.10')),\n"
        "      a.send_na('nosuch0', 999, m, ipaddress.ip_address('2001:db8:1::10')),\n"
        "      type(a.last_error).__name__)\n"
    )
    out = run_py(lab, code)
    assert out.split() == ["False", "False", "OSError"]


# --------------------------------------------------------------------------- kernel

SENDER = """
import ipaddress, json, socket, sys, time
from ipmp_core.net.announce import Announcer
from ipmp_core.net.mac import parse_mac
ifname, mac, ip, mode = sys.argv[1], parse_mac(sys.argv[2]), sys.argv[3], sys.argv[4]
count = int(sys.argv[5])
index = socket.if_nametoindex(ifname)
a = Announcer()
addr = ipaddress.ip_address(ip)
t0 = time.perf_counter()
oks = []
for _ in range(count):
    if mode == "reply":
        oks.append(a.send_garp(ifname, index, mac, addr, reply=True))
    else:
        oks.append(a.announce(ifname, index, mac, addr))
dt = time.perf_counter() - t0
a.close()
print(json.dumps([all(oks), str(a.last_error), dt / count * 1000]))
"""


def run_py(lab: Lab, code: str, *args: str) -> str:
    """Run Python code inside the node namespace with this checkout importable."""
    env_path = f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    res = lab.run(lab.node, "env", f"PYTHONPATH={env_path}", sys.executable, "-c", code, *args)
    return res.stdout.strip()


def try_announce(
    lab: Lab, nic: str, ip: str, mode: str = "auto", count: int = 1
) -> tuple[bool, str, float]:
    """Send ``count`` announcements from ``nic`` in the node: (all sent, error, ms/frame)."""
    ok, err, ms = json.loads(run_py(lab, SENDER, nic, lab.mac(nic), ip, mode, str(count)))
    return ok, err, ms


def announce_from_node(lab: Lab, nic: str, ip: str, mode: str = "auto", count: int = 1) -> float:
    """Like try_announce, but every frame must have been sent; returns ms per frame."""
    ok, err, ms = try_announce(lab, nic, ip, mode, count)
    assert ok, err
    return ms


def wait_for(cond: Callable[[], bool], timeout: float = 2.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / step) + 2):
        if cond():
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(step)
    return bool(cond())


def move_address(lab: Lab, cidr: str, src: str, dst: str) -> None:
    extra = ["nodad"] if ":" in cidr else []
    lab.run(lab.node, "ip", "addr", "del", cidr, "dev", src)
    lab.run(lab.node, "ip", "addr", "add", cidr, "dev", dst, *extra)


def client_learns(lab: Lab, ip: str, nic: str) -> None:
    assert lab.client_ping(ip)
    assert lab.client_neigh(ip) == lab.mac(nic)


@pytest.fixture
def node(lab: Lab) -> Lab:
    """The lab with the node set up like an IPMP host: each address answered only on its
    own NIC (arp_ignore=1; otherwise e1 answers ARP for e0's address and the client may
    hold e1's MAC before anything moved)."""
    lab.sysctl(lab.node, "net.ipv4.conf.all.arp_ignore", 1)
    return lab


@pytest.mark.netns
def test_garp_moves_client_arp_entry(node: Lab) -> None:
    lab = node
    lab.run(lab.node, "ip", "addr", "add", "198.51.100.10/24", "dev", "e0")
    client_learns(lab, "198.51.100.10", "e0")

    move_address(lab, "198.51.100.10/24", "e0", "e1")
    # Immediately, well within the client's 1 s locktime since it learned the entry.
    ms = announce_from_node(lab, "e1", "198.51.100.10")
    assert wait_for(lambda: lab.client_neigh("198.51.100.10") == lab.mac("e1"))
    assert lab.client_ping("198.51.100.10")
    assert ms < 50


@pytest.mark.netns
def test_garp_reply_mode_moves_client_arp_entry(node: Lab) -> None:
    lab = node
    lab.run(lab.node, "ip", "addr", "add", "198.51.100.10/24", "dev", "e0")
    client_learns(lab, "198.51.100.10", "e0")
    move_address(lab, "198.51.100.10/24", "e0", "e2")
    announce_from_node(lab, "e2", "198.51.100.10", mode="reply")
    assert wait_for(lambda: lab.client_neigh("198.51.100.10") == lab.mac("e2"))


@pytest.mark.netns
def test_unsolicited_na_moves_client_nd_entry(node: Lab) -> None:
    lab = node
    assert lab.client is not None
    drop = lab.run(lab.client, "sysctl", "-n", "net.ipv6.conf.eth0.drop_unsolicited_na")
    assert drop.stdout.strip() == "0"
    lab.run(lab.node, "ip", "addr", "add", "2001:db8:1::10/64", "dev", "e0", "nodad")
    client_learns(lab, "2001:db8:1::10", "e0")

    move_address(lab, "2001:db8:1::10/64", "e0", "e1")
    announce_from_node(lab, "e1", "2001:db8:1::10")
    assert wait_for(lambda: lab.client_neigh("2001:db8:1::10") == lab.mac("e1"))
    assert lab.client_ping("2001:db8:1::10")


@pytest.mark.netns
def test_na_source_falls_back_when_address_not_on_interface(node: Lab) -> None:
    """The advertised address is not on the NIC: the NA goes out from another address."""
    lab = node
    lab.run(lab.node, "ip", "addr", "add", "2001:db8:1::10/64", "dev", "e0", "nodad")
    client_learns(lab, "2001:db8:1::10", "e0")
    lab.run(lab.node, "ip", "addr", "del", "2001:db8:1::10/64", "dev", "e0")
    # e1 has a test address (and a link-local that may still be in DAD): the kernel
    # refuses the advertised address as source, the Announcer lets it pick one.
    lab.run(lab.node, "ip", "addr", "add", "2001:db8:1::11/64", "dev", "e1", "nodad")
    announce_from_node(lab, "e1", "2001:db8:1::10")
    assert wait_for(lambda: lab.client_neigh("2001:db8:1::10") == lab.mac("e1"))


@pytest.mark.netns
def test_na_without_any_usable_source_returns_false(node: Lab) -> None:
    """No address usable as source on the NIC (none, or only a tentative link-local): the
    kernel will not send from '::' and the Announcer reports failure instead of raising."""
    lab = node
    lab.run(lab.node, "ip", "-6", "addr", "flush", "dev", "e2")
    ok, err, _ = try_announce(lab, "e2", "2001:db8:1::10")
    assert not ok
    assert "Errno 99" in err  # EADDRNOTAVAIL


@pytest.mark.netns
def test_announce_is_fast(node: Lab) -> None:
    lab = node
    lab.run(lab.node, "ip", "addr", "add", "198.51.100.10/24", "dev", "e0")
    lab.run(lab.node, "ip", "addr", "add", "2001:db8:1::10/64", "dev", "e0", "nodad")
    # Per frame, socket set-up included: the recipes measured ~0.3 ms; allow slow CI.
    assert announce_from_node(lab, "e0", "198.51.100.10", count=50) < 5
    assert announce_from_node(lab, "e0", "2001:db8:1::10", count=50) < 5
    out = lab.run(lab.node, "ip", "-j", "-s", "link", "show", "e0").stdout
    assert json.loads(out)[0]["stats64"]["tx"]["packets"] >= 100
