"""Two-node cluster failover: the outage a client sees when the node holding a floating
address loses its whole data network, ours against the classic Pacemaker stack and
against the cluster's own floor.

Method
------
Each implementation gets its own fresh two-node Pacemaker cluster
(``tests/support/cluster``: nodes n1, n2 in network namespaces, each with data NICs e0
and e1 on one switch, a client and a router on the same switch, the cluster link on a
separate bridge that is never touched; our agents from a private OCF root, never
installed over the system's). The clusters run one after the other, never at the same
time:

* **ours**: ``ocf:clearview:ipmp`` cloned (group ipmp0, interfaces e0 e1, per-node test
  addresses, failure_detection_time=2000, dampen 0 (the default), monitor every 2 s) and
  ``ocf:clearview:ipmp-address`` for the floating address, colocated with the clone,
  ordered after it, banned by a location rule where ``ipmp-ipmp0`` is < 1 or undefined
  (the configuration of tests/cluster/test_two_node.py and docs/pacemaker.md). ipmpd
  publishes the attribute itself when the usable count changes.
* **baseline**: what clusters use for the same job today: ``ocf:heartbeat:ethmonitor``
  cloned once for e0 and once for e1 (monitor every 2 s, repeat_count=1 so the first
  failed check counts, link_status_only=true, see below) and ``ocf:heartbeat:IPaddr2`` on
  e0 (``nic=e0``), banned by a location rule where ``ethmonitor-e0`` is < 1 or undefined.
  IPaddr2 can hold the address on one NIC only; the classic answer to a second NIC is a
  bond, which this kernel lacks, so e1 is monitored but cannot take over the address.
* **floor**: ``ocf:heartbeat:IPaddr2`` behind a location rule on an attribute the
  benchmark itself sets to 0 (no dampening) the instant it pulls the cables: what a
  perfectly event-driven daemon could achieve with this cluster.

All: ``resource-stickiness=1``, no fencing (the cluster link stays up). Each trial:

1. wait until the cluster is settled (every clone instance started on both nodes, the
   node attributes healthy on both nodes, the address started on one node, the client
   reaches it); call that node A, the other B;
2. start the harness's client watch (an ICMP echo to the address every 10 ms, an ARP
   request every 50 ms), wait 1 s plus a random 0..2 s (one monitor interval; the same
   seeded offsets for all implementations) so the pull does not sit at a fixed phase of
   the monitors restarted by the previous repair;
3. pull both of A's data cables (switch-side veth ports down: A's NICs lose carrier);
4. follow crm_mon until the address is started on B only and the client reaches it;
5. plug the cables back (the baseline: ``pcs resource cleanup``, as an operator would;
   ours and the floor need none), wait until settled again (the address stays on B:
   stickiness), stop the watch.

The outage of a trial is the longest time between two answered echoes from the pull to
the replug (10 ms resolution); the longest gap after the replug is reported as well (a
repair should cost nothing). The next trial fails whichever node then holds the address,
so the failed node alternates. Targets (issue 9): the median of ours at most twice the
floor's, and every trial of ours at most the baseline's median; the report says MET or
MISSED for each.

Second scenario, probe-detected (``--scenario probe``): both data paths of A go dark
while the links stay up (the switch drops every frame to and from A's data ports,
nftables in the switch namespace: the harness's ``darken``; ``light`` undoes it), so
only probes can see the failure. Same trial method (the drop replaces the pull, lifting
it the replug). Two stacks:

* **ours** as above, with ``targets`` = the router (the probe target);
* **ping**: ``ocf:pacemaker:ping`` cloned (host_list = the router, multiplier 1000,
  dampen 0, attempts=1, timeout=1, use_fping=0, monitor every 1 s; each node has a fixed
  address on e0 to ping from) and ``ocf:heartbeat:IPaddr2`` banned where ``pingd`` is
  < 1 or undefined. The values make ping find a dead path within our FDT (2 s): see
  PING_* below.

Target (issue 9): the median of ours at most the ping baseline's. For ours, each trial
also records when ipmpd declared the members and the group failed (its event stream in
A's namespace, ``bench/ipmp_events.py``), to show where the time goes. ``make bench``
and the default (``--scenario both``) run both scenarios; each writes its own section of
docs/performance.md.

Why link_status_only=true for ethmonitor: the failure here is a lost link, which
ethmonitor checks first in either mode (a NO-CARRIER interface fails at once); its other
mode additionally watches the RX counter for up to pktcnt_timeout seconds and then
arpings neighbours, which on this quiet lab network fails healthy idle NICs. Link-only is
the fastest, and here the only stable, ethmonitor configuration.

Run as root:  /opt/clearview-ipmp/venv/bin/python -m bench.cluster_failover [--trials 5]
              [--scenario cables|probe|both] [--only ours|baseline|floor|ping]
              [--output docs/performance.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.common import PYTHON, REPO_DIR, BenchError
from bench.report import command_line, markdown_table, text_table, write_section
from tests.support.cluster.base import ROUTER_ADDR4, ClusterError
from tests.support.cluster.cluster import Cluster
from tests.support.cluster.crm_mon import ClusterState

# The system's OCF root, read only (stock agents); ours are installed into a private root
# that the cluster nodes see in its place (tests/support/ocf_overlay.sh), never over the system's.
OCF_ROOT = Path("/usr/lib/ocf")
PRIVATE_OCF = Path(tempfile.mkdtemp(prefix="cv-bench-ocf-", dir="/tmp"))

VIP = "198.51.100.50"
NICS = ("e0", "e1")
MONITOR_INTERVAL_S = 2.0
MONITOR_INTERVAL = f"{MONITOR_INTERVAL_S:g}s"

# Ours (as in tests/cluster/test_two_node.py).
GROUP = "ipmp0"
OURS_ATTR = f"ipmp-{GROUP}"
TEST_ADDRESSES = (
    "@n1 e0=198.51.100.21/24 e1=198.51.100.22/24; @n2 e0=198.51.100.23/24 e1=198.51.100.24/24"
)
FDT_MS = 2000
DAMPEN = "0s"  # the default (docs/design.md)

# Floor: IPaddr2 behind a rule on an attribute the benchmark sets itself at the pull.
FLOOR_ATTR = "floor-ok"

# Baseline.
ETH_ATTRS = {nic: f"ethmonitor-{nic}" for nic in NICS}
ETH_REPEAT_COUNT = 1
ETH_REPEAT_INTERVAL = 1

# Client watch.
PING_INTERVAL = 0.01
ARP_INTERVAL = 0.05
WATCH_LEAD_S = 1.0  # answers before the pull (the watch's own baseline)

# Bounded waits (seconds).
SETTLE_S = 60.0
FAILOVER_S = 60.0
ATTR_DROP_S = 20.0
REACH_S = 20.0
WATCH_MAX_S = 300.0
MAX_TRIALS = 20

SECTION = "cluster"  # of docs/performance.md

# Probe-detected scenario: both of A's data paths go dark (the switch drops every frame
# of A's data ports, harness darken()), carriers stay up; only probes can tell.
ROUTER = ROUTER_ADDR4  # ours' probe target and ping's host_list
PROBE_SECTION = "cluster-probe"  # of docs/performance.md
# ocf:pacemaker:ping set to detect a dead path within our FDT (2 s): one echo per monitor
# (attempts=1), waited for 1 s (timeout=1: the agent takes whole seconds and turns
# anything below 1 into 5), a monitor every 1 s. Pacemaker schedules the next recurring
# monitor one interval after the previous one ended, so a path that dies just after an
# answered echo is found dead at most interval + timeout = 2 s (plus the agent's own run,
# tens of ms) later; on average about half an interval + timeout = 1.5 s.
PING_ATTR = "pingd"  # the agent's default name
PING_MULTIPLIER = 1000  # the classic Pacemaker documentation value; the rule tests < 1
PING_ATTEMPTS = 1
PING_TIMEOUT_S = 1
PING_MONITOR_INTERVAL = "1s"
PING_DAMPEN = "0"  # like ours: every second of dampening is a second of outage
# ping needs a source address on the data network: each node's own fixed address on e0
# (the addresses ours uses as e0's test addresses).
PING_NODE_ADDRS = {"n1": "198.51.100.21/24", "n2": "198.51.100.23/24"}
# Ours: ipmpd's events in A's namespace (bench/ipmp_events.py), to see when the members
# failed; bounded like the watch.
EVENTS_HELPER = REPO_DIR / "bench" / "ipmp_events.py"
EVENTS_READY_S = 10.0
# Probe-detected target (issue 9): ours' median at most the ping baseline's.
PING_FACTOR = 1.0


# ---------------------------------------------------------------------------- trials


@dataclass
class Trial:
    from_node: str
    to_node: str
    outage_s: float
    repair_gap_s: float
    attr_dropped_s: float | None  # A's attribute below 1 or gone, s after the pull
    failed_s: float | None  # a failed monitor of the stack's clone on A shown
    stopped_on_a_s: float | None  # the address no longer started on A
    started_on_b_s: float  # the address Started on B only (crm_mon), s after the pull
    reached_s: float  # the client's ping answered by B, s after the pull
    offset_s: float  # random delay before the pull
    both_answered: int  # ARP rounds answered by both nodes (should be 0)
    sent: int
    answered: int
    note: str = ""
    # Ours with the event helper: when ipmpd declared each member failed, and the group
    # (all members) failed, s after the failure (ipmpd's event stream in A's namespace).
    members_failed_s: dict[str, float] = field(default_factory=dict)
    group_failed_s: float | None = None

    @property
    def detected_s(self) -> float | None:
        """The first sign of the failure in crm_mon: a failed monitor or the attribute."""
        seen = [t for t in (self.failed_s, self.attr_dropped_s) if t is not None]
        return min(seen) if seen else None


@dataclass
class Result:
    name: str
    trials: list[Trial] = field(default_factory=list)
    cluster_start_s: float = 0.0
    setup_s: float = 0.0
    run_s: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def outages(self) -> list[float]:
        return [t.outage_s for t in self.trials]

    @property
    def median(self) -> float:
        return statistics.median(self.outages) if self.trials else float("nan")

    @property
    def maximum(self) -> float:
        return max(self.outages) if self.trials else float("nan")

    def median_of(self, get: Callable[[Trial], float | None]) -> float | None:
        values = [v for t in self.trials if (v := get(t)) is not None]
        return statistics.median(values) if values else None


# ---------------------------------------------------------------------------- stacks


class Stack:
    """One implementation: how to configure it, when it is settled, how to repair."""

    name = "?"
    rsc = "vip"
    needs_cleanup = True  # `pcs resource cleanup` after each repair
    watch_daemon = False  # follow ipmpd's events on A during each trial

    def on_pull(self, c: Cluster, a: str) -> None:
        """Called right after A's cables were pulled."""

    def on_plug(self, c: Cluster, a: str) -> None:
        """Called right after A's cables were plugged back."""

    def preflight(self) -> None:
        """Fail early when something this stack needs is missing."""

    def configure(self, c: Cluster) -> None:
        raise NotImplementedError

    def attrs(self) -> list[str]:
        """Node attributes that must be healthy on both nodes."""
        raise NotImplementedError

    def healthy(self, value: str | None) -> bool:
        raise NotImplementedError

    def clones(self) -> list[str]:
        raise NotImplementedError

    def cleanup_args(self) -> list[str]:
        raise NotImplementedError

    def dropped(self, st: ClusterState, node: str) -> bool:
        """Whether ``node``'s attribute the address's rule tests says "leave"."""
        value = st.attr(node, self.attrs()[0])
        return value is None or not value.lstrip("-").isdigit() or int(value) < 1

    def failed(self, st: ClusterState, node: str) -> bool:
        """Whether crm_mon shows a failed monitor of this stack's clone on ``node``."""
        return any(f.node == node and f.task == "monitor" and f.exitcode not in (0, 190)
                   for clone in self.clones() for f in st.failures_of(clone.removesuffix("-clone")))

    def versions(self, c: Cluster) -> dict[str, str]:
        return {}


