"""What every part of the scale benchmark uses: its constants and targets, the
addresses and the ip -batch lines for them, the results record."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from dataclasses import dataclass, field

from bench.common import BENCH_DIR, BenchError
from bench.report import (
    ratio,
)
from tests.support.lab import Lab

WATCH = str(BENCH_DIR / "addr_watch.py")
GROUP = "ipmp0"
PREFIX_OURS = "bns"
PREFIX_BASE = "bnsb"
SECTION = "scale"  # of docs/performance.md
DEFAULT_ADDRESSES = 1000
# Failover + failback pairs: each plugs e0 back once, and a third link-up of e0 within a
# minute would be damped as flapping (by design), so at most two.
CYCLES = 2
# Addresses added one request each after the batch, to show the single form's cost.
SINGLES = 20

# Targets from the issue.
TARGET_CREATE_MS = 5.0
TARGET_FAILOVER_RATIO = 2.0
TARGET_RESTART_S = 2.0
TARGET_ANSWER_MS = 100.0
TARGET_RSS_MB = 60.0

# Pause before each measured move: ipmpd reads the notifications of the previous move
# (about 4,000, most of them its own) before it can hear the next link change; a real
# failure does not come 0.5 s after a move of 1,000 addresses. Without the pause the
# next move starts that much later (reported in docs/performance.md).
PAUSE_S = 3.0

# Bounded waits (seconds).
READY_S = 15.0
MOVE_S = 70.0  # addr_watch gives up after 60 s itself
SETTLE_S = 30.0
RESTART_S = 60.0
# The restart's control-socket client: ping interval and how long it goes on after the
# first answer (the work a restart leaves for later shows there).
PING_INTERVAL_S = 0.01
PING_AFTER_S = 1.0
# ... and asks for a snapshot (1,000 addresses: ~40 ms of the daemon's time) every this
# many pings: ipmpstat and the agents' monitors read it, and it must show the group
# throughout.
SNAPSHOT_EVERY = 10


def v4(count: int) -> list[str]:
    return [f"198.51.100.{i}/24" for i in range(2, 2 + count)]


def addresses(count: int) -> list[str]:
    first = v4(min(count, 198))
    return first + [f"2001:db8:1::1:{i:x}/64" for i in range(count - len(first))]


def extra_addresses(count: int) -> list[str]:
    return [f"2001:db8:1::2:{i:x}/64" for i in range(count)]


def ip_batch(lab: Lab, lines: list[str]) -> float:
    """Run ``ip -batch`` in the node namespace; its wall time in ms."""
    script = "".join(line + "\n" for line in lines)
    started = time.perf_counter()
    res = subprocess.run(["ip", "-n", lab.node, "-batch", "-"], input=script, text=True,
                         capture_output=True, timeout=120, check=False)
    elapsed = (time.perf_counter() - started) * 1000.0
    if res.returncode != 0:
        raise BenchError(f"ip -batch failed: {res.stderr.strip()[:300]}")
    return elapsed


def add_lines(addrs: list[str], dev: str) -> list[str]:
    return [f"addr add {a} dev {dev} noprefixroute" + (" nodad" if ":" in a else "")
            for a in addrs]


def del_lines(addrs: list[str], dev: str) -> list[str]:
    """Deletions last-added first, as ipmpd does them: the subnet's primary IPv4 address
    goes last, so that no deletion promotes a secondary (see Netlink.remove_addresses)."""
    return [f"addr del {a} dev {dev}" for a in reversed(addrs)]


def count_on(lab: Lab, dev: str) -> int:
    out = lab.run(lab.node, "ip", "-j", "addr", "show", "dev", dev).stdout
    return sum(1 for link in json.loads(out) for a in link.get("addr_info", [])
               if a.get("scope") == "global")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise BenchError("no VmRSS")


@dataclass
class Results:
    addresses: int
    create_ms: float = 0.0  # ipmpd, the whole batch
    create_base_ms: float = 0.0
    single_ms: list[float] = field(default_factory=list)
    failover_ms: list[float] = field(default_factory=list)
    failback_ms: list[float] = field(default_factory=list)
    failback_repair_ms: list[float] = field(default_factory=list)  # link-up to first move
    failover_base_ms: list[float] = field(default_factory=list)
    failback_base_ms: list[float] = field(default_factory=list)
    restart: dict[str, float] = field(default_factory=dict)
    rss: list[float] = field(default_factory=list)

    @property
    def per_address_ms(self) -> float:
        return self.create_ms / self.addresses

    @property
    def failover_ratio(self) -> float:
        return ratio(statistics.median(self.failover_ms),
                     statistics.median(self.failover_base_ms))

    @property
    def failback_ratio(self) -> float:
        return ratio(statistics.median(self.failback_ms),
                     statistics.median(self.failback_base_ms))
