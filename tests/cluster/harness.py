"""Real Pacemaker clusters of one or two nodes on one machine, for the OCF agents' tests.

Topology (every box is a network namespace this module creates; nothing touches the
caller's namespace)::

      {p}-n1 ── hb0 203.0.113.21 ─┐                         ┌─ {p}-hb: br0 (cluster link,
      {p}-n2 ── hb0 203.0.113.22 ─┴─────────────────────────┘   corosync knet)
      {p}-n1 ── e0, e1 ─┐
      {p}-n2 ── e0, e1 ─┼── {p}-sw: br0 (data) ─┬─ {p}-r  eth0 198.51.100.1/24, 2001:db8:1::1/64
                        │                       └─ {p}-cl eth0 198.51.100.200/24, 2001:db8:1::200/64

Each node runs corosync and pacemakerd in the foreground (cluster_node.sh) in its network
namespace plus a private mount and UTS namespace: per-node copies of /etc/corosync,
/var/lib/{corosync,pacemaker,clearview-ipmp}, /var/log/{pacemaker,corosync}, private tmpfs
/run and /dev/shm, hostname = node name. Commands run inside a node through
``nsenter -t <node shell pid> -m -n -u`` (cluster IPC is per network namespace).

Data NICs get fixed, unique MACs (``02:c1:00:00:NN:II``: node NN, NIC II) so that a reply's
MAC names the node that sent it. A cable pull sets the switch-side veth peer down, exactly
like ipmp_core.lab.

API in short::

    with Cluster(nodes=2) as c:                  # 1 or 2 nodes: n1[, n2]; ~5 s to come up
        c.pcs("resource", "create", ...)         # pcs on the first running node (node=...)
        st = c.crm_mon()                         # ClusterState: online, dc, resources,
        st.started_on("vip"); st.attr("n1", "ipmp-ipmp0"); st.failures_of("net")
        c.wait_started("vip", on="n2")           # bounded waits; on timeout the error
        c.wait_attribute("n1", "a", pred, what)  # carries crm_mon and log tails of every node
        c.wait_for(predicate, "what", timeout)
        n1 = c.node("n1"); n1.run("ip", "-br", "addr"); n1.holders("198.51.100.50")
        c.pull_cable("n1", "e0"); c.plug_cable("n1", "e0")
        c.client_ping(addr); c.client_neigh(addr); c.arp_owners(addr)  # -> {"n1"}
        w = c.watch(addr); ...; result = w.stop()  # background pings + ARP rounds

Teardown (``close()``, the context manager, and atexit as a safety net) stops everything it
started by PID: pacemakerd (SIGTERM, then SIGKILL after a bounded wait), corosync, the IPMP
daemon the agents started inside a node (asked for its PID over its control socket), then
any process still inside one of this cluster's namespaces (they are ours: we created the
namespaces), then deletes the namespaces, the per-node directories and the daemon's state
file of each node's namespace.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ipmp_core.lab import delete_namespaces, list_namespaces, spawn_in, stop_processes

HERE = Path(__file__).resolve().parent
NODE_SCRIPT = HERE / "cluster_node.sh"
PROBE_SCRIPT = HERE / "client_probe.py"

# Addresses: documentation ranges only.
CLUSTER_NET = "203.0.113"  # .21, .22: the nodes' cluster-link addresses
ROUTER_ADDR4 = "198.51.100.1"
ROUTER_ADDR6 = "2001:db8:1::1"
CLIENT_ADDR4 = "198.51.100.200"
CLIENT_ADDR6 = "2001:db8:1::200"

# The directory the IPMP daemon keeps its per-namespace state in (ipmp_core.constants);
# every node bind-mounts its own copy over it, the mount point must exist.
IPMP_STATE_DIR = Path("/var/lib/clearview-ipmp")

# The system's OCF agents directory: the tests read it, never write it (the nodes see a
# private copy with this session's agents, see tests/ocf_overlay.sh).
SYSTEM_RESOURCE_D = Path("/usr/lib/ocf/resource.d")

# Bounded waits (seconds).
START_TIMEOUT = 60.0  # all nodes online, DC elected (seen: ~5 s)
DEFAULT_TIMEOUT = 30.0  # a resource action, a constraint taking effect
PACEMAKER_STOP_TIMEOUT = 60.0  # pacemakerd's graceful shutdown, incl. stopping resources
COROSYNC_STOP_TIMEOUT = 10.0
KILL_GRACE = 3.0
CMD_TIMEOUT = 120.0
POLL = 0.2
# Interface indices of the data NICs (in each node) and of their switch ports (in the one
# switch namespace): always different from each other. The kernel treats a carrier change
# as urgent only on a device whose ifindex differs from its iflink (linkwatch_urgent_event,
# net/core/link_watch.c); left to chance, a node NIC can get the same index as its peer
# (e.g. ``e0@if3`` with ifindex 3), and its carrier loss is then rate-limited to one
# linkwatch run per second host-wide - up to 1 s late, because pulling the cable (setting
# the switch port down) runs linkwatch for that port in the same kernel. A real host's NIC
# sees no such second event, so every node's NICs must report carrier at once, alike.
NIC_INDEX_BASE = 1000  # node NIC eN: 1000 + N (per node namespace)
PORT_INDEX_BASE = 2000  # switch port of node K's eN: 2000 + 16 K + N (shared switch namespace)
PORT_INDEX_STRIDE = 16  # more than any node's data NIC count

CIB_SEED = """\
<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" \
admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" \
value="false"/>
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"""

# A clean environment for cluster tools: pcs is a Python program of the system's
# interpreter and must not see the test venv's variables.
_TOOL_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/root",
}

_serial = itertools.count()

T = TypeVar("T")


class ClusterError(AssertionError):
    """A cluster command failed or a wait timed out (an AssertionError: tests fail on it)."""


# Every cluster of this process has a namespace prefix starting with this.
PREFIX_BASE = f"cvc{os.getpid() % 100_000}x"


def default_prefix() -> str:
    """A namespace prefix no other cluster of this or any concurrent run uses."""
    return f"{PREFIX_BASE}{next(_serial)}"


def _run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = CMD_TIMEOUT,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"timed out after {timeout} s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        raise ClusterError(
            f"command failed (rc {proc.returncode}): {' '.join(argv)}\n"
            f"stdout:\n{proc.stdout.strip()}\nstderr:\n{proc.stderr.strip()}"
        )
    return proc


def _ip_batch(ns: str, cmds: Iterable[str]) -> None:
    _run(["ip", "-n", ns, "-batch", "-"], input="".join(f"{c}\n" for c in cmds))


def _netns_ident(name: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of named network namespace ``name``; None if it does not exist."""
    try:
        st = os.stat(f"/run/netns/{name}")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _pid_netns(pid: int) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in_netns(ident: tuple[int, int]) -> list[int]:
    """PIDs of all processes whose network namespace is ``ident``."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        if _pid_netns(int(entry)) == ident:
            found.append(int(entry))
    return sorted(found)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes (its parent will reap it).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` is alive; return those still alive at the deadline."""
    pending = list(pids)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [p for p in pending if _alive(p)]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return pending


