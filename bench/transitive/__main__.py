"""``python -m bench.transitive``: runs the parts asked for, prints their tables and
rewrites the transitive section of docs/performance.md (see the package docstring)."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.common import VENV_PYTHON
from bench.probing.clean import CleanResult, clean_rows, clean_targets, md_clean, run_clean
from bench.probing.runner import Settings, parse, run_parts, section_parts, stamp
from bench.probing.shared import say
from bench.report import text_table
from bench.transitive.cpu import CpuRuns, cpu_targets, md_cpu, pair_rows, run_cpu_runs
from bench.transitive.detection import KindResult, kind_rows, kind_targets, md_detection
from bench.transitive.detection import run_detection as run_kinds

SECTION = "transitive"
CLEAN_MEMBERS = ("members, no test address, transitive probing on (one member probes the "
                 "router from the data address, three probe it)")
MAX_TRIALS = 100
# Pairs of CPU windows by default: two, in opposite orders, cancel a steady drift of the
# machine's load (bench/transitive/cpu.py).
CPU_PAIRS = 2


def markdown_section(old: str, results: dict[str, Any], settings: Settings) -> str:
    detection: list[KindResult] | None = results.get("detection")
    clean: CleanResult | None = results.get("clean")
    cpu: CpuRuns | None = results.get("cpu")
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
                 cpu: CpuRuns | None) -> None:
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
        max_trials=MAX_TRIALS, trials_help="trials per kind and FDT", cpu_pairs=CPU_PAIRS,
        description="Transitive probing benchmarks of ipmpd: detection time / FDT for "
        "both kinds of member, false failures in a clean run, CPU against classic probing.")
    started = time.monotonic()
    runners = {
        "detection": lambda: run_kinds(settings.fdts, settings.trials, settings.rng),
        "clean": lambda: run_clean(settings.clean_minutes, transitive=True),
        "cpu": lambda: run_cpu_runs(settings.cpu_minutes, settings.cpu_pairs),
    }
    results, aborted = run_parts(settings, "transitive", runners, SECTION, markdown_section)
    print_report(results.get("detection"), results.get("clean"), results.get("cpu"))
    say(f"\n(run took {time.monotonic() - started:.0f} s)")
    return 1 if aborted else 0


if __name__ == "__main__":
    sys.exit(main())
