"""The adaptive failure detection time (in.mpathd's incoming_echo_reply() and
incoming_rtt_reply() RTT rules, its FDT raise and lowering), sans I/O.

Each answered failure-detection probe may be an RTT sample of its target. A target
slower than the probe interval is the exception when enough others are fast: a router
is marked slow, a host deleted (another is looked for by multicast); otherwise the
group's FDT is raised. While it is raised, PROBE_RTT probes go out between the
failure-detection ones; any answer fast enough may halve the FDT again, once
MIN_SETTLING_TIME has passed since the raise and every active target of the group is
that fast. docs/design.md "The failure detection time, targets and routers" traces each
rule to in.mpathd.
"""

from __future__ import annotations

from ipmp_core.constants import (
    EXCEPTION_FACTOR,
    LOWER_FDT_TRIGGER,
    MIN_PROBE_TARGETS,
    MIN_SETTLING_TIME,
    NEXT_FDT_MULTIPLE,
    PROBE_INTERVAL_DIVISOR,
    PROBE_STATS_COUNT,
)
from ipmp_core.engine.actions import Action, Log
from ipmp_core.engine.prober import FAMILY_NAME, FamilyProber, ProbeRecord, ProbeStatus
from ipmp_core.engine.rtt import RttEstimator
from ipmp_core.engine.state import Group, Member, target_phrase, targets_for
from ipmp_core.engine.targets import TargetState
from ipmp_core.model import GroupState


def _may_sample(group: Group, member: Member, family_prober: FamilyProber) -> bool:
    """Not while the member or the group has failed, nor after its link came back until
    NUM_PROBE_REPAIRS answers in a row (in.mpathd: pii_state != PI_RUNNING): the first
    answers after a repair may have waited for ARP/ND on a dead link or a switch port
    still learning."""
    if member.prober.failed or group.state is GroupState.FAILED:
        return False
    return family_prober.rtt_allowed()


def rtt_sample(group: Group, member: Member, family_prober: FamilyProber,
               record: ProbeRecord) -> bool:
    """Feed an answered failure-detection probe's round trip to its target's estimate,
    with incoming_echo_reply()'s rules; True when the FDT is to be reconsidered. Not a
    round trip longer than the whole probe history (PROBE_STATS_COUNT intervals: the
    daemon was not scheduled, the time is wrong), nor while _may_sample() says no, nor
    when a later probe to the target was answered already (highest_ack_tg()). A lone
    spike is held back (RttEstimator.add_probe)."""
    if record.rtt > PROBE_STATS_COUNT * group.probe_interval:
        return False
    if not _may_sample(group, member, family_prober):
        return False
    for later in reversed(family_prober.records):
        if later is record:
            break
        if later.target == record.target and later.status is ProbeStatus.ACKED:
            return False
    est = family_prober.rtt.get(record.target)
    if est is None:
        est = family_prober.rtt[record.target] = RttEstimator()
    est.add_probe(record.rtt, group.probe_interval)
    return True


def adapt_fdt(group: Group, members: list[Member], member: Member,
              family_prober: FamilyProber, target: str, now: float,
              out: list[Action]) -> bool:
    """After a sample of ``target`` (incoming_echo_reply()): too slow, it is dropped when
    it is the exception, else the FDT is raised; fast enough, the FDT may be lowered.
    True when a host target was deleted: the caller looks for another by multicast."""
    interval = group.probe_interval
    crtt = family_prober.rtt[target].crtt
    targets = targets_for(group, member.name, family_prober.family)
    if crtt > interval:
        if not _exception_target(family_prober, target, targets.active(), interval):
            _raise_fdt(group, member, family_prober.family, crtt, now, out)
            return False
        known = targets.get(target)
        host = known is not None and known.kind == "host"
        if host:
            targets.remove(target)
        else:
            targets.mark(target, TargetState.SLOW, now)
        family_prober.rtt.pop(target, None)
        out.append(Log("notice", f"Probe target {target}{target_phrase(group, member.name)} "
                       f"is too slow ({crtt:.0f} ms); " + ("looking for another" if host
                                                           else "not used for a while")))
        return host
    if crtt < interval / LOWER_FDT_TRIGGER:
        lower_fdt(group, members, member, family_prober.family, now, "info", out)
    return False


