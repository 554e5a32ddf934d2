"""Where ipmpd's log lines go: the journal, syslog, a file or stderr.

in.mpathd logs to syslog (LOG_DAEMON) with a priority per message (logerr, logwarn,
logtrace: LOG_ERR, LOG_WARNING, LOG_INFO); the engine's Log actions carry the same
priorities. Under systemd the journal's native socket is used instead of /dev/log so
that the group and interface of a message become fields an admin can filter on
(``journalctl GROUP=ipmp0``). The journal protocol is simple enough to speak with the
standard library: one datagram of ``KEY=value`` lines, or ``KEY``, a 64-bit
little-endian length and the raw value for a value that contains a newline.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import struct
import sys

# syslog's LOG_NOTICE has no logging level of its own: between INFO and WARNING, so that
# a logger set to INFO keeps it and "warning" stays above it.
NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")

JOURNAL_SOCKET = "/run/systemd/journal/socket"
SYSLOG_SOCKET = "/dev/log"
# Tests (and an admin with a relay) point the daemon at their own sockets with these.
JOURNAL_SOCKET_ENV = "IPMP_JOURNAL_SOCKET"
SYSLOG_SOCKET_ENV = "IPMP_SYSLOG_SOCKET"
IDENTIFIER = "ipmpd"
# LOG_DAEMON, as in.mpathd opens its log (openlog("in.mpathd", LOG_PID, LOG_DAEMON)).
FACILITY_DAEMON = 3

# logging level -> syslog priority (RFC 5424 severities)
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
               (NOTICE, 5), (logging.INFO, 6))
LOG_DEBUG = 7

# Record attributes (logging's ``extra``) that become the journal's GROUP= / INTERFACE=.
GROUP_ATTR = "ipmp_group"
INTERFACE_ATTR = "ipmp_interface"


def priority(levelno: int) -> int:
    """The syslog priority of a logging level."""
    return next((prio for level, prio in _PRIORITIES if levelno >= level), LOG_DEBUG)


def journal_socket() -> str:
    return os.environ.get(JOURNAL_SOCKET_ENV) or JOURNAL_SOCKET


def syslog_socket() -> str:
    return os.environ.get(SYSLOG_SOCKET_ENV) or SYSLOG_SOCKET


def system_log() -> str | None:
    """The socket the daemon logs to when it is not told otherwise and not on a
    terminal: the journal's, else syslog's; None when neither exists (a container)."""
    for path in (journal_socket(), syslog_socket()):
        if os.path.exists(path):
            return path
    return None


def journal_field(name: str, value: str) -> bytes:
    """One field in the native protocol; a value with a newline goes length-prefixed
    (a plain KEY=value line would end at its first newline)."""
    data = value.encode("utf-8", errors="replace")
    if b"\n" in data:
        return name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return name.encode() + b"=" + data + b"\n"


class _DatagramHandler(logging.Handler):
    """One datagram per record to a Unix socket, never blocking: a journal or syslog
    that stops reading must not stall a failover. What cannot be sent is counted and
    said in the next record that goes through."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.dropped = 0

    def datagram(self, record: logging.LogRecord) -> bytes:
        raise NotImplementedError

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.dropped:
                note = logging.makeLogRecord({
                    "name": record.name, "levelno": logging.WARNING,
                    "levelname": "WARNING", "msg": "%d log messages dropped: the system "
                    "log was not reading", "args": (self.dropped,)})
                self.sock.sendto(self.datagram(note), self.path)
                self.dropped = 0
            self.sock.sendto(self.datagram(record), self.path)
        except BlockingIOError:
            self.dropped += 1
        except Exception:  # the log daemon restarting: logging's own report, no crash
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


class JournalHandler(_DatagramHandler):
    """journald's native protocol: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER,
    SYSLOG_FACILITY, SYSLOG_PID and, where the record names them, GROUP and
    INTERFACE."""

    def datagram(self, record: logging.LogRecord) -> bytes:
        items = [("MESSAGE", self.format(record)), ("PRIORITY", str(priority(record.levelno))),
                 ("SYSLOG_IDENTIFIER", IDENTIFIER), ("SYSLOG_FACILITY", str(FACILITY_DAEMON)),
                 ("SYSLOG_PID", str(os.getpid()))]
        for key, attr in (("GROUP", GROUP_ATTR), ("INTERFACE", INTERFACE_ATTR)):
            value = getattr(record, attr, "")
            if value:
                items.append((key, value))
        return b"".join(journal_field(k, v) for k, v in items)


class SyslogHandler(_DatagramHandler):
    """RFC 3164 lines to /dev/log (a datagram socket, as journald's and rsyslog's are)
    as in.mpathd writes them: "<PRI>ipmpd[pid]: message", LOG_DAEMON."""

    def datagram(self, record: logging.LogRecord) -> bytes:
        pri = FACILITY_DAEMON * 8 + priority(record.levelno)
        return f"<{pri}>{IDENTIFIER}[{os.getpid()}]: {self.format(record)}".encode(
            "utf-8", errors="replace")


def file_format() -> logging.Formatter:
    return logging.Formatter(f"%(asctime)s {IDENTIFIER}[{os.getpid()}] %(levelname)s: "
                             "%(message)s", datefmt="%Y-%m-%dT%H:%M:%S")


def choose_handler(log_file: str | None, use_syslog: bool) -> logging.Handler:
    """A file when asked for one (reopened when logrotate moves it away); stderr on a
    terminal (someone runs ipmpd by hand) unless --syslog; else the journal when its
    socket exists, else syslog, else stderr (a container without either: the starter
    keeps it)."""
    handler: logging.Handler
    if log_file:
        handler = logging.handlers.WatchedFileHandler(log_file)
    elif sys.stderr.isatty() and not use_syslog:
        handler = logging.StreamHandler()
    elif (system := system_log()) is not None:
        journal = system == journal_socket()
        return JournalHandler(system) if journal else SyslogHandler(system)
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(file_format())
    return handler
