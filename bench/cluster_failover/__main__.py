"""``python -m bench.cluster_failover``: arguments, one cluster per stack, the report."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.cluster_failover.section_cables import markdown_section
from bench.cluster_failover.section_dark import probe_markdown_section
from bench.cluster_failover.sections import print_report, probe_verdicts
from bench.cluster_failover.shared import MAX_TRIALS, PRIVATE_OCF, Result
from bench.cluster_failover.stacks import SCENARIOS, install_private_agents
from bench.cluster_failover.trials import run_stack
from bench.common import REPO_DIR, BenchError
from bench.report import (
    command_line,
    write_section,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster_failover",
        description="Two-node Pacemaker failover outage: ocf:clearview against "
                    "ethmonitor + IPaddr2.")
    parser.add_argument("--trials", type=int, default=5, help="trials per implementation")
    parser.add_argument("--seed", type=int, default=1, help="seed of the pull offsets")
    parser.add_argument("--scenario", choices=("cables", "probe", "both"), default="both",
                        help="cables: both cables of A pulled (ours, ethmonitor baseline, "
                        "floor); probe: both paths of A dark, links up (ours, ping "
                        "baseline); both (default): one after the other")
    parser.add_argument("--only", choices=("ours", "baseline", "floor", "ping"),
                        help="one implementation only (development; writes no document)")
    parser.add_argument("--output", default=str(REPO_DIR / "docs" / "performance.md"),
                        help="Markdown file whose sections are (re)written; '' to skip")
    args = parser.parse_args(argv)
    if not 1 <= args.trials <= MAX_TRIALS:
        parser.error(f"--trials must be 1..{MAX_TRIALS}")
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces, Pacemaker)")
    command = command_line("bench.cluster_failover", argv)
    scenarios = [s for s in SCENARIOS.values() if args.scenario in ("both", s.key)]
    if args.only is not None and not any(st.name == args.only
                                         for s in scenarios for st in s.stacks()):
        parser.error(f"--only {args.only} is not part of --scenario {args.scenario}")

    started = time.monotonic()
    done: dict[str, dict[str, Result]] = {}
    try:
        install_private_agents()
        for scenario in scenarios:
            results = done.setdefault(scenario.key, {})
            for stack in scenario.stacks():
                if args.only not in (None, stack.name):
                    continue
                print(f"{scenario.key}/{stack.name}: starting a two-node cluster", flush=True)
                results[stack.name] = run_stack(stack, scenario, args.trials, args.seed)
                r = results[stack.name]
                print(f"{scenario.key}/{stack.name}: done in {r.run_s:.0f} s (cluster "
                      f"start {r.cluster_start_s:.1f} s, setup {r.setup_s:.1f} s)",
                      flush=True)
    except BenchError as exc:
        print(f"cluster failover benchmark aborted: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(PRIVATE_OCF, ignore_errors=True)
    print(f"\n(run took {time.monotonic() - started:.0f} s)")
    if args.only is not None:
        for key, results in done.items():
            r = results[args.only]
            print(f"{key}/{r.name}: median {r.median:.2f} s, max {r.maximum:.2f} s, per "
                  "trial: " + ", ".join(f"{g:.2f}" for g in r.outages))
        return 0
    for key, results in done.items():
        print(f"\n== {key}")
        if key == "cables":
            print_report(results)
        else:
            print_report(results, probe_verdicts)
    if args.output:
        path = Path(args.output)
        for key, results in done.items():
            if key == "cables":
                body = markdown_section(results, command, args.seed)
            else:
                body = probe_markdown_section(results, command, args.seed)
            write_section(path, SCENARIOS[key].section, body)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
