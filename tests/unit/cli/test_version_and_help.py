"""One version everywhere, and ipmp-ocf --help naming the agents and their actions.

The version comes from ipmp_core.__version__ alone: setup.cfg reads it (attr:), every
command prints it for --version, and it is the agents' meta-data version. The commands
run as installed console scripts of this venv, as an administrator runs them.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

import ipmp_core
from agents.cli import agents, rendered_metadata

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
COMMANDS = ("ipmpd", "ipmpadm", "ipmpstat", "ipmp-ocf")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_prints_the_one_version(command: str) -> None:
    proc = run(command, "--version")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"{command}, version {ipmp_core.__version__}\n"


def test_setup_cfg_reads_the_version_and_keeps_no_copy() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config["metadata"]["version"] == "attr: ipmp_core.__version__"
    from importlib.metadata import version

    assert version("clearview-ipmp") == ipmp_core.__version__


@pytest.mark.parametrize("name", ["ipmp", "ipmp-address"])
def test_the_agents_meta_data_carry_the_same_version(name: str) -> None:
    root = etree.fromstring(rendered_metadata(name).encode())
    assert root.get("version") == ipmp_core.__version__
    assert agents()[name].version == ipmp_core.__version__


def test_ipmp_ocf_help_lists_every_agent_and_its_actions() -> None:
    proc = run("ipmp-ocf", "--help")
    assert proc.returncode == 0, proc.stderr
    section = proc.stdout.split("Agents (ipmp-ocf AGENT ACTION):", 1)[1]
    flat = " ".join(section.split())
    for name, agent in agents().items():
        assert f"ocf:clearview:{name}:" in flat
        assert "Actions: " + " ".join(agent.action_names()) in flat
