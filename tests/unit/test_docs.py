"""docs/ that is generated must match what generates it."""

from __future__ import annotations

from pathlib import Path

from agents.cli import reference

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_agent_reference_is_generated_from_the_declarations():
    text = (DOCS / "agents.md").read_text()
    assert text == reference(), "docs/agents.md is stale: run `ipmp-ocf docs -o docs/agents.md`"
    for name in ("ocf:clearview:ipmp", "ocf:clearview:ipmp-address", "failure_detection_time",
                 "arp_count_refresh"):
        assert name in text
