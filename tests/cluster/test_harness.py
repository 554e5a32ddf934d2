"""Canary for the cluster harness, with a stock agent (ocf:heartbeat:Dummy) only: if these
fail, the agent tests next to them cannot tell anything about our agents."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.cluster.base import SYSTEM_RESOURCE_D, tree_snapshot
from tests.support.cluster.cluster import Cluster
from tests.support.cluster.crm_mon import parse_crm_mon
from tests.support.netns import list_namespaces, pids_in_netns

pytestmark = pytest.mark.cluster

PROBE_ADDR = "198.51.100.77"


def test_single_node_dummy(single: Cluster) -> None:
    c = single
    (n1,) = c.nodes
    st = c.crm_mon()
    assert st.online == {"n1"} and st.dc == "n1", st.xml
    assert n1.run("hostname", check=True).stdout.strip() == "n1"

    c.pcs("resource", "create", "d", "ocf:heartbeat:Dummy", "op", "monitor", "interval=2s")
    st = c.wait_started("d", on="n1")
    (d,) = st.instances("d")
    assert (d.agent, d.role, d.active, d.failed) == ("ocf:heartbeat:Dummy", "Started", True, False)

    # Node attributes, with dampening, as the ipmp agent will set them.
    n1.run("attrd_updater", "-n", "canary", "-U", "2", "-d", "1s", check=True)
    c.wait_attribute("n1", "canary", lambda v: v == "2", "== 2", timeout=10)
    assert n1.attribute("canary") == "2"

    # A failed monitor with an exit reason: Dummy's state file removed behind its back.
    n1.run("rm", "-f", "/run/resource-agents/Dummy-d.state", check=True)
    st = c.wait_for(lambda: (s := c.crm_mon()).failures_of("d") and s, "d's monitor to fail")
    (f,) = st.failures_of("d")
    assert (f.node, f.task, f.interval_ms, f.exitcode) == ("n1", "monitor", 2000, 7), f
    assert f.exitreason == "No process state file found", f
    # ...and Pacemaker recovers it in place.
    c.wait_started("d", on="n1")

    c.pcs("resource", "delete", "d")
    c.wait_for(lambda: not c.crm_mon().instances("d"), "d to be gone from crm_mon")


def test_pair_dummy_and_data_network(pair: Cluster) -> None:
    c = pair
    st = c.crm_mon("n2")
    assert st.online == {"n1", "n2"} and st.dc in ("n1", "n2"), st.xml

    c.pcs("resource", "create", "d", "ocf:heartbeat:Dummy", "op", "monitor", "interval=2s")
    where = c.wait_started("d").started_on("d")
    assert len(where) == 1, where
    first = c.node(where.pop())
    other = c.other(first)
    # Both nodes agree.
    assert c.crm_mon(other).started_on("d") == {first.name}
    c.pcs("resource", "ban", "d", first.name)
    c.wait_started("d", on=other.name)
    c.pcs("resource", "clear", "d")
    c.pcs("resource", "delete", "d")
    c.wait_for(lambda: not c.crm_mon().instances("d"), "d to be gone from crm_mon")

    # The data network: an address on n2's e1 is answered by n2 only (by MAC), reachable
    # from the client, unreachable once both of n2's cables are pulled.
    n2 = c.node("n2")
    n2.run("sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=1", check=True)
    n2.run("ip", "addr", "add", f"{PROBE_ADDR}/24", "dev", "e1", check=True)
    assert n2.holders(PROBE_ADDR) == ["e1"]
    assert c.arp_replies(PROBE_ADDR) == [n2.macs["e1"]]
    assert c.arp_owners(PROBE_ADDR) == {"n2"}
    assert c.client_ping(PROBE_ADDR, count=2)
    assert c.client_neigh(PROBE_ADDR) == n2.macs["e1"]

    watch = c.watch(PROBE_ADDR, duration=30)
    time.sleep(0.3)
    for nic in n2.nics:
        c.pull_cable(n2, nic)
    time.sleep(0.5)
    assert c.arp_owners(PROBE_ADDR, wait=0.2) == set()
    for nic in n2.nics:
        c.plug_cable(n2, nic)
    assert c.wait_for(lambda: c.client_ping(PROBE_ADDR, timeout=0.5), "ping after re-plug", 10)
    time.sleep(0.3)
    result = watch.stop()
    assert result.answered > 10, result.pings[:5]
    # The cable was out for >= 0.5 s; arrivals at 10 ms intervals otherwise.
    assert 0.5 <= result.longest_gap() < 10, result.longest_gap()
    owners = [c.owners_of(macs) for _, macs in result.arp_rounds]
    assert {"n2"} in owners and set() in owners, owners
    assert all(o <= {"n2"} for o in owners), owners


def test_teardown_leaves_nothing() -> None:
    with Cluster(nodes=2) as c:
        c.pcs("resource", "create", "d", "ocf:heartbeat:Dummy")
        c.wait_started("d")
        idents = [n.netns_id for n in c.nodes]
        namespaces = c.namespaces
    assert not set(namespaces) & set(list_namespaces())
    assert all(not pids_in_netns(i) for i in idents if i is not None)
    assert c.leftovers == [], c.leftovers
    assert c.keep_workdir or not c.workdir.exists()
    print(f"\n[timings: {c.timings}]")


def test_parse_crm_mon_clone_and_failures() -> None:
    xml = """<pacemaker-result api-version="2.25" request="crm_mon">
      <summary><current_dc present="true" name="n2" id="2"/></summary>
      <nodes>
        <node name="n1" id="1" online="true"/><node name="n2" id="2" online="false"/>
      </nodes>
      <resources>
        <clone id="net-clone" multi_state="false" unique="false">
          <resource id="net" resource_agent="ocf:clearview:ipmp" role="Started" active="true"
              orphaned="false" blocked="false" managed="true" failed="false">
            <node name="n1" id="1" cached="true"/>
          </resource>
          <resource id="net" resource_agent="ocf:clearview:ipmp" role="Stopped"
              active="false" orphaned="false" blocked="false" managed="true" failed="false"/>
        </clone>
        <resource id="vip" resource_agent="ocf:clearview:ipmp-address" role="Started"
            active="true" managed="true" failed="false"><node name="n1" id="1"/></resource>
      </resources>
      <node_attributes>
        <node name="n1"><attribute name="ipmp-ipmp0" value="1"/></node>
      </node_attributes>
      <failures>
        <failure op_key="net_monitor_5000" node="n1" exitstatus="error" exitreason="all
          members failed: e0 e1" exitcode="1" call="9" status="complete" interval="5000"
          task="monitor"/>
      </failures>
      <status code="0" message="OK"/>
    </pacemaker-result>"""
    st = parse_crm_mon(xml)
    assert st.dc == "n2" and st.online == {"n1"} and st.offline == {"n2"}
    assert st.started_on("net-clone") == {"n1"} == st.started_on("net")
    assert len(st.instances("net-clone")) == 2
    assert st.started_on("vip") == {"n1"}
    assert st.attr("n1", "ipmp-ipmp0") == "1" and st.attr("n2", "ipmp-ipmp0") is None
    (f,) = st.failures_of("net")
    assert (f.rsc, f.task, f.exitcode, f.interval_ms) == ("net", "monitor", 1, 5000)
    assert "all" in f.exitreason and "e1" in f.exitreason


def test_agents_private_to_the_nodes(agents_installed: Path,
                                     system_ocf_before: dict[str, str]) -> None:
    """The nodes run this session's agents from a private OCF root; the system's
    /usr/lib/ocf/resource.d is exactly as it was when the session began (it used to be
    rewritten to point at whichever checkout ran the tests)."""
    with Cluster(nodes=1, ocf_resource_d=agents_installed.parent) as c:
        (n1,) = c.nodes
        res = n1.run("crm_resource", "--list-agents", "ocf:clearview", check=True)
        assert set(res.stdout.split()) >= {"ipmp", "ipmp-address"}, res.stdout
        # The node runs exactly the private copy; the stock providers are still there.
        text = n1.run("cat", str(SYSTEM_RESOURCE_D / "clearview" / "ipmp"), check=True).stdout
        assert text == (agents_installed / "ipmp").read_text()
        c.pcs("resource", "create", "d", "ocf:heartbeat:Dummy")
        c.wait_started("d", on="n1")
        c.pcs("resource", "create", "net", "ocf:clearview:ipmp", "group=ipmp0",
              "interfaces=e0 e1", "op", "monitor", "interval=5s")
        c.wait_started("net", on="n1")
        assert tree_snapshot(SYSTEM_RESOURCE_D) == system_ocf_before
    assert tree_snapshot(SYSTEM_RESOURCE_D) == system_ocf_before
