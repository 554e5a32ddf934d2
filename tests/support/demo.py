"""`make demo`, in two acts. The first, one node: a group comes up, a cable is pulled,
the data address moves, ipmpstat shows it, and the client's pings keep being answered.
The second, two Pacemaker nodes (tests.support.demo_cluster): docs/pacemaker.md's recipe
with pcs, a node's whole data network pulled, the floating address on the other node, the
node eligible again by itself. Everything happens in throw-away network namespaces
(tests.support.lab, tests.support.cluster); nothing outside them is touched.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support import demo_cluster
from tests.support.lab import Lab

DATA4 = "198.51.100.10"
DATA6 = "2001:db8:1::10"
# The client pings every 10 ms: fine-grained enough to see a failover of a few ms.
PING_INTERVAL_S = 0.01
SETTLE_S = 5.0
# A member that probes is repaired 10 answered probes after its link-up: about 14 s at
# the default FDT of 10 s; twice that is plenty.
REPAIR_S = 30.0


class Demo:
    """The demo's run: owns the lab it plays in and the daemon's state directory."""

    def __init__(self, lab: Lab, state_dir: Path) -> None:
        self.lab = lab
        # The daemon ipmpadm starts logs to <state_dir>/<ns>.log, which the demo shows,
        # only where there is no system log: point it at none (sockets that do not
        # exist). Its metrics stay next to its state too.
        none = str(state_dir / "no-system-log")
        self.env = {**os.environ, "IPMP_STATE_DIR": str(state_dir),
                    "IPMP_JOURNAL_SOCKET": none, "IPMP_SYSLOG_SOCKET": none,
                    "IPMP_METRICS_DIR": str(state_dir)}

    def show(self, *argv: str) -> str:
        """Run a command in the node namespace, echoing it like a terminal session."""
        print(f"node# {shlex.join(argv)}", flush=True)
        tool = {"ipmpadm": "ipmp_core.cli.ipmpadm", "ipmpstat": "ipmp_core.cli.ipmpstat"}
        cmd = [sys.executable, "-m", tool[argv[0]], *argv[1:]] if argv[0] in tool else list(argv)
        res = subprocess.run(["ip", "netns", "exec", self.lab.node, *cmd], env=self.env,
                             capture_output=True, text=True, timeout=60)
        text = res.stdout + res.stderr
        if text.strip():
            print(text.rstrip(), flush=True)
        if res.returncode != 0:
            raise SystemExit(f"demo: '{shlex.join(argv)}' failed")
        return res.stdout

    def holder(self, addr: str) -> str:
        res = subprocess.run(
            ["ip", "netns", "exec", self.lab.node, sys.executable, "-m",
             "ipmp_core.cli.ipmpstat", "-n", "-a", "-P", "-o", "address,inbound"],
            env=self.env, capture_output=True, text=True, timeout=60,
        )
        for line in res.stdout.splitlines():
            address, _, member = line.rpartition(":")
            if address.replace("\\:", ":") == addr:
                return member
        return ""

    def wait_holder(self, addr: str, not_on: str) -> str:
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            member = self.holder(addr)
            if member and member != not_on:
                return member
            time.sleep(0.02)
        raise SystemExit(f"demo: {addr} did not move away from {not_on}")

    def wait_repaired(self, member: str) -> float:
        """Seconds until ``member`` is repaired: it probes, so after its link-up it needs
        10 answered probes first, as in.mpathd repairs it (about 14 s at FDT 10 s)."""
        started = time.monotonic()
        while time.monotonic() < started + REPAIR_S:
            res = subprocess.run(
                ["ip", "netns", "exec", self.lab.node, sys.executable, "-m",
                 "ipmp_core.cli.ipmpstat", "-i", "-P", "-o", "interface,state"],
                env=self.env, capture_output=True, text=True, timeout=60)
            if f"{member}:ok" in res.stdout.split():
                return time.monotonic() - started
            time.sleep(0.2)
        raise SystemExit(f"demo: {member} was not repaired within {REPAIR_S:.0f} s")

    def settle(self) -> None:
        """Wait (bounded) until IPv6 probing from the members' link-locals has found its
        targets, so the tables show a steady state rather than 'unknown'."""
        deadline = time.monotonic() + SETTLE_S * 4
        while time.monotonic() < deadline:
            res = subprocess.run(
                ["ip", "netns", "exec", self.lab.node, sys.executable, "-m",
                 "ipmp_core.cli.ipmpstat", "-i", "-P", "-o", "probe,state"],
                env=self.env, capture_output=True, text=True, timeout=60)
            if res.returncode == 0 and "unknown" not in res.stdout:
                return
            time.sleep(0.2)

    def daemon_pid(self) -> int | None:
        res = subprocess.run(
            ["ip", "netns", "exec", self.lab.node, sys.executable, "-c",
             "from ipmp_core.control_client import ControlClient as C; "
             "print(C().call('ping')['pid'])"],
            env=self.env, capture_output=True, text=True, timeout=30,
        )
        return int(res.stdout) if res.returncode == 0 else None


def ping_gaps(output: str) -> tuple[int, int, float]:
    """(sent, received, longest gap between replies in ms) from `ping -D` output."""
    stamps = [float(m) for m in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", output, re.M)]
    sent = re.search(r"(\d+) packets transmitted", output)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return (int(sent.group(1)) if sent else 0, len(stamps), max(gaps, default=0.0) * 1000)


def banner(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def run() -> None:
    """Both acts, one after the other, each with its own namespaces."""
    started = time.monotonic()
    banner("Act 1: one node, three NICs")
    single_node()
    banner("Act 2: two Pacemaker nodes")
    demo_cluster.run()
    print(f"\n(both acts took {time.monotonic() - started:.0f} s)", flush=True)


def single_node() -> None:
    with tempfile.TemporaryDirectory(prefix="ipmp-demo-") as tmp, \
            Lab(prefix=f"demo{os.getpid() % 10000}", nics=3) as lab:
        demo = Demo(lab, Path(tmp))
        pid = None
        try:
            banner("The lab: node with NICs e0 e1 e2 on a switch, a router "
                   "(198.51.100.1) and a client (198.51.100.200)")
            banner("Create group ipmp0: e0 and e1 active, e2 standby, two data addresses")
            demo.show("ipmpadm", "create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
            pid = demo.daemon_pid()
            demo.show("ipmpadm", "add-ipmp", "-s", "-i", "e2", "ipmp0")
            demo.show("ipmpadm", "create-addr", "-a", f"{DATA4}/24", "ipmp0")
            demo.show("ipmpadm", "create-addr", "-a", f"{DATA6}/64", "ipmp0")
            demo.settle()
            demo.show("ipmpstat", "-g")
            demo.show("ipmpstat", "-i")
            demo.show("ipmpstat", "-an")

            banner(f"The client pings {DATA4} every {PING_INTERVAL_S * 1000:.0f} ms")
            ping = lab.spawn(lab.client, ["ping", "-n", "-D", "-i", str(PING_INTERVAL_S),
                                          DATA4], stdout=subprocess.PIPE)
            time.sleep(1.0)
            member = demo.holder(DATA4)
            banner(f"Pull the cable of {member}, which holds {DATA4}")
            print(f"switch# ip link set {lab.peer(member)} down", flush=True)
            lab.pull_cable(member)
            new = demo.wait_holder(DATA4, not_on=member)
            time.sleep(1.0)
            demo.show("ipmpstat", "-g")
            demo.show("ipmpstat", "-i")
            demo.show("ipmpstat", "-an")
            print(f"\n{DATA4} moved from {member} to {new}.", flush=True)

            banner(f"Plug {member} back in: it probes, so it is repaired after 10 answered "
                   "probes, then takes its address back (FAILBACK=yes)")
            print(f"switch# ip link set {lab.peer(member)} up", flush=True)
            lab.plug_cable(member)
            took = demo.wait_repaired(member)
            print(f"({member} repaired {took:.1f} s after its link came up)", flush=True)
            time.sleep(0.5)
            demo.show("ipmpstat", "-an")
            demo.show("ipmpstat", "-g")

            lab._signal(ping, signal.SIGINT)  # ping prints its summary on SIGINT
            out, _ = ping.communicate(timeout=10)
            sent, received, gap = ping_gaps(out.decode())
            banner("The client's view")
            print(f"client: {sent} pings sent, {received} answered, longest gap between "
                  f"replies {gap:.0f} ms (through a cable pull and a failback)", flush=True)
            banner("The daemon's log")
            log = Path(tmp) / f"{lab.node}.log"
            for line in log.read_text().splitlines():
                if any(k in line for k in ("failure", "repair", "moved", "link has")):
                    print(line.split(": ", 1)[-1] if ": " in line else line)
        finally:
            banner("Tear down")
            if pid is not None:
                subprocess.run(["ip", "netns", "exec", lab.node, sys.executable, "-m",
                                "ipmp_core.cli.ipmpadm", "shutdown"], env=demo.env,
                               capture_output=True, timeout=30)
                _wait_gone(pid)
        print("done: namespaces and processes removed", flush=True)


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    run()