class Ours(Stack):
    name = "ours"

    needs_cleanup = False  # a network failure leaves no failed operation behind

    def __init__(self, probe_target: bool = False) -> None:
        # The probe-detected scenario names the router as the probe target (as
        # tests/cluster/test_network_failures.py does) and follows ipmpd's events.
        self.extra = [f"targets={ROUTER}"] if probe_target else []
        self.watch_daemon = probe_target

    def configure(self, c: Cluster) -> None:
        c.create_group_with_address(
            GROUP, VIP, f"test_addresses={TEST_ADDRESSES}", *self.extra,
            f"failure_detection_time={FDT_MS}", f"dampen={DAMPEN}",
            monitor_interval=MONITOR_INTERVAL)

    def attrs(self) -> list[str]:
        return [OURS_ATTR]

    def healthy(self, value: str | None) -> bool:
        return value == str(len(NICS))

    def clones(self) -> list[str]:
        return ["net-clone"]

    def cleanup_args(self) -> list[str]:
        return []

    def versions(self, c: Cluster) -> dict[str, str]:
        res = subprocess.run([PYTHON, "-c", "import importlib.metadata as m; "
                              "print(m.version('clearview-ipmp'))"],
                             capture_output=True, text=True, timeout=30, check=False)
        return {"clearview-ipmp": res.stdout.strip() or "?"}


