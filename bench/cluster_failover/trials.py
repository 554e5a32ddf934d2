"""One trial on a running cluster: fail the node holding the address, follow the
failover, measure what the client saw; and a run of trials for one stack."""

from __future__ import annotations

import json
import random
import re
import subprocess
import tempfile
import time
from typing import IO, Any

from bench.cluster_failover.shared import (
    ARP_INTERVAL,
    ATTR_DROP_S,
    EVENTS_HELPER,
    EVENTS_READY_S,
    FAILOVER_S,
    MONITOR_INTERVAL_S,
    PING_INTERVAL,
    PRIVATE_OCF,
    REACH_S,
    SETTLE_S,
    VIP,
    WATCH_LEAD_S,
    WATCH_MAX_S,
    Result,
    Trial,
)
from bench.cluster_failover.stacks import Scenario, Stack
from bench.common import PYTHON, BenchError
from tests.support.cluster.base import ClusterError
from tests.support.cluster.cluster import Cluster
from tests.support.cluster.crm_mon import ClusterState

# ---------------------------------------------------------------------------- running


def settled(c: Cluster, stack: Stack) -> ClusterState | None:
    st = c.crm_mon()
    names = {n.name for n in c.nodes}
    if any(st.started_on(clone) != names for clone in stack.clones()):
        return None
    if not all(stack.healthy(st.attr(n, a)) for n in names for a in stack.attrs()):
        return None
    if len(st.started_on(stack.rsc)) != 1:
        return None
    if any(f.exitcode != 190 for f in st.failures):  # OCF_DEGRADED is no failure
        return None
    return st


def wait_settled(c: Cluster, stack: Stack, what: str) -> str:
    """Wait until ``stack`` is settled and the client reaches the address; return the node
    holding it."""
    st = c.wait_for(lambda: settled(c, stack), f"{stack.name} settled ({what})", SETTLE_S)
    (where,) = st.started_on(stack.rsc)
    c.wait_for(lambda: c.client_ping(VIP), f"the client to reach {VIP} ({what})", REACH_S)
    return where


def follow_failover(c: Cluster, stack: Stack, scenario: Scenario, a: str, b: str,
                    t_pull: float) -> dict[str, float]:
    """Poll crm_mon until the address is started on B only (and A's attribute has
    dropped, if it had not by then); returns when things happened, s after the pull:
    ``dropped`` (A's attribute the rule tests below 1 or gone), ``failed`` (a failed
    monitor of A's stack resource shown), ``stopped`` (the address no longer started on
    A), ``started`` (the address started on B only)."""
    events: dict[str, float] = {}

    def note(st: ClusterState) -> None:
        now = time.monotonic() - t_pull
        if "dropped" not in events and stack.dropped(st, a):
            events["dropped"] = now
        if "failed" not in events and stack.failed(st, a):
            events["failed"] = now
        if "stopped" not in events and a not in st.started_on(stack.rsc):
            events["stopped"] = now
        if "started" not in events and st.started_on(stack.rsc) == {b}:
            events["started"] = now

    def moved() -> bool:
        note(c.crm_mon())
        return "started" in events

    def attr_gone() -> bool:
        note(c.crm_mon())
        return "dropped" in events

    c.wait_for(moved, f"{stack.rsc} to move from {a} to {b} after "
               + scenario.what.format(a=a), FAILOVER_S, poll=0.1)
    try:
        c.wait_for(attr_gone, f"{stack.attrs()[0]} on {a} to drop", ATTR_DROP_S, poll=0.1)
    except ClusterError:
        pass  # reported as "-": the address moved for another reason
    return events


class DaemonEvents:
    """bench/ipmp_events.py in A's namespace: ipmpd's events with monotonic stamps."""

    def __init__(self, c: Cluster, node: str) -> None:
        self.out: IO[str] = tempfile.TemporaryFile("w+", prefix="cv-bench-events-")
        self.proc = c.spawn(c.node(node).netns, [PYTHON, str(EVENTS_HELPER), "--seconds",
                                                 str(WATCH_MAX_S)], stdout=self.out)
        deadline = time.monotonic() + EVENTS_READY_S
        while "READY" not in self._text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise BenchError(f"ipmpd's event stream on {node} did not open")
            time.sleep(0.05)

    def _text(self) -> str:
        self.out.seek(0)
        return self.out.read()

    def stop(self) -> list[tuple[float, dict[str, Any]]]:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        events = []
        for line in self._text().splitlines():
            if line.startswith("EV "):
                _, stamp, raw = line.split(" ", 2)
                events.append((float(stamp), json.loads(raw)))
        self.out.close()
        return events


def failures_seen(events: list[tuple[float, dict[str, Any]]],
                  t0: float) -> tuple[dict[str, float], float | None]:
    """When ipmpd first declared each member failed, and the group failed, s after t0."""
    members: dict[str, float] = {}
    group: float | None = None
    for stamp, ev in events:
        if stamp < t0:
            continue
        if ev.get("type") == "member-state" and ev.get("state") == "failed":
            members.setdefault(str(ev.get("interface")), stamp - t0)
        if ev.get("type") == "group-state" and ev.get("state") == "failed" and group is None:
            group = stamp - t0
    return members, group


