"""Failover of a floating address between two Pacemaker nodes when one node's IPMP group
fails as a whole (both data cables pulled; the cluster link stays up: without fencing a cut
cluster link would be a split brain).

The client's view is measured: a background pinger (10 ms) gives the longest time without
an answer, and an ARP request every 50 ms checks that the two nodes never both answer for
the address. The numbers are printed and, when CLUSTER_FAILOVER_RESULT names a file,
written there as JSON (for docs/performance.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from recipe import ATTR, GROUP, NICS, TEST_ADDRESSES, VIP

from tests.support.cluster.cluster import Cluster
from tests.support.cluster.watch import WatchResult

pytestmark = pytest.mark.cluster

MONITOR_INTERVAL = "2s"
DAMPEN = "0s"  # the default: ipmpd damps itself (docs/design.md)
FDT_MS = 2000
SETTLE = 40.0
FAILOVER_TIMEOUT = 60.0
PING_INTERVAL = 0.01
ARP_INTERVAL = 0.05


def _version(node_run: Any, *argv: str) -> str:
    res = node_run(*argv)
    return (res.stdout or res.stderr).strip().splitlines()[0] if res.returncode == 0 else "?"


def test_floating_address_fails_over(pair: Cluster, agents_installed: object) -> None:
    c = pair
    # What `pcs cluster setup` gives a new cluster: a resource stays where it is when its
    # old node becomes eligible again.
    c.pcs("resource", "defaults", "update", "resource-stickiness=1")
    c.create_group_with_address(
        GROUP, VIP, f"test_addresses={TEST_ADDRESSES}", f"failure_detection_time={FDT_MS}",
        f"dampen={DAMPEN}", monitor_interval=MONITOR_INTERVAL)

    c.wait_started("net-clone", on={"n1", "n2"}, timeout=SETTLE)
    for name in ("n1", "n2"):
        c.wait_attribute(name, ATTR, lambda v: v == "2", "== 2", SETTLE)
    st = c.wait_started("vip", timeout=SETTLE)
    (where,) = st.started_on("vip")
    a = c.node(where)  # the node that loses its network
    b = c.other(a)
    assert c.wait_for(lambda: c.client_ping(VIP), f"the client to reach {VIP}", 15)
    assert c.arp_owners(VIP) == {a.name}
    assert b.holders(VIP) == []

    watch = c.watch(VIP, duration=FAILOVER_TIMEOUT + 60, ping_interval=PING_INTERVAL,
                    arp_interval=ARP_INTERVAL)
    try:
        time.sleep(1.0)  # a baseline: the address answers before the failure
        t_pull = time.monotonic()
        for nic in NICS:
            c.pull_cable(a, nic)
        events = _follow_failover(c, a.name, b.name, t_pull)
        assert c.wait_for(lambda: c.client_ping(VIP), f"the client to reach {VIP} on {b.name}",
                          20)
        t_reached = time.monotonic()
        assert c.arp_owners(VIP) == {b.name}
        assert a.holders(VIP) == [], f"{VIP} still configured on {a.name} after failover"

        # A's cables back. The group stayed configured on A (a network failure is not a
        # resource failure), ipmpd repairs it and raises the attribute by itself: no
        # operator action. The address stays on B (stickiness) and A never answers for it.
        t_plug = time.monotonic()
        for nic in NICS:
            c.plug_cable(a, nic)
        c.wait_started("net-clone", on={"n1", "n2"}, timeout=SETTLE)
        c.wait_attribute(a.name, ATTR, lambda v: v == "2", "== 2 after repair", SETTLE)
        time.sleep(3.0)  # a few more monitors and ARP rounds with both groups healthy
    finally:
        result = watch.stop()

    st = c.crm_mon()
    assert st.started_on("vip") == {b.name}, st.xml
    assert st.started_on("net-clone") == {"n1", "n2"}, st.xml
    assert not [f for f in st.failures if f.exitcode != 190], st.failures
    assert all(c.failcount(r, n) == 0 for r in ("net", "vip") for n in c.nodes)
    assert c.arp_owners(VIP) == {b.name}

    # At no moment did both nodes answer ARP for the address.
    both = [(t - t_pull, macs) for t, macs in result.arp_rounds
            if {a.name, b.name} <= c.owners_of(macs)]
    assert not both, f"both nodes answered ARP for {VIP} (s after the pull, MACs): {both}"
    strangers = {m for _, macs in result.arp_rounds for m in macs} - set(c.mac_map)
    assert not strangers, f"ARP replies for {VIP} from unknown MACs {strangers}"

    record = _record(c, result, events, t_pull, t_reached, t_plug, a.name, b.name)
    print("\n[failover] " + json.dumps(record, indent=1))
    out = os.environ.get("CLUSTER_FAILOVER_RESULT")
    if out:
        Path(out).write_text(json.dumps(record, indent=2) + "\n")
    assert record["outage_s"] < FAILOVER_TIMEOUT, record
    # After the repair nothing was lost: the longest gap then is a few ping intervals.
    assert result.longest_gap(t_plug + 0.5) < 1.0, "outage after A's repair"


def _follow_failover(c: Cluster, a: str, b: str, t_pull: float) -> dict[str, float | str]:
    """Poll crm_mon until the floating address runs on ``b``; note when (seconds after the
    pull) A's attribute dropped and the address stopped on A / started on B."""
    events: dict[str, float | str] = {}

    def step() -> bool:
        st = c.crm_mon()
        now = time.monotonic() - t_pull
        value = st.attr(a, ATTR)
        if "attribute_dropped" not in events and (value is None or int(value) < 1):
            events["attribute_dropped"] = round(now, 3)
            events["attribute_value"] = "undefined" if value is None else value
        where = st.started_on("vip")
        if "vip_stopped_on_a" not in events and a not in where:
            events["vip_stopped_on_a"] = round(now, 3)
        if "net_failed_on_a" not in events and any(
            f.node == a and f.task == "monitor" and f.exitcode not in (0, 190)
            for f in st.failures_of("net")
        ):
            events["net_failed_on_a"] = round(now, 3)
        if where == {b}:
            events["vip_started_on_b"] = round(now, 3)
            return True
        return False

    c.wait_for(step, f"vip to move from {a} to {b} after both of {a}'s cables were pulled",
               FAILOVER_TIMEOUT, poll=0.1)
    if "attribute_dropped" not in events:
        c.wait_for(lambda: _attr_dropped(c, a, events, t_pull),
                   f"{ATTR} on {a} to drop below 1 (or be removed)", SETTLE, poll=0.1)
    return events