class Baseline(Stack):
    name = "baseline"

    def preflight(self) -> None:
        # ethmonitor's validate refuses to run without these (OCF_ERR_INSTALLED).
        missing = [b for b in ("arping", "bc") if shutil.which(b) is None]
        for agent in ("ethmonitor", "IPaddr2"):
            if not (OCF_ROOT / "resource.d" / "heartbeat" / agent).exists():
                missing.append(f"ocf:heartbeat:{agent}")
        if missing:
            raise BenchError(f"the baseline needs {missing} (apt-get install "
                             "resource-agents iputils-arping bc)")

    def configure(self, c: Cluster) -> None:
        for nic in NICS:
            c.pcs("resource", "create", f"mon-{nic}", "ocf:heartbeat:ethmonitor",
                  f"interface={nic}", f"repeat_count={ETH_REPEAT_COUNT}",
                  f"repeat_interval={ETH_REPEAT_INTERVAL}", "link_status_only=true",
                  "op", "monitor", f"interval={MONITOR_INTERVAL}", "timeout=20s", "clone")
        c.pcs("resource", "create", "vip", "ocf:heartbeat:IPaddr2", f"ip={VIP}",
              "cidr_netmask=24", "nic=e0", "--disabled")
        attr = ETH_ATTRS["e0"]
        c.pcs("constraint", "location", "vip", "rule", "score=-INFINITY",
              attr, "lt", "1", "or", "not_defined", attr)
        c.pcs("resource", "enable", "vip")

    def attrs(self) -> list[str]:
        return [ETH_ATTRS[nic] for nic in NICS]

    def healthy(self, value: str | None) -> bool:
        return value == "1"

    def clones(self) -> list[str]:
        return [f"mon-{nic}-clone" for nic in NICS]

    def cleanup_args(self) -> list[str]:
        return []  # all resources: nothing failed, but an operator would run it

    def versions(self, c: Cluster) -> dict[str, str]:
        res = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "resource-agents"],
                             capture_output=True, text=True, timeout=30, check=False)
        return {"resource-agents": res.stdout.strip() or "?"}


class Ping(Stack):
    """The classic probe-based stack: ocf:pacemaker:ping cloned (host_list = the router)
    and IPaddr2 banned where the ping attribute is below 1, tuned to find a dead path
    within our FDT (see PING_*)."""

    name = "ping"
    needs_cleanup = False  # ping's monitor succeeds with 0 hosts reachable: nothing fails

    def preflight(self) -> None:
        missing = [b for b in ("ping",) if shutil.which(b) is None]
        for agent in ("pacemaker/ping", "heartbeat/IPaddr2"):
            if not (OCF_ROOT / "resource.d" / agent).exists():
                missing.append(f"ocf:{agent.replace('/', ':')}")
        if missing:
            raise BenchError(f"the ping baseline needs {missing} (apt-get install "
                             "pacemaker resource-agents iputils-ping)")

    def configure(self, c: Cluster) -> None:
        for n in c.nodes:
            n.run("ip", "addr", "add", PING_NODE_ADDRS[n.name], "dev", "e0", check=True)
        # use_fping=0: fping is not installed here, and naming the tool keeps the run
        # the same on a machine that has it.
        c.pcs("resource", "create", "ping", "ocf:pacemaker:ping", f"host_list={ROUTER}",
              f"multiplier={PING_MULTIPLIER}", f"dampen={PING_DAMPEN}",
              f"attempts={PING_ATTEMPTS}", f"timeout={PING_TIMEOUT_S}", "use_fping=0",
              "op", "monitor", f"interval={PING_MONITOR_INTERVAL}", "timeout=20s", "clone")
        c.pcs("resource", "create", "vip", "ocf:heartbeat:IPaddr2", f"ip={VIP}",
              "cidr_netmask=24", "nic=e0", "--disabled")
        c.pcs("constraint", "location", "vip", "rule", "score=-INFINITY",
              PING_ATTR, "lt", "1", "or", "not_defined", PING_ATTR)
        c.pcs("resource", "enable", "vip")

    def attrs(self) -> list[str]:
        return [PING_ATTR]

    def healthy(self, value: str | None) -> bool:
        return value == str(PING_MULTIPLIER)

    def clones(self) -> list[str]:
        return ["ping-clone"]

    def cleanup_args(self) -> list[str]:
        return []

    def versions(self, c: Cluster) -> dict[str, str]:
        names = ("pacemaker-resource-agents", "resource-agents", "iputils-ping")
        res = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}\\n", *names],
                             capture_output=True, text=True, timeout=30, check=False)
        found = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
        return {k: found.get(k, "?") for k in names}


