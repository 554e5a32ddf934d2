"""ocf:clearview:ipmp and ocf:clearview:ipmp-address on a one-node Pacemaker cluster.

What an administrator does: a cloned IPMP group, a floating address on it (colocated,
ordered, banned where the group has no usable member), then cables pulled one by one;
finally both resources removed, which must leave the NICs exactly as they were.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from recipe import ATTR, GROUP, NICS, VIP

from tests.support.cluster.cluster import Cluster
from tests.support.cluster.crm_mon import ClusterState
from tests.support.cluster.nodes import ClusterNode

pytestmark = pytest.mark.cluster

# Monitor interval 5 s + slack for start and Pacemaker itself.
SETTLE = 40.0

SYSCTLS = [
    f"net.ipv4.conf.{i}.{k}"
    for i in ("all", "default", *NICS)
    for k in ("arp_ignore", "arp_announce", "arp_filter", "arp_notify", "rp_filter",
              "promote_secondaries")
] + [
    f"net.ipv6.conf.{i}.{k}"
    for i in ("all", "default", *NICS)
    for k in ("accept_dad", "disable_ipv6")
]


def host_state(node: ClusterNode) -> dict[str, Any]:
    """What the agents must give back: addresses on the data NICs, their ARP/RP sysctls,
    routes and policy rules (link flags left out: cables are plugged in again)."""
    addrs = {
        link["ifname"]: sorted(
            f"{a.get('family')} {a.get('local')}/{a.get('prefixlen')}"
            for a in link.get("addr_info", [])
        )
        for link in node.ip_json("addr", "show")
        if link["ifname"] in NICS
    }

    def norm(entries: list[dict[str, Any]]) -> list[str]:
        return sorted(
            json.dumps({k: v for k, v in e.items() if k != "flags"}, sort_keys=True)
            for e in entries
        )

    return {
        "addresses": addrs,
        "sysctls": node.sysctl(*SYSCTLS),
        "routes4": norm(node.ip_json("-4", "route", "show", "table", "all")),
        "routes6": norm(node.ip_json("-6", "route", "show", "table", "all")),
        "rules4": norm(node.ip_json("-4", "rule", "show")),
        "rules6": norm(node.ip_json("-6", "rule", "show")),
    }


def diff_states(before: dict[str, Any], after: dict[str, Any]) -> str:
    out = []
    for key in before:
        if before[key] != after.get(key):
            out.append(f"{key}:\n  before: {before[key]}\n  after:  {after.get(key)}")
    return "\n".join(out)


def degraded_monitor(st: ClusterState, rsc: str) -> bool:
    """crm_mon lists an OCF_DEGRADED (190) monitor result among the failed actions while
    the resource itself stays Started (verified with Pacemaker 2.1.5)."""
    return any(f.task == "monitor" and f.exitcode == 190 for f in st.failures_of(rsc))


def test_group_and_floating_address(single: Cluster, agents_installed: object) -> None:
    c = single
    n1 = c.node("n1")
    before = host_state(n1)

    c.create_group_with_address(
        GROUP, VIP, "test_addresses=e0=198.51.100.21/24 e1=198.51.100.22/24",
        "failure_detection_time=2000", monitor_interval="5s")

    c.wait_started("net-clone", on="n1", timeout=SETTLE)
    c.wait_attribute("n1", ATTR, lambda v: v == "2", "== 2 (two usable members)", SETTLE)
    st = c.wait_started("vip", on="n1", timeout=SETTLE)
    assert not st.failures_of("net") and not st.failures_of("vip"), st.failures
    assert c.wait_for(lambda: c.client_ping(VIP), f"the client to reach {VIP}", 15)

    holders = n1.holders(VIP)
    assert len(holders) == 1 and holders[0] in NICS, f"{VIP} on {holders}"
    first = holders[0]
    second = next(nic for nic in NICS if nic != first)
    # Only the member the address is bound to answers ARP for it.
    assert c.arp_replies(VIP) == [n1.macs[first]], (first, n1.macs)

    # One cable out: the group is degraded, the address moves to the other member.
    c.pull_cable(n1, first)
    c.wait_for(lambda: n1.holders(VIP) == [second], f"{VIP} to move from {first} to {second}",
               10)
    c.wait_for(lambda: c.client_ping(VIP), f"the client to reach {VIP} on {second}", 15)
    c.wait_for(lambda: c.client_neigh(VIP) == n1.macs[second],
               f"the client's ARP entry for {VIP} to name {second} (gratuitous ARP)", 10)
    assert c.arp_replies(VIP) == [n1.macs[second]]
    st = c.wait_for(lambda: degraded_monitor(s := c.crm_mon(), "net") and s,
                    "the ipmp monitor to report degraded (190)", SETTLE)
    c.wait_attribute("n1", ATTR, lambda v: v == "1", "== 1 after dampening", SETTLE)
    st = c.crm_mon()
    assert st.started_on("net-clone") == {"n1"} and st.started_on("vip") == {"n1"}, st.xml
    assert not any(r.failed for r in st.instances("net-clone")), st.xml
    assert not [f for f in st.failures_of("net") if f.exitcode != 190], st.failures
    assert c.client_ping(VIP)

    # Both cables out: every member failed. A fact about the network, not a failure of
    # the resource: the monitor stays degraded (190) and says which members are down.
    # crm_mon keeps the first 190's exit reason while the code stays 190 (Pacemaker
    # records a recurring monitor's result only when it changes); the log has each one.
    mark = n1.log_size()
    c.pull_cable(n1, second)

    def monitor_says_failed() -> str | None:
        found = re.findall(r"ocf-exit-reason:(group ipmp0 failed: [^\]\n]*)",
                           n1.log_since(mark))
        return found[-1] if found else None

    reason = c.wait_for(monitor_says_failed, "the ipmp monitor to report the failure (190)",
                        SETTLE)
    assert all(nic in reason for nic in NICS), (
        f"exit reason should name the failed members {NICS}: {reason!r}"
    )
    st = c.crm_mon()
    assert not [f for f in st.failures_of("net") if f.exitcode != 190], st.failures
    assert c.failcount("net", n1) == 0
    # Nothing usable: the location rule takes the floating address down.
    c.wait_for(lambda: not c.crm_mon().started_on("vip"),
               f"vip to stop ({ATTR} < 1 or undefined)", SETTLE)
    assert n1.holders(VIP) == []

    # Remove everything: the NICs are as they were before.
    for nic in NICS:
        c.plug_cable(n1, nic)
    c.pcs("resource", "disable", "vip")
    c.pcs("resource", "disable", "net-clone")
    c.wait_stopped("vip", SETTLE)
    c.wait_stopped("net-clone", SETTLE)
    c.pcs("resource", "delete", "vip")
    c.pcs("resource", "delete", "net")
    c.wait_for(lambda: not c.crm_mon().resources, "no resources left", SETTLE)
    c.wait_for(lambda: n1.attribute(ATTR) is None, f"{ATTR} to be removed", SETTLE)
    try:
        c.wait_for(lambda: host_state(n1) == before, "the NICs to be as before", 10)
    except AssertionError:
        raise AssertionError(
            "resources removed, but the node differs from before:\n"
            + diff_states(before, host_state(n1))
        ) from None
