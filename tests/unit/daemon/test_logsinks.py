"""Where the daemon's log goes, and the journal's native protocol as it is written."""

from __future__ import annotations

import logging
import logging.handlers
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipmp_core.daemon.executor import _LEVELS
from ipmp_core.daemon.logsinks import (
    GROUP_ATTR,
    INTERFACE_ATTR,
    JOURNAL_SOCKET_ENV,
    NOTICE,
    SYSLOG_SOCKET_ENV,
    JournalHandler,
    SyslogHandler,
    choose_handler,
    priority,
)
from tests.support.logsink import LogSink, parse_journal

# More lines than a Unix datagram queue holds (net.unix.max_dgram_qlen, 512 by default).
FLOOD = 2000
FLOOD_TIMEOUT_S = 10.0


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[LogSink]:
    the_sink = LogSink(tmp_path / "sock")
    yield the_sink
    the_sink.close()


def _record(level: int, message: str, **extra: str) -> logging.LogRecord:
    record = logging.LogRecord("ipmpd", level, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_engine_levels_become_in_mpathds_syslog_priorities() -> None:
    # The engine's Log levels are syslog's names: each must come out as that priority.
    names = {"err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
    assert {name: priority(_LEVELS[name]) for name in names} == names
    assert priority(logging.CRITICAL) == 2


def test_journal_datagram_fields(sink: LogSink) -> None:
    handler = JournalHandler(str(sink.path))
    handler.emit(_record(logging.ERROR, "All IP interfaces in group g1 are now unusable",
                         **{GROUP_ATTR: "g1", INTERFACE_ATTR: ""}))
    handler.close()
    fields = parse_journal(sink.wait_for(lambda d: True, "anything", 2.0))
    assert fields["MESSAGE"] == "All IP interfaces in group g1 are now unusable"
    assert fields["PRIORITY"] == "3"
    assert fields["SYSLOG_IDENTIFIER"] == "ipmpd"
    assert fields["SYSLOG_FACILITY"] == "3"
    assert fields["GROUP"] == "g1"
    assert "INTERFACE" not in fields  # empty: not sent


def test_journal_multiline_message_is_length_prefixed(sink: LogSink) -> None:
    handler = JournalHandler(str(sink.path))
    handler.emit(_record(NOTICE, "first\nsecond=2"))
    handler.close()
    datagram = sink.wait_for(lambda d: True, "anything", 2.0)
    assert b"MESSAGE\n" in datagram  # the binary form, not MESSAGE=first
    assert parse_journal(datagram)["MESSAGE"] == "first\nsecond=2"
    assert parse_journal(datagram)["PRIORITY"] == "5"


def test_a_file_only_when_asked_for(tmp_path: Path, sink: LogSink,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(JOURNAL_SOCKET_ENV, str(sink.path))
    handler = choose_handler(str(tmp_path / "x.log"), use_syslog=False)
    assert isinstance(handler, logging.handlers.WatchedFileHandler)  # logrotate-safe
    handler.close()
    handler = choose_handler(None, use_syslog=False)  # pytest's stderr is no terminal
    assert isinstance(handler, JournalHandler)
    handler.close()


def test_syslog_when_no_journal_and_stderr_when_neither(tmp_path: Path, sink: LogSink,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv(JOURNAL_SOCKET_ENV, str(tmp_path / "absent"))
    monkeypatch.setenv(SYSLOG_SOCKET_ENV, str(sink.path))
    handler = choose_handler(None, use_syslog=True)
    assert isinstance(handler, SyslogHandler)
    handler.emit(_record(NOTICE, "Group g1 created"))
    handler.close()
    assert sink.wait_for(lambda d: True, "anything", 2.0).startswith(b"<29>ipmpd[")
    monkeypatch.setenv(SYSLOG_SOCKET_ENV, str(tmp_path / "absent too"))
    handler = choose_handler(None, use_syslog=True)
    assert type(handler) is logging.StreamHandler


def test_a_terminal_gets_stderr_unless_syslog_is_asked_for(sink: LogSink,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setenv(JOURNAL_SOCKET_ENV, str(sink.path))
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert type(choose_handler(None, use_syslog=False)) is logging.StreamHandler
    handler = choose_handler(None, use_syslog=True)
    assert isinstance(handler, JournalHandler)
    handler.close()


def test_a_journal_that_does_not_read_never_blocks_the_daemon(sink: LogSink) -> None:
    """The receiver's queue fills up (nobody reads): emitting goes on at once, the lines
    that did not fit are counted, and the count is said once the journal reads again."""
    handler = JournalHandler(str(sink.path))
    done = threading.Event()

    def flood() -> None:
        for n in range(FLOOD):
            handler.emit(_record(logging.INFO, f"line {n}"))
        done.set()

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    finished = done.wait(FLOOD_TIMEOUT_S)
    if not finished:
        sink.close()  # unblocks a blocking sendto (ECONNREFUSED), ending the thread
    thread.join(FLOOD_TIMEOUT_S)
    assert finished, "logging blocked while the journal did not read"
    assert handler.dropped > 0
    dropped = handler.dropped
    while True:  # the journal reads again: empty its queue
        try:
            sink.sock.recv(65536)
        except TimeoutError:
            break
    handler.emit(_record(logging.ERROR, "IP interface failure detected on e0"))
    handler.close()
    first = parse_journal(sink.wait_for(lambda d: True, "the note", 2.0))
    assert first["MESSAGE"] == f"{dropped} log messages dropped: the system log was not " \
        "reading"
    assert first["PRIORITY"] == "4"
