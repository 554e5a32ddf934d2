"""Part (b): false failures while nothing is wrong; its table and section text."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from bench.probing.shared import (
    CLEAN_FDT_MS,
    CLEAN_NICS,
    TARGET_FALSE_FAILURES,
    WARNING_PATTERNS,
    Event,
    EventStream,
    clk_tck,
    cpu_ticks,
    probing_lab,
    say,
)
from bench.report import (
    mark,
    markdown_table,
)

# ---------------------------------------------------------------------------- (b) clean run


@dataclass
class CleanResult:
    minutes: float
    seconds: float = 0.0
    failed_events: int = 0
    failure_lines: int = 0
    lost: int = 0
    acked: int = 0
    warnings: dict[str, int] = field(default_factory=dict)
    cpu_percent: float = 0.0
    events_failed: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return max(self.failed_events, self.failure_lines) <= TARGET_FALSE_FAILURES


def run_clean(minutes: float, transitive: bool = False) -> CleanResult:
    """``transitive``: no test addresses, transitive probing on (one member probes the
    router from the data address, the others probe it)."""
    result = CleanResult(minutes)
    with probing_lab("bptclean" if transitive else "bpclean", CLEAN_NICS, CLEAN_FDT_MS,
                     transitive) as (lab, daemon, stack):
        log_before = daemon.log()
        stream = stack.enter_context(contextlib.closing(EventStream(lab, minutes * 60 + 120)))
        say(f"clean run: {minutes:g} min at FDT {CLEAN_FDT_MS / 1000:g} s, "
            f"{len(lab.nics)} probing members"
            f"{' (transitive probing)' if transitive else ''}, nothing wrong")
        stats0 = stream.fresh_stats(0.0, 15.0)
        pid = daemon.pid
        u0, s0 = cpu_ticks(pid)
        t0 = time.monotonic()
        end = t0 + minutes * 60
        next_report = t0 + 60
        for _ in range(100_000):
            now = time.monotonic()
            if now >= end:
                break
            stream.pump(min(end, next_report))
            if time.monotonic() >= next_report:
                failed = sum(1 for ev in stream.events if _is_failed(ev))
                say(f"  {(time.monotonic() - t0) / 60:4.1f} min: {failed} member failures, "
                    f"probes {stream.stats}")
                next_report += 60
        t1 = time.monotonic()
        u1, s1 = cpu_ticks(pid)
        stats1 = stream.fresh_stats(t1, 15.0)
        result.seconds = t1 - t0
        result.cpu_percent = 100.0 * (u1 + s1 - u0 - s0) / clk_tck() / result.seconds
        failed_events = [ev for ev in stream.events if _is_failed(ev) and t0 <= ev.t <= t1]
        result.failed_events = len(failed_events)
        result.events_failed = [
            f"{ev.data.get('interface')} at {ev.t - t0:.1f} s" for ev in failed_events
        ]

        def delta(status: str) -> int:
            return sum(
                v - stats0.get(k, 0) for k, v in stats1.items() if k.endswith(":" + status)
            )

        result.lost = delta("lost")
        result.acked = delta("acked")
        new_log = daemon.log()[len(log_before) :]
        result.failure_lines = new_log.count("IP interface failure detected")
        result.warnings = {k: new_log.count(p) for k, p in WARNING_PATTERNS.items()}
    return result


def _is_failed(ev: Event) -> bool:
    return ev.data.get("type") == "member-state" and ev.data.get("state") == "failed"




def clean_rows(r: CleanResult) -> list[list[str]]:
    rows = [["duration", "members", "member failures (events)",
             "failure log lines", "probes answered", "probes lost", "target"]]
    rows.append([
        f"{r.seconds / 60:.1f} min",
        str(CLEAN_NICS),
        str(r.failed_events),
        str(r.failure_lines),
        str(r.acked),
        str(r.lost),
        mark(r.met),
    ])
    return rows


def clean_targets(r: CleanResult) -> list[str]:
    warn = ", ".join(f"{k} {v}" for k, v in r.warnings.items())
    return [
        f"zero member failures in {r.seconds / 60:.1f} min: "
        f"{max(r.failed_events, r.failure_lines)} -> {mark(r.met)}",
        f"(other log lines: {warn}; daemon CPU with an event subscriber attached: "
        f"{r.cpu_percent:.2f} % of one core)",
    ]


def md_clean(r: CleanResult, stamp: str, members: str = "probing members") -> list[str]:
    """The part's text; ``members``: what the group's members are and how they probe."""
    return [
        "### (b) False failures during a clean run",
        "",
        f"{stamp}. One group of {CLEAN_NICS} {members} at FDT "
        f"{CLEAN_FDT_MS / 1000:g} s, router target, nothing wrong, for "
        f"{r.seconds / 60:.1f} min. Counted from the event stream (`member-state` events "
        "with state `failed`, and probe events by status) and from the daemon log ("
        "`IP interface failure detected`).",
        "",
        *markdown_table(clean_rows(r)),
        "",
        *[f"- failed: {e}" for e in r.events_failed],
        "",
        "Targets:",
        "",
        *[f"- {line}" for line in clean_targets(r)],
    ]
