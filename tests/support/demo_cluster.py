"""`make demo`, second act: the product as a cluster's administrators use it. Two real
Pacemaker nodes (tests.support.cluster: corosync and pacemakerd in network namespaces),
docs/pacemaker.md's recipe created with pcs, one node's whole data network pulled while a
client pings the floating address, and the node eligible again by itself once its cables
are back. Everything happens in namespaces the harness creates and removes; the agents are
installed into a private OCF root the nodes see as /usr/lib/ocf/resource.d
(tests/support/ocf_overlay.sh), never into the machine's.

``play()`` is the act on a running two-node cluster; tests/cluster/test_demo_cluster.py
runs it and checks that what it prints is true, so the README's output cannot rot.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ipmp_core.constants import NUM_PROBE_REPAIRS, PROBE_INTERVAL_DIVISOR
from tests.support.cluster.base import CLIENT_ADDR4, ROUTER_ADDR4, ClusterError
from tests.support.cluster.cluster import Cluster
from tests.support.cluster.nodes import ClusterNode

GROUP = "ipmp0"
ATTR = f"ipmp-{GROUP}"  # the node attribute ipmpd publishes: usable members x multiplier
VIP = "198.51.100.50"
NICS = ("e0", "e1")
# docs/pacemaker.md's values (its eth1 eth2 are the harness's e0 e1).
TEST_ADDRESSES = (
    "@n1 e0=198.51.100.21/24 e1=198.51.100.22/24; @n2 e0=198.51.100.23/24 e1=198.51.100.24/24"
)
FDT_MS = 10_000
MONITOR_INTERVAL = "10s"

# Bounded waits (seconds).
# The clone started on both nodes, both attributes at 2, the address started and
# answering: about 5 s on an idle machine, pcs itself takes up to 6 s per command here.
SETTLE_S = 60.0
# The address started on the other node after the pull: under a second (the location
# rule acts on the attribute ipmpd sets at once); the bound only ends a broken run.
FAILOVER_S = 30.0
# A member that probes is repaired NUM_PROBE_REPAIRS answered probes after its link-up,
# one probe every FDT / PROBE_INTERVAL_DIVISOR (about 14 s at FDT 10 s); twice that, plus
# the time attrd needs to show the attribute.
REPAIR_S = 2 * NUM_PROBE_REPAIRS * FDT_MS / 1000 / PROBE_INTERVAL_DIVISOR + 5
# The client pings every 10 ms: fine enough to see a failover of tens of ms.
PING_INTERVAL_S = 0.01
ARP_INTERVAL_S = 0.05
# A second of answers before the pull: the watch shows the address was reachable.
BASELINE_S = 1.0
# After the repair, a second more of pings: plugging the cables back costs nothing.
AFTER_REPAIR_S = 1.0
# The watch ends by itself after this long whatever happens (the act takes ~40 s).
WATCH_MAX_S = 300.0
# Wrap printed commands like docs/pacemaker.md does (a terminal's width).
LINE_WIDTH = 88

# A resource with an operation in flight, in crm_mon's XML.
PENDING = re.compile(r"<resource [^>]*\bpending=")

# What a new cluster made with `pcs cluster setup` has (pcs 0.10 and later): a resource
# stays where it is when its old node becomes eligible again, rather than moving back.
STICKINESS = ["pcs", "resource", "defaults", "update", "resource-stickiness=1"]


def recipe() -> list[list[str]]:
    """docs/pacemaker.md's recipes as the demo runs them: the group cloned on every node
    ("The group on every node") and a floating address that follows working networks."""
    return [
        ["pcs", "resource", "create", "net", "ocf:clearview:ipmp",
         f"group={GROUP}", f"interfaces={' '.join(NICS)}", f"test_addresses={TEST_ADDRESSES}",
         f"gateway={ROUTER_ADDR4}", f"failure_detection_time={FDT_MS}",
         "op", "monitor", f"interval={MONITOR_INTERVAL}", "clone"],
        ["pcs", "resource", "create", "vip", "ocf:clearview:ipmp-address", f"ip={VIP}",
         "cidr_netmask=24", f"group={GROUP}", "--disabled"],
        ["pcs", "constraint", "colocation", "add", "vip", "with", "net-clone", "INFINITY"],
        ["pcs", "constraint", "order", "net-clone", "then", "vip"],
        ["pcs", "constraint", "location", "vip", "rule", "score=-INFINITY",
         ATTR, "lt", "1", "or", "not_defined", ATTR],
        ["pcs", "resource", "enable", "vip"],
    ]


def shell_words(argv: list[str]) -> list[str]:
    """Each argument as an administrator types it: ``key="a b"`` rather than shlex's
    ``'key=a b'``."""
    words = []
    for arg in argv:
        if re.fullmatch(r"[\w@%+=:,./-]+", arg):
            words.append(arg)
        elif "=" in arg and '"' not in arg and "$" not in arg:
            key, value = arg.split("=", 1)
            words.append(f'{key}="{value}"')
        else:
            words.append("'" + arg.replace("'", "'\\''") + "'")
    return words


def command_lines(prompt: str, argv: list[str], width: int = LINE_WIDTH) -> list[str]:
    """``prompt# argv`` wrapped at ``width`` with backslash continuations."""
    first, *rest = shell_words(argv)
    lines: list[str] = []
    line = f"{prompt}# {first}"
    for word in rest:
        if len(line) + 1 + len(word) > width - 2:  # room for " \\"
            lines.append(line + " \\")
            line = "    " + word
        else:
            line += " " + word
    return [*lines, line]


