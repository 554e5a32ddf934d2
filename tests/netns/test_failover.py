"""Link-based failover on the real kernel: the daemon, ipmpadm and ipmpstat together."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.support.node import Node

pytestmark = pytest.mark.netns

V4 = "198.51.100.10"
V4B = "198.51.100.11"
V6 = "2001:db8:1::10"


# A member that probes is repaired after a link failure by NUM_PROBE_REPAIRS answered
# probes (in.mpathd's phyint_repaired()): at the default FDT's 1.4 s interval about
# 15 s, with the first target to find again; bounded at twice that.
PROBE_REPAIR_S = 30.0


def make_group(node: Node, *members: str, standby: tuple[str, ...] = ()) -> None:
    args = [x for m in members for x in ("-i", m)]
    node.adm("create-ipmp", *args, "ipmp0")
    for s in standby:
        node.adm("add-ipmp", "-s", "-i", s, "ipmp0")


def test_cable_pull_moves_address_and_client_keeps_reaching_it(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    assert node.inbound() == {V4: "e0"}
    assert node.holders(V4) == ["e0"]
    assert node.group_state() == "ok"
    assert lab.client_ping(V4)  # the client now has an ARP entry for e0's MAC
    assert lab.client_neigh(V4) == lab.mac("e0")

    lab.pull_cable("e0")
    node.wait_for(lambda: node.inbound() == {V4: "e1"}, "the address to move to e1")
    assert node.holders(V4) == ["e1"]
    assert node.group_state() == "degraded"
    # The gratuitous ARP updated the client's existing entry: no ARP timeout to wait for.
    node.wait_for(lambda: lab.client_neigh(V4) == lab.mac("e1"), "the client to learn e1")
    assert lab.client_ping(V4)
    log = node.log()
    assert "The link has gone down on e0" in log
    assert "IP interface failure detected on e0 of group ipmp0" in log


def test_only_the_bound_member_answers_arp(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    lab.neigh_flush_client()
    assert lab.client_ping(V4)
    assert lab.client_neigh(V4) == lab.mac("e0")
    assert node.lab.run(node.ns, "sysctl", "-n", "net.ipv4.conf.e1.arp_ignore").stdout.strip() \
        == "1"


def test_ipv6_address_moves_with_unsolicited_na(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1")
    node.adm("create-addr", "-a", f"{V6}/64", "ipmp0")
    assert node.inbound() == {V6: "e0"}
    assert lab.client_ping(V6)
    assert lab.client_neigh(V6) == lab.mac("e0")
    lab.pull_cable("e0")
    node.wait_for(lambda: node.inbound() == {V6: "e1"}, "the IPv6 address to move")
    node.wait_for(lambda: lab.client_neigh(V6) == lab.mac("e1"),
                  "the client's neighbour entry to follow the unsolicited NA")
    assert lab.client_ping(V6)


def test_routes_spread_over_active_members_and_follow_failures(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1", "e2")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-addr", "-a", f"{V4B}/24", "ipmp0")
    # e2 is active but holds no address of the subnet: it must carry no route, or it
    # would send ARP requests naming another member's address with its own MAC.
    route = lab.run(node.ns, "ip", "route", "show", "198.51.100.0/24").stdout
    assert "nexthop dev e0" in route and "nexthop dev e1" in route and "e2" not in route
    node.adm("create-route", "-g", "198.51.100.1", "-d", "203.0.113.0/24", "ipmp0")
    route = lab.run(node.ns, "ip", "route", "show", "198.51.100.0/24").stdout
    assert "nexthop dev e0" in route and "nexthop dev e1" in route
    declared = lab.run(node.ns, "ip", "route", "show", "203.0.113.0/24").stdout
    assert "via 198.51.100.1 dev e0" in declared and "via 198.51.100.1 dev e1" in declared
    lab.pull_cable("e1")
    node.wait_for(lambda: "e1" not in lab.run(node.ns, "ip", "route", "show",
                                              "203.0.113.0/24").stdout, "routes to drop e1")
    route = lab.run(node.ns, "ip", "route", "show", "198.51.100.0/24").stdout
    assert "nexthop dev e0" in route and "nexthop dev e2" in route and "e1" not in route
    assert lab.client_ping(V4) and lab.client_ping(V4B)
    node.adm("delete-route", "-g", "198.51.100.1", "-d", "203.0.113.0/24", "ipmp0")
    assert lab.run(node.ns, "ip", "route", "show", "203.0.113.0/24").stdout.strip() == ""


def test_standby_takes_over_only_when_needed(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1", standby=("e2",))
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-addr", "-a", f"{V4B}/24", "ipmp0")
    assert set(node.inbound().values()) == {"e0", "e1"}
    assert "(e2)" in node.stat("-g", "-P", "-o", "interfaces")
    assert node.iface("e2")["active"] is False
    lab.pull_cable("e0")
    node.wait_for(lambda: node.iface("e2")["active"], "the standby to activate")
    assert set(node.inbound().values()) == {"e1", "e2"}
    lab.plug_cable("e0")  # FAILBACK=yes: e0 returns, the standby steps back
    node.wait_for(lambda: not node.iface("e2")["active"], "the standby to step back")
    assert set(node.inbound().values()) == {"e0", "e1"}
    assert node.holders(V4) != ["e2"] and node.holders(V4B) != ["e2"]


def test_failback_yes_returns_the_address(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-addr", "-a", f"{V4B}/24", "ipmp0")
    lab.pull_cable("e0")
    node.wait_for(lambda: set(node.inbound().values()) == {"e1"}, "both on e1")
    lab.plug_cable("e0")
    node.wait_for(lambda: set(node.inbound().values()) == {"e0", "e1"}, "failback")
    assert "IP interface repair detected on e0 of group ipmp0" in node.log()


def test_failback_no_keeps_repaired_member_inactive(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1")
    node.adm("set-ipmp", "-p", "failback=no", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    lab.pull_cable("e0")
    node.wait_for(lambda: node.inbound() == {V4: "e1"}, "move to e1")
    lab.plug_cable("e0")
    node.wait_for(lambda: node.iface("e0")["state"] == "ok", "repair of e0")
    assert node.inbound() == {V4: "e1"}
    flags = node.stat("-i", "-P", "-o", "interface,active,flags")
    assert "e0:no:i------" in flags.splitlines()
    assert node.group_state() == "ok"
    lab.pull_cable("e1")  # now the held member is used
    node.wait_for(lambda: node.inbound() == {V4: "e0"}, "move to e0")
    assert lab.client_ping(V4)


def test_offline_online_and_minimum_redundancy(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("offline", "e0")
    assert node.inbound() == {V4: "e1"}
    assert node.iface("e0")["state"] == "offline"
    refused = node.adm("offline", "e1", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("ipmpadm: cannot offline e1: no other functioning "
                                     "interfaces are in its IPMP group")  # if_mpadm's words
    assert len(refused.stderr.strip().splitlines()) == 1
    assert node.iface("e1")["state"] == "ok" and node.inbound() == {V4: "e1"}
    node.adm("online", "e0")
    assert node.iface("e0")["state"] == "ok"
    assert node.group_state() == "ok"
    assert lab.client_ping(V4)


def test_duplicate_mac_offlines_member_until_unique(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-addr", "-a", f"{V4B}/24", "ipmp0")
    lab.set_mac("e1", lab.mac("e0"))
    node.wait_for(lambda: node.iface("e1")["flags"]["duphw"], "flag h on e1")
    assert node.iface("e1")["state"] == "offline"
    assert set(node.inbound().values()) == {"e0"}
    assert "e1:offline:------h" in node.stat("-i", "-P", "-o", "interface,state,flags")
    lab.set_mac("e1", "02:cf:00:00:00:11")
    node.wait_for(lambda: node.iface("e1")["state"] == "ok", "e1 online again")
    node.wait_for(lambda: set(node.inbound().values()) == {"e0", "e1"}, "rebalance")


def test_all_links_down_fails_group_then_repair_restores(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-addr", "-a", f"{V6}/64", "ipmp0")
    lab.pull_cable("e0")
    lab.pull_cable("e1")
    node.wait_for(lambda: node.group_state() == "failed", "group failure")
    assert node.inbound() == {V4: "", V6: ""}
    assert node.holders(V4) == [] and node.holders(V6) == []
    assert "ipmp0:failed" in node.stat("-g", "-P", "-o", "group,state")
    assert "All IP interfaces in group ipmp0 are now unusable" in node.log()
    lab.plug_cable("e1")
    # The IPv6 data address makes the members probe from their link-locals, so e1 is
    # repaired by NUM_PROBE_REPAIRS answers, not by its link (phyint_repaired()).
    node.wait_for(lambda: node.group_state() == "degraded", "partial repair",
                  timeout=PROBE_REPAIR_S)
    assert node.inbound() == {V4: "e1", V6: "e1"}
    assert lab.client_ping(V4)


def test_ipmpstat_parsable_group_state_and_inbound(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    assert node.stat("-g", "-P", "-o", "group,state").strip() == "ipmp0:ok"
    assert node.stat("-n", "-a", "-P", "-o", "address,inbound").strip() == f"{V4}:e0"
    lab.pull_cable("e0")
    node.wait_for(lambda: node.stat("-g", "-P", "-o", "group,state").strip()
                  == "ipmp0:degraded", "degraded")
    assert node.stat("-n", "-a", "-P", "-o", "address,inbound").strip() == f"{V4}:e1"


def maddr(node: Node, nic: str) -> str:
    return node.lab.run(node.ns, "ip", "maddr", "show", "dev", nic).stdout


def test_group_multicast_is_received_on_the_nominated_member(node: Node) -> None:
    lab = node.lab
    make_group(node, "e0", "e1")
    node.adm("set-ipmp", "-p", "multicast=224.1.2.3,ff15::1:3", "ipmp0")
    assert "--mbM--" in node.stat("-i", "-P", "-o", "interface,flags").split()[0]
    assert "224.1.2.3" in maddr(node, "e0") and "ff15::1:3" in maddr(node, "e0")
    assert "224.1.2.3" not in maddr(node, "e1")
    lab.pull_cable("e0")  # the nomination (flags m b M) and the memberships move together
    node.wait_for(lambda: "224.1.2.3" in maddr(node, "e1"), "the membership to move")
    assert "224.1.2.3" not in maddr(node, "e0") and "ff15::1:3" in maddr(node, "e1")
    assert "e1:--mbM--" in node.stat("-i", "-P", "-o", "interface,flags").split()


MCAST_PORT = 5000
APP_GROUPS = ("239.1.1.1", "ff15::1:1")
LATE_GROUP = "239.1.1.2"  # joined after the group exists: found by the periodic sweep
# The daemon looks for applications' memberships every MCAST_SWEEP_S (5 s).
SWEEP_WAIT_S = 8.0

SEND = """
import socket, struct, sys
port, ifindex = int(sys.argv[1]), socket.if_nametoindex("eth0")
for item in sys.argv[2:]:
    group, payload = item.split("=")
    if ":" in group:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                     bytes(8) + struct.pack("@i", ifindex))  # struct ip_mreqn
    s.sendto(payload.encode(), (group, port))
