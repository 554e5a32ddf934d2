"""What the benchmarks share to run: an ipmpd started in a lab, reading a helper's
output with a deadline, bounded waits (their reports: bench.report).

The benchmarks run as modules from the checkout (``python -m bench.failover``), so that
they import the test lab and node helper as ``tests.support``. This module holds only what
two or more of them use; what a benchmark measures stays in the benchmark.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.node import Node

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PYTHON = sys.executable
# What the docs tell a reader to run a benchmark with: the venv `make venv` builds
# (a run's own command line, in its stamp, names the interpreter it really used).
VENV_PYTHON = "/opt/clearview-ipmp/venv/bin/python"

# Bounded waits (seconds).
DAEMON_START_S = 15.0  # ipmpd answering on its control socket
POLL_S = 0.1


class BenchError(RuntimeError):
    """Something did not settle in time or behaved unexpectedly; the run is aborted."""


def wait_until(what: str, check: Callable[[], Any], timeout: float, poll: float = POLL_S) -> Any:
    """Call ``check`` until it returns something truthy; raise BenchError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise BenchError(f"{what} did not happen within {timeout:.1f} s (last: {last!r})")
        time.sleep(poll)


# ---------------------------------------------------------------------------- processes


class LineSource:
    """Lines from a child's stdout pipe, read without blocking past a deadline (no thread)."""

    def __init__(self, proc: subprocess.Popen[bytes], what: str) -> None:
        if proc.stdout is None:
            raise ValueError("process needs stdout=PIPE")
        self.proc = proc
        self.what = what
        self.fd = proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)
        self.buf = b""
        self.eof = False

    def next_line(self, deadline: float) -> str | None:
        """The next line, or None once ``deadline`` (time.monotonic()) has passed."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self.eof:
                raise BenchError(f"{self.what} exited (status {self.proc.poll()}) unexpectedly")
            if not self.sel.select(min(left, 0.5)):
                continue
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                self.eof = True
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").strip()

    def readline(self, timeout: float) -> str:
        """The next line; BenchError if none comes within ``timeout`` seconds."""
        line = self.next_line(time.monotonic() + timeout)
        if line is None:
            raise BenchError(f"{self.what}: no output within {timeout:.1f} s")
        return line

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str:
        """Read lines until one satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        for _ in range(10_000):
            line = self.readline(max(0.0, deadline - time.monotonic()))
            if predicate(line):
                return line
        raise BenchError(f"{self.what}: too many unexpected lines")

    def expect(self, wanted: str, timeout: float) -> None:
        """Skip lines until one reads ``wanted`` (a helper's "READY")."""
        deadline = time.monotonic() + timeout
        for _ in range(10_000):
            line = self.next_line(deadline)
            if line is None:
                break
            if line == wanted:
                return
        raise BenchError(f"{self.what}: no {wanted!r} within {timeout:.1f} s")

    def close(self) -> None:
        self.sel.close()


class BenchNode(Node):
    """The shared node-daemon helper (tests.support.node) as the benchmarks use it: it
    fails with BenchError, and gives the daemon longer to answer on a loaded machine."""

    failure = BenchError
    start_timeout_s = DAEMON_START_S
