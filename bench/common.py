"""What the benchmarks share: their results section in docs/performance.md, an ipmpd
started in a lab, reading a helper's output with a deadline, bounded waits and tables.

The benchmarks are scripts (``python bench/failover.py``), so this module is imported as
``common`` from the script's own directory. It holds only what two or more of them use;
what a benchmark measures and how it reports it stays in the benchmark.
"""

from __future__ import annotations

import os
import re
import selectors
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ipmp_core.lab import Lab

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PYTHON = sys.executable
VENV_BIN = Path(PYTHON).parent

# Bounded waits (seconds).
DAEMON_START_S = 15.0  # ipmpd answering on its control socket
POLL_S = 0.1


class BenchError(RuntimeError):
    """Something did not settle in time or behaved unexpectedly; the run is aborted."""


def mark(ok: bool) -> str:
    return "MET" if ok else "MISSED"


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


class LabDaemon:
    """One ipmpd in ``lab``'s node namespace, driven by ipmpadm/ipmpstat.

    Started by us through ``Lab.spawn`` (not by ipmpadm's auto-start) so that the lab
    kills it by PID at teardown. Its state and log live in ``state_dir``, and it is
    pointed at a defaults file that does not exist there: built-in defaults, whatever
    /etc/default/clearview-ipmp says on this machine.
    """

    #: Upper bound for one ipmpadm/ipmpstat call (seconds).
    tool_timeout_s = 30.0

    def __init__(self, lab: Lab, state_dir: str) -> None:
        self.lab = lab
        self.env = {**os.environ, "IPMP_STATE_DIR": state_dir}
        self.log_path = os.path.join(state_dir, "ipmpd.log")
        self.defaults = os.path.join(state_dir, "no-defaults-file")
        self.proc: subprocess.Popen[Any] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError("ipmpd is not running")
        return self.proc.pid

    def tool(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``name`` (ipmpadm, ipmpstat) from the venv in the node namespace."""
        argv = ["ip", "netns", "exec", self.lab.node, str(VENV_BIN / name), *args]
        proc = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=self.tool_timeout_s,
            check=False,
        )
        if check and proc.returncode != 0:
            raise BenchError(f"{name} {shlex.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def adm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.tool("ipmpadm", *args, check=check)

    def stat(self, *args: str) -> str:
        return self.tool("ipmpstat", *args).stdout

    def start(self) -> None:
        """Spawn ipmpd and wait until it answers ``ipmpadm show-config``."""
        self.proc = self.lab.spawn(
            self.lab.node,
            [str(VENV_BIN / "ipmpd"), "--log-file", self.log_path, "--defaults", self.defaults],
            env=self.env,
        )
        wait_until(
            "ipmpd answering",
            lambda: self.adm("show-config", check=False).returncode == 0,
            DAEMON_START_S,
        )

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "".join(self.log().splitlines(keepends=True)[-lines:])

    def shutdown(self) -> None:
        """``ipmpadm shutdown`` while it runs; the lab kills it anyway at teardown."""
        if self.proc is not None and self.proc.poll() is None:
            self.adm("shutdown", check=False)


# ---------------------------------------------------------------------------- report


def text_table(rows: list[list[str]]) -> list[str]:
    """Rows (the first one the header) as aligned text lines: the first column left-aligned,
    the others right-aligned, a rule under the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def markdown_table(rows: list[list[str]]) -> list[str]:
    """Rows (the first one the header) as a Markdown table."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows[1:]]


def section_markers(name: str) -> tuple[str, str]:
    """The comments that delimit benchmark ``name``'s section of docs/performance.md."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(path: Path, name: str, body: str | Callable[[str], str]) -> None:
    """Replace section ``name`` of ``path`` (or append it; create the file if needed),
    leaving the other sections as they are.

    ``body`` is the text between the markers, or a function of the section's current
    text between the markers ("" when there is none) that returns it: for a benchmark
    that keeps the parts of its section it did not measure this time.
    """
    begin, end = section_markers(name)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    old = re.search(re.escape(begin) + r"(.*?)" + re.escape(end), text, re.S)
    if callable(body):
        body = body(old.group(1) if old else "")
    section = f"{begin}\n{body}\n{end}"
    if old:
        text = text[: old.start()] + section + text[old.end() :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
