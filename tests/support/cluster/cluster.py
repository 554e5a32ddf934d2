"""A Pacemaker cluster of one or two nodes: build its network, start and stop it, run
pcs and crm_mon, and wait for what the tests expect (see the package docstring)."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tests.support.cluster.base import (
    CLIENT_ADDR4,
    CLIENT_ADDR6,
    CMD_TIMEOUT,
    DEFAULT_TIMEOUT,
    IPMP_STATE_DIR,
    KILL_GRACE,
    PACEMAKER_STOP_TIMEOUT,
    POLL,
    ROUTER_ADDR4,
    ROUTER_ADDR6,
    START_TIMEOUT,
    ClusterError,
    T,
    default_prefix,
    ip_batch,
    run,
    wait_for,
)
from tests.support.cluster.crm_mon import ClusterState
from tests.support.cluster.datanet import DataNetwork
from tests.support.cluster.nodes import ClusterNode
from tests.support.netns import (
    Started,
    alive,
    comm,
    delete_namespaces,
    kill_pid,
    list_namespaces,
    netns_ident,
    pids_in_netns,
    spawn_in,
    stop_processes,
    wait_gone,
)


class Cluster(DataNetwork, Started):
    """A Pacemaker cluster of ``nodes`` (1 or 2) nodes n1[, n2] with data NICs on a switch,
    a client and a router. Use as a context manager::

        with Cluster(nodes=2) as c:
            c.pcs("resource", "create", "d", "ocf:heartbeat:Dummy")
            c.wait_started("d")
    """

    def __init__(
        self,
        nodes: int = 2,
        *,
        prefix: str | None = None,
        data_nics: int = 2,
        workdir: Path | None = None,
        keep_workdir: bool = False,
        ocf_resource_d: Path | None = None,
    ) -> None:
        if nodes not in (1, 2):
            raise ValueError("nodes must be 1 or 2")
        if not 1 <= data_nics <= 8:
            raise ValueError("data_nics must be 1..8")
        self.prefix = prefix or default_prefix()
        # A private OCF resource.d (with our clearview/ in it) the nodes see instead of the
        # system's: tests never install into /usr/lib/ocf (tests/support/ocf_overlay.sh).
        self.ocf_resource_d = ocf_resource_d
        self.data_nics = data_nics
        self.switch = f"{self.prefix}-sw"
        self.hb = f"{self.prefix}-hb"
        self.client = f"{self.prefix}-cl"
        self.router = f"{self.prefix}-r"
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"{self.prefix}-", dir="/tmp"))
        # CLUSTER_KEEP_WORKDIR=1 keeps the nodes' logs and CIBs for a post-mortem.
        self.keep_workdir = keep_workdir or os.environ.get("CLUSTER_KEEP_WORKDIR") == "1"
        self.nodes = [
            ClusterNode(self, f"n{i}", i, f"{self.prefix}-n{i}", self.workdir / f"n{i}")
            for i in range(1, nodes + 1)
        ]
        self._created: list[str] = []
        self._procs: list[subprocess.Popen[Any]] = []
        self._started = False
        self._closed = False
        self.timings: dict[str, float] = {}
        self.leftovers: list[str] = []  # processes teardown had to kill by netns scan

    # -------------------------------------------------------------- properties
    @property
    def namespaces(self) -> list[str]:
        return [self.hb, self.switch, self.router, self.client, *(n.netns for n in self.nodes)]

    def node(self, name: str) -> ClusterNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} (nodes: {[n.name for n in self.nodes]})")

    def _node(self, node: ClusterNode | str | None) -> ClusterNode:
        if node is None:
            for n in self.nodes:
                if n.running:
                    return n
            raise ClusterError("no cluster node is running")
        return node if isinstance(node, ClusterNode) else self.node(node)

    def other(self, node: ClusterNode | str) -> ClusterNode:
        """The other node of a two-node cluster."""
        me = self._node(node)
        (peer,) = [n for n in self.nodes if n is not me]
        return peer

    @property
    def mac_map(self) -> dict[str, tuple[str, str]]:
        """MAC -> (node name, NIC) of every data NIC."""
        return {mac: (n.name, nic) for n in self.nodes for nic, mac in n.macs.items()}

    def corosync_conf(self) -> str:
        nodelist = "".join(
            f"    node {{\n        name: {n.name}\n        nodeid: {n.index}\n"
            f"        ring0_addr: {n.cluster_addr}\n    }}\n"
            for n in self.nodes
        )
        two_node = "    two_node: 1\n" if len(self.nodes) == 2 else ""
        return (
            "totem {\n    version: 2\n    cluster_name: cvtest\n    transport: knet\n"
            "    crypto_cipher: none\n    crypto_hash: none\n    token: 1000\n}\n"
            f"nodelist {{\n{nodelist}}}\n"
            f"quorum {{\n    provider: corosync_votequorum\n{two_node}}}\n"
            "logging {\n    to_stderr: yes\n    to_logfile: no\n    to_syslog: no\n"
            "    timestamp: on\n}\n"
        )

    # -------------------------------------------------------------- lifecycle
    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Build the network, start every node, wait until all are online and a DC is
        elected. On any failure tear everything down and re-raise."""
        if self._started:
            raise RuntimeError("cluster already started")
        self._started = True
        atexit.register(self.close)
        t0 = time.monotonic()
        try:
            self._build_network()
            self.timings["network"] = time.monotonic() - t0
            IPMP_STATE_DIR.mkdir(parents=True, exist_ok=True)
            for n in self.nodes:
                n.launch()
            for n in self.nodes:
                n.wait_launched()
            self.wait_online(timeout=timeout)
            self.timings["start"] = time.monotonic() - t0
        except BaseException:
            self.close()
            raise

    def _build_network(self) -> None:
        existing = set(list_namespaces())
        clash = [ns for ns in self.namespaces if ns in existing]
        if clash:
            raise ClusterError(f"namespaces already exist: {clash}")
        for ns in self.namespaces:
            run(["ip", "netns", "add", ns])
            self._created.append(ns)
        # Layer-2 only namespaces: no IPv6 noise from their ports.
        for ns in (self.switch, self.hb):
            self.sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1")
        self.sysctl(self.client, "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0")
        # The router answers multicast echo (224.0.0.1): IPMP's target discovery finds it.
        self.sysctl(self.router, "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0", "net.ipv4.ip_forward=1",
                    "net.ipv6.conf.all.forwarding=1", "net.ipv4.icmp_echo_ignore_broadcasts=0")
        bridge = "type bridge stp_state 0 forward_delay 0 mcast_snooping 0"
        for ns in (self.switch, self.hb):
            ip_batch(ns, ["link set lo up", f"link add br0 {bridge}", "link set br0 up"])
        sw_ports: list[str] = []
        for n in self.nodes:
            cmds = ["link set lo up",
                    f"link add hb0 type veth peer name {n.name}hb netns {self.hb}",
                    f"addr add {n.cluster_addr}/24 dev hb0", "link set hb0 up"]
            for nic in n.nics:
                nic_index, port_index = n.link_indices(nic)
                cmds.append(f"link add {nic} index {nic_index} address {n.macs[nic]} type veth "
                            f"peer name {n.port(nic)} index {port_index} netns {self.switch}")
                cmds.append(f"link set {nic} up")
                sw_ports.append(n.port(nic))
            ip_batch(n.netns, cmds)
        ip_batch(self.hb, [f"link set {n.name}hb master br0 up" for n in self.nodes])
        for ns, port, a4, a6 in ((self.router, "pr", ROUTER_ADDR4, ROUTER_ADDR6),
                                 (self.client, "pc", CLIENT_ADDR4, CLIENT_ADDR6)):
            ip_batch(ns, ["link set lo up",
                           f"link add eth0 type veth peer name {port} netns {self.switch}",
                           f"addr add {a4}/24 dev eth0", f"addr add {a6}/64 dev eth0 nodad",
                           "link set eth0 up"])
            sw_ports.append(port)
        ip_batch(self.switch, [f"link set {p} master br0 up" for p in sw_ports])

    def close(self) -> None:
        """Stop and remove everything. Safe to call twice; never raises for cleanup trouble
        (what it had to do the hard way is in ``self.leftovers``)."""
        if self._closed:
            return
        self._closed = True
        try:
            atexit.unregister(self.close)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
        t0 = time.monotonic()
        try:
            self._stop_nodes()
        finally:
            try:
                procs, self._procs = self._procs, []
                stop_processes(procs, KILL_GRACE)
                self._kill_netns_leftovers()
            finally:
                self._remove_state_files()
                delete_namespaces(self._created)
                self._created = []
                if self._own_workdir and not self.keep_workdir:
                    shutil.rmtree(self.workdir, ignore_errors=True)
        self.timings["teardown"] = time.monotonic() - t0

    def _stop_nodes(self) -> None:
        live = [n for n in self.nodes if n.running]
        # Ask the IPMP daemons for their PIDs while the nodes still run (the agents' stop
        # actions may end them; then they are simply gone by the time we look again).
        daemons = {n.name: n.ipmpd_pid() for n in live}
        for n in live:
            n.signal_pacemaker()
        pcmk = [n.pacemakerd_pid for n in live if n._ours(n.pacemakerd_pid)]
        stuck = wait_gone([p for p in pcmk if p is not None], PACEMAKER_STOP_TIMEOUT)
        for pid in stuck:
            self.leftovers.append(f"pacemakerd {pid} ignored SIGTERM for "
                                  f"{PACEMAKER_STOP_TIMEOUT:g} s: SIGKILL")
            kill_pid(pid, signal.SIGKILL)
        for n in live:
            n.stop_corosync()
        for n in self.nodes:
            pid = daemons.get(n.name)
            if pid is not None and n._ours(pid):
                kill_pid(pid, signal.SIGTERM)
                if wait_gone([pid], 5.0):
                    kill_pid(pid, signal.SIGKILL)
                    wait_gone([pid], KILL_GRACE)
        for n in self.nodes:
            n.reap_shell()

    def _kill_netns_leftovers(self) -> None:
        """Kill, by PID, whatever still runs in one of this cluster's namespaces."""
        idents = {ident for ns in self._created if (ident := netns_ident(ns)) is not None}
        for round_sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [p for ident in idents for p in pids_in_netns(ident) if alive(p)]
            if not pids:
                return
            for pid in pids:
                self.leftovers.append(f"{comm(pid)}[{pid}] still running at teardown: "
                                      f"{round_sig.name}")
                kill_pid(pid, round_sig)
            wait_gone(pids, KILL_GRACE)

    def _remove_state_files(self) -> None:
        """The daemon's state file of each node namespace, should one exist in the shared
        state directory (the nodes bind-mount their own copy over it; this is a net)."""
        for n in self.nodes:
            if n.netns_id is None:
                continue
            path = IPMP_STATE_DIR / f"netns-{n.netns_id[1]}.json"
            try:
                path.unlink()
                self.leftovers.append(f"removed {path}")
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.leftovers.append(f"could not remove {path}: {exc}")

    # -------------------------------------------------------------- processes, commands
    def spawn(self, ns: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """A background process in namespace ``ns``, killed (by PID) at teardown."""
        proc = spawn_in(ns, argv, **kwargs)
        self._procs.append(proc)
        return proc

    def run_in(self, ns: str, *argv: str, check: bool = False,
               timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in one of the plain namespaces (client, router, switch, hb)."""
        return run(["ip", "netns", "exec", ns, *argv], check=check, timeout=timeout)

    def sysctl(self, ns: str, *items: str) -> None:
        run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *items])

    def pcs(self, *args: str, node: ClusterNode | str | None = None, check: bool = True,
            timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """``pcs ARGS`` on ``node`` (default: the first running node); raises on failure
        when ``check``."""
        return self._node(node).pcs(*args, check=check, timeout=timeout)

    def crm_mon(self, node: ClusterNode | str | None = None) -> ClusterState:
        return self._node(node).crm_mon()

    def create_group_with_address(self, group: str, vip: str, *ipmp_params: str,
                                  monitor_interval: str) -> None:
        """docs/pacemaker.md's recipe: ``ocf:clearview:ipmp`` for ``group`` cloned as
        net-clone (interfaces e0 e1 plus ``ipmp_params``), and ``vip`` (/24) as
        ``ocf:clearview:ipmp-address`` "vip", colocated with and ordered after the clone,
        banned where the group has no usable member (ipmp-GROUP < 1 or unset). The
        address is created disabled and enabled once constrained, so it never starts
        before the group."""
        attr = f"ipmp-{group}"
        self.pcs("resource", "create", "net", "ocf:clearview:ipmp", f"group={group}",
                 "interfaces=e0 e1", *ipmp_params, "op", "monitor",
                 f"interval={monitor_interval}", "clone")
        self.pcs("resource", "create", "vip", "ocf:clearview:ipmp-address", f"ip={vip}",
                 "cidr_netmask=24", f"group={group}", "--disabled")
        self.pcs("constraint", "colocation", "add", "vip", "with", "net-clone", "INFINITY")
        self.pcs("constraint", "order", "net-clone", "then", "vip")
        self.pcs("constraint", "location", "vip", "rule", "score=-INFINITY",
                 attr, "lt", "1", "or", "not_defined", attr)
        self.pcs("resource", "enable", "vip")

    def failcount(self, rsc: str, node: ClusterNode | str) -> int:
        """Pacemaker's fail-count of ``rsc`` on ``node`` (0 when none)."""
        n = self._node(node)
        res = n.run("crm_failcount", "--query", "-r", rsc, "-N", n.name, timeout=30)
        match = re.search(r"value=(\S+)", res.stdout)
        if res.returncode != 0 or match is None or match.group(1) in ("(null)", ""):
            return 0
        value = match.group(1)
        return 1_000_000 if value.upper() == "INFINITY" else int(value)

    def diagnostics(self) -> str:
        return "\n".join(n.diagnostics() for n in self.nodes)

    def wait_for(self, predicate: Callable[[], T], what: str,
                 timeout: float = DEFAULT_TIMEOUT, poll: float = POLL) -> T:
        """wait_for() with this cluster's crm_mon output and pacemaker logs on timeout."""
        return wait_for(predicate, what, timeout, poll=poll, diagnostics=self.diagnostics)

    def wait_online(self, timeout: float = START_TIMEOUT) -> ClusterState:
        names = {n.name for n in self.nodes}

        def ok() -> ClusterState | None:
            states = [n.crm_mon() for n in self.nodes]
            good = all(s.online == names and s.dc is not None for s in states)
            return states[0] if good else None

        return self.wait_for(ok, f"nodes {sorted(names)} online with a DC", timeout)

    def wait_started(self, rsc: str, on: str | Iterable[str] | None = None,
                     timeout: float = DEFAULT_TIMEOUT) -> ClusterState:
        """Wait until ``rsc`` (primitive or clone id) is Started, on exactly ``on`` when
        given (a node name or a set of names)."""
        want = None if on is None else ({on} if isinstance(on, str) else set(on))

        def ok() -> ClusterState | None:
            st = self.crm_mon()
            where = st.started_on(rsc)
            return st if where and (want is None or where == want) else None

        what = f"{rsc} Started" + (f" on {sorted(want)}" if want else "")
        return self.wait_for(ok, what, timeout)

    def wait_stopped(self, rsc: str, timeout: float = DEFAULT_TIMEOUT) -> ClusterState:
        def ok() -> ClusterState | None:
            st = self.crm_mon()
            return st if not any(r.active for r in st.instances(rsc)) else None

        return self.wait_for(ok, f"{rsc} stopped everywhere", timeout)

    def wait_attribute(self, node: str, name: str, pred: Callable[[str | None], bool],
                       what: str, timeout: float = DEFAULT_TIMEOUT) -> str | None:
        """Wait until crm_mon shows node attribute ``name`` of ``node`` satisfying ``pred``
        (None = not set); returns the value."""
        box: list[str | None] = []

        def ok() -> bool:
            value = self.crm_mon().attr(node, name)
            box[:] = [value]
            return pred(value)

        self.wait_for(ok, f"attribute {name} on {node} {what} (last: {box})", timeout)
        return box[0] if box else None


def cleanup_stale() -> list[str]:
    """Namespaces of crashed runs of this harness (``cvc<pid>x<n>-{n1,n2,sw,hb,cl,r}``)
    that no process uses any more; deleted and returned. Namespaces with live processes
    are left alone (they may belong to a concurrent run)."""
    pattern = re.compile(r"^cvc\d+x\d+-(n1|n2|sw|hb|cl|r)$")
    gone = []
    for ns in list_namespaces():
        if not pattern.match(ns):
            continue
        ident = netns_ident(ns)
        if ident is not None and not pids_in_netns(ident):
            gone.append(ns)
    delete_namespaces(gone)
    return gone
