"""The Prometheus textfile: node_exporter's textfile collector reads the daemon's state
and counters from <directory>/clearview-ipmp-<netns>.prom.

The probe counters are the engine's own (each FamilyProber counts per target as it
goes: engine/prober.py TargetCounts), read when the file is written: the daemon's
probe events stay off unless an event client wants them, so metrics cost the probing
path nothing. The daemon's other events (state changes, address moves: rare) reach
it as they reach an event subscriber, and it counts announcements as they are sent.
A change schedules a write; writes are at least one failure detection time apart
(the shortest of the groups'), so that a failover of 1,000 addresses costs one write
per FDT, not one per event; while any member probes, the next write follows one FDT
after the last, so that the probe counters are never more than an FDT old. A write
goes to a temporary file renamed over the old one: node_exporter never reads half a
file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from ipmp_core.daemon.metrics_text import (
    FILE_PREFIX,
    FILE_SUFFIX,
    MS_PER_S,
    Counters,
    render,
)
from ipmp_core.engine.engine import Engine
from ipmp_core.engine.prober import TRANSITIVE, FamilyProber
from ipmp_core.net.announce import Announcer

log = logging.getLogger("ipmpd")

# Between two writes when no group exists yet (the engine's default FDT is used then).
_FALLBACK_INTERVAL_S = 10.0
# Written again after this long without a change: node_textfile_mtime_seconds then
# tells a live daemon with a quiet network from a hung one (an alert in operations.md).
HEARTBEAT_S = 60.0
# How often the probe counters alone (no state change) rewrite the file: Prometheus'
# usual scrape interval. They move with every probe; rewriting more often than the file
# is read costs the daemon CPU for nothing (a write per FDT of 1 s at 16 members measured
# about 0.3 % of a core, bench/probing part c). State changes are still written within
# one FDT (changed()).
COUNTERS_REFRESH_S = 15.0


def metrics_path(directory: Path, ns: str) -> Path:
    return directory / f"{FILE_PREFIX}{ns}{FILE_SUFFIX}"


def probe_counters(engine: Engine) -> Counters:
    """The probe tables of Counters, read from the engine's FamilyProbers: their
    cumulative TargetCounts and their targets' RTT estimates (ipmpstat -t RTTAVG). A
    transitive probe's target is the member it probes, labelled ``<member>`` as the
    probe events and ipmpstat -t name it."""
    c = Counters()
    for name, member in engine.members.items():
        probers: list[FamilyProber] = list(member.prober.families.values())
        if member.prober.transitive is not None:
            probers.append(member.prober.transitive)
        for fp in probers:
            for target, n in fp.counts.items():
                key = (name, f"<{target}>" if fp.family == TRANSITIVE else target)
                c.probes_sent[key] = c.probes_sent.get(key, 0) + n.sent
                c.probes_acked[key] = c.probes_acked.get(key, 0) + n.acked
                c.probes_lost[key] = c.probes_lost.get(key, 0) + n.lost
                if n.rtt_last is not None:
                    c.rtt_last_s[key] = n.rtt_last / MS_PER_S
                est = fp.rtt.get(target)
                if est is not None and est.known:
                    c.rtt_avg_s[key] = est.average / MS_PER_S
    return c


class Metrics:
    """Owns the counters and the textfile of one daemon. Put in the daemon's set of
    event subscribers (``put_nowait``); ``changed()`` for what comes as no event."""

    # The probe counters are the engine's (probe_counters): the engine need not build
    # an event per probe for this subscriber (executor.wants_probe_events).
    wants_probe_events = False

    def __init__(self, engine: Engine, directory: Path | None, ns: str) -> None:
        self.engine = engine
        self.ns = ns
        self.path = metrics_path(directory, ns) if directory is not None else None
        self.counters = Counters()
        self.timer: asyncio.TimerHandle | None = None
        self.last_write = -float("inf")  # the event loop's time() of the last write
        self.failed = False  # a write failed: said once, until one succeeds again
        self.started = False
        self.heartbeat_s = HEARTBEAT_S
        self.counters_refresh_s = COUNTERS_REFRESH_S

    @property
    def enabled(self) -> bool:
        """Started, with a directory to write to."""
        return self.path is not None and self.started

    def start(self, subscribers: set[Any]) -> None:
        """Once the state is loaded: the first file, then the daemon's events. A missing
        directory is said once (node_exporter is not installed: nothing to write for)."""
        if self.path is not None and not self.path.parent.is_dir():
            log.info("no Prometheus textfile: %s does not exist", self.path.parent)
            self.path = None
        if self.path is None:
            return
        self.started = True
        subscribers.add(self)  # state changes and address moves; no probe events
        self.changed()

    def interval_s(self) -> float:
        fdts = [g.fdt_current for g in self.engine.groups.values()]
        return min(fdts) / MS_PER_S if fdts else _FALLBACK_INTERVAL_S

    def probing(self) -> bool:
        """Whether any member probes: its counters then change without any event."""
        return any(m.prober.enabled for m in self.engine.members.values())

    # ------------------------------------------------------------------ inputs
    def put_nowait(self, event: dict[str, Any]) -> None:
        """An event, as the control channel's subscribers get it. Probe events (there
        while an event client listens) are ignored: the engine counts the probes, and
        a write follows the probing by itself (``write``)."""
        kind = event.get("type")
        if kind == "probe":
            return
        if kind == "address-moved" and event.get("to") and event.get("from"):
            group = event.get("group", "")
            self.counters.address_moves[group] = self.counters.address_moves.get(group, 0) + 1
        self.changed()

    def announced(self, interface: str) -> None:
        self.counters.announcements[interface] = self.counters.announcements.get(
            interface, 0) + 1
        self.changed()

    # ------------------------------------------------------------------ output
    def changed(self) -> None:
        """Write now if the last write is one interval old, else once it is (sooner
        when the interval shrank meanwhile: a group's FDT was lowered)."""
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        due = max(loop.time(), self.last_write + self.interval_s())
        if self.timer is not None:
            if self.timer.when() <= due:
                return
            self.timer.cancel()
        self.timer = loop.call_at(due, self.write)

    def text(self) -> str:
        group_of = {name: m.group for name, m in self.engine.members.items()}
        counters = probe_counters(self.engine)
        counters.address_moves = self.counters.address_moves
        counters.announcements = self.counters.announcements
        return render(self.engine.snapshot(), counters, group_of, self.ns)

    def write(self) -> None:
        self.timer = None
        if self.path is None:
            return
        loop = asyncio.get_running_loop()
        self.last_write = loop.time()
        # While a member probes its counters move: the next write is a counters refresh
        # on (never sooner than one interval); else the heartbeat. changed() may advance
        # it, for a state change.
        refresh = max(self.interval_s(), self.counters_refresh_s)
        next_s = min(refresh, self.heartbeat_s) if self.probing() else self.heartbeat_s
        self.timer = loop.call_later(next_s, self.write)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(self.text(), encoding="utf-8")
            os.chmod(tmp, 0o644)  # node_exporter runs as its own user
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if not self.failed:
                log.warning("cannot write the Prometheus textfile %s: %s", self.path,
                            exc.strerror or exc)
            self.failed = True
            return
        self.failed = False

    def close(self) -> None:
        """The daemon stops: its metrics go (stale ones would say its groups are fine)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()


class CountingAnnouncer(Announcer):
    """The announcer, counting what it sent per interface for the metrics."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def announce(self, ifname: str, ifindex: int, mac: bytes, ip: Any) -> bool:
        sent = super().announce(ifname, ifindex, mac, ip)
        if sent and self.metrics.enabled:
            self.metrics.announced(ifname)
        return sent