def rtt_probe_reply(group: Group, members: list[Member], member: Member,
                    family_prober: FamilyProber, target: str, rtt: float, now: float,
                    out: list[Action]) -> None:
    """An answered PROBE_RTT probe (incoming_rtt_reply()): it may only lower its
    target's estimate, then lower the FDT like a fast failure-detection answer."""
    if rtt < 0 or targets_for(group, member.name, family_prober.family).get(target) is None:
        return
    if not _may_sample(group, member, family_prober):
        return
    est = family_prober.rtt.get(target)
    if est is not None:
        est.add_rtt_probe(rtt)
    crtt = est.crtt if est is not None else 0.0  # in.mpathd: tg_crtt 0 when unknown
    if crtt < group.probe_interval / LOWER_FDT_TRIGGER:
        # in.mpathd logs this one with logerr(), the other with logtrace()
        lower_fdt(group, members, member, family_prober.family, now, "err", out)


def _exception_target(family_prober: FamilyProber, target: str, active: list[str],
                      interval: float) -> bool:
    """check_exception_target(): with at least MIN_PROBE_TARGETS + 1 active targets, the
    slow one is the exception when every other answers within interval /
    EXCEPTION_FACTOR (a target without an estimate counts as fast, crtt 0)."""
    if len(active) < MIN_PROBE_TARGETS + 1:
        return False
    for other in active:
        est = family_prober.rtt.get(other)
        if other != target and est is not None and est.crtt > interval / EXCEPTION_FACTOR:
            return False
    return True


def _raise_fdt(group: Group, member: Member, family: int, crtt: float, now: float,
               out: list[Action]) -> None:
    """The FDT cannot be met: the interval becomes NEXT_FDT_MULTIPLE x crtt (whole ms, as
    in.mpathd keeps it), the FDT 7 times that, and the settling time starts again."""
    interval = int(crtt) * NEXT_FDT_MULTIPLE
    group.fdt_current = interval * PROBE_INTERVAL_DIVISOR
    group.fdt_raised_at = now
    if group.name:  # in.mpathd: not for the anonymous group
        out.append(Log("info", f"Cannot meet requested failure detection time of "
                       f"{group.fdt_ms} ms on ({FAMILY_NAME[family]} {member.name}) new "
                       f"failure detection time for group \"{group.name}\" is "
                       f"{group.fdt_current} ms"))


def lower_fdt(group: Group, members: list[Member], member: Member, family: int, now: float,
              level: str, out: list[Action]) -> None:
    """A target's crtt fell below interval / LOWER_FDT_TRIGGER: when the FDT is raised,
    MIN_SETTLING_TIME has passed since it was, and every active target of the group is
    that fast (check_pg_crtt_improved()), halve it, never below the configured FDT. Back
    there, both probe schedules fall into step again (reset_snxt_basetimes())."""
    if group.fdt_current <= group.fdt_ms or now - group.fdt_raised_at <= MIN_SETTLING_TIME:
        return
    if not crtt_improved(group, members):
        return
    group.fdt_current = max(group.fdt_current // NEXT_FDT_MULTIPLE, group.fdt_ms)
    if group.name:
        out.append(Log(level, f"Improved failure detection time {group.fdt_current} ms on "
                       f"({FAMILY_NAME[family]} {member.name}) for group \"{group.name}\""))
    if group.fdt_current == group.fdt_ms:
        for other in members:
            for family_prober in other.prober.families.values():
                family_prober.fd_base = family_prober.base


def crtt_improved(group: Group, members: list[Member]) -> bool:
    """check_pg_crtt_improved(): every active target of every member and family that
    can be judged by probes has a crtt within interval / LOWER_FDT_TRIGGER (failed
    members, and targets without an estimate, do not count)."""
    limit = group.probe_interval / LOWER_FDT_TRIGGER
    for member in members:
        if member.failed:
            continue
        for family, family_prober in member.prober.families.items():
            if not family_prober.enabled:
                continue
            for target in targets_for(group, member.name, family).active():
                est = family_prober.rtt.get(target)
                if est is not None and est.crtt > limit:
                    return False
    return True
