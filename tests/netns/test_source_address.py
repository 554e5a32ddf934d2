"""A deprecated (preferred_lft 0) data address is never the source of the node's own
traffic, also when it is the group's only data address (the floating address of
ocf:clearview:ipmp-address with preferred_lft=0)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.support.node import Node

pytestmark = pytest.mark.netns

FLOATING = "198.51.100.50"
TESTS = {"e0": "198.51.100.21", "e1": "198.51.100.22"}
OUTSIDE = "203.0.113.9"  # reached through the group's default route
# The capture needs a moment to attach before the node sends; bounded by this.
SNIFFER_ATTACH_S = 0.5


def _route_src(node: Node, dst: str) -> str | None:
    out = node.lab.run(node.ns, "ip", "-j", "route", "get", dst).stdout
    return json.loads(out)[0].get("prefsrc")


def test_a_deprecated_only_data_address_is_no_source(node: Node) -> None:
    lab = node.lab
    assert lab.client_addr4 is not None
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    for nic, addr in TESTS.items():
        node.adm("create-addr", "-T", "test", "-a", f"{addr}/24", nic)
    node.adm("create-route", "-g", "198.51.100.1", "ipmp0")
    # As ocf:clearview:ipmp-address start does with preferred_lft=0.
    res = node.run_py("from ipmp_core.control_client import ControlClient as C; C().call("
                      f"'add-address', group='ipmp0', address='{FLOATING}/24', "
                      "owner='vip', deprecated=True)")
    assert res.returncode == 0, res.stderr
    node.wait_for(lambda: node.holders(FLOATING), f"{FLOATING} to be bound")
    assert lab.client_ping(FLOATING)  # it serves inbound traffic

    # The routes the daemon installs name no deprecated source...
    routes = lab.run(node.ns, "ip", "route", "show", "proto", "207").stdout
    assert "198.51.100.0/24" in routes and "default" in routes, routes
    assert FLOATING not in routes, routes
    for dst in (lab.client_addr4, OUTSIDE):
        assert _route_src(node, dst) != FLOATING, dst

    # ...and the node's own traffic (ICMP and a TCP SYN) never leaves from it.
    capture = node.state_dir / "client.pcap"
    sniffer = lab.spawn(lab.client, ["tcpdump", "-n", "-U", "-i", "eth0", "-w", str(capture),
                                     f"ip and src net 198.51.100.0/24 and not src host "
                                     f"{lab.client_addr4}"],
                        stderr=subprocess.DEVNULL)
    time.sleep(SNIFFER_ATTACH_S)
    lab.run(node.ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", lab.client_addr4)
    connect = ("import socket\ns = socket.socket()\ns.settimeout(1)\n"
               f"s.connect_ex(('{lab.client_addr4}', 9))\n")
    node.run_py(connect)
    time.sleep(0.3)
    lab.stop(sniffer)
    seen = lab.run(lab.client, "tcpdump", "-n", "-r", str(capture)).stdout.splitlines()
    sources = {line.split()[2].rsplit(".", 1)[0] if " > " in line and "Flags" in line
               else line.split()[2] for line in seen if " IP " in line}
    assert any("ICMP echo request" in line for line in seen), seen
    assert any("Flags [S]" in line for line in seen), seen
    assert sources and sources <= set(TESTS.values()), sources
    assert FLOATING not in sources
