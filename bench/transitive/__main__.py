"""``python -m bench.transitive``: runs the parts asked for, prints their tables and
rewrites the transitive section of docs/performance.md (see the package docstring)."""

from __future__ import annotations

import argparse
import functools
import os
import platform
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import PYTHON, REPO_DIR
from bench.probing.__main__ import parse_fdts
from bench.probing.clean import CleanResult, clean_rows, clean_targets, run_clean
from bench.probing.cpu import CpuResult, CpuSample, cpu_rows, run_cpu_ours
from bench.probing.shared import CLEAN_FDT_MS, CLEAN_NICS, CPU_FDT_MS, CPU_GROUPS, CPU_MEMBERS, say
from bench.report import (
    When,
    command_line,
    extract_section,
    mark,
    markdown_table,
    section_markers,
    text_table,
    write_section,
)
from bench.transitive.detection import KindResult, kind_rows, kind_targets, md_detection
from bench.transitive.detection import run_detection as run_kinds

SECTION = "transitive"
PARTS = ("detection", "clean", "cpu")
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


def md_clean(r: CleanResult, stamp: str) -> list[str]:
    return [
        "### (b) False failures during a clean run",
        "",
        f"{stamp}. One group of {CLEAN_NICS} members, no test address, transitive probing "
        f"on (one member probes the router from the data address, three probe it), FDT "
        f"{CLEAN_FDT_MS / 1000:g} s, nothing wrong, for {r.seconds / 60:.1f} min; counted "
        "as in the probing benchmark's part (b).",
        "",
        *markdown_table(clean_rows(r)),
        "",
        *[f"- failed: {e}" for e in r.events_failed],
        "",
        "Targets:",
        "",
        *[f"- {line}" for line in clean_targets(r)],
    ]


def markdown_section(old: str, detection: list[KindResult] | None, clean: CleanResult | None,
                     cpu: CpuPair | None, command: str, when: dict[str, When]) -> str:
    def stamp(part: str) -> str:
        w = when[part]
        return (f"Measured {w.start} to {w.end} on code {w.code}; kernel "
                f"{platform.release()}; {os.cpu_count()} CPUs; load average (1 min) "
                f"{w.load_start:.2f} at the start, {w.load_end:.2f} at the end; command "
                f"`{command}`")

    fresh = {
        "detection": md_detection(detection, stamp("detection")) if detection else None,
        "clean": md_clean(clean, stamp("clean")) if clean is not None else None,
        "cpu": md_cpu(cpu, stamp("cpu")) if cpu is not None else None,
    }
    parts: list[str] = []
    for part in PARTS:
        begin, end = section_markers(f"{SECTION}-{part}")
        body = fresh[part]
        if body is not None:
            parts += [begin, *body, end, ""]
            continue
        kept = extract_section(old, begin, end)
        parts += [kept, ""] if kept else [begin, f"Part *{part}* not measured yet.", end, ""]
    text = "\n".join([
        "## Probing without test addresses (transitive probing)",
        "",
        "`bench/transitive/` (its package docstring has the full method): the probing "
        "benchmark's lab and measurements with no test address and transitive probing on. "
        "(a) detection time / FDT for the member that probes the router from the data "
        "address and for a transitive member; (b) false failures in a clean run; (c) CPU at "
        "16 members against classic probing in the same run. The full run:",
        "",
        f"    {PYTHON} -m bench.transitive",
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
    parser = argparse.ArgumentParser(
        prog="python -m bench.transitive",
        description="Transitive probing benchmarks of ipmpd: detection time / FDT for both "
        "kinds of member, false failures in a clean run, CPU against classic probing.")
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="run only this part (repeatable); default: all three")
    parser.add_argument("--trials", type=int, default=10, help="trials per kind and FDT")
    parser.add_argument("--fdt", type=parse_fdts, default=[1000, 10000],
                        help="FDTs (ms) for the detection part, comma separated")
    parser.add_argument("--clean-minutes", type=float, default=10.0)
    parser.add_argument("--cpu-minutes", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true",
                        help="2 trials per kind and FDT, 1-minute clean and CPU runs")
    parser.add_argument("--seed", type=int, default=None, help="seed for the random waits")
    parser.add_argument("--output", default=str(REPO_DIR / "docs" / "performance.md"),
                        help="Markdown file whose transitive section is (re)written; '' to "
                        "skip")
    args = parser.parse_args(argv)
    trials = 2 if args.quick else args.trials
    clean_min = 1.0 if args.quick else args.clean_minutes
    cpu_min = 1.0 if args.quick else args.cpu_minutes
    if not 1 <= trials <= MAX_TRIALS:
        parser.error(f"--trials must be 1..{MAX_TRIALS}")
    if not 0.1 <= clean_min <= 240 or not 0.1 <= cpu_min <= 240:
        parser.error("minutes must be 0.1..240")
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    parts = args.only or list(PARTS)
    command = command_line("bench.transitive", argv)
    rng = random.Random(args.seed)
    started = time.monotonic()
    detection: list[KindResult] | None = None
    clean: CleanResult | None = None
    cpu: CpuPair | None = None
    when: dict[str, When] = {}
    aborted: list[str] = []
    for part in (p for p in PARTS if p in parts):
        when[part] = When(When.now(), os.getloadavg()[0])
        try:
            if part == "detection":
                detection = run_kinds(args.fdt, trials, rng)
            elif part == "clean":
                clean = run_clean(clean_min, transitive=True)
            else:
                cpu = run_cpu_pair(cpu_min)
        except RuntimeError as exc:  # BenchError, or a lab that could not be built
            print(f"transitive benchmark, part {part} aborted: {exc}", file=sys.stderr)
            aborted.append(part)
            continue
        when[part].finish()
        if args.output:  # after every part, so that a later abort loses nothing
            write_section(Path(args.output), SECTION, functools.partial(
                markdown_section, detection=detection, clean=clean, cpu=cpu,
                command=command, when=when))
    print_report(detection, clean, cpu)
    say(f"\n(run took {time.monotonic() - started:.0f} s)")
    return 1 if aborted else 0


if __name__ == "__main__":
    sys.exit(main())
