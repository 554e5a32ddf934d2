"""ipmpd with only what systemd/ipmpd@.service leaves it: the unit's
CapabilityBoundingSet and NoNewPrivileges (applied with setpriv, as systemd would; no
systemd runs here). Probes, a probe-detected failure, the address move, its
announcement, the ARP sysctls and nft's member sets all work: the unit takes nothing
the daemon needs."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.netns.test_probe_detection import probe_states, probing_group, wait_probing
from tests.support.lab import Lab
from tests.support.node import Node
from tests.support.systemd_unit import TEMPLATE, bounding_set, settings

pytestmark = pytest.mark.netns

# Capability numbers (linux/capability.h) of the unit's CapabilityBoundingSet.
CAP_NUMBERS = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_PTRACE": 19}


class UnitNode(Node):
    """A node whose ipmpd runs under setpriv with the unit's restrictions."""

    def spawn(self, stderr: Any = subprocess.DEVNULL) -> subprocess.Popen[Any]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.daemon = self.lab.spawn(
            self.ns,
            ["setpriv", "--inh-caps=-all", f"--bounding-set={bounding_set()}",
             "--no-new-privs", sys.executable, "-m", "ipmp_core.cli.ipmpd", "--log-file",
             str(self.log_path), "--defaults", str(self.defaults)],
            env=self.env, stderr=stderr)
        return self.daemon


@pytest.fixture
def unit_node(lab: Lab, tmp_path: Path) -> Any:
    n = UnitNode(lab, tmp_path / "state")
    n.start()
    yield n
    n.shutdown()


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_the_daemon_works_with_the_units_capabilities_only(unit_node: Node) -> None:
    node, lab = unit_node, unit_node.lab
    status = _status(node.pid)
    caps = settings(TEMPLATE)["Service"]["CapabilityBoundingSet"].split()
    assert int(status["CapBnd"], 16) == sum(1 << CAP_NUMBERS[c] for c in caps)
    assert int(status["CapEff"], 16) == int(status["CapBnd"], 16)
    assert status["NoNewPrivs"].strip() == "1"

    probing_group(node, "e0", "e1")
    wait_probing(node, "e0", "e1")  # raw ICMP probes answered (NET_RAW)
    assert lab.run(node.ns, "sysctl", "-n", "net.ipv4.conf.e1.arp_ignore").stdout.strip() \
        == "1"  # /proc/sys/net written
    sets = lab.run(node.ns, "nft", "list", "set", "inet", "clearview_ipmp", "ipmp0_members")
    assert '"e0"' in sets.stdout and '"e1"' in sets.stdout  # nft, run by the daemon
    on_e0 = [a for a, m in node.inbound().items() if m == "e0"]
    assert on_e0 and all(lab.client_ping(a) for a in on_e0)
    lab.drop_icmp("e0")
    node.wait_for(lambda: probe_states(node)["e0"] == ("failed", "failed"), "probe failure")
    assert all(node.inbound()[a] == "e1" for a in on_e0)  # moved (NET_ADMIN)
    assert all(lab.client_ping(a) for a in on_e0)  # announced (AF_PACKET, NET_RAW)
    log = node.log()
    assert "not permitted" not in log.lower() and "Traceback" not in log, log[-3000:]


# The daemon adopts a one-group state file in well under a second; bounded.
READY_TIMEOUT_S = 10.0


def test_ready_comes_once_the_state_is_adopted_and_stopping_at_sigterm(
        lab: Lab, tmp_path: Path) -> None:
    """The real ipmpd as systemd's Type=notify runs it: restarted over a state file with a
    group, it sends READY=1 only when that group is in place, STOPPING=1 on SIGTERM."""
    node = UnitNode(lab, tmp_path / "state")
    node.start()
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", "198.51.100.10/24", "ipmp0")
    node.kill(signal.SIGTERM)
    manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    manager.bind(str(tmp_path / "notify"))
    manager.settimeout(READY_TIMEOUT_S)
    try:
        node.env["NOTIFY_SOCKET"] = str(tmp_path / "notify")
        node.spawn()
        ready = manager.recv(4096).decode()
        assert ready.splitlines()[:2] == ["READY=1", "STATUS=1 group(s) adopted"]
        assert node.inbound() == {"198.51.100.10": "e0"}  # in place when READY came
        node.kill(signal.SIGTERM)
        assert manager.recv(4096).decode() == "STOPPING=1"
    finally:
        manager.close()
        node.shutdown()
