"""Round-trip time estimation per probe target (in.mpathd after Jacobson/Karels).

The estimate decides when an unanswered probe counts as lost: a target that usually
answers in 0.2 ms is declared lost after about 1 ms, not after a whole probe interval,
which is what lets failure detection finish within the FDT.
"""

from __future__ import annotations

from ipmp_core.constants import MAX_DEFERRED_RTT


class RttEstimator:
    """Smoothed RTT ``sa`` (8 x average) and mean deviation ``sv`` (4 x deviation), in ms."""

    __slots__ = ("deferred", "sa", "sv")

    def __init__(self) -> None:
        self.sa: float | None = None
        self.sv = 0.0
        self.deferred: list[float] = []  # suspect samples held back (MAX_DEFERRED_RTT)

    @staticmethod
    def _next(sa: float | None, sv: float, sample_ms: float) -> tuple[float, float]:
        m = max(0.0, sample_ms)
        if sa is None:
            # First sample: average m, deviation m/2, so crtt = 3m until more samples
            # arrive (a generous first guess, never a false loss on the second probe).
            return 8 * m, 2 * m
        err = m - sa / 8
        return sa + err, sv + abs(err) - sv / 4

    def add(self, sample_ms: float) -> None:
        self.sa, self.sv = self._next(self.sa, self.sv, sample_ms)

    def add_probe(self, sample_ms: float, interval: float) -> bool:
        """A failure-detection probe's round trip (in.mpathd's pi_set_crtt): a sample that
        alone would lift the crtt above ``interval`` is held back, unless MAX_DEFERRED_RTT
        such samples came just before it; an ordinary sample drops what was held back.
        True when the estimate changed."""
        sa, sv = self._next(self.sa, self.sv, sample_ms)
        if sa / 8 + sv > interval:
            if len(self.deferred) < MAX_DEFERRED_RTT:
                self.deferred.append(sample_ms)
                return False
            for held in [*self.deferred, sample_ms]:
                self.add(held)
            self.deferred.clear()
            return True
        self.sa, self.sv = sa, sv
        self.deferred.clear()
        return True

    def add_rtt_probe(self, sample_ms: float) -> bool:
        """A PROBE_RTT probe's round trip (in.mpathd's pi_set_crtt() with is_probe_uni
        false): taken only when it lowers a known crtt. RTT probes are sent only to bring
        a raised FDT down quickly; an increase is the failure-detection probes' to
        measure, and with several probes outstanding it would be counted many times.
        True when the estimate changed."""
        if self.sa is None:
            return False  # in.mpathd: tg_crtt 0, and no sample is lower than that
        sa, sv = self._next(self.sa, self.sv, sample_ms)
        if sa / 8 + sv >= self.crtt:
            return False
        self.sa, self.sv = sa, sv
        return True

    def reset(self) -> None:
        self.sa = None
        self.sv = 0.0
        self.deferred.clear()

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
