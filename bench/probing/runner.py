"""What the probing benchmark and the transitive-probing benchmark (bench/transitive/)
share around their three parts (detection, clean, cpu): the command line, running the
parts asked for with their time stamps, and the section of docs/performance.md, in which
each part sits between its own markers so that ``--only`` replaces only what it ran."""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import REPO_DIR
from bench.probing.shared import PARTS
from bench.report import When, command_line, extract_section, section_markers, write_section

MAX_MINUTES = 240.0
# A comparison of CPU windows repeated more often than this is a bench of its own.
MAX_CPU_PAIRS = 20


def parse_fdts(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad FDT list {text!r}") from None
    if not values or any(not 100 <= v <= 60_000 for v in values):
        raise argparse.ArgumentTypeError("FDTs must be 100..60000 ms")
    return values


@dataclass
class Settings:
    """The command line, checked."""

    trials: int
    fdts: list[int]
    clean_minutes: float
    cpu_minutes: float
    parts: list[str]
    command: str
    rng: random.Random
    output: str
    cpu_pairs: int = 1
    when: dict[str, When] = field(default_factory=dict)


def parse(argv: Sequence[str] | None, *, module: str, description: str, section: str,
          trials: int, quick_trials: int, max_trials: int, trials_help: str,
          cpu_pairs: int | None = None) -> Settings:
    """The benchmark's arguments (``module``: e.g. bench.probing); a bad one exits with
    argparse's usage error. ``cpu_pairs``: the CPU part compares two configurations in
    that many pairs of windows (``--cpu-pairs``; None: one measurement, no option)."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="run only this part (repeatable); default: all three")
    parser.add_argument("--trials", type=int, default=trials, help=trials_help)
    parser.add_argument("--fdt", type=parse_fdts, default=[1000, 10000],
                        help="FDTs (ms) for the detection part, comma separated")
    parser.add_argument("--clean-minutes", type=float, default=10.0)
    parser.add_argument("--cpu-minutes", type=float, default=5.0)
    if cpu_pairs is not None:
        parser.add_argument("--cpu-pairs", type=int, default=cpu_pairs,
                            help="pairs of CPU windows, in alternating order")
    parser.add_argument("--quick", action="store_true",
                        help=f"{quick_trials} trials, 1-minute clean and CPU runs (development)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the random waits")
    parser.add_argument("--output", default=str(REPO_DIR / "docs" / "performance.md"),
                        help=f"Markdown file whose {section} section is (re)written; '' to "
                        "skip")
    args = parser.parse_args(argv)
    n = quick_trials if args.quick else args.trials
    clean = 1.0 if args.quick else args.clean_minutes
    cpu = 1.0 if args.quick else args.cpu_minutes
    if not 1 <= n <= max_trials:
        parser.error(f"--trials must be 1..{max_trials}")
    if not 0.1 <= clean <= MAX_MINUTES or not 0.1 <= cpu <= MAX_MINUTES:
        parser.error(f"minutes must be 0.1..{MAX_MINUTES:g}")
    pairs = 1 if args.quick or cpu_pairs is None else args.cpu_pairs
    if not 1 <= pairs <= MAX_CPU_PAIRS:
        parser.error(f"--cpu-pairs must be 1..{MAX_CPU_PAIRS}")
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    return Settings(n, args.fdt, clean, cpu, args.only or list(PARTS),
                    command_line(module, argv), random.Random(args.seed), args.output,
                    pairs)


def run_parts(settings: Settings, name: str, runners: dict[str, Callable[[], Any]],
              section: str, builder: Callable[[str, dict[str, Any], Settings], str]
              ) -> tuple[dict[str, Any], list[str]]:
    """Run the parts asked for, in PARTS' order; after each one, rewrite the section
    (a later abort loses nothing). Returns the results by part and the parts aborted (a
    BenchError, or a lab that could not be built)."""
    results: dict[str, Any] = {}
    aborted: list[str] = []
    for part in (p for p in PARTS if p in settings.parts):
        settings.when[part] = When(When.now(), os.getloadavg()[0])
        try:
            results[part] = runners[part]()
        except RuntimeError as exc:
            print(f"{name} benchmark, part {part} aborted: {exc}", file=sys.stderr)
            aborted.append(part)
            continue
        settings.when[part].finish()
        if settings.output:
            write_section(Path(settings.output), section,
                          lambda old: builder(old, results, settings))
    return results, aborted


def stamp(settings: Settings, part: str) -> str:
    """When and where a part was measured, and by which command."""
    w = settings.when[part]
    return (f"Measured {w.start} to {w.end} on code {w.code}; kernel {platform.release()}; "
            f"{os.cpu_count()} CPUs; load average (1 min) {w.load_start:.2f} at the start, "
            f"{w.load_end:.2f} at the end; command `{settings.command}`")


def section_parts(old: str, section: str, fresh: dict[str, list[str] | None]) -> list[str]:
    """Each part's lines between its markers: measured now, else kept from ``old``."""
    lines: list[str] = []
    for part in PARTS:
        begin, end = section_markers(f"{section}-{part}")
        body = fresh.get(part)
        if body is not None:
            lines += [begin, *body, end, ""]
            continue
        kept = extract_section(old, begin, end)
        lines += [kept, ""] if kept else [begin, f"Part *{part}* not measured yet.", end, ""]
    return lines