def crm_mon_view(text: str) -> str:
    """crm_mon's output from its node list on: the cluster summary before it (versions,
    timestamps, the DC) says nothing about this demo."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Node List:")), 0)
    return "\n".join(ln.rstrip() for ln in lines[start:]).strip()


@dataclass
class ActResult:
    """What the act saw, for the test that checks its printed claims."""

    from_node: str
    to_node: str
    moved_s: float  # from the pull until crm_mon showed the address Started on to_node
    gap_s: float  # the client's longest time between two answers, pull to plug
    sent: int
    answered: int
    repaired_s: float  # from the plug until from_node's attribute was back to 2
    replug_gap_s: float  # the client's longest time between two answers after the plug
    printed: list[str] = field(default_factory=list)


class Act:
    """The act's terminal: commands on a node, echoed with their output; ``say`` prints
    a line."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def run(self, node: ClusterNode, argv: list[str]) -> str:
        """Run ``argv`` on ``node``, echoed like a terminal session; stop the act when it
        fails."""
        for line in command_lines(node.name, argv):
            self.say(line)
        res = node.run(*argv, timeout=120)
        text = (res.stdout + res.stderr).rstrip()
        if res.returncode != 0:
            raise ClusterError(f"'{' '.join(argv)}' failed on {node.name} "
                               f"(rc {res.returncode}): {text}")
        return text

    def show(self, node: ClusterNode, argv: list[str]) -> str:
        """Run ``argv`` and print its output."""
        out = self.run(node, argv)
        if out:
            self.say(out)
        return out

    def crm_mon(self, node: ClusterNode, *extra: str) -> str:
        """``crm_mon -1 -A [extra]`` on ``node``, printed from its node list on."""
        out = self.run(node, ["crm_mon", "-1", "-A", *extra])
        self.say(crm_mon_view(out))
        return out

    def ipmpstat(self, node: ClusterNode, *args: str) -> str:
        """ipmpstat on ``node`` (the daemon of the node's namespace answers)."""
        self.say(f"{node.name}# ipmpstat {' '.join(args)}")
        res = node.run(sys.executable, "-m", "ipmp_core.cli.ipmpstat", *args, timeout=60)
        if res.returncode != 0:
            raise ClusterError(f"ipmpstat {' '.join(args)} failed on {node.name}: "
                               f"{res.stderr.strip()}")
        self.say(res.stdout.rstrip())
        return res.stdout

    def banner(self, text: str) -> None:
        self.say("")
        self.say(f"=== {text}")


def say_now(line: str) -> None:
    """print(), flushed: the demo's output shows each step as it happens, also in a pipe."""
    print(line, flush=True)


