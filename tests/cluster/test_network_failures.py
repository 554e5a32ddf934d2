"""A node's network failing is not a resource failure (one two-node cluster, checks in
sequence).

docs/pacemaker.md's recipe: ocf:clearview:ipmp cloned (test addresses per node, the
router as probe target, FDT 2 s, monitor every 2 s), ocf:clearview:ipmp-address
colocated with and ordered after it, and the location rule on the node attribute ipmpd
publishes. The client pings the floating address every 10 ms throughout each check.

- one cable pulled: the group is degraded (190), nothing moves;
- ipmpd SIGKILLed on the address's node: a monitor restarts it, nothing moves, no gap;
- both paths dark with carriers up (probe-detected): the address is on the healthy node
  within FDT + 1 s and stays there while the paths are dark;
- both cables pulled: the address moves by the rule, no failed operation but 190, no
  fail-count; cables back: the node's attribute returns by itself and the node is
  eligible again (the other node failing moves the address back);
- every reloadable parameter changed with pcs resource update: reload-agent on both
  nodes, same ipmpd, no gap over 50 ms; a member added and one removed in place;
- without the location rule: the address's monitor fails after failed_grace.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from recipe import ATTR, GROUP, NICS, TEST_ADDRESSES, VIP

from ipmp_core.constants import NUM_PROBE_REPAIRS
from tests.support.cluster.cluster import Cluster
from tests.support.cluster.crm_mon import ClusterState
from tests.support.cluster.nodes import ClusterNode
from tests.support.cluster.watch import WatchResult

pytestmark = pytest.mark.cluster

ROUTER = "198.51.100.1"  # the probe target (the harness's router)
FDT_S = 2.0
# A member that probes is repaired after its link failure by NUM_PROBE_REPAIRS answered
# probes (in.mpathd's phyint_repaired()), each at most one interval (FDT / 7) apart.
REPAIR_S = NUM_PROBE_REPAIRS * FDT_S / 7
MONITOR_INTERVAL = "2s"
SETTLE = 40.0
PING_INTERVAL = 0.01
# "No gap over 50 ms": the longest time between two answers, one ping interval included.
MAX_GAP_S = 0.05 + PING_INTERVAL
# Monitor operations that report the network's state (OCF_DEGRADED) are allowed.
ALLOWED_CODES = {190}


@pytest.fixture(scope="module")
def cluster(module_pair: Cluster) -> Iterator[Cluster]:
    c = module_pair
    c.pcs("resource", "defaults", "update", "resource-stickiness=1")
    c.create_group_with_address(
        GROUP, VIP, f"test_addresses={TEST_ADDRESSES}", f"targets={ROUTER}",
        f"failure_detection_time={int(FDT_S * 1000)}", monitor_interval=MONITOR_INTERVAL)
    c.wait_started("net-clone", on={"n1", "n2"}, timeout=SETTLE)
    for name in ("n1", "n2"):
        c.wait_attribute(name, ATTR, lambda v: v == "2", "== 2", SETTLE)
    c.wait_started("vip", timeout=SETTLE)
    assert c.wait_for(lambda: c.client_ping(VIP), f"the client to reach {VIP}", 15)
    yield c


def vip_node(c: Cluster) -> ClusterNode:
    (where,) = c.wait_started("vip").started_on("vip")
    return c.node(where)


def bad_failures(st: ClusterState) -> list[Any]:
    return [f for rsc in ("net", "vip") for f in st.failures_of(rsc)
            if f.exitcode not in ALLOWED_CODES]


def assert_no_failure(c: Cluster) -> None:
    st = c.crm_mon()
    assert not bad_failures(st), st.failures
    counts = {(rsc, n.name): c.failcount(rsc, n) for rsc in ("net", "vip") for n in c.nodes}
    assert not any(counts.values()), f"fail-counts: {counts}"


def healthy_again(c: Cluster) -> None:
    for name in ("n1", "n2"):
        c.wait_attribute(name, ATTR, lambda v: v is not None and int(v) >= 2, ">= 2", SETTLE)
    c.wait_started("net-clone", on={"n1", "n2"}, timeout=SETTLE)
    c.wait_started("vip", timeout=SETTLE)


def degraded_on(st: ClusterState, rsc: str, node: str) -> ClusterState | None:
    """``st`` when crm_mon lists an OCF_DEGRADED monitor of ``rsc`` on ``node``."""
    hit = any(f.exitcode == 190 and f.node == node for f in st.failures_of(rsc))
    return st if hit else None


def loss_gap(result: WatchResult, since: float, until: float) -> float:
    """The longest outage the address caused: from the sending of the last answered ping
    before a run of unanswered ones to the sending of the first answered ping after it
    (one ping interval when nothing was lost). Unlike WatchResult.longest_gap this does
    not count a client that was itself descheduled (2 shared cores, pcs running) and
    sent nothing for a while: only pings that went out and got no answer count."""
    pings = sorted((sent, got) for _, sent, got in result.pings if since <= sent <= until)
    worst = PING_INTERVAL
    last_ok: float | None = None
    lost = False
    for sent, got in pings:
        if got is None:
            lost = True
            continue
        if lost and last_ok is not None:
            worst = max(worst, sent - last_ok)
        last_ok, lost = sent, False
    return worst


def stop_watch(w: Any) -> WatchResult:
    return w.stop()


def test_one_cable_pulled_degrades_and_nothing_moves(cluster: Cluster) -> None:
    c = cluster
    a = vip_node(c)
    (holder,) = a.holders(VIP)
    other = next(n for n in NICS if n != holder)
    watch = c.watch(VIP, duration=120, ping_interval=PING_INTERVAL)
    try:
        c.pull_cable(a, holder)
        c.wait_for(lambda: a.holders(VIP) == [other], f"{VIP} to move to {other} on {a.name}",
                   10)
        c.wait_attribute(a.name, ATTR, lambda v: v == "1", "== 1", 10)
        st = c.wait_for(lambda: degraded_on(c.crm_mon(), "net", a.name),
                        "the group's monitor to report degraded (190)", 15)
        assert st.started_on("vip") == {a.name}
        time.sleep(2.0)  # a few more monitors: nothing moves
        assert c.crm_mon().started_on("vip") == {a.name}
        c.plug_cable(a, holder)
        c.wait_attribute(a.name, ATTR, lambda v: v == "2", "== 2 after the repair", 10)
        time.sleep(0.5)
    finally:
        result = stop_watch(watch)
    assert_no_failure(c)
    assert c.crm_mon().started_on("vip") == {a.name}
    # The address moved between two members of one node: a few lost pings at most.
    assert result.longest_gap() < 1.0, result.longest_gap()


def test_killed_daemon_comes_back_and_nothing_moves(cluster: Cluster) -> None:
    c = cluster
    a = vip_node(c)
    holders = a.holders(VIP)
    old = a.ipmpd_pid()
    assert old is not None
    mark = a.log_size()
    watch = c.watch(VIP, duration=120, ping_interval=PING_INTERVAL)
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        new = c.wait_for(lambda: (p := a.ipmpd_pid()) not in (None, old) and p,
                         "a monitor to restart ipmpd", 15, poll=0.3)
        back = time.monotonic() - t0
        time.sleep(1.0)
        t1 = time.monotonic()
    finally:
        result = stop_watch(watch)
    print(f"\n[ipmpd {old} killed; {new} answering {back:.2f} s later]")
    assert a.holders(VIP) == holders, "the address moved"
    assert c.crm_mon().started_on("vip") == {a.name}
    assert "restarted it (pid" in a.log_since(mark), "no monitor said it restarted ipmpd"
    gap = loss_gap(result, t0 - 0.5, t1)
    assert gap < MAX_GAP_S, f"client gap {gap:.3f} s"
    assert_no_failure(c)


def test_dark_paths_move_the_address_within_fdt_and_it_stays_away(cluster: Cluster) -> None:
    c = cluster
    a = vip_node(c)
    b = c.other(a)
    try:
        t0 = time.monotonic()
        c.darken(a)
        c.wait_for(lambda: c.crm_mon().started_on("vip") == {b.name},
                   f"vip on {b.name} after {a.name}'s paths went dark", FDT_S + 1, poll=0.05)
        moved = time.monotonic() - t0
        seen = []
        deadline = time.monotonic() + 3 * FDT_S
        while time.monotonic() < deadline:  # never returns while the paths stay dark
            seen.append(c.crm_mon().started_on("vip"))
            time.sleep(0.3)
        assert all(s == {b.name} for s in seen), seen
        assert c.crm_mon().attr(a.name, ATTR) == "0"
        assert_no_failure(c)
    finally:
        c.light(a)
    t1 = time.monotonic()
    c.wait_attribute(a.name, ATTR, lambda v: v == "2", "== 2 once the paths are back",
                     FDT_S + 2)
    print(f"\n[dark paths: vip on {b.name} after {moved:.2f} s; attribute back after "
          f"{time.monotonic() - t1:.2f} s]")
    healthy_again(c)
    assert_no_failure(c)


def test_both_cables_pulled_moves_by_the_rule_and_the_node_heals(cluster: Cluster) -> None:
    c = cluster
    a = vip_node(c)
    b = c.other(a)
    watch = c.watch(VIP, duration=120, ping_interval=PING_INTERVAL)
    try:
        time.sleep(0.5)
        t_pull = time.monotonic()
        for nic in NICS:
            c.pull_cable(a, nic)
        c.wait_started("vip", on=b.name, timeout=20)
        moved = time.monotonic() - t_pull
        assert c.wait_for(lambda: c.client_ping(VIP), f"{VIP} on {b.name}", 10)
        assert c.crm_mon().attr(a.name, ATTR) == "0"
        time.sleep(2 * FDT_S)  # the group stays configured on A, nothing fails
        st = c.crm_mon()
        assert st.started_on("vip") == {b.name} and st.started_on("net-clone") == {"n1", "n2"}
        assert_no_failure(c)

        # Cables back: no operator action; the attribute returns once the members'
        # probes repaired them (ten answers, not the link alone), within REPAIR_S + 2 s.
        t_plug = time.monotonic()
        for nic in NICS:
            c.plug_cable(a, nic)
        c.wait_attribute(a.name, ATTR, lambda v: v == "2", "== 2 after the repair",
                         REPAIR_S + 2)
        healed = time.monotonic() - t_plug
        # A is eligible again: B losing its network moves the address back to A.
        for nic in NICS:
            c.pull_cable(b, nic)
        c.wait_started("vip", on=a.name, timeout=20)
        for nic in NICS:
            c.plug_cable(b, nic)
        healthy_again(c)
    finally:
        result = stop_watch(watch)
    print(f"\n[vip on {b.name} {moved:.2f} s after the pull; {a.name}'s attribute back "
          f"{healed:.2f} s after the plug; outage {result.longest_gap(t_pull, t_plug):.2f} s]")
    assert_no_failure(c)


def _config(node: ClusterNode) -> dict[str, Any]:
    code = ("import json; from ipmp_core.control_client import ControlClient as C; "
            "print(json.dumps(C().call('config')))")
    res = subprocess.run(["ip", "netns", "exec", node.netns, sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=30, check=True)
    (group,) = [g for g in json.loads(res.stdout)["groups"] if g["name"] == GROUP]
    return group


RELOAD_RESULT = re.compile(r"Result of reload-agent operation for net(?::\d+)? on (n\d): ok")
STOP_RESULT = re.compile(r"Result of (?:stop|start) operation for net(?::\d+)? on")

# Each pcs resource update and what the daemon's configuration must show after it.
RELOADS: list[tuple[list[str], Any]] = [
    (["failure_detection_time=3000"], lambda g: g["fdt_ms"] == 3000),
    (["failback=false"], lambda g: g["failback"] is False),
    (["dampen=100ms"], lambda g: g["attribute"]["dampen_ms"] == 100),
    (["multiplier=2"], lambda g: g["attribute"]["multiplier"] == 2),
    (["targets=198.51.100.1 198.51.100.200"],
     lambda g: g["targets"] == ["198.51.100.1", "198.51.100.200"]),
    (["gateway=198.51.100.1"], lambda g: g["routes"]),
    (["data_addresses=@n1 198.51.100.61/24; @n2 198.51.100.62/24"],
     lambda g: any(a.startswith("198.51.100.6") for a in g["data_addresses"])),
    (["test_addresses=@n1 e0=198.51.100.31/24 e1=198.51.100.32/24; "
      "@n2 e0=198.51.100.33/24 e1=198.51.100.34/24"],
     lambda g: any(m["test_addresses"] and m["test_addresses"][0].startswith("198.51.100.3")
                   for m in g["members"])),
    (["standby_interfaces=e2"],  # a member added
     lambda g: [m["name"] for m in g["members"]] == ["e0", "e1", "e2"]),
    (["interfaces=e1", "test_addresses=@n1 e1=198.51.100.32/24; @n2 e1=198.51.100.34/24"],
     lambda g: [m["name"] for m in g["members"]] == ["e1", "e2"]),  # a member removed
    (["degraded_ok=true"], lambda g: True),
]


def test_every_reloadable_parameter_changes_in_place(cluster: Cluster) -> None:
    c = cluster
    a = vip_node(c)
    pids = {n.name: n.ipmpd_pid() for n in c.nodes}
    marks = {n.name: n.log_size() for n in c.nodes}
    watch = c.watch(VIP, duration=300, ping_interval=PING_INTERVAL)
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        steps: list[tuple[float, str]] = []
        for done, (args, check) in enumerate(RELOADS, start=1):
            steps.append((time.monotonic(), " ".join(args)))
            c.pcs("resource", "update", "net", *args)
            for n in c.nodes:
                c.wait_for(lambda n=n, done=done: len(RELOAD_RESULT.findall(
                    n.log_since(marks[n.name]))) >= done,
                    f"reload-agent #{done} ({' '.join(args)}) on {n.name}", 30)
                c.wait_for(lambda n=n, check=check: check(_config(n)),
                           f"{' '.join(args)} applied on {n.name}", 10)
        t1 = time.monotonic()
        time.sleep(0.5)
    finally:
        result = stop_watch(watch)
    for n in c.nodes:
        log = n.log_since(marks[n.name])
        assert not STOP_RESULT.search(log), f"net restarted on {n.name}:\n" + "\n".join(
            line for line in log.splitlines() if STOP_RESULT.search(line))
        assert n.ipmpd_pid() == pids[n.name], f"ipmpd restarted on {n.name}"
    assert c.crm_mon().started_on("vip") == {a.name}
    gap = loss_gap(result, t0, t1)
    window = result.gap_window()
    during = [what for t, what in steps if window and t <= window[0]][-1:]
    print(f"\n[reloads: longest loss {gap:.3f} s; longest time between answers "
          f"{result.longest_gap(t0, t1):.3f} s, after {during}]")
    vip_ops = "\n".join(line for n in c.nodes for line in n.log_since(marks[n.name])
                         .splitlines() if "Result of" in line and "vip" in line)
    if gap >= MAX_GAP_S:
        window = result.gap_window()
        print(f"\n[gap window {window[0] - t0:.2f}..{window[1] - t0:.2f} s after the first "
              f"update; steps at {[round(t - t0, 2) for t, _ in steps]}]" if window else "")
        if window:
            rounds = [(round(t - t0, 2), c.owners_of(m)) for t, m in result.arp_rounds
                      if window[0] - 0.2 <= t <= window[1] + 0.2]
            print(f"[ARP rounds around the gap: {rounds}]")
            sent = [(round(t - t0, 3), None if g is None else round(g - t0, 3))
                    for _, t, g in result.pings if window[0] - 0.05 <= t <= window[1]]
            print(f"[pings in the gap (sent, answered): {sent}]")
        print(a.diagnostics()[-6000:])
    assert gap < MAX_GAP_S, f"client gap {gap:.3f} s during the reloads:\n{vip_ops}"
    c.wait_attribute(a.name, ATTR, lambda v: v == "4", "== 4 (2 usable x multiplier 2)", 10)
    assert_no_failure(c)


def test_without_the_location_rule_the_address_fails_after_the_grace(
        cluster: Cluster) -> None:
    c = cluster
    xml = c.nodes[0].run("cibadmin", "-Q", "-o", "constraints", check=True).stdout
    location_ids = re.findall(r'<rsc_location id="([^"]+)" rsc="vip"', xml)
    assert location_ids, xml
    for cid in location_ids:
        c.pcs("constraint", "remove", cid)
    c.pcs("resource", "update", "vip", "failed_grace=4")
    a = vip_node(c)
    b = c.other(a)
    mark = a.log_size()
    t0 = time.monotonic()
    for nic in a.nics:
        c.pull_cable(a, nic)
    c.wait_for(lambda: c.crm_mon().started_on("vip") == {b.name},
                    f"vip on {b.name} once failed_grace ran out", 30, poll=0.2)
    took = time.monotonic() - t0
    assert took >= 4, f"the address left after {took:.1f} s, before failed_grace=4"
    # The monitor failed with the reason (Pacemaker then recovers the address in place:
    # its start fails on the node without network and it moves).
    log = a.log_since(mark)
    assert re.search(r"Result of monitor operation for vip on \S+: error.*failed_grace=4",
                     log), "\n".join(ln for ln in log.splitlines() if "vip" in ln)[-3000:]
    print(f"\n[no location rule: vip left {a.name} after {took:.1f} s]")
    for nic in a.nics:
        c.plug_cable(a, nic)
