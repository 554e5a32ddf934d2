"""Round-trip time estimation per probe target (in.mpathd after Jacobson/Karels).

The estimate decides when an unanswered probe counts as lost: a target that usually
answers in 0.2 ms is declared lost after about 1 ms, not after a whole probe interval,
which is what lets failure detection finish within the FDT.
"""

from __future__ import annotations


class RttEstimator:
    """Smoothed RTT ``sa`` (8 x average) and mean deviation ``sv`` (4 x deviation), in ms."""

    __slots__ = ("sa", "sv")

    def __init__(self) -> None:
        self.sa: float | None = None
        self.sv = 0.0

    def add(self, sample_ms: float) -> None:
        m = max(0.0, sample_ms)
        if self.sa is None:
            # First sample: average m, deviation m/2, so crtt = 3m until more samples
            # arrive (a generous first guess, never a false loss on the second probe).
            self.sa = 8 * m
            self.sv = 2 * m
            return
        err = m - self.sa / 8
        self.sa += err
        self.sv += abs(err) - self.sv / 4

    def reset(self) -> None:
        self.sa = None
        self.sv = 0.0

    @property
    def known(self) -> bool:
        return self.sa is not None

    @property
    def average(self) -> float:
        return 0.0 if self.sa is None else self.sa / 8

    @property
    def deviation(self) -> float:
        return self.sv / 4

    @property
    def crtt(self) -> float:
        """Average plus four mean deviations: a reply later than this is (almost surely)
        not coming. 0 when nothing is known yet."""
        return 0.0 if self.sa is None else self.sa / 8 + self.sv
