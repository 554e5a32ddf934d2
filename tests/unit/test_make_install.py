"""make install-docs puts the manual pages and the bash completion where Debian's man and
bash-completion look for them, and make uninstall-docs takes them away again. Staged in
a DESTDIR with PREFIX=/usr, as a package build does; the real man-db and bash-completion
find them there by name."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agents import cli as ocf_cli
from agents.generated import generated
from tests.support.bash_completion import complete

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("ipmpd", "ipmpadm", "ipmpstat", "ipmp-ocf")
# bash-completion's loader, from Debian's bash-completion package (scripts/install-deps.sh)
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
PAGES = {Path(rel).name for rel in generated(ocf_cli) if rel.startswith("man/")}


def make(target: str, destdir: Path) -> None:
    proc = subprocess.run(["make", "-s", "-C", str(ROOT), target, f"DESTDIR={destdir}",
                           "PREFIX=/usr"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    make("install-docs", tmp_path)
    return tmp_path


def test_pages_go_to_their_sections_and_man_finds_them_by_name(staged: Path) -> None:
    mandir = staged / "usr/share/man"
    assert files_under(mandir) == {f"man{p.rsplit('.', 1)[1]}/{p}" for p in PAGES}
    for page in PAGES:
        name, section = page.rsplit(".", 1)
        proc = subprocess.run(["man", "-M", str(mandir), "-w", section, name],
                              capture_output=True, text=True, timeout=60)
        assert proc.stdout.strip() == str(mandir / f"man{section}" / page), proc.stderr
        assert (mandir / f"man{section}" / page).read_text() == (ROOT / "man" / page).read_text()


def test_bash_completion_loads_the_completion_of_each_command_by_its_name(
        staged: Path) -> None:
    completions = staged / "usr/share/bash-completion/completions"
    assert files_under(completions) == set(COMMANDS)
    env = {**os.environ, "XDG_DATA_DIRS": str(staged / "usr/share"),
           "BASH_COMPLETION_USER_DIR": str(staged / "nothing")}
    for command in COMMANDS:
        setup = f"source {BASH_COMPLETION}\n__load_completion {command} || exit 4"
        assert "--version" in complete(f"{command} --", env=env, setup=setup)
    setup = f"source {BASH_COMPLETION}\n__load_completion ipmpadm || exit 4"
    assert "create-ipmp" in complete("ipmpadm cr", env=env, setup=setup)


def test_uninstall_docs_leaves_no_file_behind(staged: Path) -> None:
    assert files_under(staged)
    make("uninstall-docs", staged)
    assert files_under(staged) == set()
