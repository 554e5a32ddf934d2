"""``python -m bench.scale``: arguments, the run, the report and the docs section."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import REPO_DIR
from bench.report import (
    command_line,
    write_section,
)
from bench.scale.sections import markdown_section, print_report
from bench.scale.shared import DEFAULT_ADDRESSES, SECTION
from bench.scale.trials import run_benchmark


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale",
                                     description="ipmpd with many data addresses "
                                     "against ip -batch.")
    parser.add_argument("--addresses", type=int, default=DEFAULT_ADDRESSES)
    parser.add_argument("--output", default=str(REPO_DIR / "docs" / "performance.md"),
                        help="Markdown file whose scale section is (re)written; '' to skip")
    args = parser.parse_args(argv)
    if not 1 <= args.addresses <= 4000:
        parser.error("--addresses must be 1..4000")
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    command = command_line("bench.scale", argv)
    started = time.monotonic()
    try:
        result = run_benchmark(args.addresses)
    except RuntimeError as exc:
        print(f"scale benchmark aborted: {exc}", file=sys.stderr)
        return 1
    print_report(result)
    print(f"\n(run took {time.monotonic() - started:.0f} s)")
    if args.output:
        path = Path(args.output)
        write_section(path, SECTION, markdown_section(result, command))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
