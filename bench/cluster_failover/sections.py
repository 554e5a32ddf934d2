"""The report's parts both scenarios use: the terminal table, the verdicts, the
results table and notes of a section of docs/performance.md."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from bench.cluster_failover.shared import (
    PING_FACTOR,
    Result,
)
from bench.cluster_failover.trials import fmt
from bench.report import (
    load_averages,
    markdown_table,
    now_utc,
    text_table,
)

# ---------------------------------------------------------------------------- report

# Targets (issue 9): ours within twice the floor's median, and no trial of ours slower
# than the median of the ethmonitor baseline.
FLOOR_FACTOR = 2.0


def table_rows(results: list[Result]) -> list[list[str]]:
    rows = [["implementation", "trials", "median s", "max s", "min s", "median detected s",
             "median stopped on A s", "median started on B s", "max repair gap s"]]
    for r in results:
        rows.append([
            r.name, str(len(r.trials)), f"{r.median:.2f}", f"{r.maximum:.2f}",
            f"{min(r.outages):.2f}" if r.trials else "-",
            fmt(r.median_of(lambda t: t.detected_s)),
            fmt(r.median_of(lambda t: t.stopped_on_a_s)),
            fmt(r.median_of(lambda t: t.started_on_b_s)),
            f"{max(t.repair_gap_s for t in r.trials):.3f}" if r.trials else "-",
        ])
    return rows


def by_node(r: Result) -> dict[str, list[float]]:
    """Outages grouped by the node that failed."""
    out: dict[str, list[float]] = {}
    for t in r.trials:
        out.setdefault(t.from_node, []).append(t.outage_s)
    return out


def outage_lines(results: list[Result], per_trial: list[str], notes: list[str]) -> list[str]:
    """The median outage by failed node, then every trial: both sections say it alike."""
    return [
        "Median outage by failed node (s): "
        + "; ".join(f"{r.name} " + ", ".join(
            f"{node} {statistics.median(v):.2f} ({len(v)})"
            for node, v in sorted(by_node(r).items())) for r in results) + ".",
        "",
        "Per-trial outage (s), in order, with the failed and the surviving node:",
        "",
        *per_trial,
        *notes,
        "",
    ]


def verdicts(res: dict[str, Result]) -> list[str]:
    ours, base, floor = res["ours"], res["baseline"], res["floor"]
    limit = FLOOR_FACTOR * floor.median
    first = "MET" if ours.median <= limit else "MISSED"
    worst = ours.maximum
    second = "MET" if worst <= base.median else "MISSED"
    return [
        f"- ours' median {ours.median:.2f} s <= {FLOOR_FACTOR:g} x the floor's median "
        f"({floor.median:.2f} s, so {limit:.2f} s): **{first}** (ratio "
        f"{ours.median / floor.median:.2f})",
        f"- every trial of ours (max {worst:.2f} s) <= the ethmonitor baseline's median "
        f"({base.median:.2f} s): **{second}**",
    ]


def probe_verdicts(res: dict[str, Result]) -> list[str]:
    ours, ping = res["ours"], res["ping"]
    limit = PING_FACTOR * ping.median
    verdict = "MET" if ours.median <= limit else "MISSED"
    return [
        f"- ours' median {ours.median:.2f} s <= {PING_FACTOR:g} x the ping baseline's median "
        f"({ping.median:.2f} s): **{verdict}** (ratio {ours.median / ping.median:.2f})",
    ]


def print_report(res: dict[str, Result],
                 judge: Callable[[dict[str, Result]], list[str]] = verdicts) -> None:
    print()
    for line in text_table(table_rows(list(res.values()))):
        print(line)
    print()
    for r in res.values():
        print(f"{r.name} per trial (s): " + ", ".join(f"{g:.2f}" for g in r.outages))
    print()
    for line in judge(res):
        print(line)


@dataclass
class SectionParts:
    """What both scenarios' sections of docs/performance.md show alike."""

    table: str
    per_trial: list[str]
    notes: list[str]
    both: dict[str, int]
    versions: dict[str, str]
    date: str
    load: str


def section_parts(results: list[Result]) -> SectionParts:
    per_trial = [
        f"- {r.name}: " + ", ".join(f"{t.outage_s:.2f} ({t.from_node}->{t.to_node})"
                                    for t in r.trials)
        for r in results
    ]
    notes = [f"- note, {r.name} trial {i + 1}: {t.note}"
             for r in results for i, t in enumerate(r.trials) if t.note]
    versions: dict[str, str] = {}
    for r in results:
        versions.update(r.versions)
    return SectionParts(
        table=markdown_table(table_rows(results)),
        per_trial=per_trial,
        notes=notes,
        both={r.name: sum(t.both_answered for t in r.trials) for r in results},
        versions=versions,
        date=now_utc(),
        load=load_averages(),
    )
