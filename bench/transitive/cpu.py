"""Part (c): ipmpd's CPU at 16 members with transitive probing against classic probing
(test addresses), in pairs of windows whose order alternates; its tables and text.

One window of each kind is one daemon in one lab (bench/probing part (c)'s). Two
windows of one daemon differ by a few per cent (the machine's other load, where the
interpreter's hash seed puts its dicts), about as much as the two kinds of probing
differ, so one pair says little. Pairs in alternating order (transitive first, then
classic first, ...) put a drift of the machine's load on both sides alike; the verdict
compares the mean CPU of all windows of each kind, and every pair's ratio is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean

from bench.probing.cpu import CpuResult, CpuSample, cpu_rows, run_cpu_ours
from bench.probing.shared import CPU_FDT_MS, CPU_GROUPS, CPU_MEMBERS, say
from bench.report import mark, markdown_table

__all__ = ["CpuPair", "CpuRuns", "cpu_targets", "md_cpu", "pair_rows", "run_cpu_runs"]


@dataclass
class CpuPair:
    """ipmpd at 16 members with transitive probing and with test addresses, one window
    each; ``transitive_first``: the order they ran in."""

    transitive: CpuSample
    classic: CpuSample
    transitive_first: bool
    failures: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.transitive.cpu_percent / self.classic.cpu_percent


@dataclass
class CpuRuns:
    """Every pair of one run; the verdict is on the means."""

    minutes: float
    pairs: list[CpuPair]

    @property
    def transitive_percent(self) -> float:
        return fmean(p.transitive.cpu_percent for p in self.pairs)

    @property
    def classic_percent(self) -> float:
        return fmean(p.classic.cpu_percent for p in self.pairs)

    @property
    def ratio(self) -> float:
        return self.transitive_percent / self.classic_percent

    @property
    def met(self) -> bool:
        return self.transitive_percent <= self.classic_percent

    @property
    def failures(self) -> int:
        return sum(p.failures for p in self.pairs)

    @property
    def notes(self) -> list[str]:
        return [f"pair {i}, {n}" for i, p in enumerate(self.pairs, 1) for n in p.notes]


def run_cpu_pair(minutes: float, transitive_first: bool) -> CpuPair:
    runs = {}
    for transitive in (True, False) if transitive_first else (False, True):
        runs[transitive] = run_cpu_ours(minutes, transitive=transitive)
    (t_sample, t_fail, t_notes), (c_sample, c_fail, c_notes) = runs[True], runs[False]
    return CpuPair(t_sample, c_sample, transitive_first, t_fail + c_fail,
                   [f"transitive: {n}" for n in t_notes] + [f"classic: {n}" for n in c_notes])


def run_cpu_runs(minutes: float, pairs: int) -> CpuRuns:
    done: list[CpuPair] = []
    for i in range(pairs):
        say(f"cpu: pair {i + 1} of {pairs}")
        done.append(run_cpu_pair(minutes, transitive_first=i % 2 == 0))
    return CpuRuns(minutes, done)


def pair_rows(runs: CpuRuns) -> list[list[str]]:
    """bench/probing's CPU table, two rows per pair in the order they ran, each
    transitive row with its ratio against the classic row of its pair."""
    rows: list[list[str]] = []
    for i, pair in enumerate(runs.pairs, 1):
        table = cpu_rows(CpuResult(runs.minutes, ours=pair.transitive, base=pair.classic))
        if not rows:
            rows.append(["pair", *table[0][:-1], "CPU / classic"])
        body = [[str(i), *row] for row in table[1:]]
        rows += body if pair.transitive_first else body[::-1]
    return rows


def cpu_targets(runs: CpuRuns) -> list[str]:
    ratios = [p.ratio for p in runs.pairs]
    return [
        f"CPU with transitive probing <= with test addresses, mean of {len(runs.pairs)} "
        f"window(s) each: {runs.transitive_percent:.2f} % vs {runs.classic_percent:.2f} % "
        f"of one core (ratio {runs.ratio:.3f}; pairs {min(ratios):.2f} to "
        f"{max(ratios):.2f}) -> {mark(runs.met)}",
        f"member failures during the windows: {runs.failures}",
    ]


def md_cpu(runs: CpuRuns, stamp: str) -> list[str]:
    return [
        "### (c) CPU at 16 members: transitive probing against test addresses",
        "",
        f"{stamp}. bench/probing part (c)'s lab: {CPU_GROUPS} groups x {CPU_MEMBERS} "
        f"members at FDT {CPU_FDT_MS / 1000:g} s, each group in its own /26 with the "
        "router's address there as target; no event subscriber. Measured the same way "
        f"(utime + stime over wall time after a warm-up, {runs.minutes:g} min each), "
        "with transitive probing and no test address (per group one member probes the "
        "router from the data address, three send transitive probes to it), and with a "
        f"test address on every member: {len(runs.pairs)} pair(s) of windows, each "
        "window its own daemon and lab, the order alternating from pair to pair; the "
        "verdict compares the means. probes/s counts the echo requests the router "
        "received (transitive probes never reach it).",
        "",
        *markdown_table(pair_rows(runs)),
        "",
        *[f"- note: {n}" for n in runs.notes],
        "",
        "Targets:",
        "",
        *[f"- {line}" for line in cpu_targets(runs)],
    ]
