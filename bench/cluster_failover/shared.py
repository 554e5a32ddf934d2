"""The benchmark's settings and targets, and what a trial and a run measured."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import REPO_DIR
from tests.support.cluster.base import ROUTER_ADDR4

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