class Floor(Stack):
    """The cluster's own floor: IPaddr2 behind a location rule on a node attribute that
    the benchmark sets to 0, without dampening, at the instant it pulls the cables: what
    a perfectly event-driven daemon could achieve."""

    name = "floor"
    needs_cleanup = False

    def configure(self, c: Cluster) -> None:
        for n in c.nodes:
            n.run("attrd_updater", "-n", FLOOR_ATTR, "-U", "1", "-d", "0", check=True)
        c.pcs("resource", "create", "vip", "ocf:heartbeat:IPaddr2", f"ip={VIP}",
              "cidr_netmask=24", "nic=e0", "op", "monitor", f"interval={MONITOR_INTERVAL}",
              "--disabled")
        c.pcs("constraint", "location", "vip", "rule", "score=-INFINITY",
              FLOOR_ATTR, "lt", "1", "or", "not_defined", FLOOR_ATTR)
        c.pcs("resource", "enable", "vip")

    def on_pull(self, c: Cluster, a: str) -> None:
        c.other(a).run("attrd_updater", "-n", FLOOR_ATTR, "-U", "0", "-N", a, check=True)

    def on_plug(self, c: Cluster, a: str) -> None:
        c.other(a).run("attrd_updater", "-n", FLOOR_ATTR, "-U", "1", "-N", a, check=True)

    def attrs(self) -> list[str]:
        return [FLOOR_ATTR]

    def healthy(self, value: str | None) -> bool:
        return value == "1"

    def clones(self) -> list[str]:
        return []

    def cleanup_args(self) -> list[str]:
        return []


class Scenario:
    """How a trial breaks A's data network and repairs it."""

    key = "?"
    section = "?"
    what = "?"  # "both of A's cables were pulled", with A

    def fail(self, c: Cluster, a: str) -> None:
        raise NotImplementedError

    def repair(self, c: Cluster, a: str) -> None:
        raise NotImplementedError

    def stacks(self) -> list[Stack]:
        raise NotImplementedError


class Cables(Scenario):
    """Both data cables of A pulled: the switch-side ports down, A's NICs lose carrier."""

    key = "cables"
    section = SECTION
    what = "both of {a}'s cables were pulled"

    def fail(self, c: Cluster, a: str) -> None:
        for nic in NICS:
            c.pull_cable(a, nic)

    def repair(self, c: Cluster, a: str) -> None:
        for nic in NICS:
            c.plug_cable(a, nic)

    def stacks(self) -> list[Stack]:
        return [Ours(), Baseline(), Floor()]


class Dark(Scenario):
    """Both data paths of A dark with carriers up (the switch drops every frame of A's
    data ports: nftables in the switch namespace, harness darken()): probe-detected."""

    key = "probe"
    section = PROBE_SECTION
    what = "both of {a}'s paths went dark"

    def fail(self, c: Cluster, a: str) -> None:
        c.darken(a)

    def repair(self, c: Cluster, a: str) -> None:
        c.light(a)

    def stacks(self) -> list[Stack]:
        return [Ours(probe_target=True), Ping()]


SCENARIOS: dict[str, Scenario] = {s.key: s for s in (Cables(), Dark())}


def install_private_agents() -> None:
    """Our agents into PRIVATE_OCF (world-traversable: meta-data runs as hacluster)."""
    argv = [PYTHON, "-m", "agents.cli", "install", "--ocf-root", str(PRIVATE_OCF)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                         cwd=REPO_DIR)
    if res.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed (rc {res.returncode}):\n"
                         f"{res.stdout}{res.stderr}")
    for d in (PRIVATE_OCF, PRIVATE_OCF / "resource.d", PRIVATE_OCF / "resource.d" / "clearview"):
        d.chmod(0o755)


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


# ---------------------------------------------------------------------------- report

# Targets (issue 9): ours within twice the floor's median, and no trial of ours slower
# than the median of the ethmonitor baseline.
FLOOR_FACTOR = 2.0


def table_rows(results: list[Result]) -> list[list[str]]:
    rows = [["implementation", "trials", "median s", "max s", "min s", "median detected s",
             "median stopped on A s", "median started on B s", "max repair gap s"]]
    for r in results:
        rows.append([
            r.name, str(len(r.trials)), f"{r.median:.2f}", f"{r.maximum:.2f}",
            f"{min(r.outages):.2f}" if r.trials else "-",
            fmt(r.median_of(lambda t: t.detected_s)),
            fmt(r.median_of(lambda t: t.stopped_on_a_s)),
            fmt(r.median_of(lambda t: t.started_on_b_s)),
            f"{max(t.repair_gap_s for t in r.trials):.3f}" if r.trials else "-",
        ])
    return rows


def by_node(r: Result) -> dict[str, list[float]]:
    """Outages grouped by the node that failed."""
    out: dict[str, list[float]] = {}
    for t in r.trials:
        out.setdefault(t.from_node, []).append(t.outage_s)
    return out


def verdicts(res: dict[str, Result]) -> list[str]:
    ours, base, floor = res["ours"], res["baseline"], res["floor"]
    limit = FLOOR_FACTOR * floor.median
    first = "MET" if ours.median <= limit else "MISSED"
    worst = ours.maximum
    second = "MET" if worst <= base.median else "MISSED"
    return [
        f"- ours' median {ours.median:.2f} s <= {FLOOR_FACTOR:g} x the floor's median "
        f"({floor.median:.2f} s, so {limit:.2f} s): **{first}** (ratio "
        f"{ours.median / floor.median:.2f})",
        f"- every trial of ours (max {worst:.2f} s) <= the ethmonitor baseline's median "
        f"({base.median:.2f} s): **{second}**",
    ]


