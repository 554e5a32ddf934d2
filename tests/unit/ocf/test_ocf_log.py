"""ocf.log: the sinks and switches of resource-agents' ocf_log, from the environment."""

from __future__ import annotations

import io
import os
import syslog
from pathlib import Path

import pytest

from ocf import log as ocf_log
from ocf.log import Log, facility_code


class Tty(io.StringIO):
    """A stream that says it is a terminal, like an operator's shell."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def syslogged(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object, object]]:
    calls: list[tuple[str, object, object]] = []
    monkeypatch.setattr(ocf_log.syslog, "openlog",
                        lambda ident, option, facility: calls.append(("open", ident, facility)))
    monkeypatch.setattr(ocf_log.syslog, "syslog",
                        lambda priority, text: calls.append(("log", priority, text)))
    return calls


def test_logfile_lines_carry_tag_pid_and_level(tmp_path: Path) -> None:
    path = tmp_path / "ha.log"
    stream = io.StringIO()
    log = Log.for_agent("ipmp", "net:0", {"HA_LOGFILE": str(path)}, stream)
    log.info("group up")
    log.error("no member left")
    lines = path.read_text().splitlines()
    assert lines[0].endswith(f"ipmp(net:0)[{os.getpid()}]: INFO: group up")
    assert lines[1].endswith(f"ipmp(net:0)[{os.getpid()}]: ERROR: no member left")
    assert stream.getvalue() == ""  # not a terminal and a file is configured


def test_debug_only_with_ha_debug(tmp_path: Path) -> None:
    quiet, loud = tmp_path / "quiet.log", tmp_path / "loud.log"
    Log("a", {"HA_LOGFILE": str(quiet), "HA_debug": "0"}).debug("hidden")
    Log("a", {"HA_LOGFILE": str(loud), "HA_debug": "1"}).debug("shown")
    assert not quiet.exists()
    assert loud.read_text().rstrip().endswith("DEBUG: shown")


def test_syslog_with_the_configured_facility_and_tag(syslogged) -> None:
    log = Log.for_agent("ipmp", "net", {"HA_LOGFACILITY": "local0"}, io.StringIO())
    log.warning("probe targets: none")
    assert syslogged == [("open", "ipmp(net)", syslog.LOG_LOCAL0),
                         ("log", syslog.LOG_WARNING, "WARNING: probe targets: none")]


@pytest.mark.parametrize(("name", "code"), [
    ("daemon", syslog.LOG_DAEMON), ("LOCAL7", syslog.LOG_LOCAL7),
    ("user", syslog.LOG_USER), ("bogus", syslog.LOG_DAEMON), ("none", None), ("", None),
])
def test_facility_names(name: str, code: int | None) -> None:
    assert facility_code(name) == code


def test_no_syslog_when_facility_is_none(syslogged, tmp_path: Path) -> None:
    Log("a", {"HA_LOGFACILITY": "none", "HA_LOGFILE": str(tmp_path / "f")}).info("x")
    assert syslogged == []


def test_stderr_when_it_is_a_terminal_even_with_other_sinks(syslogged) -> None:
    tty = Tty()
    Log("ipmp", {"HA_LOGFACILITY": "daemon"}, tty).info("hello")
    assert tty.getvalue() == f"ipmp[{os.getpid()}]: INFO: hello\n"
    assert len(syslogged) == 2


def test_stderr_as_the_last_resort_when_nothing_is_configured() -> None:
    stream = io.StringIO()
    log = Log("ipmp", {}, stream)
    log.warning("fallback")
    log.log("ERROR", "already the exit reason", to_stream=False)
    assert stream.getvalue() == f"ipmp[{os.getpid()}]: WARNING: fallback\n"


def test_ha_logtag_replaces_the_tag(tmp_path: Path) -> None:
    path = tmp_path / "f"
    Log.for_agent("ipmp", "x", {"HA_LOGTAG": "custom", "HA_LOGFILE": str(path)}).crit("c")
    assert f"custom[{os.getpid()}]: CRIT: c" in path.read_text()


def test_an_unwritable_log_file_is_ignored(tmp_path: Path) -> None:
    missing_dir = tmp_path / "no" / "such" / "dir" / "ha.log"
    Log("a", {"HA_LOGFILE": str(missing_dir)}, io.StringIO()).error("still fine")
    assert not missing_dir.exists()
