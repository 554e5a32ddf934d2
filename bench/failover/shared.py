"""What every part of the failover benchmark uses: its constants and targets, the
records of a trial and of an implementation's run, where the data address is."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field

from bench.common import BENCH_DIR
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
