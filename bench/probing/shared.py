"""What every part of the probing benchmark uses: its constants and targets, the lab
with one ipmpd probing a router, the daemon's event stream read in the node namespace."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import BENCH_DIR, PYTHON, REPO_DIR, BenchError, BenchNode, LineSource, wait_until
from tests.support.lab import Lab

EVENTS = str(BENCH_DIR / "ipmp_events.py")
BASELINE = str(BENCH_DIR / "baseline_prober.py")

GROUP = "ipmp0"
ROUTER = "198.51.100.1"
DATA_ADDR = "198.51.100.10/24"
TEST_BASE = 21  # e<i> gets 198.51.100.(21 + i)/24 in parts (a) and (b)
PROBES_PER_FDT = 7  # probe interval = FDT / 7 (in.mpathd)

PARTS = ("detection", "clean", "cpu")
DETECTION_NICS = 3
CLEAN_NICS = 4
CPU_GROUPS = 4
CPU_MEMBERS = 4
CPU_FDT_MS = 1000
CLEAN_FDT_MS = 1000

# Targets from the issue.
TARGET_DETECTION_FDT = 1.0  # every trial, as a fraction of the FDT
TARGET_FALSE_FAILURES = 0
TARGET_CPU_PERCENT = 2.0
TARGET_RSS_MB = 60.0

# Bounded waits (seconds).
HELPER_READY_S = 10.0
PROBING_OK_S = 60.0  # all members probing ok after configuration
WARMUP_S = 15.0  # part (c): before the CPU window
SAMPLE_S = 1.0  # part (c): VmRSS sampling period
PING_MINUTES = 1.0  # part (c): the iputils ping reference (a floor, not a comparison)
MAX_TRIALS = 200

SECTION = "probing"  # of docs/performance.md




def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------- processes


@dataclass
class Event:
    t: float  # time.monotonic() when the helper read it
    data: dict[str, Any]


class EventStream:
    """``ipmp_events.py`` in the node namespace: the daemon's events, stamped on arrival."""

    def __init__(self, lab: Lab, seconds: float) -> None:
        rt = ["chrt", "-f", "10"] if shutil.which("chrt") else []
        self.proc = lab.spawn(
            lab.node,
            [*rt, PYTHON, EVENTS, "--seconds", f"{seconds:.0f}", "--stats-s", "1"],
            env={**os.environ, "PYTHONPATH": str(REPO_DIR)},
            stdout=subprocess.PIPE,
            stderr=None,
        )
        self.lab = lab
        self.src = LineSource(self.proc, "event stream helper")
        self.src.expect("READY", HELPER_READY_S)
        self.events: list[Event] = []
        self.stats: dict[str, int] = {}
        self.stats_t = 0.0

    def _take(self, line: str) -> Event | None:
        kind, _, rest = line.partition(" ")
        stamp, _, payload = rest.partition(" ")
        if kind == "EV":
            event = Event(float(stamp), json.loads(payload))
            self.events.append(event)
            return event
        if kind == "STATS":
            self.stats = {str(k): int(v) for k, v in json.loads(payload).items()}
            self.stats_t = float(stamp)
        return None

    def pump(
        self, deadline: float, predicate: Callable[[Event], bool] | None = None
    ) -> Event | None:
        """Read events until ``deadline``; return the first one that satisfies
        ``predicate`` (the rest stay buffered for the next call)."""
        for _ in range(10_000_000):
            line = self.src.next_line(deadline)
            if line is None:
                return None
            event = self._take(line)
            if event is not None and predicate is not None and predicate(event):
                return event
        raise BenchError("event stream: too many lines")

    def wait_answered(self, nics: Sequence[str], timeout: float) -> None:
        """Until each of ``nics`` has had a probe answered from now on: ipmpstat's PROBE
        ok only says targets exist, and a prober's 40 s quiet period ends with its first
        answer (losses before it do not count). The helper counts answered probes in its
        STATS lines (it prints only the lost ones)."""
        start = time.monotonic()
        before = self.fresh_stats(start, timeout)
        deadline = start + timeout
        for _ in range(100_000):
            waiting = [n for n in nics
                       if self.stats.get(f"{n}:acked", 0) <= before.get(f"{n}:acked", 0)]
            if not waiting:
                return
            if time.monotonic() >= deadline:
                raise BenchError(f"no probe answered within {timeout:g} s on {waiting}")
            self.pump(min(deadline, time.monotonic() + 1.0))
        raise BenchError("event stream: too many waits")

    def sleep(self, seconds: float) -> None:
        """Wait, draining the stream (the daemon's queue for us must not grow)."""
        self.pump(time.monotonic() + seconds)

    def wait_state(
        self, nic: str, state: str, timeout: float, after: float = 0.0
    ) -> Event | None:
        """The next "member-state" event of ``nic`` with ``state``, read at or after
        ``after`` (time.monotonic()); None after ``timeout``."""

        def match(ev: Event) -> bool:
            d = ev.data
            return (
                ev.t >= after
                and d.get("type") == "member-state"
                and d.get("interface") == nic
                and d.get("state") == state
            )

        return self.pump(time.monotonic() + timeout, match)

    def fresh_stats(self, after: float, timeout: float) -> dict[str, int]:
        """Probe counts from a STATS line printed after ``after`` (time.monotonic())."""
        deadline = time.monotonic() + timeout
        while self.stats_t < after:
            if time.monotonic() >= deadline:
                raise BenchError("event stream: no fresh STATS line")
            self.pump(min(deadline, time.monotonic() + 1.0))
        return dict(self.stats)

    def close(self) -> None:
        self.src.close()
        self.lab.stop(self.proc)