def probe_verdicts(res: dict[str, Result]) -> list[str]:
    ours, ping = res["ours"], res["ping"]
    limit = PING_FACTOR * ping.median
    verdict = "MET" if ours.median <= limit else "MISSED"
    return [
        f"- ours' median {ours.median:.2f} s <= {PING_FACTOR:g} x the ping baseline's median "
        f"({ping.median:.2f} s): **{verdict}** (ratio {ours.median / ping.median:.2f})",
    ]


def print_report(res: dict[str, Result],
                 judge: Callable[[dict[str, Result]], list[str]] = verdicts) -> None:
    print()
    for line in text_table(table_rows(list(res.values()))):
        print(line)
    print()
    for r in res.values():
        print(f"{r.name} per trial (s): " + ", ".join(f"{g:.2f}" for g in r.outages))
    print()
    for line in judge(res):
        print(line)


@dataclass
class SectionParts:
    """What both scenarios' sections of docs/performance.md show alike."""

    table: str
    per_trial: list[str]
    notes: list[str]
    both: dict[str, int]
    versions: dict[str, str]
    date: str
    load: str


def section_parts(results: list[Result]) -> SectionParts:
    per_trial = [
        f"- {r.name}: " + ", ".join(f"{t.outage_s:.2f} ({t.from_node}->{t.to_node})"
                                    for t in r.trials)
        for r in results
    ]
    notes = [f"- note, {r.name} trial {i + 1}: {t.note}"
             for r in results for i, t in enumerate(r.trials) if t.note]
    versions: dict[str, str] = {}
    for r in results:
        versions.update(r.versions)
    return SectionParts(
        table=markdown_table(table_rows(results)),
        per_trial=per_trial,
        notes=notes,
        both={r.name: sum(t.both_answered for t in r.trials) for r in results},
        versions=versions,
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load=", ".join(f"{x:.2f}" for x in os.getloadavg()),
    )


