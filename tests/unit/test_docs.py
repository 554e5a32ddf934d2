"""Everything generated from the declarations (docs/agents.md, man/, completion/) must
be what the generator writes now: `make docs` regenerates it, this test catches a
declaration changed without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import cli as ocf_cli
from agents.cli import reference
from agents.generated import generated

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GENERATED = generated(ocf_cli)


def test_agent_reference_is_generated_from_the_declarations():
    text = (DOCS / "agents.md").read_text()
    assert text == reference(), "docs/agents.md is stale: run `make docs`"
    for name in ("ocf:clearview:ipmp", "ocf:clearview:ipmp-address", "failure_detection_time",
                 "arp_count_refresh"):
        assert name in text


@pytest.mark.parametrize("rel", sorted(GENERATED))
def test_a_committed_generated_file_is_what_the_generator_writes_now(rel: str) -> None:
    path = ROOT / rel
    assert path.exists(), f"{rel} is missing: run `make docs` and commit it"
    assert path.read_text() == GENERATED[rel], f"{rel} is stale: run `make docs`"


def test_every_page_and_the_completion_are_generated() -> None:
    expected = {"man/ipmpd.8", "man/ipmpadm.8", "man/ipmpstat.8", "man/ipmp-ocf.8",
                "man/ocf_clearview_ipmp.7", "man/ocf_clearview_ipmp-address.7",
                "man/clearview-ipmp.5", "completion/clearview-ipmp", "docs/agents.md"}
    assert set(GENERATED) == expected
    committed = {f"man/{p.name}" for p in (ROOT / "man").iterdir()}
    assert committed == {rel for rel in expected if rel.startswith("man/")}, \
        "a page in man/ that nothing generates"


def test_the_drift_check_sees_a_changed_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    from ipmp_core.cli import ipmpadm

    monkeypatch.setattr(ipmpadm.cli.commands["offline"], "help", "Changed without make docs.")
    assert generated(ocf_cli)["man/ipmpadm.8"] != (ROOT / "man/ipmpadm.8").read_text()