def wait_for(
    predicate: Callable[[], T],
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    poll: float = POLL,
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail with an
    AssertionError naming ``what`` (plus ``diagnostics()``) after ``timeout`` seconds.

    An exception the predicate raises counts as "not yet"; the last one is reported."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    value: Any = None
    while True:
        try:
            value = predicate()
            last_exc = None
        except (ClusterError, OSError, ValueError, KeyError, ET.ParseError) as exc:
            value, last_exc = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            break
        time.sleep(poll)
    msg = f"timed out after {timeout:g} s waiting for {what}"
    if last_exc is not None:
        msg += f"\nlast error: {last_exc}"
    elif value is not None:
        msg += f"\nlast value: {value!r}"
    if diagnostics is not None:
        try:
            msg += "\n" + diagnostics()
        except Exception as exc:  # noqa: BLE001 - diagnostics must not hide the timeout
            msg += f"\n(diagnostics failed: {exc})"
    raise ClusterError(msg)


# ---------------------------------------------------------------------------- crm_mon


@dataclass
class Resource:
    """One primitive (one clone instance of a cloned primitive) as crm_mon reports it."""

    id: str
    agent: str
    role: str
    active: bool
    failed: bool
    managed: bool
    nodes: list[str]
    parent: str | None = None  # the clone or group id, if any

    @property
    def node(self) -> str | None:
        return self.nodes[0] if self.nodes else None


@dataclass
class FailedAction:
    op_key: str
    node: str
    rsc: str
    task: str
    exitstatus: str
    exitcode: int | None
    exitreason: str
    status: str
    interval_ms: int


@dataclass
class ClusterState:
    """Parsed ``crm_mon -1 --output-as=xml`` (as seen from one node)."""

    xml: str
    dc: str | None
    online: set[str]
    offline: set[str]
    resources: list[Resource]
    failures: list[FailedAction]
    attributes: dict[str, dict[str, str]]
    history: dict[str, dict[str, list[dict[str, str]]]] = field(default_factory=dict)

    def instances(self, rsc: str) -> list[Resource]:
        """All entries for primitive ``rsc`` (several for a clone), or for clone ``rsc``."""
        return [r for r in self.resources if r.id == rsc or r.parent == rsc]

    def started_on(self, rsc: str) -> set[str]:
        """Nodes on which ``rsc`` (a primitive or a clone id) is active and Started."""
        return {
            n
            for r in self.instances(rsc)
            if r.active and r.role in ("Started", "Promoted", "Unpromoted")
            for n in r.nodes
        }

    def attr(self, node: str, name: str) -> str | None:
        return self.attributes.get(node, {}).get(name)

    def failures_of(self, rsc: str) -> list[FailedAction]:
        return [f for f in self.failures if f.rsc == rsc or f.rsc.split(":")[0] == rsc]


def _bool(text: str | None) -> bool:
    return text == "true"


def _rsc_of_op_key(op_key: str, task: str, interval: int) -> str:
    suffix = f"_{task}_{interval}"
    return op_key[: -len(suffix)] if op_key.endswith(suffix) else op_key.rsplit("_", 2)[0]


def parse_crm_mon(xml_text: str) -> ClusterState:
    root = ET.fromstring(xml_text)
    dc_el = root.find("./summary/current_dc")
    dc = dc_el.get("name") if dc_el is not None and _bool(dc_el.get("present")) else None
    online: set[str] = set()
    offline: set[str] = set()
    for node in root.iterfind("./nodes/node"):
        (online if _bool(node.get("online")) else offline).add(node.get("name", "?"))

    resources: list[Resource] = []

    def walk(el: ET.Element, parent: str | None) -> None:
        for child in el:
            if child.tag == "resource":
                resources.append(
                    Resource(
                        id=child.get("id", "?"),
                        agent=child.get("resource_agent", ""),
                        role=child.get("role", ""),
                        active=_bool(child.get("active")),
                        failed=_bool(child.get("failed")),
                        managed=_bool(child.get("managed", "true")),
                        nodes=[n.get("name", "?") for n in child.iterfind("node")],
                        parent=parent,
                    )
                )
            elif child.tag in ("clone", "group", "bundle"):
                walk(child, child.get("id") if parent is None else parent)

    resources_el = root.find("./resources")
    if resources_el is not None:
        walk(resources_el, None)

    failures = []
    for f in root.iterfind("./failures/failure"):
        task = f.get("task", "")
        interval = int(f.get("interval", "0") or 0)
        op_key = f.get("op_key", "")
        code = f.get("exitcode")
        failures.append(
            FailedAction(
                op_key=op_key,
                node=f.get("node", "?"),
                rsc=_rsc_of_op_key(op_key, task, interval),
                task=task,
                exitstatus=f.get("exitstatus", ""),
                exitcode=int(code) if code is not None and code.lstrip("-").isdigit() else None,
                exitreason=f.get("exitreason", ""),
                status=f.get("status", ""),
                interval_ms=interval,
            )
        )

    attributes: dict[str, dict[str, str]] = {}
    for node in root.iterfind("./node_attributes/node"):
        attributes[node.get("name", "?")] = {
            a.get("name", "?"): a.get("value", "") for a in node.iterfind("attribute")
        }

    history: dict[str, dict[str, list[dict[str, str]]]] = {}
    for node in root.iterfind("./node_history/node"):
        per = history.setdefault(node.get("name", "?"), {})
        for rh in node.iterfind("resource_history"):
            per[rh.get("id", "?")] = [dict(op.attrib) for op in rh.iterfind("operation_history")]

    return ClusterState(
        xml=xml_text,
        dc=dc,
        online=online,
        offline=offline,
        resources=resources,
        failures=failures,
        attributes=attributes,
        history=history,
    )


# ---------------------------------------------------------------------------- nodes

# pacemaker.log lines that only repeat what crm_mon shows, or are expected here.
_LOG_NOISE = (
    "cib_perform_op", "cib_process_request", "cib_process_ping", "cib_file_verify_digest",
    "Blind faith",
)


class ClusterNode:
    """One cluster node: network namespace ``netns`` + private mount/UTS namespaces running
    corosync and pacemakerd in the foreground."""

    def __init__(self, cluster: Cluster, name: str, index: int, netns: str, workdir: Path):
        self.cluster = cluster
        self.name = name
        self.index = index  # 1-based
        self.netns = netns
        self.dir = workdir
        self.cluster_addr = f"{CLUSTER_NET}.{20 + index}"
        self.nics = [f"e{i}" for i in range(cluster.data_nics)]
        self.macs = {nic: f"02:c1:00:00:{index:02x}:{i:02x}" for i, nic in enumerate(self.nics)}
        self.shell: subprocess.Popen[bytes] | None = None
        self.corosync_pid: int | None = None
        self.pacemakerd_pid: int | None = None
        self.netns_id: tuple[int, int] | None = None
        self.started_at: float | None = None

    def __repr__(self) -> str:
        return f"<ClusterNode {self.name} netns={self.netns}>"

    def port(self, nic: str) -> str:
        """The data switch port node NIC ``nic`` is plugged into."""
        if nic not in self.nics:
            raise ValueError(f"{nic!r} is not a data NIC of {self.name} ({self.nics})")
        return f"{self.name}{nic}"

    def link_indices(self, nic: str) -> tuple[int, int]:
        """(ifindex of ``nic`` in the node, ifindex of its switch port): never equal, so the
        kernel reports the NIC's carrier loss at once (see NIC_INDEX_BASE)."""
        i = self.nics.index(nic)
        if i >= PORT_INDEX_STRIDE:
            raise ValueError(f"at most {PORT_INDEX_STRIDE} data NICs per node")
        return NIC_INDEX_BASE + i, PORT_INDEX_BASE + PORT_INDEX_STRIDE * self.index + i

    # -------------------------------------------------------------- lifecycle
    def launch(self) -> None:
        """Start corosync + pacemakerd (returns at once; Cluster.start waits for them)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "cib.xml").write_text(CIB_SEED)
        (self.dir / "corosync.conf").write_text(self.cluster.corosync_conf())
        out = open(self.dir / "node.out", "wb")  # noqa: SIM115 - handed to the child
        try:
            self.shell = subprocess.Popen(
                [
                    "ip", "netns", "exec", self.netns,
                    "unshare", "--uts", "--mount", "--propagation", "private",
                    "sh", str(NODE_SCRIPT), self.name, str(self.dir),
                    *([str(self.cluster.ocf_resource_d)] if self.cluster.ocf_resource_d
                      else []),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=_TOOL_ENV,
            )
        finally:
            out.close()
        self.started_at = time.monotonic()
        self.netns_id = _netns_ident(self.netns)

    def _read_pid(self, name: str) -> int | None:
        try:
            return int((self.dir / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def wait_launched(self, timeout: float = 20.0) -> None:
        """Wait for the node script to have started both daemons (PID files written)."""

        def ready() -> bool:
            if self.shell is not None and self.shell.poll() is not None:
                raise ClusterError(
                    f"{self.name}: cluster_node.sh exited with {self.shell.returncode}:\n"
                    + self.tail("node.out")
                )
            self.corosync_pid = self._read_pid("corosync")
            self.pacemakerd_pid = self._read_pid("pacemakerd")
            return self.corosync_pid is not None and self.pacemakerd_pid is not None

        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{self.name}: corosync/pacemakerd not started after {timeout} s\n"
                    + self.tail("node.out")
                )
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.shell is not None and self.shell.poll() is None

    def _ours(self, pid: int | None) -> bool:
        """Whether ``pid`` still is a process in this node's network namespace."""
        return pid is not None and self.netns_id is not None and _pid_netns(pid) == self.netns_id

    def ipmpd_pid(self) -> int | None:
        """The PID of the IPMP daemon of this node's namespace, asked over its control
        socket (abstract, so scoped by the network namespace); None if none answers."""
        if _netns_ident(self.netns) is None:
            return None
        code = (
            "from ipmp_core.control_client import ControlClient as C\n"
            "print(C(timeout=3).call('ping')['pid'])\n"
        )
        res = _run(
            ["ip", "netns", "exec", self.netns, sys.executable, "-c", code],
            check=False,
            timeout=15,
        )
        try:
            return int(res.stdout.strip()) if res.returncode == 0 else None
        except ValueError:
            return None

    def signal_pacemaker(self) -> None:
        if self._ours(self.pacemakerd_pid):
            assert self.pacemakerd_pid is not None
            _kill(self.pacemakerd_pid, signal.SIGTERM)

    def stop_corosync(self, timeout: float = COROSYNC_STOP_TIMEOUT) -> None:
        pid = self.corosync_pid
        if not self._ours(pid):
            return
        assert pid is not None
        _kill(pid, signal.SIGTERM)
        if _wait_gone([pid], timeout):
            _kill(pid, signal.SIGKILL)
            _wait_gone([pid], KILL_GRACE)

    def reap_shell(self) -> None:
        if self.shell is None:
            return
        try:
            self.shell.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.shell.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.shell.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    # -------------------------------------------------------------- commands
    @property
    def ns_pid(self) -> int:
        """A PID inside this node's namespaces: the node script's shell (our child, so its
        PID cannot be reused while we have not reaped it)."""
        if not self.running:
            raise ClusterError(f"node {self.name} is not running")
        assert self.shell is not None
        return self.shell.pid

    def run(
        self,
        *argv: str,
        check: bool = False,
        timeout: float = CMD_TIMEOUT,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside this node (network, mount and UTS namespaces)."""
        return _run(
            ["nsenter", "-t", str(self.ns_pid), "-m", "-n", "-u", "--", *argv],
            check=check,
            timeout=timeout,
            input=input,
            env={**_TOOL_ENV, **(env or {})},
        )

    def pcs(self, *args: str, check: bool = True, timeout: float = CMD_TIMEOUT):
        return self.run("pcs", *args, check=check, timeout=timeout)

    def crm_mon_xml(self) -> str:
        return self.run("crm_mon", "-1", "--output-as=xml", check=True, timeout=30).stdout

    def crm_mon(self) -> ClusterState:
        return parse_crm_mon(self.crm_mon_xml())

    def crm_mon_text(self) -> str:
        res = self.run("crm_mon", "-1", "-A", "-f", "-r", "-n", timeout=30)
        return res.stdout + (f"\n(stderr: {res.stderr.strip()})" if res.stderr.strip() else "")

    def attribute(self, name: str) -> str | None:
        """This node's value of node attribute ``name`` as attrd has it (None if unset)."""
        res = self.run("attrd_updater", "-Q", "-n", name, "-N", self.name, timeout=30)
        if res.returncode != 0:
            return None
        # name="ipmp-ipmp0" host="n1" value="2"
        # attrd keeps a deleted attribute with an empty value until it forgets it.
        for part in res.stdout.split():
            if part.startswith("value="):
                return part.split("=", 1)[1].strip('"') or None
        return None

    def ip_json(self, *args: str) -> Any:
        return json.loads(self.run("ip", "-j", *args, check=True).stdout or "[]")

    def holders(self, addr: str) -> list[str]:
        """This node's interfaces that have ``addr``."""
        return [
            link["ifname"]
            for link in self.ip_json("addr", "show")
            for info in link.get("addr_info", [])
            if info.get("local") == addr
        ]

    def sysctl(self, *keys: str) -> dict[str, str]:
        res = self.run("sysctl", "-e", *keys, check=True)
        out = {}
        for line in res.stdout.splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
        return out

    # -------------------------------------------------------------- diagnostics
    def log_size(self) -> int:
        """The current size of pacemaker.log: a mark for log_since()."""
        try:
            return self.log_path().stat().st_size
        except OSError:
            return 0

    def log_since(self, mark: int) -> str:
        """pacemaker.log from ``mark`` (a log_size()) on."""
        try:
            with open(self.log_path(), "rb") as fh:
                fh.seek(mark)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def log_path(self, which: str = "pacemaker") -> Path:
        return {
            "pacemaker": self.dir / "log-pacemaker" / "pacemaker.log",
            "corosync": self.dir / "corosync.out",
            "node": self.dir / "node.out",
        }.get(which, self.dir / which)

    def tail(self, which: str = "pacemaker", lines: int = 40) -> str:
        path = self.log_path(which)
        try:
            text = path.read_text(errors="replace").splitlines()
        except OSError:
            return f"({path}: not there)"
        return "\n".join(text[-lines:])

    def interesting_log(self, lines: int = 40) -> str:
        """The last lines of pacemaker.log that report errors, warnings or agent results."""
        try:
            text = self.log_path().read_text(errors="replace").splitlines()
        except OSError:
            return "(no pacemaker.log)"
        keys = ("error", "warning", "exit-reason", "Result of", "crit")
        picked = [ln for ln in text if any(k in ln for k in keys)
                  and not any(k in ln for k in _LOG_NOISE + ("unpack_rsc_op_failure",))]
        return "\n".join(picked[-lines:])

    def diagnostics(self) -> str:
        parts = [f"===== {self.name} ({self.netns})"]
        if self.running:
            try:
                parts.append(self.crm_mon_text())
            except ClusterError as exc:
                parts.append(f"(crm_mon failed: {exc})")
        else:
            parts.append("(node not running)")
        parts.append(f"--- {self.name}: pacemaker.log (errors, warnings, results)")
        parts.append(self.interesting_log())
        parts.append(f"--- {self.name}: pacemaker.log (tail, without CIB diffs)")
        try:
            text = self.log_path().read_text(errors="replace").splitlines()
        except OSError:
            text = ["(no pacemaker.log)"]
        parts.append("\n".join([ln for ln in text if not any(k in ln for k in _LOG_NOISE)][-25:]))
        for log in sorted((self.dir / "lib-clearview-ipmp").glob("*.log")):
            parts.append(f"--- {self.name}: IPMP daemon log {log.name} (tail)")
            parts.append(self.tail(str(log.relative_to(self.dir)), 25))
        return "\n".join(parts)


# ---------------------------------------------------------------------------- watcher


@dataclass
class WatchResult:
    """What the client saw during a watch (times in seconds, CLOCK_MONOTONIC)."""

    pings: list[tuple[int, float, float | None]]
    arp_rounds: list[tuple[float, list[str]]]
    ping_interval: float

    @property
    def sent(self) -> int:
        return len(self.pings)

    @property
    def answered(self) -> int:
        return sum(1 for p in self.pings if p[2] is not None)

    @property
    def lost(self) -> int:
        return self.sent - self.answered

    def longest_gap(self, since: float | None = None, until: float | None = None) -> float:
        """Longest time between two consecutive answered echoes (by arrival); with no loss
        about ping_interval. The outage a client saw is about this minus the interval.
        With ``since``/``until``, only answers arriving in that window count, plus the
        one just outside each edge (it bounds the gap at that edge)."""
        arrivals = sorted(p[2] for p in self.pings if p[2] is not None)
        if since is not None:
            before = [t for t in arrivals if t < since]
            arrivals = before[-1:] + [t for t in arrivals if t >= since]
        if until is not None:
            after = [t for t in arrivals if t > until]
            arrivals = [t for t in arrivals if t <= until] + after[:1]
        if len(arrivals) < 2:
            return float("inf")
        return max(b - a for a, b in itertools.pairwise(arrivals))

    def gap_window(self) -> tuple[float, float] | None:
        """(arrival of the answer before the longest gap, arrival of the one after it)."""
        arrivals = sorted(p[2] for p in self.pings if p[2] is not None)
        if len(arrivals) < 2:
            return None
        return max(itertools.pairwise(arrivals), key=lambda ab: ab[1] - ab[0])

    def last_answer(self) -> float | None:
        got = [p[2] for p in self.pings if p[2] is not None]
        return max(got) if got else None


class ClientWatch:
    """A background prober in the client namespace (see client_probe.py ``watch``)."""

    def __init__(self, cluster: Cluster, addr: str, duration: float, ping_interval: float,
                 arp_interval: float) -> None:
        self.cluster = cluster
        self.addr = addr
        self.ping_interval = ping_interval
        fd, path = tempfile.mkstemp(prefix="watch-", suffix=".json", dir=cluster.workdir)
        os.close(fd)
        os.unlink(path)
        self.out = Path(path)
        self.proc = cluster.spawn(
            cluster.client,
            [
                sys.executable, str(PROBE_SCRIPT), "watch", addr, "--src", CLIENT_ADDR4,
                "--out", str(self.out), "--duration", f"{duration:g}",
                "--ping-interval", f"{ping_interval:g}", "--arp-interval", f"{arp_interval:g}",
            ],
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "ready" once the sockets are open
        if line.strip() != b"ready":
            self.proc.wait(timeout=5)
            raise ClusterError(f"client watcher did not start (rc {self.proc.returncode})")

    def stop(self, timeout: float = 10.0) -> WatchResult:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise ClusterError("client watcher did not stop on SIGTERM") from None
        data = json.loads(self.out.read_text())
        return WatchResult(
            pings=[
                (int(s), float(t), None if g is None else float(g)) for s, t, g in data["pings"]
            ],
            arp_rounds=[(float(t), list(m)) for t, m in data["arp_rounds"]],
            ping_interval=self.ping_interval,
        )


# ---------------------------------------------------------------------------- cluster


class Cluster:
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
        # system's: tests never install into /usr/lib/ocf (tests/ocf_overlay.sh).
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
    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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
        existing = set(list_netns())
        clash = [ns for ns in self.namespaces if ns in existing]
        if clash:
            raise ClusterError(f"namespaces already exist: {clash}")
        for ns in self.namespaces:
            _run(["ip", "netns", "add", ns])
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
            _ip_batch(ns, ["link set lo up", f"link add br0 {bridge}", "link set br0 up"])
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
            _ip_batch(n.netns, cmds)
        _ip_batch(self.hb, [f"link set {n.name}hb master br0 up" for n in self.nodes])
        for ns, port, a4, a6 in ((self.router, "pr", ROUTER_ADDR4, ROUTER_ADDR6),
                                 (self.client, "pc", CLIENT_ADDR4, CLIENT_ADDR6)):
            _ip_batch(ns, ["link set lo up",
                           f"link add eth0 type veth peer name {port} netns {self.switch}",
                           f"addr add {a4}/24 dev eth0", f"addr add {a6}/64 dev eth0 nodad",
                           "link set eth0 up"])
            sw_ports.append(port)
        _ip_batch(self.switch, [f"link set {p} master br0 up" for p in sw_ports])

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
        stuck = _wait_gone([p for p in pcmk if p is not None], PACEMAKER_STOP_TIMEOUT)
        for pid in stuck:
            self.leftovers.append(f"pacemakerd {pid} ignored SIGTERM for "
                                  f"{PACEMAKER_STOP_TIMEOUT:g} s: SIGKILL")
            _kill(pid, signal.SIGKILL)
        for n in live:
            n.stop_corosync()
        for n in self.nodes:
            pid = daemons.get(n.name)
            if pid is not None and n._ours(pid):
                _kill(pid, signal.SIGTERM)
                if _wait_gone([pid], 5.0):
                    _kill(pid, signal.SIGKILL)
                    _wait_gone([pid], KILL_GRACE)
        for n in self.nodes:
            n.reap_shell()

    def _kill_netns_leftovers(self) -> None:
        """Kill, by PID, whatever still runs in one of this cluster's namespaces."""
        idents = {ident for ns in self._created if (ident := _netns_ident(ns)) is not None}
        for round_sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [p for ident in idents for p in pids_in_netns(ident) if _alive(p)]
            if not pids:
                return
            for pid in pids:
                self.leftovers.append(f"{_comm(pid)}[{pid}] still running at teardown: "
                                      f"{round_sig.name}")
                _kill(pid, round_sig)
            _wait_gone(pids, KILL_GRACE)

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
        return _run(["ip", "netns", "exec", ns, *argv], check=check, timeout=timeout)

    def sysctl(self, ns: str, *items: str) -> None:
        _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *items])

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

    # -------------------------------------------------------------- the data network
    def pull_cable(self, node: ClusterNode | str, nic: str) -> None:
        n = self._node(node)
        _run(["ip", "-n", self.switch, "link", "set", n.port(nic), "down"])

    def plug_cable(self, node: ClusterNode | str, nic: str) -> None:
        n = self._node(node)
        _run(["ip", "-n", self.switch, "link", "set", n.port(nic), "up"])

    def darken(self, node: ClusterNode | str, nics: Iterable[str] | None = None) -> None:
        """Every frame to and from ``nics`` (default: all data NICs) of ``node`` dropped
        by the switch, carriers up: a dead path that only probes can see."""
        n = self._node(node)
        ports = ", ".join(n.port(nic) for nic in (nics or n.nics))
        table = f"dark_{n.name}"
        rules = (f"table bridge {table} {{\n"
                 "  chain drop_ports {\n"
                 "    type filter hook forward priority 0; policy accept;\n"
                 f"    iifname {{ {ports} }} drop\n"
                 f"    oifname {{ {ports} }} drop\n"
                 "  }\n}\n")
        _run(["ip", "netns", "exec", self.switch, "nft", "-f", "-"], input=rules)

    def light(self, node: ClusterNode | str) -> None:
        """Undo darken()."""
        n = self._node(node)
        _run(["ip", "netns", "exec", self.switch, "nft", "delete", "table", "bridge",
              f"dark_{n.name}"], check=False)

    def failcount(self, rsc: str, node: ClusterNode | str) -> int:
        """Pacemaker's fail-count of ``rsc`` on ``node`` (0 when none)."""
        n = self._node(node)
        res = n.run("crm_failcount", "--query", "-r", rsc, "-N", n.name, timeout=30)
        match = re.search(r"value=(\S+)", res.stdout)
        if res.returncode != 0 or match is None or match.group(1) in ("(null)", ""):
            return 0
        value = match.group(1)
        return 1_000_000 if value.upper() == "INFINITY" else int(value)

    def client_ping(self, addr: str, count: int = 1, timeout: float = 1.0) -> bool:
        """Ping ``addr`` from the client (0.2 s apart); True if any reply came."""
        if not 1 <= count <= 100:
            raise ValueError("count must be 1..100")
        res = self.run_in(self.client, "ping", "-n", "-q", "-c", str(count), "-i", "0.2",
                          "-W", f"{max(0.1, timeout):g}", addr,
                          timeout=count * (timeout + 0.2) + 5)
        return res.returncode == 0

    def client_neigh(self, addr: str) -> str | None:
        """The MAC the client's neighbour table has for ``addr`` (None: none, or failed)."""
        out = _run(["ip", "-n", self.client, "-j", "neigh", "show", "to", addr,
                    "dev", "eth0"]).stdout
        for entry in json.loads(out or "[]"):
            states = entry.get("state", [])
            if entry.get("lladdr") and "FAILED" not in states and "INCOMPLETE" not in states:
                return str(entry["lladdr"])
        return None

    def flush_client_neigh(self) -> None:
        for fam in ("-4", "-6"):
            _run(["ip", "-n", self.client, fam, "neigh", "flush", "dev", "eth0"], check=False)

    def arp_replies(self, addr: str, wait: float = 0.3, count: int = 1) -> list[str]:
        """MACs that answered the client's ARP request(s) for IPv4 ``addr``."""
        res = self.run_in(self.client, sys.executable, str(PROBE_SCRIPT), "arp", addr,
                          "--src", CLIENT_ADDR4, "--wait", f"{wait:g}", "--count", str(count),
                          check=True, timeout=30)
        return list(json.loads(res.stdout)["macs"])

    def owners_of(self, macs: Iterable[str]) -> set[str]:
        """Node names owning ``macs``; a MAC of no node appears as "unknown:MAC"."""
        mm = self.mac_map
        return {mm[m][0] if m in mm else f"unknown:{m}" for m in macs}

    def arp_owners(self, addr: str, wait: float = 0.3, count: int = 1) -> set[str]:
        """Which node(s) currently answer ARP for ``addr`` (see owners_of)."""
        return self.owners_of(self.arp_replies(addr, wait=wait, count=count))

    def watch(self, addr: str, duration: float = 120.0, ping_interval: float = 0.01,
              arp_interval: float = 0.05) -> ClientWatch:
        """Start pinging ``addr`` every ``ping_interval`` and ARP-requesting it every
        ``arp_interval`` from the client, in the background, for at most ``duration`` s;
        ``.stop()`` returns a WatchResult."""
        return ClientWatch(self, addr, duration, ping_interval, arp_interval)


# The tests' name for it.
list_netns = list_namespaces


def tree_snapshot(root: Path) -> dict[str, str]:
    """Every entry below ``root`` (not following symlinks): relative path -> type, mode and
    content digest (files) or target (symlinks). Equal snapshots = nothing was changed."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                out[rel] = f"dir {st.st_mode:o}"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[rel] = f"file {st.st_mode:o} {digest}"
    return out


def cleanup_stale() -> list[str]:
    """Namespaces of crashed runs of this harness (``cvc<pid>x<n>-{n1,n2,sw,hb,cl,r}``)
    that no process uses any more; deleted and returned. Namespaces with live processes
    are left alone (they may belong to a concurrent run)."""
    pattern = re.compile(r"^cvc\d+x\d+-(n1|n2|sw|hb|cl|r)$")
    gone = []
    for ns in list_netns():
        if not pattern.match(ns):
            continue
        ident = _netns_ident(ns)
        if ident is not None and not pids_in_netns(ident):
            gone.append(ns)
    delete_namespaces(gone)
    return gone