def markdown_section(res: dict[str, Result], command: str, seed: int) -> str:
    results = list(res.values())
    parts = section_parts(results)
    table, per_trial, notes, both = parts.table, parts.per_trial, parts.notes, parts.both
    versions, date, load = parts.versions, parts.date, parts.load
    ours = res["ours"]
    return "\n".join([
        "## Two-node cluster failover",
        "",
        "What is measured: the longest silence a client sees when the cluster node that "
        "holds a floating address loses its whole data network (both data cables pulled: "
        "the switch-side ports go down, the node's NICs lose carrier; the cluster link stays "
        "up, no fencing), until Pacemaker has started the address on the other node. "
        "Pacemaker and corosync run for real on two nodes in network namespaces "
        "(`tests/support/cluster/`; corosync token 1000 ms), each node with data NICs e0 "
        f"and e1 on one switch with the client. The client pings the address every "
        f"{PING_INTERVAL * 1000:g} ms and sends an ARP request every "
        f"{ARP_INTERVAL * 1000:g} ms; the outage of a trial is the longest time between two "
        "answered pings from the pull until the cables are plugged back (resolution "
        f"{PING_INTERVAL * 1000:g} ms). Then the cables are plugged back and the cluster "
        "settles (the address stays where it went: resource-stickiness=1; the baseline "
        "gets a `pcs resource cleanup` as an operator would run it, ours and the floor need "
        "none); the next trial fails the node that now holds the address, so the failed "
        "node alternates. Each pull comes 1 s plus a random 0..2 s "
        f"(seeded, {seed}; the same offsets for all) after the watch starts, so it does not "
        "sit at a fixed phase of the 2 s monitors. One fresh cluster per implementation, "
        "one after the other.",
        "",
        "- **ours**: `ocf:clearview:ipmp` cloned (group ipmp0, interfaces e0 e1, per-node "
        f"test addresses, failure_detection_time={FDT_MS}, dampen={DAMPEN} (the default), "
        f"monitor interval={MONITOR_INTERVAL}) and `ocf:clearview:ipmp-address` {VIP}/24 "
        "(defaults) colocated with the clone, ordered after it, location rule "
        "`-INFINITY: ipmp-ipmp0 lt 1 or not_defined ipmp-ipmp0`. ipmpd sets ipmp-ipmp0 "
        "itself when the usable count changes.",
        "- **baseline**: `ocf:heartbeat:ethmonitor` cloned for e0 and for e1 (monitor "
        f"interval={MONITOR_INTERVAL}, repeat_count={ETH_REPEAT_COUNT}, repeat_interval="
        f"{ETH_REPEAT_INTERVAL}: the first failed check counts, the lowest the agent "
        "accepts; link_status_only=true; attributes ethmonitor-e0, ethmonitor-e1, set "
        "without dampening) and `ocf:heartbeat:IPaddr2` ip="
        f"{VIP} cidr_netmask=24 nic=e0 (other parameters default), location rule "
        "`-INFINITY: ethmonitor-e0 lt 1 or not_defined ethmonitor-e0`. IPaddr2 holds the "
        "address on one NIC; the classic way to use a second NIC is a bond, which this "
        "kernel does not have, so the rule follows e0 and e1 is only monitored. "
        "link_status_only because the failure is a lost link, which ethmonitor checks "
        "first in either mode; its default mode would also watch the RX counter for up to "
        "5 s and arping neighbours, which fails healthy idle NICs on this quiet network.",
        f"- **floor**: `ocf:heartbeat:IPaddr2` as above behind the location rule "
        f"`-INFINITY: {FLOOR_ATTR} lt 1 or not_defined {FLOOR_ATTR}` on an attribute the "
        "benchmark itself sets to 0 (attrd_updater on the other node, no dampening) the "
        "instant it has pulled the cables: what a perfectly event-driven daemon could "
        "achieve with this cluster.",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {date}; kernel: {platform.release()}; {os.cpu_count()} CPUs, load average "
        f"after the run {load}; " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        *table,
        "",
        "Targets:",
        "",
        *verdicts(res),
        "",
        "Outages in seconds; the other times are seconds after the pull, as crm_mon "
        "(polled every ~0.1-0.3 s) first showed them. *Detected*: a failed monitor of the "
        "stack's clone on the failed node A, or A's attribute that the address's rule tests "
        "below 1 or gone, whichever came first; *stopped on A*: the address no longer "
        "started on A; *started on B*: the address started on the other node only. "
        "*Repair gap*: the longest gap after the cables were plugged back "
        f"(about {PING_INTERVAL * 1000:g} ms means nothing was lost). ARP rounds answered by "
        "both nodes: " + ", ".join(f"{k} {v}" for k, v in both.items()) + ". Failed "
        f"monitors of ours (other than 190): {sum(1 for t in ours.trials if t.failed_s)} "
        "trials.",
        "",
        "Median outage by failed node (s): "
        + "; ".join(f"{r.name} " + ", ".join(
            f"{node} {statistics.median(v):.2f} ({len(v)})"
            for node, v in sorted(by_node(r).items())) for r in results) + ".",
        "",
        "Per-trial outage (s), in order, with the failed and the surviving node:",
        "",
        *per_trial,
        *notes,
        "",
        "Where the time goes (read from the Pacemaker and ipmpd logs and the per-trial times "
        "of development runs of this benchmark, same configuration):",
        "",
        "- **floor**: the attribute is in the CIB about 0.05 s after the pull; one "
        "transition stops IPaddr2 on A and starts it on B (0.15-0.23 s from the attribute "
        "to the start's end in the run of 2026-11-26 00:09).",
        "- **baseline**: the first ethmonitor monitor after the pull (0..2 s) finds e0 "
        "NO-CARRIER and sets ethmonitor-e0=0 without dampening; the monitor itself "
        "succeeds. One transition then stops IPaddr2 on A and starts it on B.",
        "- **ours**: no monitor is involved any more (no failed operation, no cleanup). "
        "ipmpd sees the first carrier loss through rtnetlink and reads the other member's "
        "carrier flag at once, the engine drops the group's count and the daemon runs "
        "attrd_updater at once (before the batch's netlink work): two attrd_updater runs "
        "follow each other (2 -> 1, then 1 -> 0, 16-28 ms apart in pacemaker.log of the "
        "run of 2026-11-26 00:09). From the attribute at 0 to the start's end on B "
        "0.216-0.228 s (median 0.224) against the floor's 0.148-0.228 s (median 0.160): "
        "the controller fetches the agent's meta-data before every start (8-16 ms from "
        "the request to the start's execution for both agents: the installed script "
        "prints the meta-data rendered at install time; it took 56-152 ms when the agent "
        "was loaded to render it), and our start takes 141-152 ms against IPaddr2's "
        "66-98 ms, 100 ms of it the ARP probe for a third party holding the address "
        "(dad_wait, docs/pacemaker.md; IPaddr2 sends its gratuitous ARP without such a "
        "check). Before 2026-11-26 the start took 205-512 ms: importing asyncio for the "
        "probe (30-40 ms) and binding and closing its packet socket, which each waited "
        "for an RCU grace period in the kernel (8-16 ms each); now asyncio is not "
        "imported there and the socket is closed off the start's path. "
        "(The probe-detected section has the same breakdown.)",
        "- **the lab's switch, an artifact removed** (2026-11-26): ipmpd learns of carrier "
        "loss from rtnetlink link events, and the kernel sends a carrier change at once "
        "only for a device it deems urgent (linkwatch_urgent_event, net/core/link_watch.c: "
        "an ifindex different from its iflink, e.g. a veth whose peer has another index); "
        "for the others, physical NICs included, linkwatch runs at most once a second "
        "host-wide. A real NIC whose cable is pulled is not delayed by this: no other link "
        "event comes first, so its carrier loss is processed at once, and ipmpd then reads "
        "the other member's carrier flag from sysfs (Daemon._recheck_carriers) instead of "
        "waiting for its event. In this lab, though, pulling a cable sets the switch-side "
        "veth down in the same kernel, itself a link event, and n1's veths happened to "
        "have the same index as their peers (`e0@if3`): their carrier loss waited for the "
        "next linkwatch run, up to 1 s later (in the earlier runs ours on n1 reached "
        "1.38 s while ours on n2 stayed at 0.41-0.50 s). The harness now gives every "
        "node's NICs indices different from their switch ports' (NIC_INDEX_BASE in "
        "tests/support/cluster/base.py), so both nodes learn of a pull at once, as a real host "
        "does (in namespaces, 8 pulls each, from the pull to the NO-CARRIER event: equal "
        "indices 0.003-0.649 s, different indices 0.003-0.004 s). ethmonitor reads the "
        "carrier with `ip link` at each monitor and the floor's attribute is set by the "
        "benchmark itself: neither depended on it.",
        "- **ours, after the repair** (fixed): the failed node used to send the repeat "
        "of a move's announcement 5 s after the pull, after its cables were back, for an "
        "address the other node held (0.4-0.5 s of lost pings); ipmpd no longer announces "
        "an address that the same batch took down again.",
    ])


