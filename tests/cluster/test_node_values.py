"""Per-node values, test addresses on a clone and preferred_lft=0 on a real two-node
cluster: what a user following docs/pacemaker.md gets.

- a node the per-node values give no interface is banned alone (OCF_ERR_INSTALLED), the
  other node's group keeps running (OCF_ERR_CONFIGURED would stop it everywhere);
- static test addresses without @node on a clone are refused before any goes on the wire;
  with the per-node form, a test address a third host already uses is refused on that
  node only (duplicate address detection);
- a floating address with preferred_lft=0 is never the source of the node's own traffic.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.support.cluster.base import CLIENT_ADDR4
from tests.support.cluster.cluster import Cluster
from tests.support.cluster.crm_mon import ClusterState, FailedAction

pytestmark = pytest.mark.cluster

GROUP = "ipmp0"
VIP = "198.51.100.50"
TESTS = {"n1": ("198.51.100.21", "198.51.100.22"), "n2": ("198.51.100.23", "198.51.100.24")}
PER_NODE_TESTS = "; ".join(f"@{n} e0={a}/24 e1={b}/24" for n, (a, b) in TESTS.items())
SETTLE = 40.0
# After the first failed start, how long the other node's group must stay untouched: a
# fatal failure stops every instance within a transition (about a second here).
STEADY_S = 8.0
SNIFFER_ATTACH_S = 0.5


def _create_net(c: Cluster, *params: str) -> None:
    c.pcs("resource", "create", "net", "ocf:clearview:ipmp", f"group={GROUP}", *params,
          "op", "monitor", "interval=5s", "clone")


def _failed_start(c: Cluster, node: str | None = None) -> tuple[ClusterState, FailedAction]:
    def found() -> tuple[ClusterState, FailedAction] | None:
        st = c.crm_mon()
        fails = [f for f in st.failures_of("net")
                 if f.task == "start" and (node is None or f.node == node)]
        return (st, fails[0]) if fails else None

    return c.wait_for(found, f"a failed start of net{' on ' + node if node else ''}", SETTLE)


def test_a_node_the_values_do_not_name_is_banned_alone(pair: Cluster,
                                                       agents_installed: object) -> None:
    c = pair
    _create_net(c, "interfaces=@n1 e0 e1")
    c.wait_started("net-clone", on="n1", timeout=SETTLE)
    st, failure = _failed_start(c, "n2")
    assert failure.exitcode == 5, failure  # OCF_ERR_INSTALLED: n2 only
    assert "node n2" in failure.exitreason and "interfaces" in failure.exitreason, failure
    n1 = c.node("n1")
    pid = n1.ipmpd_pid()
    assert pid is not None
    time.sleep(STEADY_S)
    st = c.crm_mon()
    assert st.started_on("net-clone") == {"n1"}, c.diagnostics()
    assert not [f for f in st.failures if f.exitcode == 6], st.failures
    assert n1.ipmpd_pid() == pid  # n1's group was never stopped
    assert "because of fatal failure" not in n1.log_path().read_text(errors="replace")


def test_test_addresses_on_a_clone_are_never_duplicated(pair: Cluster,
                                                        agents_installed: object) -> None:
    c = pair
    n1, n2 = c.node("n1"), c.node("n2")
    # the first recipe as it was: the same static test addresses on every node
    _create_net(c, "interfaces=e0 e1", "test_addresses=e0=198.51.100.21/24 "
                "e1=198.51.100.22/24")
    _, failure = _failed_start(c)
    assert failure.exitcode == 6, failure  # wrong for every node
    assert "test_addresses on a clone" in failure.exitreason, failure
    assert "@node1 e0=ADDR/PREFIX" in failure.exitreason, failure
    c.wait_for(lambda: not c.crm_mon().started_on("net-clone"), "net-clone stopped", SETTLE)
    assert n1.holders("198.51.100.21") == [] and n2.holders("198.51.100.21") == []

    # the per-node form (a new resource: an update and a cleanup would race with the
    # start they cause); a third host already has n2's first test address
    c.pcs("resource", "delete", "net")
    c.wait_for(lambda: not c.crm_mon().instances("net-clone"), "net deleted", SETTLE)
    c.run_in(c.client, "ip", "addr", "add", f"{TESTS['n2'][0]}/24", "dev", "eth0",
             check=True)
    _create_net(c, "interfaces=e0 e1", f"test_addresses={PER_NODE_TESTS}")
    c.wait_started("net-clone", on="n1", timeout=SETTLE)
    _, failure = _failed_start(c, "n2")
    assert failure.exitcode == 1, failure  # this node only
    assert (f"duplicate test address {TESTS['n2'][0]} on e0"
            in failure.exitreason), failure

    def n2_stopped() -> bool:
        st = c.crm_mon()
        return st.started_on("net-clone") == {"n1"} and not any(
            "n2" in r.nodes for r in st.instances("net-clone"))

    c.wait_for(n2_stopped, "net stopped on n2 after its failed start", SETTLE)
    assert n2.holders(TESTS["n2"][0]) == []  # never answered ARP for it
    assert n1.holders(TESTS["n1"][0]) == ["e0"] and n1.holders(TESTS["n1"][1]) == ["e1"]
    assert c.arp_owners(TESTS["n1"][0]) == {"n1"}

    # the third host gives it up: n2 runs its group with its own addresses
    c.run_in(c.client, "ip", "addr", "del", f"{TESTS['n2'][0]}/24", "dev", "eth0",
             check=True)
    c.pcs("resource", "cleanup")
    c.wait_started("net-clone", on={"n1", "n2"}, timeout=SETTLE)
    assert n2.holders(TESTS["n2"][0]) == ["e0"]
    for node, addrs in TESTS.items():
        for addr in addrs:
            assert c.arp_owners(addr) == {node}, addr


def test_preferred_lft_0_keeps_the_floating_address_from_being_a_source(
        pair: Cluster, agents_installed: object) -> None:
    c = pair
    c.create_group_with_address(GROUP, VIP, f"test_addresses={PER_NODE_TESTS}",
                                "gateway=198.51.100.1", monitor_interval="5s")
    c.wait_started("vip", timeout=SETTLE)
    c.pcs("resource", "update", "vip", "preferred_lft=0")

    def deprecated_holder() -> str | None:
        for node in c.nodes:
            for link in node.ip_json("addr", "show"):
                for info in link.get("addr_info", []):
                    # ip -j shows preferred_lft 0 as "deprecated" (the lifetime as forever)
                    if info.get("local") == VIP and info.get("deprecated"):
                        return node.name
        return None

    where = c.wait_for(deprecated_holder, f"{VIP} up again with preferred_lft 0", SETTLE)
    c.wait_started("vip", on=where, timeout=SETTLE)
    node = c.node(where)
    routes = node.run("ip", "route", "show", "proto", "207", check=True).stdout
    assert "198.51.100.0/24" in routes and VIP not in routes, routes
    src = json.loads(node.run("ip", "-j", "route", "get", CLIENT_ADDR4,
                              check=True).stdout)[0].get("prefsrc")
    assert src in TESTS[where], src

    capture = c.workdir / "client-src.pcap"
    sniffer = c.spawn(c.client, ["tcpdump", "-n", "-U", "-i", "eth0", "-w", str(capture),
                                 f"ip and src net 198.51.100.0/24 and not src host "
                                 f"{CLIENT_ADDR4}"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(SNIFFER_ATTACH_S)
        node.run("ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", CLIENT_ADDR4)
        node.run("python3", "-c", "import socket; s = socket.socket(); s.settimeout(1); "
                 f"s.connect_ex(('{CLIENT_ADDR4}', 9))")
        time.sleep(0.3)
    finally:
        sniffer.send_signal(signal.SIGTERM)
        sniffer.wait(timeout=10)
    seen = c.run_in(c.client, "tcpdump", "-n", "-r", str(capture), check=True)
    lines = seen.stdout.splitlines()
    assert any("ICMP echo request" in line for line in lines), lines
    assert any("Flags [S]" in line for line in lines), lines
    assert not [line for line in lines if f" {VIP} >" in line or f" {VIP}." in line], lines
    assert c.client_ping(VIP)  # and it still serves
