"""ipmpadm offline/online as if_mpadm -d/-r on the real kernel: the member's data
addresses move off, it stops probing (counted at the router), ipmpstat flags it d,
errors carry if_mpadm's words and exit 1, and offline works in a failed group."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.node import Node

pytestmark = pytest.mark.netns

V4 = "198.51.100.10"
V4B = "198.51.100.11"
ROUTER = "198.51.100.1"
FDT = 1000  # ms: a probe every 143 ms, so a quiet member is obvious within a second
TEST = {"e0": "198.51.100.21", "e1": "198.51.100.22"}
SNIFFER_ATTACH_S = 0.5  # tcpdump needs a moment before it sees packets
WATCH_S = 2 * FDT / 1000  # about 14 probes per probing member


def _probe_states(node: Node) -> dict[str, tuple[str, ...]]:
    rows = node.stat("-i", "-P", "-o", "interface,probe,state,flags").split()
    return {r.split(":")[0]: tuple(r.split(":")[1:]) for r in rows}


def _echo_requests_by_source(node: Node, name: str) -> dict[str, int]:
    """Echo requests from the test addresses that reach the router during WATCH_S."""
    lab = node.lab
    capture = node.state_dir / f"{name}.pcap"
    sniffer = lab.spawn(lab.router, ["tcpdump", "-n", "-U", "-i", "eth0", "-w", str(capture),
                                     "icmp[icmptype] == icmp-echo"],
                        stderr=subprocess.DEVNULL)
    time.sleep(SNIFFER_ATTACH_S + WATCH_S)
    lab.stop(sniffer)
    lines = lab.run(lab.router, "tcpdump", "-n", "-r", str(capture)).stdout.splitlines()
    return {m: sum(1 for line in lines if f"IP {ip} > " in line) for m, ip in TEST.items()}


def test_offline_stops_probing_moves_addresses_and_online_brings_it_back(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    for member, ip in TEST.items():
        node.adm("create-addr", "-T", "test", "-a", f"{ip}/24", member)
    for addr in (V4, V4B):
        node.adm("create-addr", "-a", f"{addr}/24", "ipmp0")
    node.adm("create-route", "-g", ROUTER, "ipmp0")
    node.wait_for(lambda: all(_probe_states(node)[m][:2] == ("ok", "ok") for m in TEST),
                  "probing to be ok on both members")
    assert min(_echo_requests_by_source(node, "before").values()) > 0

    node.adm("offline", "e0")
    assert set(node.inbound().values()) == {"e1"}
    assert node.lab.client_ping(V4) and node.lab.client_ping(V4B)
    assert _probe_states(node)["e0"] == ("disabled", "offline", "-----d-")
    heard = _echo_requests_by_source(node, "offline")
    assert heard["e0"] == 0 and heard["e1"] > 0, heard

    again = node.adm("offline", "e0", check=False)
    assert (again.returncode, again.stderr) == (1, "ipmpadm: interface e0 is already offline\n")
    last = node.adm("offline", "e1", check=False)
    assert (last.returncode, last.stderr) == (
        1, "ipmpadm: cannot offline e1: no other functioning interfaces are in its IPMP "
           "group\n")
    not_off = node.adm("online", "e1", check=False)
    assert (not_off.returncode, not_off.stderr) == (1, "ipmpadm: interface e1 is not offline\n")

    node.adm("online", "e0")
    node.wait_for(lambda: _probe_states(node)["e0"][:2] == ("ok", "ok"), "e0 probing again")
    node.wait_for(lambda: set(node.inbound().values()) == {"e0", "e1"}, "e0 in use again")
    assert _echo_requests_by_source(node, "online")["e0"] > 0
    assert node.group_state() == "ok", _probe_states(node)


def test_offline_is_allowed_in_a_failed_group_so_a_nic_can_be_replaced(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    lab.pull_cable("e0")
    lab.pull_cable("e1")
    node.wait_for(lambda: node.group_state() == "failed", "group failure")
    node.adm("offline", "e0")
    assert node.iface("e0")["state"] == "offline"
    lab.plug_cable("e1")
    node.wait_for(lambda: node.inbound() == {V4: "e1"}, "V4 on e1")
    lab.plug_cable("e0")  # the replaced NIC stays out of use until it is onlined
    time.sleep(0.5)
    assert node.iface("e0")["state"] == "offline" and node.inbound() == {V4: "e1"}
    node.adm("online", "e0")
    node.wait_for(lambda: node.group_state() == "ok", "group ok with e0 back")
    assert node.iface("e0")["active"]
    assert lab.client_ping(V4)


def test_failed_standby_is_not_flagged_inactive(node: Node) -> None:
    """in.mpathd clears IFF_INACTIVE on a failure: ipmpstat -i shows -s-----."""
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "ipmp0")
    node.adm("add-ipmp", "-s", "-i", "e1", "ipmp0")

    def flags() -> str:
        rows = node.stat("-i", "-P", "-o", "interface,state,flags").split()
        return dict((r.split(":")[0], ":".join(r.split(":")[1:])) for r in rows)["e1"]

    node.wait_for(lambda: flags() == "ok:is-----", "e1 an inactive standby")
    lab.pull_cable("e1")
    node.wait_for(lambda: flags().startswith("failed:"), "e1 failed")
    assert flags() == "failed:-s-----"