def _attr_dropped(c: Cluster, a: str, events: dict[str, float | str], t_pull: float) -> bool:
    value = c.crm_mon().attr(a, ATTR)
    if value is None or int(value) < 1:
        events["attribute_dropped"] = round(time.monotonic() - t_pull, 3)
        events["attribute_value"] = "undefined" if value is None else value
        return True
    return False


def _record(c: Cluster, result: WatchResult, events: dict[str, float | str], t_pull: float,
            t_reached: float, t_plug: float, a: str, b: str) -> dict[str, Any]:
    gap = result.longest_gap(t_pull, t_plug)
    node = c.nodes[0]
    try:
        pcmk = _version(node.run, "pacemakerd", "--version")
        coro = _version(node.run, "corosync", "-v")
    except subprocess.SubprocessError:
        pcmk = coro = "?"
    return {
        "test": "tests/cluster/test_two_node.py::test_floating_address_fails_over",
        "failure": f"both data cables of {a} pulled (link down), cluster link up",
        "after": f"cables plugged back (no operator action), {VIP} stays on {b}",
        "from": a,
        "to": b,
        "outage_s": round(gap, 3),
        "outage_note": "longest time between two answered client pings "
                       f"({PING_INTERVAL * 1000:g} ms apart) from the pull until the replug",
        "pings_sent": result.sent,
        "pings_answered": result.answered,
        "events_s_after_pull": {**events,
                                "client_reached_vip_on_b": round(t_reached - t_pull, 3)},
        "arp_rounds": len(result.arp_rounds),
        "arp_interval_s": ARP_INTERVAL,
        "parameters": {
            "monitor_interval": MONITOR_INTERVAL,
            "dampen": DAMPEN,
            "failure_detection_time_ms": FDT_MS,
            "resource_stickiness": 1,
        },
        "cluster_start_s": round(c.timings.get("start", 0.0), 2),
        "pacemaker": pcmk,
        "corosync": coro,
    }
