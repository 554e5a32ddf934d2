"""The engine's clock as the daemon reads it: monotonic milliseconds (the engine itself
never reads a clock, so that its rules run on a fake one in the tests)."""

from __future__ import annotations

import time


def now_ms() -> float:
    return time.monotonic() * 1000.0
