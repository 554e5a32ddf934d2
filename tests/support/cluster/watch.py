"""The client's background prober (client_probe.py ``watch``) and what it saw."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.cluster.base import CLIENT_ADDR4, PROBE_SCRIPT, ClusterError

if TYPE_CHECKING:
    from tests.support.cluster.cluster import Cluster


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


