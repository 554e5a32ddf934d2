"""One cluster node: corosync and pacemakerd in a network namespace of their own, and
the commands and logs the tests read inside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.cluster.base import (
    CIB_SEED,
    CLUSTER_NET,
    CMD_TIMEOUT,
    COROSYNC_STOP_TIMEOUT,
    KILL_GRACE,
    NIC_INDEX_BASE,
    NODE_SCRIPT,
    PORT_INDEX_BASE,
    PORT_INDEX_STRIDE,
    TOOL_ENV,
    ClusterError,
    run,
)
from tests.support.cluster.crm_mon import ClusterState, parse_crm_mon
from tests.support.netns import kill_pid, netns_ident, pid_netns, wait_gone

if TYPE_CHECKING:
    from tests.support.cluster.cluster import Cluster

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
                env=TOOL_ENV,
            )
        finally:
            out.close()
        self.started_at = time.monotonic()
        self.netns_id = netns_ident(self.netns)

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
        return pid is not None and self.netns_id is not None and pid_netns(pid) == self.netns_id

    def ipmpd_pid(self) -> int | None:
        """The PID of the IPMP daemon of this node's namespace, asked over its control
        socket (abstract, so scoped by the network namespace); None if none answers."""
        if netns_ident(self.netns) is None:
            return None
        code = (
            "from ipmp_core.control_client import ControlClient as C\n"
            "print(C(timeout=3).call('ping')['pid'])\n"
        )
        res = run(
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
            kill_pid(self.pacemakerd_pid, signal.SIGTERM)

    def stop_corosync(self, timeout: float = COROSYNC_STOP_TIMEOUT) -> None:
        pid = self.corosync_pid
        if not self._ours(pid):
            return
        assert pid is not None
        kill_pid(pid, signal.SIGTERM)
        if wait_gone([pid], timeout):
            kill_pid(pid, signal.SIGKILL)
            wait_gone([pid], KILL_GRACE)

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
        return run(
            ["nsenter", "-t", str(self.ns_pid), "-m", "-n", "-u", "--", *argv],
            check=check,
            timeout=timeout,
            input=input,
            env={**TOOL_ENV, **(env or {})},
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