class Daemon(BenchNode):
    """One ipmpd in ``lab``'s node namespace, driven by ipmpadm/ipmpstat."""

    tool_timeout_s = 60.0

    def probe_states(self) -> dict[str, tuple[str, str]]:
        """interface -> (PROBE, STATE) as ``ipmpstat -i`` shows them."""
        out = self.stat("-i", "-P", "-o", "interface,probe,state")
        rows = [line.split(":") for line in out.splitlines()]
        return {r[0]: (r[1], r[2]) for r in rows if len(r) == 3}

    def wait_probing_ok(self, nics: Sequence[str], timeout: float = PROBING_OK_S) -> None:
        def ok() -> bool:
            states = self.probe_states()
            return all(states.get(n) == ("ok", "ok") for n in nics)

        wait_until(f"probing ok on {' '.join(nics)}", ok, timeout, poll=0.5)

    def group_fdts(self) -> dict[str, str]:
        out = self.stat("-g", "-P", "-o", "group,fdt")
        rows = [line.split(":") for line in out.splitlines()]
        return {r[0]: r[1] for r in rows if len(r) == 2}


def test_addr(i: int) -> str:
    return f"198.51.100.{TEST_BASE + i}/24"


def probing_group(daemon: Daemon, nics: Sequence[str], fdt_ms: int,
                  transitive: bool = False) -> None:
    """One group of ``nics`` (all active), a test address each, a data address, the router
    as target through a declared default route: the setup of tests/netns/test_probing.py.
    ``transitive``: no test addresses, transitive probing on instead."""
    daemon.adm("create-ipmp", *[a for n in nics for a in ("-i", n)], GROUP)
    daemon.adm("set-ipmp", "-p", f"fdt={fdt_ms}", GROUP)
    if transitive:
        daemon.adm("set-ipmp", "-p", "transitive-probing=on", GROUP)
    for i, nic in enumerate(nics if not transitive else []):
        daemon.adm("create-addr", "-T", "test", "-a", test_addr(i), nic)
    daemon.adm("create-addr", "-a", DATA_ADDR, GROUP)
    daemon.adm("create-route", "-g", ROUTER, GROUP)




@contextlib.contextmanager
def probing_lab(prefix: str, nics: int, fdt_ms: int, transitive: bool = False
                ) -> Iterator[tuple[Lab, Daemon, contextlib.ExitStack]]:
    """A lab whose ipmpd probes from all ``nics`` members of one group at ``fdt_ms``, all
    of them probing ``ok``: (lab, daemon, stack). What the caller opens on ``stack``
    (event streams) is closed before the daemon shuts down; on failure the daemon's log
    tail is printed."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-probing-") as state_dir,
        Lab(prefix=prefix, nics=nics, with_client=False) as lab,
    ):
        daemon = Daemon(lab, state_dir)
        try:
            with contextlib.ExitStack() as stack:
                daemon.start()
                probing_group(daemon, lab.nics, fdt_ms, transitive)
                daemon.wait_probing_ok(lab.nics)
                yield lab, daemon, stack
        except BaseException:
            print("ipmpd log (last lines):\n" + daemon.log_tail(), file=sys.stderr)
            raise
        finally:
            daemon.shutdown()


# Daemon log lines that say probing was not clean (what it means -> text to find).
WARNING_PATTERNS = {
    "FDT back-off": "Cannot meet requested failure detection time",
    "target marked dead": "stopped answering",
    "no target answers": "No probe target of group",
    "all targets unreachable": "All probe targets of group",
    "probes unanswered 5x": "unanswered 5 times in a row",
}


def clk_tck() -> int:
    """Clock ticks per second, the unit of /proc/PID/stat's CPU times."""
    return int(os.sysconf("SC_CLK_TCK"))


def cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime, stime) of a process, all its threads, in clock ticks."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        text = fh.read()
    rest = text[text.rindex(")") + 2 :].split()
    return int(rest[11]), int(rest[12])  # fields 14 and 15 of proc(5)