def probe_markdown_section(res: dict[str, Result], command: str, seed: int) -> str:
    results = list(res.values())
    ours, ping = res["ours"], res["ping"]
    parts = section_parts(results)
    table, per_trial, notes, both = parts.table, parts.per_trial, parts.notes, parts.both
    versions, date, load = parts.versions, parts.date, parts.load
    daemon_rows = [
        f"- trial {i + 1} ({t.from_node}): members failed {members_text(t) or '-'}; group "
        f"failed {fmt(t.group_failed_s)}; attribute below 1 in crm_mon "
        f"{fmt(t.attr_dropped_s)}; address started on {t.to_node} {fmt(t.started_on_b_s)}; "
        f"outage {t.outage_s:.2f}"
        for i, t in enumerate(ours.trials)
    ]

    def transition(r: Result) -> float | None:
        return r.median_of(lambda t: None if t.attr_dropped_s is None
                           else t.started_on_b_s - t.attr_dropped_s)

    return "\n".join([
        "## Two-node cluster failover, probe-detected",
        "",
        "What is measured: as in *Two-node cluster failover* (same harness, same client "
        "watch, same trial method and seeded offsets), but the node A that holds the "
        "floating address loses both data paths while its links stay up: the switch drops "
        "every frame to and from A's two data ports (nftables in the switch namespace, "
        "`darken()` of `tests/support/cluster/datanet.py`); carriers stay up, so only probes can "
        "see it. The outage of a trial is the longest time between two answered pings "
        "from the moment the drop rule is in place until it is removed (then the cluster "
        "settles again, the next trial fails the node that holds the address).",
        "",
        "- **ours**: `ocf:clearview:ipmp` cloned (group ipmp0, interfaces e0 e1, per-node "
        f"test addresses, targets={ROUTER} (the router), failure_detection_time={FDT_MS}, "
        f"dampen={DAMPEN}, monitor interval={MONITOR_INTERVAL}) and "
        f"`ocf:clearview:ipmp-address` {VIP}/24 colocated with the clone, ordered after it, "
        "location rule `-INFINITY: ipmp-ipmp0 lt 1 or not_defined ipmp-ipmp0` "
        "(docs/pacemaker.md's recipe). ipmpd probes the router from each member's test "
        "address, declares a member failed after its probes go unanswered for the FDT, and "
        "sets ipmp-ipmp0 itself when the usable count changes.",
        f"- **ping**: `ocf:pacemaker:ping` cloned, host_list={ROUTER} (the router), "
        f"multiplier={PING_MULTIPLIER}, dampen={PING_DAMPEN}, attempts={PING_ATTEMPTS}, "
        f"timeout={PING_TIMEOUT_S}, use_fping=0 (fping is not installed here; iputils ping "
        f"runs), monitor interval={PING_MONITOR_INTERVAL}, and `ocf:heartbeat:IPaddr2` "
        f"ip={VIP} cidr_netmask=24 nic=e0 with the location rule `-INFINITY: {PING_ATTR} lt "
        f"1 or not_defined {PING_ATTR}`. Each node has its own fixed address on e0 "
        f"({', '.join(f'{n} {a}' for n, a in PING_NODE_ADDRS.items())}) for ping to send "
        "from. Why these values: the target is a ping stack that finds a dead path in the "
        f"same time as our FDT ({FDT_MS / 1000:g} s). ping's monitor runs "
        "`ping -c attempts -W timeout` and sets the attribute to multiplier x (hosts that "
        "answered any echo). One echo per monitor, waited for 1 s (the agent accepts whole "
        "seconds only and turns anything below 1 into 5), a monitor every 1 s: Pacemaker "
        "starts the next recurring monitor one interval after the previous one ended, so "
        "a path that dies just after an answered echo is seen dead at most interval + "
        "timeout = 2 s later (plus the agent's own healthy run, about 0.1 s), half an interval "
        "less on average; no dampening, like ours. More attempts or a longer timeout "
        "would exceed the FDT, and with the shortest timeout (1 s) a 1 s interval is what "
        "makes interval + timeout equal to it. (One lost echo is enough to move the "
        "address: ours needs the FDT's worth of lost probes, five in a row.)",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {date}; kernel: {platform.release()}; {os.cpu_count()} CPUs, load average "
        f"after the run {load}; " + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; seed {seed}.",
        "",
        *table,
        "",
        "Targets:",
        "",
        *probe_verdicts(res),
        "",
        "Outages in seconds; the other times are seconds after the drop rule was in place, "
        "as crm_mon (polled every ~0.1-0.3 s) first showed them; *detected* is A's "
        "attribute (ipmp-ipmp0, pingd) below 1 or gone. ARP rounds answered by both nodes: "
        + ", ".join(f"{k} {v}" for k, v in both.items()) + ". Failed monitors (other than "
        "190): " + ", ".join(f"{r.name} {sum(1 for t in r.trials if t.failed_s)}"
                             for r in results) + " trials.",
        "",
        "Median outage by failed node (s): "
        + "; ".join(f"{r.name} " + ", ".join(
            f"{node} {statistics.median(v):.2f} ({len(v)})"
            for node, v in sorted(by_node(r).items())) for r in results) + ".",
        "",
        "Per-trial outage (s), in order, with the failed and the surviving node:",
        "",
        *per_trial,
        *notes,
        "",
        "Where the time goes. ipmpd's side is read from its event stream in A's namespace "
        "(`bench/ipmp_events.py`, monotonic receive stamps; subscribing makes ipmpd also "
        "publish an event per probe, a small extra cost), Pacemaker's from crm_mon. Per "
        "trial of ours, seconds after the drop:",
        "",
        *daemon_rows,
        "",
        f"- **ours**: median time to the group's failure (both members failed, in ipmpd) "
        f"{fmt(ours.median_of(lambda t: t.group_failed_s))} s, i.e. "
        f"{fmt((ours.median_of(lambda t: t.group_failed_s) or 0) / (FDT_MS / 1000))} x FDT; "
        f"the attribute seen below 1 {fmt(ours.median_of(lambda t: t.attr_dropped_s))} s; "
        f"from the attribute to the address started on B {fmt(transition(ours))} s "
        "(median).",
        f"- **ping**: the attribute seen below 1 "
        f"{fmt(ping.median_of(lambda t: t.attr_dropped_s))} s (median; the next monitor "
        "after the drop plus its 1 s echo timeout); from the attribute to the address "
        f"started on B {fmt(transition(ping))} s (median).",
        *PROBE_ANALYSIS,
    ])


