"""The demo's second act runs docs/pacemaker.md's recipes as written: every pcs command
it runs is in the guide (with the guide's NIC names eth1 eth2 for the lab's e0 e1), so
neither the guide nor the demo can change without the other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import demo_cluster

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "pacemaker.md"
# The lab's data NICs and the names the guide gives them.
GUIDE_NICS = {"e0": "eth1", "e1": "eth2"}


def guide_text() -> str:
    """The guide with continuation lines joined and runs of blanks made one space."""
    text = re.sub(r"\\\n\s*", " ", GUIDE.read_text())
    return re.sub(r"[ \t]+", " ", text)


def as_in_guide(argv: list[str]) -> str:
    words = " ".join(demo_cluster.shell_words(argv))
    return re.sub(r"\b(e[01])\b", lambda m: GUIDE_NICS[m.group(1)], words)


COMMANDS = [demo_cluster.STICKINESS, *demo_cluster.recipe()]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a[1:4]) for a in COMMANDS])
def test_every_pcs_command_of_the_demo_is_in_the_guide(argv: list[str]) -> None:
    assert as_in_guide(argv) in guide_text(), (
        f"the demo runs `{as_in_guide(argv)}`, which docs/pacemaker.md does not show")


def test_the_check_sees_a_command_the_guide_does_not_have() -> None:
    changed = [*demo_cluster.recipe()[0][:-1], "meta", "interleave=true", "clone"]
    assert as_in_guide(changed) not in guide_text()


def test_commands_are_printed_as_typed_and_wrapped() -> None:
    lines = demo_cluster.command_lines("n1", demo_cluster.recipe()[0], width=60)
    assert lines[0].startswith("n1# pcs resource create net ")
    assert 'interfaces="e0 e1"' in " ".join(lines)
    assert all(line.endswith(" \\") for line in lines[:-1]) and len(lines) > 2
    assert all(line.startswith("    ") for line in lines[1:])
    joined = " ".join(line.removesuffix(" \\").strip() for line in lines)
    assert joined == "n1# " + " ".join(demo_cluster.shell_words(demo_cluster.recipe()[0]))
