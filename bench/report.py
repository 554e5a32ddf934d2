"""How every benchmark reports: aligned text tables for the terminal, Markdown tables,
ratios against the baseline measured in the same run with their MET/MISSED verdict, the
command line to re-run it, and its own section of docs/performance.md rewritten in place
(the other sections stay as they are).
"""

from __future__ import annotations

import datetime
import math
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The checkout: the git commit a report names is read from it.
REPO_DIR = Path(__file__).resolve().parent.parent


def mark(ok: bool) -> str:
    """The verdict word of a target."""
    return "MET" if ok else "MISSED"


def ratio(ours: float, base: float) -> float:
    """ours / base; infinite when the baseline measured nothing (an instant baseline
    makes any cost of ours infinitely worse, not a division error)."""
    return ours / base if base > 0 else math.inf


def ratio_line(what: str, ours: float, base: float, target: float) -> str:
    """One line "WHAT: R (target <= T): MET" for the terminal and the docs."""
    r = ratio(ours, base)
    return f"{what}: {r:.2f}; target <= {target}: {mark(r <= target)}"


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """How this run was started, as a shell command: ``PYTHON -m bench.NAME ARGS``."""
    return shlex.join([sys.executable, "-m", module, *(sys.argv[1:] if argv is None else argv)])




def now_utc() -> str:
    """The time of a measurement as the reports give it."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def load_averages() -> str:
    """The machine's 1, 5 and 15-minute load averages: how busy it was while measured."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def code_version() -> str:
    """The commit under test, and whether ipmp_core/ differs from it (the daemon imports
    the working tree: the project is installed editable)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "ipmp_core"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} + uncommitted changes in ipmp_core/" if dirty else head


@dataclass
class When:
    """When a part ran, on which code, and how busy the machine was (1-minute load)."""

    start: str
    load_start: float
    code: str = field(default_factory=code_version)
    end: str = ""
    load_end: float = 0.0

    @staticmethod
    def now() -> str:
        return now_utc()

    def finish(self) -> None:
        self.end = self.now()
        self.load_end = os.getloadavg()[0]


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


def extract_section(text: str, begin: str, end: str) -> str | None:
    """The part of ``text`` from marker ``begin`` to marker ``end`` included, if any."""
    m = re.search(re.escape(begin) + r"(.*?)" + re.escape(end), text, re.S)
    return m.group(0) if m else None


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
