"""bench/transitive part (c)'s verdict over pairs of CPU windows: the means of each kind
decide, every pair keeps its own ratio, and the table lists the windows in the order
they ran (the order alternates from pair to pair)."""

from __future__ import annotations

import pytest

from bench.probing.cpu import CpuSample
from bench.transitive.cpu import CpuPair, CpuRuns, cpu_targets, pair_rows


def sample(name: str, percent: float) -> CpuSample:
    """A 100-second window that used ``percent`` % of one core (all of it user time)."""
    return CpuSample(name=name, seconds=100.0, utime_s=percent, stime_s=0.0,
                     rss_max_kb=40_000, hwm_kb=40_000, probes=1000)


def pair(transitive: float, classic: float, transitive_first: bool) -> CpuPair:
    return CpuPair(sample("ipmpd (transitive)", transitive), sample("ipmpd", classic),
                   transitive_first)


def test_the_means_decide_not_a_single_pair() -> None:
    runs = CpuRuns(2.0, [pair(1.9, 1.8, True), pair(1.5, 1.8, False)])
    assert [round(p.ratio, 3) for p in runs.pairs] == [1.056, 0.833]
    assert runs.transitive_percent == pytest.approx(1.7)
    assert runs.classic_percent == pytest.approx(1.8)
    assert runs.ratio == pytest.approx(1.7 / 1.8)
    assert runs.met
    assert "MET" in cpu_targets(runs)[0] and "pairs 0.83 to 1.06" in cpu_targets(runs)[0]


def test_a_higher_mean_is_missed_even_when_one_pair_is_below() -> None:
    runs = CpuRuns(2.0, [pair(1.7, 1.8, True), pair(2.0, 1.8, False)])
    assert runs.pairs[0].ratio < 1.0
    assert not runs.met
    assert cpu_targets(runs)[0].endswith("MISSED")


def test_equal_means_are_met() -> None:
    assert CpuRuns(2.0, [pair(1.8, 1.8, True)]).met


def test_rows_follow_the_order_the_windows_ran_in() -> None:
    runs = CpuRuns(2.0, [pair(1.6, 1.8, True), pair(1.9, 1.8, False)])
    rows = pair_rows(runs)
    assert rows[0][0] == "pair" and rows[0][-1] == "CPU / classic"
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("1", "ipmpd (transitive)"), ("1", "ipmpd"),
        ("2", "ipmpd"), ("2", "ipmpd (transitive)"),
    ]
    # each transitive row carries its own pair's ratio
    assert rows[1][-1] == "0.89" and rows[4][-1] == "1.06"


def test_notes_and_failures_name_their_pair() -> None:
    first = pair(1.6, 1.8, True)
    first.failures, first.notes = 1, ["transitive: members not ok"]
    runs = CpuRuns(2.0, [first, pair(1.6, 1.8, False)])
    assert runs.failures == 1
    assert runs.notes == ["pair 1, transitive: members not ok"]
