"""The manual pages: each renders without a single groff warning, and each says what its
declarations say (every option of --help, every agent parameter, every defaults key)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click
import pytest

from agents import cli as ocf_cli
from agents.cli import agents
from agents.generated import generated
from ipmp_core.defaults_file import KEYS, load_defaults

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(rel for rel in generated(ocf_cli) if rel.startswith("man/"))
# Render at the width of a terminal, every warning category on (-ww), output discarded:
# anything on stderr is a warning. man(1) from man-db renders as admins read it.
GROFF = ["groff", "-man", "-ww", "-z", "-rLL=80n"]


def render_warnings(path: Path) -> str:
    proc = subprocess.run([*GROFF, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def plain(path: Path) -> str:
    env = {"MANWIDTH": "100", "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(["man", "--warnings", "-l", str(path)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout.replace("\u2010", "-")


@pytest.mark.parametrize("rel", PAGES)
def test_a_page_renders_without_a_groff_warning(rel: str) -> None:
    assert render_warnings(ROOT / rel) == ""


def test_the_warning_check_sees_a_broken_page(tmp_path: Path) -> None:
    page = tmp_path / "broken.8"
    page.write_text((ROOT / "man/ipmpd.8").read_text() + ".XX unknown macro\n\\fQfont\n")
    assert "warning" in render_warnings(page)


@pytest.mark.parametrize("name", ["ipmpd", "ipmpadm", "ipmpstat", "ipmp-ocf"])
def test_a_command_page_names_every_option_of_its_help(name: str) -> None:
    from agents import cli as ocf_cli
    from ipmp_core.cli import ipmpadm, ipmpd, ipmpstat

    command = {"ipmpd": ipmpd.cli, "ipmpadm": ipmpadm.cli, "ipmpstat": ipmpstat.ipmpstat,
               "ipmp-ocf": ocf_cli.cli}[name]
    text = " ".join(plain(ROOT / f"man/{name}.8").split())
    commands = [command, *getattr(command, "commands", {}).values()]
    for cmd in commands:
        if cmd.hidden:
            continue
        assert " ".join((cmd.help or "").split()[:4]) in text
        for param in cmd.params:
            if isinstance(param, click.Option):
                assert all(opt in text for opt in param.opts), (cmd.name, param.opts)


@pytest.mark.parametrize("name", ["ipmp", "ipmp-address"])
def test_an_agent_page_names_every_parameter_and_action(name: str) -> None:
    agent = agents()[name]
    text = plain(ROOT / f"man/ocf_clearview_{name}.7")
    assert f"ocf_clearview_{name}" in text
    for param in agent.parameters.values():
        assert f"\n       {param.name}" in text, param.name
    for action in agent.action_names():
        assert f"\n       {action}" in text, action


def test_the_defaults_page_lists_every_key_the_parser_takes_with_its_default(
        tmp_path: Path) -> None:
    text = plain(ROOT / "man/clearview-ipmp.5")
    for key in KEYS:
        assert f"{key.name}={key.default}" in text
    # KEYS is the parser's list: each key with its declared default is accepted, silently
    # and to the built-in value; a key the parser takes is declared (else it is unknown).
    sample = tmp_path / "defaults"
    sample.write_text("".join(f"{k.name}={k.default}\n" for k in KEYS))
    loaded = load_defaults(sample)
    assert loaded.notes == [] and loaded == load_defaults(None)
    from ipmp_core import defaults_file

    parsed = {"FAILURE_DETECTION_TIME", *defaults_file._BOOLEANS, *defaults_file._BOUNDED}
    assert parsed <= {k.name for k in KEYS}, "a key the parser takes is not in KEYS"
    shipped = (ROOT / "etc/default/clearview-ipmp").read_text()
    for key in KEYS:
        assert f"#{key.name}={key.default}\n" in shipped, key.name
    for line in shipped.splitlines():
        if "=" in line and line.startswith("#") and line[1:2].isupper():
            assert line[1:].split("=")[0] in {k.name for k in KEYS}, line
