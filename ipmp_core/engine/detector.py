"""The one small interface every failure detector implements.

Like teamd's link watchers: the group logic asks each detector for a verdict and never
knows how the verdict was reached. A member is failed when ANY detector says FAILED and
repaired only when NONE does (in.mpathd's combined rule); each detector keeps its own
hysteresis (the link detector's flapping rule, the probe detector's 10 good probes).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Verdict(StrEnum):
    """A detector's opinion of its interface."""

    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"  # no opinion (no targets, no link information): never fails a member


class Detector(Protocol):
    """What the rules ask of every detector (link, probes): a verdict and its timers."""

    name: str

    def verdict(self) -> Verdict:
        """The detector's current opinion of its interface."""
        ...

    def next_deadline(self) -> float | None:
        """When (ms, engine clock) the detector next wants tick() called, if ever."""
        ...

    def tick(self, now: float) -> list[str]:
        """Advance to ``now``; returns log lines for what changed."""
        ...
