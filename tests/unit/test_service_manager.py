"""The commands and the agents start ipmpd through systemd where systemd runs
(`systemctl start ipmpd@NS`), and by themselves elsewhere. systemd's presence is faked
by pointing SYSTEMD_RUNNING_DIR at a directory the test makes, and systemctl is a script
that records its command line and answers with the exit status the case needs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ipmp_core import control_client, persist, service_manager
from ipmp_core.control_client import DaemonUnreachable, start_daemon


class AnsweringClient:
    """A control client whose daemon answers at once."""

    def ping(self) -> bool:
        return True


class Spawned(Exception):
    """The command tried to start the daemon by itself."""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """systemd "running", a recording systemctl, no self-start (any other Popen raises
    Spawned)."""
    running = tmp_path / "run-systemd-system"
    running.mkdir()
    argv_file = tmp_path / "argv"
    systemctl = tmp_path / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$@" > {argv_file}\n'
                         'echo "${FAKE_STDERR:-}" >&2\nexit "${FAKE_STATUS:-0}"\n')
    systemctl.chmod(0o755)
    monkeypatch.setattr(service_manager, "SYSTEMD_RUNNING_DIR", str(running))
    monkeypatch.setattr(service_manager, "SYSTEMCTL", str(systemctl))
    monkeypatch.setattr(persist, "netns_name", lambda: "default")
    monkeypatch.delenv(persist.STATE_DIR_ENV, raising=False)

    real_popen = subprocess.Popen

    def no_spawn(argv: list[str], **kwargs: object) -> subprocess.Popen:
        if argv[0] != str(systemctl):
            raise Spawned(argv)
        return real_popen(argv, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "Popen", no_spawn)

    class Fake:
        dir = running

        @staticmethod
        def argv() -> str | None:
            return argv_file.read_text().strip() if argv_file.exists() else None

    return Fake


def test_under_systemd_the_unit_of_this_namespace_is_started(fake) -> None:  # noqa: ANN001
    start_daemon(AnsweringClient())  # type: ignore[arg-type]
    assert fake.argv() == "--no-ask-password start ipmpd@default.service"


def test_a_named_namespace_is_escaped_like_systemd_escape(
        fake, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(persist, "netns_name", lambda: "lab-1")
    start_daemon(AnsweringClient())  # type: ignore[arg-type]
    assert fake.argv() == "--no-ask-password start ipmpd@lab\\x2d1.service"


@pytest.mark.parametrize("name", ["lab-1", "a.b", ".x", "ns_1:2", "nö", "x y"])
def test_escape_is_systemd_escapes(name: str) -> None:
    real = subprocess.run(["systemd-escape", name], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert service_manager.escape_instance(name) == real


def test_without_systemd_the_daemon_is_started_by_the_command(fake) -> None:  # noqa: ANN001
    fake.dir.rmdir()
    with pytest.raises(Spawned):
        start_daemon(AnsweringClient())  # type: ignore[arg-type]
    assert fake.argv() is None


def test_a_chosen_state_directory_is_not_the_units(
        fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv(persist.STATE_DIR_ENV, str(tmp_path / "state"))
    with pytest.raises(Spawned):
        start_daemon(AnsweringClient())  # type: ignore[arg-type]
    assert fake.argv() is None


def test_a_unit_that_is_not_installed_falls_back_to_starting_it_ourselves(
        fake, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("FAKE_STATUS", str(service_manager.SYSTEMCTL_NO_SUCH_UNIT))
    with pytest.raises(Spawned):
        start_daemon(AnsweringClient())  # type: ignore[arg-type]
    assert fake.argv() == "--no-ask-password start ipmpd@default.service"


def test_a_unit_that_fails_is_a_clear_error(fake, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("FAKE_STATUS", "1")
    monkeypatch.setenv("FAKE_STDERR", "Job for ipmpd@default.service failed.")
    with pytest.raises(DaemonUnreachable) as err:
        start_daemon(AnsweringClient())  # type: ignore[arg-type]
    assert "Job for ipmpd@default.service failed." in err.value.message
    assert "journalctl -u ipmpd@default.service" in err.value.message


def test_a_started_unit_whose_daemon_does_not_answer_is_an_error(fake) -> None:  # noqa: ANN001
    class Silent:
        def ping(self) -> bool:
            return False

    with pytest.raises(DaemonUnreachable, match="started but does not answer"):
        control_client.start_daemon(Silent())  # type: ignore[arg-type]
