"""The daemon a command or an agent starts by itself imports our code, never a package
planted in the directory the caller happens to be in (root running `ipmpadm` from /tmp,
or an agent started with an unprivileged user's directory as its cwd)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ipmp_core import control_client, service_manager


class _Answering:
    def ping(self) -> bool:
        return True


def _daemon_argv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The command line start_daemon runs the daemon with (nothing is started)."""
    seen: list[list[str]] = []

    def popen(argv: list[str], **kwargs: Any) -> None:
        seen.append(list(argv))

    monkeypatch.setenv("IPMP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(service_manager, "systemd_unit_for", lambda *a, **k: None)
    monkeypatch.setattr(subprocess, "Popen", popen)
    control_client.start_daemon(_Answering())  # type: ignore[arg-type]
    monkeypatch.undo()  # subprocess.run needs the real Popen again
    assert len(seen) == 1
    return seen[0]


def test_the_started_daemon_does_not_import_from_the_callers_directory(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    argv = _daemon_argv(monkeypatch, tmp_path)
    planted = tmp_path / "cwd" / "ipmp_core"
    planted.mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    module = argv.index("-m")
    # the same interpreter and options, asking the module for its help only
    probe = [*argv[:module + 2], "--help"]
    res = subprocess.run(probe, cwd=planted.parent, capture_output=True, text=True,
                         timeout=60, check=False)
    assert not marker.exists(), "the daemon imported ipmp_core from the caller's directory"
    assert res.returncode == 0 and "Usage" in res.stdout, res.stderr
    assert argv[0] == sys.executable
