"""The logrotate snippet make install puts in /etc/logrotate.d: logrotate accepts it,
and a rotation it makes leaves the daemon writing to the new file (the daemon's file
handler reopens a moved file; the snippet relies on that instead of copytruncate)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from ipmp_core.daemon.logsinks import choose_handler

SNIPPET = Path(__file__).resolve().parents[2] / "etc" / "logrotate.d" / "clearview-ipmp"
LOG_GLOB = "/var/lib/clearview-ipmp/*.log"
LOGROTATE_TIMEOUT_S = 30


def _logrotate(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("logrotate") or "/usr/sbin/logrotate"
    return subprocess.run([tool, *args], capture_output=True, text=True,
                          timeout=LOGROTATE_TIMEOUT_S)


def test_logrotate_accepts_the_snippet(tmp_path: Path) -> None:
    res = _logrotate("-d", "-s", str(tmp_path / "status"), str(SNIPPET))
    assert res.returncode == 0, res.stderr
    assert "error" not in (res.stdout + res.stderr).lower(), res.stderr
    assert f"rotating pattern: {LOG_GLOB}" in res.stdout + res.stderr


def test_logrotate_rejects_a_broken_snippet(tmp_path: Path) -> None:
    # The check above can fail: one unknown directive and logrotate -d says so.
    broken = tmp_path / "broken"
    broken.write_text(SNIPPET.read_text().replace("notifempty", "notifempti"))
    res = _logrotate("-d", "-s", str(tmp_path / "status"), str(broken))
    assert "error" in res.stderr.lower()


@pytest.fixture
def ipmpd_logger() -> logging.Logger:
    logger = logging.getLogger("test-logrotate-ipmpd")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_rotation_moves_the_file_and_the_daemon_follows(tmp_path: Path,
                                                         ipmpd_logger: logging.Logger) -> None:
    logs = tmp_path / "state"
    logs.mkdir()
    conf = tmp_path / "clearview-ipmp"
    text = SNIPPET.read_text()
    assert LOG_GLOB in text
    conf.write_text(text.replace(LOG_GLOB, f"{logs}/*.log"))
    log = logs / "node.log"
    handler = choose_handler(str(log), use_syslog=False)  # as ipmpd --log-file does
    ipmpd_logger.handlers[:] = [handler]
    try:
        ipmpd_logger.info("before the rotation")
        res = _logrotate("-f", "-s", str(tmp_path / "status"), str(conf))
        assert res.returncode == 0, res.stderr
        ipmpd_logger.info("after the rotation")
    finally:
        handler.close()
    rotated = logs / "node.log.1"  # delaycompress: the newest rotation stays plain
    assert "before the rotation" in rotated.read_text()
    assert "after the rotation" not in rotated.read_text()
    assert "after the rotation" in log.read_text()
    assert "before the rotation" not in log.read_text()
