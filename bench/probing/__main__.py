"""``python -m bench.probing``: runs the parts asked for, prints their tables and
rewrites the probing section of docs/performance.md (see the package docstring)."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.common import VENV_PYTHON
from bench.probing.clean import CleanResult, clean_rows, clean_targets, md_clean, run_clean
from bench.probing.cpu import CpuResult, cpu_rows, cpu_targets, md_cpu, run_cpu
from bench.probing.detection import (
    DetectionResult,
    detection_rows,
    detection_targets,
    md_detection,
    run_detection,
)
from bench.probing.runner import Settings, parse, run_parts, section_parts, stamp
from bench.probing.shared import (
    CPU_FDT_MS,
    CPU_GROUPS,
    CPU_MEMBERS,
    MAX_TRIALS,
    ROUTER,
    SECTION,
    say,
)
from bench.report import (
    text_table,
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


def markdown_section(old: str, results: dict[str, Any], settings: Settings) -> str:
    detection: list[DetectionResult] | None = results.get("detection")
    clean: CleanResult | None = results.get("clean")
    cpu: CpuResult | None = results.get("cpu")
    fresh = {
        "detection": md_detection(detection, stamp(settings, "detection")) if detection
        else None,
        "clean": md_clean(clean, stamp(settings, "clean")) if clean is not None else None,
        "cpu": md_cpu(cpu, stamp(settings, "cpu")) if cpu is not None and cpu.ours is not None
        else None,
    }
    parts = section_parts(old, SECTION, fresh)
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
            f"    {VENV_PYTHON} -m bench.probing",
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


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse(
        argv, module="bench.probing", section=SECTION, trials=20, quick_trials=3,
        max_trials=MAX_TRIALS, trials_help="detection trials per FDT",
        description="Probe-detection benchmarks of ipmpd: detection time / FDT, false "
        "failures in a clean run, CPU and memory while probing 16 members.")
    started = time.monotonic()
    runners = {
        "detection": lambda: run_detection(settings.fdts, settings.trials, settings.rng),
        "clean": lambda: run_clean(settings.clean_minutes),
        "cpu": lambda: run_cpu(settings.cpu_minutes),
    }
    results, aborted = run_parts(settings, "probing", runners, SECTION, markdown_section)
    print_report(results.get("detection"), results.get("clean"), results.get("cpu"))
    say(f"\n(run took {time.monotonic() - started:.0f} s)")
    if settings.output and len(aborted) < len(settings.parts):
        say(f"wrote {settings.output}")
    return 1 if aborted else 0


if __name__ == "__main__":
    sys.exit(main())
