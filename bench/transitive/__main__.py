"""``python -m bench.transitive``: runs the parts asked for, prints their tables and
rewrites the transitive section of docs/performance.md (see the package docstring)."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import VENV_PYTHON
from bench.probing.clean import CleanResult, clean_rows, clean_targets, md_clean, run_clean
from bench.probing.cpu import CpuResult, CpuSample, cpu_rows, run_cpu_ours
from bench.probing.runner import Settings, parse, run_parts, section_parts, stamp
from bench.probing.shared import CPU_FDT_MS, CPU_GROUPS, CPU_MEMBERS, say
from bench.report import (
    mark,
    markdown_table,
    text_table,
)
from bench.transitive.detection import KindResult, kind_rows, kind_targets, md_detection
from bench.transitive.detection import run_detection as run_kinds

SECTION = "transitive"
CLEAN_MEMBERS = ("members, no test address, transitive probing on (one member probes the "
                 "router from the data address, three probe it)")
MAX_TRIALS = 100


@dataclass
class CpuPair:
    """ipmpd at 16 members with transitive probing and with test addresses, one run."""

    minutes: float
    transitive: CpuSample
    classic: CpuSample
    failures: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.transitive.cpu_percent / self.classic.cpu_percent

    @property
    def met(self) -> bool:
        return self.transitive.cpu_percent <= self.classic.cpu_percent


def run_cpu_pair(minutes: float) -> CpuPair:
    transitive, t_fail, t_notes = run_cpu_ours(minutes, transitive=True)
    classic, c_fail, c_notes = run_cpu_ours(minutes, transitive=False)
    return CpuPair(minutes, transitive, classic, t_fail + c_fail,
                   [f"transitive: {n}" for n in t_notes] + [f"classic: {n}" for n in c_notes])


def pair_rows(pair: CpuPair) -> list[list[str]]:
    """bench/probing's CPU table, transitive first, its ratio against classic probing."""
    rows = cpu_rows(CpuResult(pair.minutes, ours=pair.transitive, base=pair.classic))
    rows[0][-1] = "CPU / classic"
    return rows


def cpu_targets(pair: CpuPair) -> list[str]:
    return [
        f"CPU with transitive probing <= with test addresses: "
        f"{pair.transitive.cpu_percent:.2f} % vs {pair.classic.cpu_percent:.2f} % of one core "
        f"(ratio {pair.ratio:.2f}) -> {mark(pair.met)}",
        f"member failures during both windows: {pair.failures}",
    ]


def md_cpu(pair: CpuPair, stamp: str) -> list[str]:
    return [
        "### (c) CPU at 16 members: transitive probing against test addresses",
        "",
        f"{stamp}. bench/probing part (c)'s lab: {CPU_GROUPS} groups x {CPU_MEMBERS} "
        f"members at FDT {CPU_FDT_MS / 1000:g} s, each group in its own /26 with the "
        "router's address there as target; no event subscriber. Measured the same way "
        f"(utime + stime over wall time after a warm-up, {pair.minutes:g} min each), "
        "first with transitive probing and no test address (per group one member probes "
        "the router from the data address, three send transitive probes to it), then "
        "with a test address on every member. probes/s counts the echo requests the "
        "router received (transitive probes never reach it).",
        "",
        *markdown_table(pair_rows(pair)),
        "",
        *[f"- note: {n}" for n in pair.notes],
        "",
        "Targets:",
        "",
        *[f"- {line}" for line in cpu_targets(pair)],
    ]


def markdown_section(old: str, results: dict[str, Any], settings: Settings) -> str:
    detection: list[KindResult] | None = results.get("detection")
    clean: CleanResult | None = results.get("clean")
    cpu: CpuPair | None = results.get("cpu")
    fresh = {
        "detection": md_detection(detection, stamp(settings, "detection")) if detection
        else None,
        "clean": md_clean(clean, stamp(settings, "clean"), CLEAN_MEMBERS)
        if clean is not None else None,
        "cpu": md_cpu(cpu, stamp(settings, "cpu")) if cpu is not None else None,
    }
    parts = section_parts(old, SECTION, fresh)
    text = "\n".join([
        "## Probing without test addresses (transitive probing)",
        "",
        "`bench/transitive/` (its package docstring has the full method): the probing "
        "benchmark's lab and measurements with no test address and transitive probing on. "
        "(a) detection time / FDT for the member that probes the router from the data "
        "address and for a transitive member; (b) false failures in a clean run; (c) CPU at "
        "16 members against classic probing in the same run. The full run:",
        "",
        f"    {VENV_PYTHON} -m bench.transitive",
        "",
        *parts,
    ])
    return re.sub(r"\n{3,}", "\n\n", text)


def print_report(detection: list[KindResult] | None, clean: CleanResult | None,
                 cpu: CpuPair | None) -> None:
    if detection:
        say("\n(a) detection time / FDT")
        for line in [*text_table(kind_rows(detection)), *kind_targets(detection)]:
            say(line)
    if clean is not None:
        say("\n(b) false failures during a clean run")
        for line in [*text_table(clean_rows(clean)), *clean_targets(clean)]:
            say(line)
    if cpu is not None:
        say("\n(c) CPU at 16 members, transitive vs classic probing")
        for line in [*text_table(pair_rows(cpu)), *cpu.notes, *cpu_targets(cpu)]:
            say(line)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse(
        argv, module="bench.transitive", section=SECTION, trials=10, quick_trials=2,
        max_trials=MAX_TRIALS, trials_help="trials per kind and FDT",
        description="Transitive probing benchmarks of ipmpd: detection time / FDT for "
        "both kinds of member, false failures in a clean run, CPU against classic probing.")
    started = time.monotonic()
    runners = {
        "detection": lambda: run_kinds(settings.fdts, settings.trials, settings.rng),
        "clean": lambda: run_clean(settings.clean_minutes, transitive=True),
        "cpu": lambda: run_cpu_pair(settings.cpu_minutes),
    }
    results, aborted = run_parts(settings, "transitive", runners, SECTION, markdown_section)
    print_report(results.get("detection"), results.get("clean"), results.get("cpu"))
    say(f"\n(run took {time.monotonic() - started:.0f} s)")
    return 1 if aborted else 0


if __name__ == "__main__":
    sys.exit(main())
