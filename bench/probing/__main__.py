"""``python -m bench.probing``: runs the parts asked for, prints their tables and
rewrites the probing section of docs/performance.md (see the package docstring)."""

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
from pathlib import Path

from bench.common import PYTHON, REPO_DIR
from bench.probing.clean import CleanResult, clean_rows, clean_targets, md_clean, run_clean
from bench.probing.cpu import CpuResult, cpu_rows, cpu_targets, md_cpu, run_cpu
from bench.probing.detection import (
    DetectionResult,
    detection_rows,
    detection_targets,
    md_detection,
    run_detection,
)
from bench.probing.shared import (
    CPU_FDT_MS,
    CPU_GROUPS,
    CPU_MEMBERS,
    MAX_TRIALS,
    PARTS,
    ROUTER,
    SECTION,
    say,
)
from bench.report import (
    When,
    command_line,
    extract_section,
    section_markers,
    text_table,
    write_section,
)


def print_report(
    detection: list[DetectionResult] | None, clean: CleanResult | None, cpu: CpuResult | None
) -> None:
    if detection:
        say("\n(a) detection time / FDT")
        for line in text_table(detection_rows(detection)):
            say(line)
        for r in detection:
            for note in r.notes:
                say(f"note (FDT {r.fdt_ms / 1000:g} s): {note}")
        for line in detection_targets(detection):
            say(line)
    if clean is not None:
        say("\n(b) false failures during a clean run")
        for line in text_table(clean_rows(clean)):
            say(line)
        for line in clean_targets(clean):
            say(line)
    if cpu is not None and cpu.ours is not None:
        say(f"\n(c) CPU and memory, {CPU_GROUPS} groups x {CPU_MEMBERS} members at FDT "
            f"{CPU_FDT_MS / 1000:g} s")
        for line in text_table(cpu_rows(cpu)):
            say(line)
        for note in cpu.notes:
            say(f"note: {note}")
        for line in cpu_targets(cpu):
            say(line)


def markdown_section(
    old: str,
    detection: list[DetectionResult] | None,
    clean: CleanResult | None,
    cpu: CpuResult | None,
    command: str,
    when: dict[str, When],
) -> str:
    def stamp(part: str) -> str:
        w = when[part]
        return (
            f"Measured {w.start} to {w.end} on code {w.code}; kernel {platform.release()}; "
            f"{os.cpu_count()} CPUs; load average (1 min) {w.load_start:.2f} at the start, "
            f"{w.load_end:.2f} at the end; command `{command}`"
        )

    fresh = {
        "detection": md_detection(detection, stamp("detection")) if detection else None,
        "clean": md_clean(clean, stamp("clean")) if clean is not None else None,
        "cpu": md_cpu(cpu, stamp("cpu")) if cpu is not None and cpu.ours is not None else None,
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
    text = "\n".join(
        [
            "## Probe-based failure detection",
            "",
            "`bench/probing/` (its package docstring has the full method). ipmpd runs in a "
            "lab's node namespace (veth NICs on a bridge, a router namespace at "
            f"{ROUTER} answering ICMP echo), configured with ipmpadm: one test address per "
            "member, the router as probe target through a declared route. Three parts: "
            "(a) how long after a member's probe path breaks (link still up) the daemon "
            "declares it failed, as a fraction of the FDT; (b) false failures in a clean "
            "run; (c) the daemon's CPU time and memory while probing 16 members, against a "
            "minimal prober. The full run (about 30 min):",
            "",
            f"    {PYTHON} -m bench.probing",
            "",
            "The daemon wakes up in batches (docs/design.md, *Wake-ups in batches*): at "
            "most once per half probe interval, reading the replies that came in since "
            "with their kernel receive times, then sending what is due. This is what "
            "brought (c) under the target (before batching, on code 232ca79: 7.06 % of "
            "one core; the baseline prober wakes up for every reply); it "
            "can add up to half an interval, FDT/14, to a detection in (a) (maximum at "
            "FDT 1 s before batching: 0.683 x FDT).",
            "",
            *parts,
        ]
    )
    return re.sub(r"\n{3,}", "\n\n", text)


# ---------------------------------------------------------------------------- main


def parse_fdts(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad FDT list {text!r}") from None
    if not values or any(not 100 <= v <= 60_000 for v in values):
        raise argparse.ArgumentTypeError("FDTs must be 100..60000 ms")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.probing",
        description="Probe-detection benchmarks of ipmpd: detection time / FDT, false "
        "failures in a clean run, CPU and memory while probing 16 members."
    )
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="run only this part (repeatable); default: all three")
    parser.add_argument("--trials", type=int, default=20, help="detection trials per FDT")
    parser.add_argument("--fdt", type=parse_fdts, default=[1000, 10000],
                        help="FDTs (ms) for the detection part, comma separated")
    parser.add_argument("--clean-minutes", type=float, default=10.0)
    parser.add_argument("--cpu-minutes", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true",
                        help="3 trials per FDT, 1-minute clean and CPU runs (development)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the random waits")
    parser.add_argument(
        "--output",
        default=str(REPO_DIR / "docs" / "performance.md"),
        help="Markdown file whose probing section is (re)written; '' to skip",
    )
    args = parser.parse_args(argv)
    trials = 3 if args.quick else args.trials
    clean_min = 1.0 if args.quick else args.clean_minutes
    cpu_min = 1.0 if args.quick else args.cpu_minutes
    if not 1 <= trials <= MAX_TRIALS:
        parser.error(f"--trials must be 1..{MAX_TRIALS}")
    if not 0.1 <= clean_min <= 240 or not 0.1 <= cpu_min <= 240:
        parser.error("minutes must be 0.1..240")
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    parts = args.only or list(PARTS)
    command = command_line("bench.probing", argv)
    rng = random.Random(args.seed)

    started = time.monotonic()
    detection: list[DetectionResult] | None = None
    clean: CleanResult | None = None
    cpu: CpuResult | None = None
    when: dict[str, When] = {}
    aborted: list[str] = []
    for part in PARTS:
        if part not in parts:
            continue
        when[part] = When(When.now(), os.getloadavg()[0])
        try:
            if part == "detection":
                detection = run_detection(args.fdt, trials, rng)
            elif part == "clean":
                clean = run_clean(clean_min)
            else:
                cpu = run_cpu(cpu_min)
        except RuntimeError as exc:  # BenchError, or a lab that could not be built
            print(f"probing benchmark, part {part} aborted: {exc}", file=sys.stderr)
            aborted.append(part)
            continue
        when[part].finish()
        if args.output:  # after every part, so that a later abort loses nothing
            builder = functools.partial(
                markdown_section,
                detection=detection,
                clean=clean,
                cpu=cpu,
                command=command,
                when=when,
            )
            write_section(Path(args.output), SECTION, builder)
    print_report(detection, clean, cpu)
    say(f"\n(run took {time.monotonic() - started:.0f} s)")
    if args.output and len(aborted) < len(parts):
        say(f"wrote {args.output}")
    return 1 if aborted else 0


if __name__ == "__main__":
    sys.exit(main())