def run_trial(c: Cluster, stack: Stack, scenario: Scenario, offset: float) -> Trial:
    a = wait_settled(c, stack, "before the trial")
    b = c.other(a).name
    owners = c.arp_owners(VIP)
    if owners != {a}:
        raise BenchError(f"before the failure ARP for {VIP} is answered by {owners}, not {a}")
    daemon = DaemonEvents(c, a) if stack.watch_daemon else None
    watch = c.watch(VIP, duration=WATCH_MAX_S, ping_interval=PING_INTERVAL,
                    arp_interval=ARP_INTERVAL)
    t_plug: float | None = None
    where = ""
    daemon_events: list[tuple[float, dict[str, Any]]] = []
    try:
        time.sleep(WATCH_LEAD_S + offset)
        t_pull = time.monotonic()
        scenario.fail(c, a)
        stack.on_pull(c, a)
        events = follow_failover(c, stack, scenario, a, b, t_pull)
        c.wait_for(lambda: c.client_ping(VIP, timeout=0.5),
                   f"the client to reach {VIP} on {b}", REACH_S, poll=0.0)
        reached = time.monotonic() - t_pull
        t_plug = time.monotonic()
        if daemon is not None:
            daemon_events = daemon.stop()
            daemon = None
        scenario.repair(c, a)
        stack.on_plug(c, a)
        if stack.needs_cleanup:
            c.pcs("resource", "cleanup", *stack.cleanup_args())
        where = wait_settled(c, stack, f"after repairing {a}")
        time.sleep(1.0)  # a few more answers with both nodes healthy
    finally:
        if daemon is not None:
            daemon.stop()
        if t_plug is None:  # failed before the repair: give the next stack a clean network
            try:
                scenario.repair(c, a)
            except ClusterError:
                pass
        result = watch.stop()
    note = "" if where == b else f"the address went back to {where} after the repair"
    members_failed, group_failed = failures_seen(daemon_events, t_pull)
    both = sum(1 for _, macs in result.arp_rounds if {a, b} <= c.owners_of(macs))
    return Trial(
        from_node=a,
        to_node=b,
        outage_s=result.longest_gap(t_pull, t_plug),
        repair_gap_s=result.longest_gap(t_plug),
        attr_dropped_s=events.get("dropped"),
        failed_s=events.get("failed"),
        stopped_on_a_s=events.get("stopped"),
        started_on_b_s=events["started"],
        reached_s=reached,
        offset_s=offset,
        both_answered=both,
        sent=result.sent,
        answered=result.answered,
        note=note,
        members_failed_s=members_failed,
        group_failed_s=group_failed,
    )


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def progress(name: str, i: int, trials: int, t: Trial) -> None:
    print(f"  {name} trial {i + 1}/{trials}: {t.from_node} -> {t.to_node}: outage "
          f"{t.outage_s:.2f} s; after the pull: monitor failed {fmt(t.failed_s)} s, attribute "
          f"dropped {fmt(t.attr_dropped_s)} s, stopped on {t.from_node} {fmt(t.stopped_on_a_s)} s, "
          f"started on {t.to_node} {fmt(t.started_on_b_s)} s; repair gap {t.repair_gap_s:.3f} s"
          + (f"; ipmpd: members failed {members_text(t)}, group failed "
             f"{fmt(t.group_failed_s)} s" if t.members_failed_s else "")
          + (f"; {t.note}" if t.note else ""), flush=True)


def members_text(t: Trial) -> str:
    return ", ".join(f"{nic} {v:.2f}" for nic, v in sorted(t.members_failed_s.items()))


def run_stack(stack: Stack, scenario: Scenario, trials: int, seed: int) -> Result:
    rng = random.Random(seed)
    offsets = [rng.uniform(0.0, MONITOR_INTERVAL_S) for _ in range(trials)]
    result = Result(stack.name)
    stack.preflight()
    t0 = time.monotonic()
    try:
        with Cluster(nodes=2, ocf_resource_d=PRIVATE_OCF / "resource.d") as c:
            result.cluster_start_s = c.timings.get("start", 0.0)
            t_setup = time.monotonic()
            c.pcs("resource", "defaults", "update", "resource-stickiness=1")
            stack.configure(c)
            wait_settled(c, stack, "after configuration")
            result.setup_s = time.monotonic() - t_setup
            result.versions = {**stack.versions(c), **pacemaker_versions(c)}
            for i, offset in enumerate(offsets):
                trial = run_trial(c, stack, scenario, offset)
                result.trials.append(trial)
                progress(stack.name, i, trials, trial)
    except (ClusterError, BenchError) as exc:
        raise BenchError(f"{stack.name}: {exc}") from exc
    result.run_s = time.monotonic() - t0
    return result


def pacemaker_versions(c: Cluster) -> dict[str, str]:
    out = {}
    for key, argv in (("pacemaker", ("pacemakerd", "--version")),
                      ("corosync", ("corosync", "-v"))):
        res = c.nodes[0].run(*argv)
        found = re.search(r"\d+\.\d+(\.\d+)?", res.stdout or res.stderr)
        out[key] = found.group(0) if res.returncode == 0 and found else "?"
    return out


