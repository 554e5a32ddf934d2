"""The trials: the link watcher, one measured cable pull, ipmpd's and the baseline's
bench, and the run that alternates them."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from bench.common import PYTHON, REPO_DIR, BenchError, BenchNode, LineSource, wait_until
from bench.failover.shared import (
    DATA_ADDR,
    DATA_IP,
    ECHO_PORT,
    GROUP,
    MAX_LAB_NICS,
    MOVER,
    POLL_S,
    PREFIX_BASE,
    PREFIX_OURS,
    PROBE,
    READY_S,
    RESULT_S,
    SETTLE_S,
    Result,
    Trial,
    node_holders,
    progress,
    reply_dev,
)
from tests.support.lab import Lab


class LinkWatch:
    """``udp_probe.py linkwatch`` in the node namespace: when did a NIC really lose carrier."""

    def __init__(self, lab: Lab) -> None:
        # Real-time priority, so that its timestamp is taken the moment the kernel reports
        # the carrier loss, not when a CPU is free (it only wakes up on link events).
        rt = ["chrt", "-f", "10"] if shutil.which("chrt") else []
        proc = lab.spawn(
            lab.node, [*rt, PYTHON, PROBE, "linkwatch"], stdout=subprocess.PIPE, stderr=None
        )
        self.reader = LineSource(proc, "link watcher")
        self.reader.wait_for(lambda line: line == "READY", READY_S)
        self.events: list[tuple[str, bool, float]] = []

    def down_at(self, nic: str, after: float, timeout: float = SETTLE_S) -> float:
        """The time ``nic`` lost carrier, the first time at or after ``after``."""
        deadline = time.monotonic() + timeout
        for _ in range(10_000):
            for name, up, t in self.events:
                if name == nic and not up and t >= after:
                    return t
            line = self.reader.readline(max(0.0, deadline - time.monotonic()))
            parts = line.split()
            if len(parts) == 4 and parts[0] == "LINK":
                self.events.append((parts[1], parts[2] == "1", float(parts[3])))
                del self.events[:-100]
        raise BenchError(f"link watcher: no carrier loss of {nic} reported")

    def close(self) -> None:
        self.reader.close()


def measure(lab: Lab, nic: str, watch: LinkWatch) -> Trial:
    """One trial: probe, pull ``nic``'s cable, return the outage the client saw.

    The cable is left unplugged; the caller plugs it back and waits for things to settle.
    """
    assert lab.client is not None
    out_dev = reply_dev(lab)
    proc = lab.spawn(
        lab.client,
        [
            PYTHON,
            PROBE,
            "client",
            "--target",
            DATA_IP,
            "--port",
            str(ECHO_PORT),
            "--arp-dev",
            "eth0",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,
    )
    reader = LineSource(proc, "UDP prober")
    try:
        reader.wait_for(lambda line: line == "READY", READY_S)
        mark = time.monotonic()
        lab.pull_cable(nic)
        assert proc.stdin is not None
        proc.stdin.write(f"MARK {mark:.6f}\n".encode())
        proc.stdin.flush()
        line = reader.wait_for(lambda line: line.startswith("{"), RESULT_S)
    finally:
        reader.close()
        lab.stop(proc)
    data = json.loads(line)
    if "error" in data:
        raise BenchError(f"prober: {data['error']}")
    if not data["recovered"]:
        raise BenchError(
            f"echoes did not resume within 5 s after pulling {nic} "
            f"(sent {data['sent']}, received {data['received']})"
        )
    down = watch.down_at(nic, mark)
    return Trial(
        pulled=nic,
        gap_ms=float(data["max_gap_ms"]),
        lost=int(data["lost"]),
        jitter_ms=float(data["jitter_ms"]),
        announce_ms=None if data["announce_at"] is None else (data["announce_at"] - down) * 1e3,
        announce_mac=str(data["announce_mac"]),
        lost_after_announce=data["lost_after_announce"],
        pull_ms=(down - mark) * 1000.0,
        out_dev=out_dev,
    )


def start_echo_server(lab: Lab) -> None:
    proc = lab.spawn(
        lab.node,
        [PYTHON, PROBE, "server", "--bind", DATA_IP, "--port", str(ECHO_PORT)],
        stdout=subprocess.PIPE,
        stderr=None,
    )
    reader = LineSource(proc, "UDP echo server")
    try:
        reader.wait_for(lambda line: line == "READY", READY_S)
    finally:
        reader.close()


def check_announce(lab: Lab, trial: Trial) -> None:
    """Note it when the first announcement the client saw was not for the new holder."""
    if trial.announce_ms is None:
        trial.note = "no gratuitous ARP seen by the client"
    elif trial.announce_mac != lab.mac(trial.to):
        trial.note = f"first gratuitous ARP from {trial.announce_mac}, not {trial.to}'s MAC"


class Ipmpd(BenchNode):
    """ipmpd in the lab's node namespace, with the benchmark's group and data address."""

    def create_group(self, nics: Sequence[str]) -> None:
        """Group ``GROUP`` of ``nics`` (all active) with the data address."""
        members = [arg for nic in nics for arg in ("-i", nic)]
        self.adm("create-ipmp", *members, GROUP)
        self.adm("create-addr", "-a", DATA_ADDR, GROUP)

    def holder(self) -> str | None:
        """The member ipmpstat says holds the address (None if unbound/unknown)."""
        out = self.tool("ipmpstat", "-a", "-P", "-o", "address,inbound", check=False).stdout
        for line in out.splitlines():
            addr, _, inbound = line.partition(":")
            if addr == DATA_IP:
                return inbound or None
        return None

    def links(self) -> dict[str, tuple[str, str]]:
        """interface -> (LINK, STATE) as ipmpstat -i shows them."""
        out = self.tool("ipmpstat", "-i", "-P", "-o", "interface,link,state", check=False).stdout
        result = {}
        for line in out.splitlines():
            parts = line.split(":")
            if len(parts) == 3:
                result[parts[0]] = (parts[1], parts[2])
        return result

    def stable_holder(self) -> str:
        """Wait until ipmpstat shows the same holder twice in a row and the kernel agrees."""
        previous: list[str | None] = [None]

        def check() -> str | None:
            now = self.holder()
            same = now is not None and now == previous[0]
            previous[0] = now
            if same and node_holders(self.lab) == [now]:
                return now
            return None

        return str(wait_until("a stable binding of the data address", check, SETTLE_S, 0.1))


class OursBench:
    """ipmpd in lab ``bnf``: one group of all the lab's NICs, one data address."""

    def __init__(self, lab: Lab, state_dir: str, nics: int) -> None:
        self.lab = lab
        self.daemon = Ipmpd(lab, state_dir)
        self.result = Result("ipmpd", nics=nics)
        self.watch: LinkWatch | None = None

    def setup(self) -> None:
        self.daemon.start()
        self.daemon.create_group(self.lab.nics)
        start_echo_server(self.lab)
        self.watch = LinkWatch(self.lab)
        print(
            f"ipmpd: group {GROUP} of {self.result.nics} active members, {DATA_ADDR}",
            flush=True,
        )

    def trial(self) -> Trial:
        assert self.watch is not None
        nic = self.daemon.stable_holder()
        trial = measure(self.lab, nic, self.watch)
        self.lab.plug_cable(nic)
        wait_until(
            f"ipmpd seeing the link of {nic} come back",
            lambda: self.daemon.links().get(nic, ("", ""))[0] == "up",
            SETTLE_S,
            0.1,
        )
        trial.to = self.daemon.stable_holder()
        check_announce(self.lab, trial)
        self.result.trials.append(trial)
        return trial

    def close(self) -> None:
        self.daemon.shutdown()