def play(c: Cluster, say: Callable[[str], None] = say_now) -> ActResult:
    """The act on a started two-node cluster whose nodes see our agents as ocf:clearview."""
    printed: list[str] = []

    def out(line: str) -> None:
        printed.append(line)
        say(line)

    act = Act(out)
    n1 = c.node("n1")
    act.banner("docs/pacemaker.md's recipe, with pcs on n1: the group on every node, a "
               f"floating address {VIP} that follows working networks")
    act.say("(what `pcs cluster setup` sets in a new cluster: the address stays where it "
            "is when the failed node comes back)")
    act.show(n1, STICKINESS)
    for argv in recipe():
        act.show(n1, argv)
    c.wait_started("net-clone", on={"n1", "n2"}, timeout=SETTLE_S)
    for n in c.nodes:
        c.wait_attribute(n.name, ATTR, lambda v: v == "2", "== 2", SETTLE_S)
    (where,) = c.wait_started("vip", timeout=SETTLE_S).started_on("vip")
    a = c.node(where)
    b = c.other(a)
    c.wait_for(lambda: c.client_ping(VIP), f"the client to reach {VIP}", SETTLE_S)
    # The address's first monitor may still run: crm_mon would show it "(Monitoring)".
    c.wait_for(lambda: not PENDING.search(c.crm_mon().xml), "no operation in flight",
               SETTLE_S)
    act.say("")
    act.crm_mon(n1)

    act.banner(f"The client pings {VIP} every {PING_INTERVAL_S * 1000:.0f} ms")
    watch = c.watch(VIP, duration=WATCH_MAX_S, ping_interval=PING_INTERVAL_S,
                    arp_interval=ARP_INTERVAL_S)
    try:
        time.sleep(BASELINE_S)
        act.banner(f"Pull both data cables of {a.name}, which holds {VIP} (the cluster "
                   "link stays up)")
        t_pull = time.monotonic()
        for nic in NICS:
            c.pull_cable(a, nic)
        for nic in NICS:
            act.say(f"switch# ip link set {a.port(nic)} down")
        c.wait_started("vip", on=b.name, timeout=FAILOVER_S)
        moved = time.monotonic() - t_pull
        c.wait_for(lambda: c.client_ping(VIP), f"the client to reach {VIP} on {b.name}",
                   FAILOVER_S)
        act.say(f"({VIP} Started on {b.name} {moved:.1f} s after the pull)")
        act.ipmpstat(a, "-g")
        act.crm_mon(b)

        act.banner(f"Plug {a.name}'s cables back in: its members probe, so each is repaired "
                   f"after {NUM_PROBE_REPAIRS} answered probes; no operator action")
        t_plug = time.monotonic()
        for nic in NICS:
            c.plug_cable(a, nic)
        for nic in NICS:
            act.say(f"switch# ip link set {a.port(nic)} up")
        c.wait_attribute(a.name, ATTR, lambda v: v == "2", "== 2 after the repair", REPAIR_S)
        repaired = time.monotonic() - t_plug
        act.say(f"({a.name}'s {ATTR} back to 2 {repaired:.1f} s after its cables came back)")
        time.sleep(AFTER_REPAIR_S)
    finally:
        result = watch.stop()
    act.ipmpstat(a, "-g")
    act.crm_mon(b, "-f")

    gap = result.longest_gap(t_pull, t_plug)
    replug_gap = result.longest_gap(t_plug)
    act.banner("The client's view")
    act.say(f"client: {result.sent} pings sent, {result.answered} answered; longest gap "
            f"between replies {gap * 1000:.0f} ms ({VIP} moving from {a.name} to {b.name}), "
            f"{replug_gap * 1000:.0f} ms after the cables came back")
    act.say(f"{VIP} stayed on {b.name}; {a.name} is eligible again by itself: {ATTR} = 2, no "
            "fail count (Migration Summary is empty). The OCF_DEGRADED line is the record of "
            "the group's monitor while it had no usable member; it counts as no failure.")
    return ActResult(from_node=a.name, to_node=b.name, moved_s=moved, gap_s=gap,
                     sent=result.sent, answered=result.answered, repaired_s=repaired,
                     replug_gap_s=replug_gap, printed=printed)


def install_agents(ocf_root: Path) -> Path:
    """Our agents into ``ocf_root`` (``ipmp-ocf install --ocf-root``), world-traversable
    (Pacemaker fetches meta-data as hacluster); returns its resource.d for the nodes."""
    argv = [sys.executable, "-m", "agents.cli", "install", "--ocf-root", str(ocf_root)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if res.returncode != 0:
        raise SystemExit(f"demo: installing the agents failed: {res.stdout}{res.stderr}")
    resource_d = ocf_root / "resource.d"
    for d in (ocf_root, resource_d, resource_d / "clearview"):
        d.chmod(0o755)
    return resource_d


def run(say: Callable[[str], None] = say_now) -> None:
    """The act with its own cluster, torn down at the end whatever happens."""
    say("")
    say(f"=== The cluster: nodes n1 and n2 (corosync and pacemakerd each), data NICs "
        f"{' '.join(NICS)} of both on one switch with a router ({ROUTER_ADDR4}) and a client "
        f"({CLIENT_ADDR4}); the cluster link on a switch of its own")
    ocf_root = Path(tempfile.mkdtemp(prefix="cv-demo-ocf-", dir="/tmp"))
    try:
        resource_d = install_agents(ocf_root)
        with Cluster(nodes=2, ocf_resource_d=resource_d, data_nics=len(NICS)) as c:
            try:
                play(c, say)
            finally:
                say("")
                say("=== Tear down")
    except ClusterError as exc:  # a cluster that did not come up, a bounded wait ran out
        raise SystemExit(f"demo: {exc}") from None
    finally:
        # The nodes' bind mounts died with their mount namespaces: plain files remain.
        shutil.rmtree(ocf_root, ignore_errors=True)
    say("done: cluster nodes, namespaces and processes removed")
