"""The daemon's system log: with no --log-file and no terminal it writes to the journal
(native protocol, the group and interface as fields) or, without a journal, to syslog,
with in.mpathd's priorities. Sockets bound by the test stand in for journald's and
/dev/log (no systemd here); the daemon is pointed at them through the environment."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipmp_core.daemon.logsinks import JOURNAL_SOCKET_ENV, SYSLOG_SOCKET_ENV
from tests.support.lab import Lab
from tests.support.logsink import LogSink, parse_journal
from tests.support.node import POLL_S, SETTLE_S, Node

pytestmark = pytest.mark.netns

FAILURE = "IP interface failure detected on e0 of group ipmp0"
LINK_DOWN = "The link has gone down on e0"
ADDED = "IP interface e0 added to group ipmp0"
# syslog priorities (RFC 5424) and LOG_DAEMON's <PRI> base (facility 3 x 8)
LOG_ERR, LOG_NOTICE = 3, 5
DAEMON_PRI_BASE = 3 * 8


@pytest.fixture
def sink_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "sockets"
    directory.mkdir()
    return directory


def _node(lab: Lab, tmp_path: Path, env: dict[str, str]) -> Node:
    node = Node(lab, tmp_path / "state")
    node.log_to_file = False
    node.env.update(env)
    return node


@pytest.fixture
def journal(sink_dir: Path) -> Iterator[LogSink]:
    sink = LogSink(sink_dir / "journal.sock")
    yield sink
    sink.close()


def test_journal_gets_priority_and_group_fields(lab: Lab, tmp_path: Path,
                                                 journal: LogSink) -> None:
    node = _node(lab, tmp_path, {JOURNAL_SOCKET_ENV: str(journal.path)})
    node.start()
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    added = parse_journal(journal.wait_for(lambda d: ADDED.encode() in d, ADDED, SETTLE_S))
    assert added["PRIORITY"] == str(LOG_NOTICE)  # LOG_NOTICE, not logging's INFO (6)
    assert (added["GROUP"], added["INTERFACE"]) == ("ipmp0", "e0")
    lab.pull_cable("e0")
    failure = parse_journal(journal.wait_for(lambda d: FAILURE.encode() in d, FAILURE,
                                             SETTLE_S))
    assert failure["MESSAGE"] == FAILURE
    assert failure["PRIORITY"] == str(LOG_ERR)
    assert failure["GROUP"] == "ipmp0"
    assert failure["INTERFACE"] == "e0"
    assert failure["SYSLOG_IDENTIFIER"] == "ipmpd"
    assert failure["SYSLOG_PID"] == str(node.pid)
    link = parse_journal(journal.wait_for(lambda d: LINK_DOWN.encode() in d, LINK_DOWN,
                                          SETTLE_S))
    assert (link["PRIORITY"], link["INTERFACE"]) == (str(LOG_ERR), "e0")
    # A log file only when asked for.
    assert not node.log_path.exists()


def test_syslog_without_journal(lab: Lab, tmp_path: Path, sink_dir: Path) -> None:
    syslog = LogSink(sink_dir / "log")
    try:
        node = _node(lab, tmp_path, {JOURNAL_SOCKET_ENV: str(sink_dir / "no-journal"),
                                     SYSLOG_SOCKET_ENV: str(syslog.path)})
        node.start()
        node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
        lab.pull_cable("e0")
        line = syslog.wait_for(lambda d: FAILURE.encode() in d, FAILURE, SETTLE_S)
        assert line.rstrip(b"\0") == \
            f"<{DAEMON_PRI_BASE + LOG_ERR}>ipmpd[{node.pid}]: {FAILURE}".encode()
        assert not node.log_path.exists()
    finally:
        syslog.close()


def test_a_daemon_started_by_ipmpadm_logs_to_the_system_log(lab: Lab, tmp_path: Path,
                                                             journal: LogSink) -> None:
    """Without systemd the first ipmpadm starts the daemon itself: with a journal it
    gets no --log-file (the file next to the state keeps only a stray stderr)."""
    node = Node(lab, tmp_path / "state")
    node.env[JOURNAL_SOCKET_ENV] = str(journal.path)
    node.state_dir.mkdir(parents=True)
    try:
        node.adm("create-ipmp", "-i", "e0", "ipmp0")
        created = parse_journal(journal.wait_for(lambda d: b"Group ipmp0 created" in d,
                                                 "the group's creation", SETTLE_S))
        assert created["SYSLOG_IDENTIFIER"] == "ipmpd"
        assert "Group ipmp0 created" not in node.log()
    finally:
        res = node.run_py("from ipmp_core.control_client import ControlClient as C\n"
                          "print(C().call('ping')['pid'])")
        if res.returncode == 0:  # stopped by its PID: the lab did not spawn it
            pid = int(res.stdout)
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + SETTLE_S
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(POLL_S)
