"""Agent logging with the sinks and switches of resource-agents' ocf_log.

Pacemaker hands its logging settings to agents in the environment, and operators read
agent messages where the shell agents put theirs, so this follows ocf-shellfuncs:

* ``HA_LOGFACILITY`` (daemon, local0...; "none" or empty means off): syslog with the
  tag ``agent(instance)`` and the PID;
* ``HA_LOGFILE``: lines appended as ``<HA_DATEFMT date> tag[pid]: LEVEL: message``;
* stderr when it is a terminal (an operator running the agent by hand), and also when
  neither syslog nor a file is configured, so that Pacemaker, which logs what agents
  write on stderr, still shows the message;
* ``HA_debug`` (1/yes/true/on, or anything else not 0/no/false/off): debug messages too;
  otherwise they are dropped everywhere;
* ``HA_LOGTAG`` replaces the tag.

A failing sink is ignored: ``meta-data`` runs as user nobody, who cannot write the
cluster's log file, and logging must never change an agent's exit code.

Standard library only: this module is on the monitor path.
"""

from __future__ import annotations

import os
import sys
import syslog
import time
from collections.abc import Mapping

# typing costs milliseconds on every monitor; annotations are strings anyway.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

DEBUG, INFO, WARNING, ERROR, CRIT = "DEBUG", "INFO", "WARNING", "ERROR", "CRIT"

_PRIORITY = {
    DEBUG: syslog.LOG_DEBUG,
    INFO: syslog.LOG_INFO,
    WARNING: syslog.LOG_WARNING,
    ERROR: syslog.LOG_ERR,
    CRIT: syslog.LOG_CRIT,
}
_OFF = frozenset({"", "0", "no", "false", "off"})
DEFAULT_DATEFMT = "%b %d %T "


def facility_code(name: str) -> int | None:
    """syslog facility for ``HA_LOGFACILITY``; None when logging to syslog is off.

    An unknown name falls back to daemon (Pacemaker's default) rather than losing
    messages.
    """
    name = name.strip().lower()
    if name in ("", "none"):
        return None
    return int(getattr(syslog, "LOG_" + name.upper(), syslog.LOG_DAEMON))


class Log:
    """Where one agent invocation's messages go, decided once from the environment."""

    def __init__(self, tag: str, environ: Mapping[str, str] | None = None,
                 stream: TextIO | None = None) -> None:
        env = os.environ if environ is None else environ
        self.tag = env.get("HA_LOGTAG") or tag
        self.facility = facility_code(env.get("HA_LOGFACILITY", ""))
        self.logfile = env.get("HA_LOGFILE") or None
        self.datefmt = env.get("HA_DATEFMT") or DEFAULT_DATEFMT
        self.debug_enabled = env.get("HA_debug", "").strip().lower() not in _OFF
        self.stream = sys.stderr if stream is None else stream
        self.to_stream = _isatty(self.stream) or (self.facility is None and not self.logfile)

    @classmethod
    def for_agent(cls, agent: str, instance: str | None,
                  environ: Mapping[str, str] | None = None,
                  stream: TextIO | None = None) -> Log:
        """A log tagged ``agent(instance)`` as the shell agents' set_logtag does."""
        return cls(f"{agent}({instance})" if instance else agent, environ, stream)

    def debug(self, message: str) -> None:
        self.log(DEBUG, message)

    def info(self, message: str) -> None:
        self.log(INFO, message)

    def warning(self, message: str) -> None:
        self.log(WARNING, message)

    def error(self, message: str) -> None:
        self.log(ERROR, message)

    def crit(self, message: str) -> None:
        self.log(CRIT, message)

    def log(self, level: str, message: str, *, to_stream: bool = True) -> None:
        """Send ``LEVEL: message`` to every configured sink.

        ``to_stream=False`` is for text already on stderr in another form (the exit
        reason), as ocf_exit_reason's ``__ha_log --ignore-stderr``.
        """
        if level == DEBUG and not self.debug_enabled:
            return
        text = f"{level}: {message}"
        if self.facility is not None:
            self._syslog(level, text)
        if self.logfile:
            self._append(f"{time.strftime(self.datefmt)}{self.tag}[{os.getpid()}]: {text}\n")
        if self.to_stream and to_stream:
            self._write(f"{self.tag}[{os.getpid()}]: {text}\n")

    def _syslog(self, level: str, text: str) -> None:
        # openlog every time: several agents (and tags) may share one process (ipmp-ocf).
        try:
            syslog.openlog(self.tag, syslog.LOG_PID, self.facility or syslog.LOG_DAEMON)
            syslog.syslog(_PRIORITY[level], text.replace("\x00", " "))
        except (OSError, ValueError):
            pass

    def _append(self, line: str) -> None:
        try:
            with open(self.logfile or "", "a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError:
            pass

    def _write(self, line: str) -> None:
        try:
            self.stream.write(line)
            self.stream.flush()
        except (OSError, ValueError):
            pass


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