class BaseBench:
    """``baseline_mover.py`` in lab ``bnb``: the address on e0, backup e1."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.result = Result("baseline", nics=2)
        self.reader: LineSource | None = None
        self.watch: LinkWatch | None = None

    def setup(self) -> None:
        mover = self.lab.spawn(
            self.lab.node,
            [PYTHON, MOVER, "--address", DATA_ADDR, "--primary", "e0", "--backup", "e1"],
            env={**os.environ, "PYTHONPATH": str(REPO_DIR)},
            stdout=subprocess.PIPE,
            stderr=None,
        )
        self.reader = LineSource(mover, "baseline mover")
        self.reader.wait_for(lambda line: line == "READY", READY_S)
        start_echo_server(self.lab)
        self.watch = LinkWatch(self.lab)
        print(f"baseline: {DATA_ADDR} on e0, backup e1", flush=True)

    def trial(self) -> Trial:
        assert self.reader is not None and self.watch is not None
        holders = node_holders(self.lab)
        if holders != ["e0"]:
            raise BenchError(f"baseline: address on {holders}, expected on e0 only")
        trial = measure(self.lab, "e0", self.watch)
        moved = self.reader.wait_for(lambda line: line.startswith("MOVED "), SETTLE_S)
        trial.to = moved.split()[1]
        check_announce(self.lab, trial)
        self.lab.plug_cable("e0")
        self.reader.wait_for(lambda line: line.startswith("MOVED e0 "), SETTLE_S)
        wait_until(
            "the address back on e0", lambda: node_holders(self.lab) == ["e0"], SETTLE_S, POLL_S
        )
        self.result.trials.append(trial)
        return trial


def run_benchmark(trials: int) -> tuple[Result, Result]:
    """Both labs side by side; trials alternate (ipmpd, baseline, ipmpd, ...) so that both
    see the same machine: its background load changes over a run, and a comparison of a
    quiet minute against a busy one would measure the machine, not the implementations."""
    nics = min(MAX_LAB_NICS, max(3, math.ceil(trials / 3) + 2))
    with (
        tempfile.TemporaryDirectory(prefix="bench-ipmpd-") as state_dir,
        Lab(prefix=PREFIX_OURS, nics=nics) as lab_ours,
        Lab(prefix=PREFIX_BASE, nics=2) as lab_base,
    ):
        ours = OursBench(lab_ours, state_dir, nics)
        base = BaseBench(lab_base)
        current = "ipmpd"
        try:
            ours.setup()
            current = "baseline"
            base.setup()
            for i in range(trials):
                for bench in (ours, base):
                    current = bench.result.name
                    progress(current, i, bench.trial())
        except BaseException:
            tail = ours.daemon.log_tail() if current == "ipmpd" else ""
            if tail:
                print("ipmpd log (last lines):\n" + tail, file=sys.stderr)
            raise
        finally:
            ours.close()
        return ours.result, base.result
