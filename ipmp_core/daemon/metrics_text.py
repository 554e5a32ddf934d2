"""The Prometheus textfile's place and text: the exposition of the daemon's state and
counters (pure: no I/O).

What node_exporter's textfile collector reads: for each metric a # HELP and a # TYPE
line, then its samples. Every sample carries ``netns`` (one daemon, one file, per
network namespace; node_exporter refuses two files that give the same series).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ipmp_core.model import GroupState, IfState, LinkState, Snapshot

METRICS_DIR_ENV = "IPMP_METRICS_DIR"
FILE_PREFIX = "clearview-ipmp-"
FILE_SUFFIX = ".prom"
PREFIX = "clearview_ipmp_"
MS_PER_S = 1000.0

Labels = tuple[tuple[str, str], ...]


@dataclass
class Counters:
    """What the file's counters say: the probe tables read from the engine's probers
    (metrics.probe_counters), the others counted by the daemon as it goes. They start
    at 0 with the daemon, a target's probe counters also with a new prober (a new test
    address); Prometheus' rate() and increase() handle such a reset."""

    # (interface, target) -> count
    probes_sent: dict[tuple[str, str], int] = field(default_factory=dict)
    probes_acked: dict[tuple[str, str], int] = field(default_factory=dict)
    probes_lost: dict[tuple[str, str], int] = field(default_factory=dict)
    # (interface, target) -> seconds: the last answered probe's network RTT, and the
    # smoothed average the failure detection uses
    rtt_last_s: dict[tuple[str, str], float] = field(default_factory=dict)
    rtt_avg_s: dict[tuple[str, str], float] = field(default_factory=dict)
    address_moves: dict[str, int] = field(default_factory=dict)  # group -> count
    announcements: dict[str, int] = field(default_factory=dict)  # interface -> count


# name -> (type, help); the order of the file
METRICS: dict[str, tuple[str, str]] = {
    "group_state": ("gauge", "1 for the group's state (ok, degraded, failed), 0 for the "
                    "others, as ipmpstat -g STATE."),
    "group_members": ("gauge", "IP interfaces in the group."),
    "group_usable_members": ("gauge", "IP interfaces of the group that can carry data "
                             "addresses (active or inactive, not failed or offline)."),
    "group_active_members": ("gauge", "IP interfaces of the group carrying its data "
                             "addresses now."),
    "group_failure_detection_time_seconds": ("gauge", "The group's failure detection time "
                                             "now (raised when its targets are slow)."),
    "group_data_addresses": ("gauge", "Data addresses of the group."),
    "address_moves_total": ("counter", "Data addresses the daemon moved between the "
                            "group's interfaces (failover, failback, offline)."),
    "interface_state": ("gauge", "1 for the interface's state (ok, failed, offline, "
                        "unknown), 0 for the others, as ipmpstat -i STATE."),
    "interface_active": ("gauge", "1 when the interface carries data addresses."),
    "interface_link_up": ("gauge", "1 link up, 0 link down (absent while unknown)."),
    "interface_flag": ("gauge", "ipmpstat -i FLAGS, one series per flag: inactive, "
                       "standby, mcast4, bcast4, mcast6, down, duphw."),
    "probes_sent_total": ("counter", "Failure detection probes sent from the interface "
                          "to the target."),
    "probes_acked_total": ("counter", "Probes answered in time."),
    "probes_lost_total": ("counter", "Probes given up as lost (unanswered in time)."),
    "probe_rtt_seconds": ("gauge", "Round-trip time of the last answered probe (sent to "
                          "received by the kernel)."),
    "probe_rtt_average_seconds": ("gauge", "The target's smoothed RTT, as failure "
                                  "detection uses it (ipmpstat -t RTTAVG)."),
    "announcements_sent_total": ("counter", "Gratuitous ARPs and unsolicited neighbour "
                                 "advertisements sent from the interface."),
}


def metrics_dir_for(option: str | None, defaults_key: str) -> Path | None:
    """The directory: --metrics-dir, else $IPMP_METRICS_DIR, else the defaults file's
    METRICS_DIR (DEFAULT_METRICS_DIR when unset); empty: no metrics."""
    for choice in (option, os.environ.get(METRICS_DIR_ENV)):
        if choice is not None:
            return Path(choice) if choice else None
    return Path(defaults_key) if defaults_key else None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: Labels, value: float) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    number = repr(float(value)) if not float(value).is_integer() else str(int(value))
    return f"{PREFIX}{name}{{{inner}}} {number}"


def _samples(snap: Snapshot, counters: Counters, group_of: dict[str, str],
             ns: str) -> Iterable[tuple[str, Labels, float]]:
    base: Labels = (("netns", ns),)
    addresses: dict[str, int] = {}
    for a in snap.addresses:
        addresses[a.group] = addresses.get(a.group, 0) + 1
    fdt = {g.name: g.fdt_ms for g in snap.groups}
    for g in snap.groups:
        labels = (*base, ("group", g.name))
        for state in GroupState:
            yield "group_state", (*labels, ("state", str(state))), g.state is state
        yield "group_members", labels, len(g.active) + len(g.inactive) + len(g.unusable)
        yield "group_usable_members", labels, len(g.active) + len(g.inactive)
        yield "group_active_members", labels, len(g.active)
        if fdt[g.name] is not None:
            yield "group_failure_detection_time_seconds", labels, fdt[g.name] / MS_PER_S
        yield "group_data_addresses", labels, addresses.get(g.name, 0)
        yield "address_moves_total", labels, counters.address_moves.get(g.name, 0)
    for i in snap.interfaces:
        labels = (*base, ("group", i.group), ("interface", i.name))
        for if_state in IfState:
            yield "interface_state", (*labels, ("state", str(if_state))), i.state is if_state
        yield "interface_active", labels, bool(i.active)
        if i.link in (LinkState.UP, LinkState.DOWN):
            yield "interface_link_up", labels, i.link is LinkState.UP
        if i.flags is not None:
            for flag, value in vars(i.flags).items():
                yield "interface_flag", (*labels, ("flag", flag)), bool(value)
        yield ("announcements_sent_total", labels,
               counters.announcements.get(i.name, 0))
    per_target = (("probes_sent_total", counters.probes_sent),
                  ("probes_acked_total", counters.probes_acked),
                  ("probes_lost_total", counters.probes_lost),
                  ("probe_rtt_seconds", counters.rtt_last_s),
                  ("probe_rtt_average_seconds", counters.rtt_avg_s))
    for name, table in per_target:
        for (interface, target), value in sorted(table.items()):
            if interface in group_of:  # a member removed since: its series end
                yield name, (*base, ("group", group_of[interface]),
                             ("interface", interface), ("target", target)), value


def render(snap: Snapshot, counters: Counters, group_of: dict[str, str], ns: str) -> str:
    """The whole file; ``group_of``: each member's group ("" in no group)."""
    by_name: dict[str, list[str]] = {name: [] for name in METRICS}
    for name, labels, value in _samples(snap, counters, group_of, ns):
        by_name[name].append(_sample(name, labels, float(value)))
    lines: list[str] = []
    for name, (kind, text) in METRICS.items():
        if by_name[name]:
            lines += [f"# HELP {PREFIX}{name} {text}", f"# TYPE {PREFIX}{name} {kind}",
                      *by_name[name]]
    return "\n".join(lines) + "\n" if lines else ""
