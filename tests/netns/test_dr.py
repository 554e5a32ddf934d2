"""Dynamic reconfiguration (Solaris DR): offline, hot-swap the NIC, rejoin, on the real
kernel, with a client reaching the data addresses throughout."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.support.node import Node

pytestmark = pytest.mark.netns

V4 = "198.51.100.10"
V4B = "198.51.100.11"
FDT = 1000


def longest_gap(output: str) -> float:
    stamps = [float(m) for m in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", output, re.M)]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return max(gaps, default=float("inf"))


def test_hot_swap_cycle_keeps_data_addresses_reachable(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    node.adm("create-addr", "-T", "test", "-a", "198.51.100.21/24", "e0")
    node.adm("create-addr", "-T", "test", "-a", "198.51.100.22/24", "e1")
    node.adm("create-route", "-g", "198.51.100.1", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-addr", "-a", f"{V4B}/24", "ipmp0")
    node.wait_for(lambda: "e0:ok:ok" in node.stat("-i", "-P", "-o", "interface,probe,state"),
                  "probing on e0")
    ping = lab.spawn(lab.client, ["ping", "-n", "-D", "-i", "0.02", V4],
                     stdout=subprocess.PIPE)
    time.sleep(0.5)
    old_mac = lab.mac("e0")

    node.adm("offline", "e0")  # if_mpadm -d before pulling the board
    assert "e0:offline" in node.stat("-i", "-P", "-o", "interface,state")
    assert set(node.inbound().values()) == {"e1"}
    lab.delete_nic("e0")
    node.wait_for(lambda: node.iface("e0")["present"] is False, "the NIC to be gone")
    lab.recreate_nic("e0", mac="02:cf:00:00:0d:e0")  # a new board: new MAC, new ifindex
    node.wait_for(lambda: node.iface("e0")["present"], "the new NIC to be seen")
    assert node.iface("e0")["state"] == "offline"  # still offline until the operator says
    node.adm("online", "e0")
    node.wait_for(lambda: "e0:ok:ok" in node.stat("-i", "-P", "-o", "interface,probe,state"),
                  "probing to resume on the new NIC", timeout=10)
    info = lab.run(node.ns, "ip", "-o", "addr", "show", "dev", "e0").stdout
    assert "198.51.100.21/24" in info and "deprecated" in info  # static test address back
    assert lab.mac("e0") != old_mac
    node.wait_for(lambda: set(node.inbound().values()) == {"e0", "e1"}, "failback")
    time.sleep(0.5)
    lab._signal(ping, 2)
    out, _ = ping.communicate(timeout=10)
    gap = longest_gap(out.decode())
    assert gap < 1.0, f"the client lost the data address for {gap:.2f} s"


def test_member_missing_at_start_joins_when_it_appears(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-T", "test", "-a", "198.51.100.22/24", "e1")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-route", "-g", "198.51.100.1", "ipmp0")  # a probe target
    assert node.daemon is not None
    lab.stop(node.daemon)
    lab.delete_nic("e1")  # gone while no daemon runs (as at boot)
    node.start()
    assert node.iface("e1")["present"] is False and node.group_state() == "degraded"
    lab.recreate_nic("e1")
    # A new veth reports its link down and up again as it comes up: e1 probes, so that
    # link failure is repaired by NUM_PROBE_REPAIRS answers at the default FDT's 1.4 s
    # interval (in.mpathd's phyint_repaired()), not by the link-up.
    node.wait_for(lambda: node.iface("e1")["state"] == "ok", "e1 to join", timeout=30.0)
    assert node.group_state() == "ok"
    assert "198.51.100.22/24" in lab.run(node.ns, "ip", "-o", "addr", "show", "dev",
                                         "e1").stdout
