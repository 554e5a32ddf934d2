"""The floating-address agent's dad_wait reaches the daemon's ARP probe as its timing."""

from __future__ import annotations

import pytest

from ipmp_core.net.dad import MAX_WAIT_MS, MIN_WAIT_MS, probe_timing


def test_a_wait_is_two_probes_a_quarter_apart_then_listening() -> None:
    assert probe_timing(100) == pytest.approx({"count": 2, "interval": 0.025, "wait": 0.075})


def test_a_wait_out_of_bounds_is_brought_into_them() -> None:
    assert probe_timing(1)["interval"] == pytest.approx(MIN_WAIT_MS / 4000)
    assert probe_timing(10**9)["wait"] == pytest.approx(MAX_WAIT_MS * 3 / 4000)


@pytest.mark.parametrize("bad", [None, "100", True, float("nan"), float("inf"), [100]])
def test_anything_but_a_number_keeps_the_default_timing(bad: object) -> None:
    assert probe_timing(bad) == {}