"""


def send_to_groups(node: Node, tag: str, groups: tuple[str, ...]) -> dict[str, str]:
    """One datagram from the client to each group; returns payload -> group."""
    lab = node.lab
    assert lab.client is not None
    payloads = {f"{tag}-{i}": group for i, group in enumerate(groups)}
    lab.run(lab.client, sys.executable, "-c", SEND, str(MCAST_PORT),
            *(f"{group}={payload}" for payload, group in payloads.items()))
    return payloads


def copies_received(output: Path, payloads: dict[str, str]) -> dict[str, int]:
    """How many times the application received each payload (waits for the first)."""
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        lines = output.read_text().split()
        if all(p in lines for p in payloads):
            break
        time.sleep(0.02)
    time.sleep(0.2)  # a second copy, if any, arrives right behind the first
    lines = output.read_text().split()
    return {p: lines.count(p) for p in payloads}


def app_groups(node: Node, nic: str) -> set[str]:
    text = maddr(node, nic)
    return {g for g in (*APP_GROUPS, LATE_GROUP) if g in text}


def spawn_listener(node: Node, output: Path, *joins: str, port: int = MCAST_PORT) -> None:
    listener = Path(__file__).with_name("mcast_listener.py")
    out = output.open("w")
    node.lab.spawn(node.ns, [sys.executable, str(listener), "--port", str(port),
                             "--seconds", "60", *(x for j in joins for x in ("--join", j))],
                   stdout=out)
    out.close()
    node.wait_for(lambda: "joined" in output.read_text(), "the application to join")


def test_applications_multicast_moves_to_the_nominee_and_is_received_once(
        node: Node, tmp_path: Path) -> None:
    lab = node.lab
    output = tmp_path / "received"
    # An application joins on e1 and e2, neither of which will be the nominee. On one
    # segment that is two memberships, so every datagram arrives twice.
    spawn_listener(node, output, *(f"{g}@{nic}" for g in APP_GROUPS for nic in ("e1", "e2")))
    assert app_groups(node, "e1") == set(APP_GROUPS) == app_groups(node, "e2")
    assert set(copies_received(output, send_to_groups(node, "before", APP_GROUPS)).values()) \
        == {2}

    # They join the group: their memberships move to the nominee e0, one per socket.
    make_group(node, "e0", "e1", standby=("e2",))
    node.wait_for(lambda: app_groups(node, "e0") == set(APP_GROUPS), "the memberships to move")
    assert app_groups(node, "e1") == set() == app_groups(node, "e2")
    assert set(copies_received(output, send_to_groups(node, "joined", APP_GROUPS)).values()) \
        == {1}
    log = node.log()
    assert "moved multicast membership 239.1.1.1 of pid" in log
    assert "from e1 to e0 (nominee of ipmp0)" in log and "from e2 to e0" in log

    # A membership made later on a member is found by the periodic sweep.
    spawn_listener(node, tmp_path / "late", f"{LATE_GROUP}@e1", port=MCAST_PORT + 1)
    node.wait_for(lambda: LATE_GROUP in app_groups(node, "e0"), "the sweep to move it",
                  timeout=SWEEP_WAIT_S)
    assert LATE_GROUP not in app_groups(node, "e1")

    # The nominee's cable is pulled: the memberships follow the nomination to e1.
    lab.pull_cable("e0")
    everything = {*APP_GROUPS, LATE_GROUP}
    node.wait_for(lambda: app_groups(node, "e1") == everything, "the memberships to follow")
    assert app_groups(node, "e0") == set() == app_groups(node, "e2")
    assert set(copies_received(output, send_to_groups(node, "failover", APP_GROUPS)).values()) \
        == {1}


def test_applications_multicast_follows_the_nomination_when_the_nominee_is_removed(
        node: Node, tmp_path: Path) -> None:
    lab = node.lab
    output = tmp_path / "received"
    make_group(node, "e0", "e1")
    spawn_listener(node, output, *(f"{g}@e1" for g in APP_GROUPS))
    node.adm("remove-ipmp", "-i", "e1", "ipmp0")
    node.adm("add-ipmp", "-i", "e1", "ipmp0")  # joins again: purged to the nominee e0
    node.wait_for(lambda: app_groups(node, "e0") == set(APP_GROUPS), "the memberships to move")
    lab.delete_nic("e0")  # DR: the nominee's NIC is gone, with the kernel's view of it
    node.wait_for(lambda: app_groups(node, "e1") == set(APP_GROUPS),
                  "the memberships to follow the nomination")
    assert set(copies_received(output, send_to_groups(node, "dr", APP_GROUPS)).values()) \
        == {1}


def test_one_member_group_works_by_link(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    assert lab.client_ping(V4)
    lab.pull_cable("e0")
    node.wait_for(lambda: node.group_state() == "failed", "the group to fail")
    assert node.inbound() == {V4: ""}
    lab.plug_cable("e0")
    node.wait_for(lambda: node.group_state() == "ok", "the group to be repaired")
    assert node.inbound() == {V4: "e0"} and lab.client_ping(V4)


def test_test_addresses_in_different_subnets_are_warned(node: Node) -> None:
    make_group(node, "e0", "e1")
    node.adm("create-addr", "-T", "test", "-a", "198.51.100.21/24", "e0")
    node.adm("create-addr", "-T", "test", "-a", "203.0.113.22/24", "e1")
    assert "Test addresses of group ipmp0 are in different subnets (198.51.100.0/24, " \
        "203.0.113.0/24); they should share one" in node.log()
