"""The installed agent script answers meta-data from the text rendered at install time:
it must be byte for byte what the agent generates, and need none of the agent's imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents import cli


def _run(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=30,
                          check=False)


@pytest.mark.parametrize("name", sorted(cli.agents()))
def test_installed_meta_data_is_the_generated_one(tmp_path: Path, name: str) -> None:
    (path,) = [p for p in cli.install(str(tmp_path)) if p.name == name]
    res = _run(path, "meta-data")
    generated = cli.agents()[name].run_action("meta-data", {}, prog=name)
    assert res.returncode == 0, res.stderr
    assert res.stdout == generated.stdout
    assert res.stdout.startswith("<?xml")


@pytest.mark.parametrize("name", sorted(cli.agents()))
def test_meta_data_imports_nothing_of_the_agent(tmp_path: Path, name: str) -> None:
    """With a search path where nothing can be found, meta-data still answers (so it costs
    no import), while any other action fails to import the agent."""
    path = tmp_path / name
    path.write_text(cli.script(name, sys.executable, paths=[str(tmp_path / "nowhere")]))
    path.chmod(0o755)
    res = _run(path, "meta-data")
    assert res.returncode == 0, res.stderr
    assert res.stdout == cli.rendered_metadata(name)
    other = _run(path, "monitor")
    assert other.returncode != 0
    assert "ModuleNotFoundError" in other.stderr
