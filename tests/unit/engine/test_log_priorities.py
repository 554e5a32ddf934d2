"""The engine's log lines carry in.mpathd's syslog priority for the same message
(mpd_probe.c and mpd_tables.c: logerr is LOG_ERR, logtrace LOG_INFO) and name their
group and interface for the journal's GROUP= / INTERFACE= fields."""

from __future__ import annotations

from ipmp_core.engine.actions import Log
from tests.support.engine_helpers import World


def _line(w: World, text: str) -> Log:
    hits = [a for a in w.actions if isinstance(a, Log) and a.message == text]
    assert hits, f"no log line {text!r}; got {w.logs()}"
    return hits[-1]


def test_failure_repair_and_group_lines_are_log_err_with_fields() -> None:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.link("e0", up=False)
    w.link("e1", up=False)
    w.link("e1", up=True)
    expected = {
        "The link has gone down on e0": ("ipmp0", "e0"),
        "IP interface failure detected on e0 of group ipmp0": ("ipmp0", "e0"),
        "All IP interfaces in group ipmp0 are now unusable": ("ipmp0", ""),
        "The link has come up on e1": ("ipmp0", "e1"),
        "IP interface repair detected on e1 of group ipmp0": ("ipmp0", "e1"),
        "At least 1 IP interface (e1) in group ipmp0 is now usable": ("ipmp0", "e1"),
    }
    for text, (group, interface) in expected.items():
        line = _line(w, text)
        assert (line.level, line.group, line.interface) == ("err", group, interface), text


def test_no_test_address_is_logtrace() -> None:
    # in.mpathd: logtrace("No test address configured on interface %s; ...")
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.advance(60_000)
    lines = [a for a in w.actions if isinstance(a, Log)
             and a.message.startswith("No test address configured on interface")]
    assert lines and {a.level for a in lines} == {"info"}
