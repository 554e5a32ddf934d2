"""Failover benchmark: the outage a client sees when the NIC holding a data address dies.

Method
------
Two implementations are measured in the same run, each in its own throw-away lab
(``tests.support.lab.Lab``: a node namespace whose NICs hang off a bridge, plus a client
namespace on the same subnet). Both labs exist side by side and the trials alternate
(ipmpd, baseline, ipmpd, ...), so that changes in the machine's background load during a
run hit both alike:

* **ipmpd** (lab prefix ``bnf``): the daemon runs in the node namespace with one group
  whose members are all NICs of the lab (all active) and one data address,
  198.51.100.10/24. Built-in defaults (no /etc/default file).
* **baseline** (lab prefix ``bnb``): ``bench/baseline_mover.py`` in a fresh lab, no
  ipmpd: the address sits on e0; on carrier loss of e0 it is added to e1, deleted from
  e0, and one gratuitous ARP goes out of e1 through an AF_PACKET socket. On carrier
  return it moves back to e0 the same way. The least a failover can do.

In both labs a UDP echo server (``bench/udp_probe.py server``) is bound to the data
address in the node namespace, and the client namespace runs ``udp_probe.py client``,
which sends one numbered datagram every 1 ms and timestamps the echoes. Each trial:

1. find the NIC that holds the address (``ipmpstat -a -P -o address,inbound`` for ipmpd,
   checked against the kernel's own address list; always e0 for the baseline);
2. start the prober and wait until 100 consecutive echoes came back (so the client has a
   valid ARP entry for the address and the path is warm);
3. pull that NIC's cable (``Lab.pull_cable``: the switch-side veth goes down, the NIC
   loses carrier), telling the prober the moment;
4. the prober stops once echoes have flowed again, gap-free, for 300 ms and reports the
   longest interval between two consecutive echoes from 20 ms before the pull on: the
   outage the client saw (its resolution is the 1 ms probe interval; echoes are timed by
   the kernel's receive timestamps, so the prober's own scheduling delays stay out);
5. plug the cable back and wait until the binding has settled (ipmpd has seen the link
   come back and ``ipmpstat`` shows the same holder twice in a row; the baseline has
   moved the address back to e0).

The report gives median and maximum outage per implementation and the ratios
ipmpd/baseline, and checks the targets: median outage <= 50 ms and <= 1.5 x the
baseline's median. A miss is reported (MISSED) but still exits 0: this is a measurement.

Why the ipmpd lab has more NICs than two: ipmpd, like in.mpathd, distrusts a link that
came up more than twice within a minute (flap damping) and keeps it failed until it is
stable. Pulling and re-plugging the same two cables twenty times within a minute would
soon leave the group with no usable member. The address never moves back on repair
(one address, all members active: the placement rules only move addresses to even out
counts that differ by more than one), so each trial pulls whichever member holds the
address; with ceil(trials / 3) + 2 members every pulled member is a healthy one and there
is always a healthy member to fail over to. The damping is not in the measured path.

Run as root:  /opt/clearview-ipmp/venv/bin/python -m bench.failover [--trials 20]
              [--quick] [--output docs/performance.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import BENCH_DIR, PYTHON, REPO_DIR, BenchError, BenchNode, LineSource, wait_until
from bench.report import (
    command_line,
    load_averages,
    mark,
    markdown_table,
    now_utc,
    ratio,
    text_table,
    write_section,
)
from tests.support.lab import Lab

PROBE = str(BENCH_DIR / "udp_probe.py")
MOVER = str(BENCH_DIR / "baseline_mover.py")

DATA_ADDR = "198.51.100.10/24"
DATA_IP = DATA_ADDR.split("/", 1)[0]
ECHO_PORT = 7007
GROUP = "ipmp0"
PREFIX_OURS = "bnf"
PREFIX_BASE = "bnb"
MAX_LAB_NICS = 16
MAX_TRIALS = 40

# Targets from the issue.
TARGET_MEDIAN_MS = 50.0
TARGET_RATIO = 1.5

# Bounded waits (seconds).
READY_S = 10.0  # prober: 100 consecutive echoes
RESULT_S = 15.0  # prober: outage over and settled (it gives up itself after 5 s)
SETTLE_S = 10.0  # binding settled after the plug
POLL_S = 0.05
SECTION = "failover"  # of docs/performance.md


# ---------------------------------------------------------------------------- measurement


@dataclass
class Trial:
    pulled: str
    gap_ms: float
    lost: int
    jitter_ms: float
    announce_ms: float | None  # carrier loss -> first gratuitous ARP at the client
    announce_mac: str
    lost_after_announce: int | None  # probes sent after the GARP arrived, never echoed
    pull_ms: float  # start of the pull command -> carrier loss seen in the node
    out_dev: str  # where the echo replies left before the pull
    to: str = ""
    note: str = ""


@dataclass
class Result:
    name: str
    nics: int = 2
    trials: list[Trial] = field(default_factory=list)

    @property
    def gaps(self) -> list[float]:
        return [t.gap_ms for t in self.trials]

    @property
    def median(self) -> float:
        return statistics.median(self.gaps)

    @property
    def maximum(self) -> float:
        return max(self.gaps)

    @property
    def announce_median(self) -> float | None:
        seen = [t.announce_ms for t in self.trials if t.announce_ms is not None]
        return statistics.median(seen) if seen else None

    @property
    def jitter_median(self) -> float:
        return statistics.median(t.jitter_ms for t in self.trials)

    @property
    def lost_after_announce(self) -> str:
        """'k/n': probes lost after the GARP arrived, summed over the n trials with a GARP."""
        seen = [t.lost_after_announce for t in self.trials if t.lost_after_announce is not None]
        return f"{sum(seen)}/{len(seen)}"

    @property
    def pull_median(self) -> float:
        return statistics.median(t.pull_ms for t in self.trials)


def node_holders(lab: Lab) -> list[str]:
    """The node NICs that carry the data address, according to the kernel."""
    out = lab.run(lab.node, "ip", "-j", "-4", "addr", "show").stdout
    return [
        link["ifname"]
        for link in json.loads(out or "[]")
        for info in link.get("addr_info", [])
        if info.get("local") == DATA_IP
    ]


def reply_dev(lab: Lab) -> str:
    """The node NIC the echo replies leave through (the kernel's route for the flow)."""
    assert lab.client_addr4 is not None
    out = lab.run(lab.node, "ip", "-j", "route", "get", lab.client_addr4, "from", DATA_IP).stdout
    routes = json.loads(out or "[]")
    return str(routes[0].get("dev", "?")) if routes else "?"


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


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def progress(name: str, i: int, trial: Trial) -> None:
    print(
        f"  {name:8} trial {i + 1:2}: pulled {trial.pulled:3} -> {trial.to or '?':3} "
        f"outage {trial.gap_ms:6.1f} ms  lost {trial.lost:3} "
        f"({'-' if trial.lost_after_announce is None else trial.lost_after_announce} after GARP)  "
        f"reaction {fmt_ms(trial.announce_ms):>5} ms  noise {trial.jitter_ms:4.1f} ms  "
        f"replies via {trial.out_dev}" + (f"  NOTE: {trial.note}" if trial.note else ""),
        flush=True,
    )


# ---------------------------------------------------------------------------- ipmpd


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


# ---------------------------------------------------------------------------- report


@dataclass
class Verdict:
    median_ok: bool
    ratio_ok: bool
    ratio_median: float
    ratio_max: float

    @property
    def met(self) -> bool:
        return self.median_ok and self.ratio_ok


def judge(ours: Result, base: Result) -> Verdict:
    ratio_median = ratio(ours.median, base.median)
    ratio_max = ratio(ours.maximum, base.maximum)
    return Verdict(
        median_ok=ours.median <= TARGET_MEDIAN_MS,
        ratio_ok=ratio_median <= TARGET_RATIO,
        ratio_median=ratio_median,
        ratio_max=ratio_max,
    )


def table_rows(ours: Result, base: Result, v: Verdict) -> list[list[str]]:
    return [
        [
            "implementation",
            "trials",
            "median ms",
            "max ms",
            "median ratio",
            "max ratio",
            "median reaction ms",
            "lost after GARP",
            "median noise ms",
        ],
        [
            "ipmpd",
            str(len(ours.trials)),
            f"{ours.median:.1f}",
            f"{ours.maximum:.1f}",
            f"{v.ratio_median:.2f}",
            f"{v.ratio_max:.2f}",
            fmt_ms(ours.announce_median),
            ours.lost_after_announce,
            f"{ours.jitter_median:.1f}",
        ],
        [
            "baseline",
            str(len(base.trials)),
            f"{base.median:.1f}",
            f"{base.maximum:.1f}",
            "1.00",
            "1.00",
            fmt_ms(base.announce_median),
            base.lost_after_announce,
            f"{base.jitter_median:.1f}",
        ],
    ]


def target_lines(ours: Result, base: Result, v: Verdict) -> list[str]:
    limit = TARGET_RATIO * base.median
    return [
        f"median outage <= {TARGET_MEDIAN_MS:.0f} ms: {ours.median:.1f} ms -> {mark(v.median_ok)}",
        f"median outage <= {TARGET_RATIO} x baseline median ({limit:.1f} ms): "
        f"{ours.median:.1f} ms -> {mark(v.ratio_ok)}",
        f"overall: {mark(v.met)}",
    ]


def print_report(ours: Result, base: Result, v: Verdict) -> None:
    print()
    for line in text_table(table_rows(ours, base, v)):
        print(line)
    print("(ratios: ipmpd / baseline; reaction: carrier loss in the node -> first gratuitous")
    print(" ARP at the client; lost after GARP: probes sent after it arrived that got no echo,")
    print(" total/trials; noise: longest echo gap in the steady phase before the pull)")
    print()
    for line in target_lines(ours, base, v):
        print(line)


def markdown_section(ours: Result, base: Result, v: Verdict, command: str) -> str:
    table = markdown_table(table_rows(ours, base, v))
    targets = [f"- {line}" for line in target_lines(ours, base, v)]
    per_trial = [f"- {r.name}: " + ", ".join(f"{g:.1f}" for g in r.gaps) for r in (ours, base)]
    nics = ours.nics
    notes = [
        f"- note, {r.name} trial {i + 1}: {t.note}"
        for r in (ours, base)
        for i, t in enumerate(r.trials)
        if t.note
    ]
    load = load_averages()
    date = now_utc()
    return "\n".join(
        [
            "## Failover outage",
            "",
            "What is measured: the longest silence a client sees when the NIC that holds a "
            "data address loses its link. A client namespace sends one numbered UDP datagram "
            "every 1 ms to the data address; an echo server bound to that address in the node "
            "namespace sends each one back. The outage of a trial is the longest interval "
            "between two consecutive echoes from 20 ms before the cable pull until echoes have "
            "flowed again gap-free for 300 ms (resolution: the 1 ms probe interval). Before "
            "each pull, 100 consecutive echoes must have come back (the client's ARP entry is "
            "valid, the path warm). A pull sets the switch-side veth peer down, so the node's "
            "NIC loses carrier, like an unplugged cable. Both labs exist side by side and "
            "the trials alternate (ipmpd, baseline, ipmpd, ...), so that both see the same "
            "machine load.",
            "",
            f"- **ipmpd**: one group of {nics} active members (e0..e{nics - 1}) with one data "
            f"address ({DATA_ADDR}), built-in defaults. Each trial pulls the member that "
            "`ipmpstat -a` says holds the address, then plugs it back and waits until the "
            "binding is stable. More than two members because ipmpd, like in.mpathd, "
            "distrusts a link that came up more than twice in a minute (flap damping); with "
            "all members active the address stays where it failed over to, so successive "
            "trials pull different, healthy members.",
            "- **baseline**: `bench/baseline_mover.py` in a node namespace without ipmpd, the "
            "least a failover can do: on carrier loss of e0 one netlink request adds the "
            "address to e1, one deletes it from e0, and one gratuitous ARP goes out of e1 "
            "through an AF_PACKET socket; on carrier return it moves back to e0.",
            "",
            f"Command: `{command}`",
            "",
            f"Date: {date}; kernel: {platform.release()}; "
            f"{len(ours.trials)} trials per implementation; {os.cpu_count()} CPUs, "
            f"load average after the run {load}.",
            "",
            *table,
            "",
            "Ratios are ipmpd / baseline. *Reaction*: from the moment the node's NIC lost "
            "carrier (an rtnetlink listener in the node namespace, `udp_probe.py linkwatch`) "
            "to the first gratuitous ARP for the address at the client (kernel receive "
            "timestamp): the implementation's own reaction time, free of the 1 ms probe grid. "
            "The `ip link set ... down` that pulls the cable takes "
            f"{statistics.median([ours.pull_median, base.pull_median]):.1f} ms (median) "
            "before the carrier actually drops; that is not part of any number here. *Noise*: "
            "the longest echo gap in the steady phase before the pull, i.e. the scheduling "
            "jitter of this machine (echoes are timed by kernel receive timestamps, but the "
            "sender and the echo server still wait for a CPU); outages within a few "
            "noise-widths of each other are indistinguishable. *Lost after GARP*: probes the "
            "client sent after the gratuitous ARP reached it that never got an echo, summed "
            "over the trials (total/trials): non-zero means the return path was not ready "
            "when the address was announced.",
            "",
            "Per-trial outage (ms), in order:",
            "",
            *per_trial,
            *notes,
            "",
            "Targets:",
            "",
            *targets,
        ]
    )


# ---------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure the client-visible failover outage of ipmpd against a baseline."
    )
    parser.add_argument("--trials", type=int, default=20, help="trials per implementation")
    parser.add_argument("--quick", action="store_true", help="5 trials (for development)")
    parser.add_argument(
        "--output",
        default=str(REPO_DIR / "docs" / "performance.md"),
        help="Markdown file whose failover section is (re)written; '' to skip",
    )
    args = parser.parse_args(argv)
    trials = 5 if args.quick else args.trials
    if not 1 <= trials <= MAX_TRIALS:
        # More would outrun the flap damping of ipmpd's 16 members (3 pulls each a minute).
        parser.error(f"--trials must be 1..{MAX_TRIALS}")
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    command = command_line("bench.failover", argv)

    started = time.monotonic()
    try:
        ours, base = run_benchmark(trials)
    except RuntimeError as exc:  # BenchError, or a lab that could not be built
        print(f"failover benchmark aborted: {exc}", file=sys.stderr)
        return 1
    verdict = judge(ours, base)
    print_report(ours, base, verdict)
    print(f"\n(run took {time.monotonic() - started:.0f} s)")
    if args.output:
        path = Path(args.output)
        write_section(path, SECTION, markdown_section(ours, base, verdict, command))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
