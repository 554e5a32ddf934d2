"""What is compared (ours, the ethmonitor baseline, ocf:pacemaker:ping, the cluster's
floor) and how a data network fails (cables pulled, paths darkened)."""

from __future__ import annotations

import shutil
import subprocess

from bench.cluster_failover.shared import (
    DAMPEN,
    ETH_ATTRS,
    ETH_REPEAT_COUNT,
    ETH_REPEAT_INTERVAL,
    FDT_MS,
    FLOOR_ATTR,
    GROUP,
    MONITOR_INTERVAL,
    NICS,
    OCF_ROOT,
    OURS_ATTR,
    PING_ATTEMPTS,
    PING_ATTR,
    PING_DAMPEN,
    PING_MONITOR_INTERVAL,
    PING_MULTIPLIER,
    PING_NODE_ADDRS,
    PING_TIMEOUT_S,
    PRIVATE_OCF,
    PROBE_SECTION,
    ROUTER,
    SECTION,
    TEST_ADDRESSES,
    VIP,
)
from bench.common import PYTHON, REPO_DIR, BenchError
from tests.support.cluster.cluster import Cluster
from tests.support.cluster.crm_mon import ClusterState

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