# Read from the Pacemaker logs (ms stamps) and ipmpd's events of development runs of this
# scenario (CLUSTER_KEEP_WORKDIR=1 keeps them), same configuration.
PROBE_ANALYSIS: list[str] = [
    "",
    "Read from the Pacemaker logs (millisecond stamps) and ipmpd's events of the measured "
    "run and of development runs of this scenario, same configuration:",
    "",
    "- **ours, detection** (most of the outage): ipmpd sends one probe per member per "
    "FDT/7 (at a random point of each interval's second half) and declares a member "
    "failed after 5 consecutive lost probes, a probe counting as lost once the target's "
    "round-trip estimate has passed; the drop lands somewhere in an interval, so a "
    "member fails between about 3.5 and 6 probe intervals (0.5..0.86 x FDT; "
    "*Probe-based failure detection* above measured medians of 0.72 and 0.66 x FDT at "
    "FDT 1 s and 10 s). Both members lose their probes at the same instant and are probed in the "
    "same batch, so they fail in the same wake-up and the group fails with them: "
    "1.27-1.46 s after the drop in the run of 2026-11-26 00:12 (0.64-0.73 x FDT; "
    "1.22-1.46 s in earlier runs). One attrd_updater run "
    "follows (pacemaker.log: 2 -> 0 directly, no intermediate 1); crm_mon shows the "
    "attribute 0.04-0.12 s after the group failed, its own polling included.",
    "- **ours, the transition** (from attrd to the start's end on B 0.212-0.264 s, "
    "median 0.236, against 0.148-0.264 s, median 0.164, for IPaddr2; pacemaker.log of "
    "the run of 2026-11-26 00:12, 5 moves each): before every start the controller on B "
    "fetches the agent's meta-data (Pacemaker 2.1.5 does this for IPaddr2 as well): "
    "12-24 ms from the request to the start's execution for ours, 8-20 ms for IPaddr2, "
    "now that the installed script prints the meta-data rendered at install time "
    "(56-80 ms before, when it loaded the agent to render it); the start itself "
    "139-150 ms (IPaddr2 65-156 ms, median 71), of which 100 ms are the ARP probe for a "
    "third party holding the address (dad_wait, docs/pacemaker.md), the rest the "
    "interpreter's start, the requests to ipmpd and the first announcement (205-256 ms "
    "before asyncio stopped being imported for the probe and its packet socket stopped "
    "waiting for RCU grace periods at bind and close). So ours loses about 0.07 s to "
    "IPaddr2 in the transition, the ARP probe's wait; its earlier detection is what "
    "keeps its median outage below ping's.",
    "- **ping, detection**: the first ping monitor after the drop sends one echo and "
    "waits 1 s for it; ping exits 1, the agent runs attrd_updater -v 0 (no dampening) "
    "and its monitor succeeds. Detection is the wait for that monitor (0..~1.1 s: the "
    "interval after the previous monitor's end, a healthy run taking about 0.1 s) plus "
    "the 1 s timeout, about 1.5-1.6 s on "
    "average: close to ours' 0.66 x FDT at FDT 2 s, so the outcome of this comparison "
    "is decided by tens of ms either way and by where in ping's monitor cycle the drop "
    "lands.",
    "- What would make ours clearly faster, not done here: a shorter FDT (ours is "
    "designed for it: 1 s is measured false-failure free in *(b)* above, while ping's "
    "timeout cannot go below 1 s), or skipping the 100 ms ARP probe of `ipmp-address` "
    "start (nodad=true): Pacemaker has just stopped the address on the other node, but "
    "the probe is what catches a third host holding it, so it stays on by default.",
]


# ---------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Two-node Pacemaker failover outage: ocf:clearview against "
                    "ethmonitor + IPaddr2.")
    parser.add_argument("--trials", type=int, default=5, help="trials per implementation")
    parser.add_argument("--seed", type=int, default=1, help="seed of the pull offsets")
    parser.add_argument("--scenario", choices=("cables", "probe", "both"), default="both",
                        help="cables: both cables of A pulled (ours, ethmonitor baseline, "
                        "floor); probe: both paths of A dark, links up (ours, ping "
                        "baseline); both (default): one after the other")
    parser.add_argument("--only", choices=("ours", "baseline", "floor", "ping"),
                        help="one implementation only (development; writes no document)")
    parser.add_argument("--output", default=str(REPO_DIR / "docs" / "performance.md"),
                        help="Markdown file whose sections are (re)written; '' to skip")
    args = parser.parse_args(argv)
    if not 1 <= args.trials <= MAX_TRIALS:
        parser.error(f"--trials must be 1..{MAX_TRIALS}")
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces, Pacemaker)")
    command = command_line("bench.cluster_failover", argv)
    scenarios = [s for s in SCENARIOS.values() if args.scenario in ("both", s.key)]
    if args.only is not None and not any(st.name == args.only
                                         for s in scenarios for st in s.stacks()):
        parser.error(f"--only {args.only} is not part of --scenario {args.scenario}")

    started = time.monotonic()
    done: dict[str, dict[str, Result]] = {}
    try:
        install_private_agents()
        for scenario in scenarios:
            results = done.setdefault(scenario.key, {})
            for stack in scenario.stacks():
                if args.only not in (None, stack.name):
                    continue
                print(f"{scenario.key}/{stack.name}: starting a two-node cluster", flush=True)
                results[stack.name] = run_stack(stack, scenario, args.trials, args.seed)
                r = results[stack.name]
                print(f"{scenario.key}/{stack.name}: done in {r.run_s:.0f} s (cluster "
                      f"start {r.cluster_start_s:.1f} s, setup {r.setup_s:.1f} s)",
                      flush=True)
    except BenchError as exc:
        print(f"cluster failover benchmark aborted: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(PRIVATE_OCF, ignore_errors=True)
    print(f"\n(run took {time.monotonic() - started:.0f} s)")
    if args.only is not None:
        for key, results in done.items():
            r = results[args.only]
            print(f"{key}/{r.name}: median {r.median:.2f} s, max {r.maximum:.2f} s, per "
                  "trial: " + ", ".join(f"{g:.2f}" for g in r.outages))
        return 0
    for key, results in done.items():
        print(f"\n== {key}")
        if key == "cables":
            print_report(results)
        else:
            print_report(results, probe_verdicts)
    if args.output:
        path = Path(args.output)
        for key, results in done.items():
            if key == "cables":
                body = markdown_section(results, command, args.seed)
            else:
                body = probe_markdown_section(results, command, args.seed)
            write_section(path, SCENARIOS[key].section, body)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
