"""The Prometheus alert rules in docs/operations.md: promtool accepts them, and every
clearview_ipmp_ metric they use, with every label value they match, is one the daemon
writes (a renamed metric would leave an alert that never fires)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ipmp_core.daemon.metrics_text import METRICS, PREFIX
from ipmp_core.model import GroupState
from tests.support.prometheus import STALE_FILE_RE

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
PROMTOOL_TIMEOUT_S = 30
_YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)
_METRIC = re.compile(rf"\b{PREFIX}[a-z0-9_]+")
_STATE_MATCH = re.compile(r'state="([a-z]+)"')


def rules_text() -> str:
    blocks = _YAML_BLOCK.findall(OPERATIONS.read_text())
    assert len(blocks) == 1, "docs/operations.md should have one yaml block: the rules"
    return blocks[0]


def _promtool(path: Path) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not installed (scripts/install-deps.sh: prometheus)"
    return subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=PROMTOOL_TIMEOUT_S)


def test_promtool_accepts_the_documented_rules(tmp_path: Path) -> None:
    path = tmp_path / "clearview-ipmp.rules.yml"
    path.write_text(rules_text())
    res = _promtool(path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS: 4 rules found" in res.stdout


def test_promtool_check_can_fail(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(rules_text().replace("== 1", "== ", 1))
    assert _promtool(path).returncode != 0


def test_rules_use_metric_names_the_daemon_writes() -> None:
    text = rules_text()
    used = set(_METRIC.findall(text))
    written = {PREFIX + name for name in METRICS}
    assert used, "the rules name no clearview_ipmp_ metric"
    assert used <= written, f"not written by the daemon: {sorted(used - written)}"
    assert {f"{PREFIX}group_state"} <= used
    # The staleness rule's file matcher is the one the netns test checks against the
    # exporter's node_textfile_mtime_seconds.
    assert f'file=~"{STALE_FILE_RE}"' in text
    states = set(_STATE_MATCH.findall(text))
    assert states == {"failed", "degraded"}
    assert states <= {str(s) for s in GroupState}
