"""``python -m bench.failover``: arguments, the run, the report and the docs section."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import REPO_DIR
from bench.failover.sections import judge, markdown_section, print_report
from bench.failover.shared import MAX_TRIALS, SECTION
from bench.failover.trials import run_benchmark
from bench.report import (
    command_line,
    write_section,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.failover",
        description="Measure the client-visible failover outage of ipmpd against a baseline."
    )
    parser.add_argument("--trials", type=int, default=20, help="trials per implementation")
    parser.add_argument("--quick", action="store_true", help="5 trials (for development)")
    parser.add_argument(
        "--output",
        default=str(REPO_DIR / "docs" / "performance.md"),
        help="Markdown file whose failover section is (re)written; '' to skip",
    )
    args = parser.parse_args(argv)
    trials = 5 if args.quick else args.trials
    if not 1 <= trials <= MAX_TRIALS:
        # More would outrun the flap damping of ipmpd's 16 members (3 pulls each a minute).
        parser.error(f"--trials must be 1..{MAX_TRIALS}")
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    command = command_line("bench.failover", argv)

    started = time.monotonic()
    try:
        ours, base = run_benchmark(trials)
    except RuntimeError as exc:  # BenchError, or a lab that could not be built
        print(f"failover benchmark aborted: {exc}", file=sys.stderr)
        return 1
    verdict = judge(ours, base)
    print_report(ours, base, verdict)
    print(f"\n(run took {time.monotonic() - started:.0f} s)")
    if args.output:
        path = Path(args.output)
        write_section(path, SECTION, markdown_section(ours, base, verdict, command))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
