"""The adaptive failure detection time (in.mpathd's incoming_echo_reply() RTT rules and
its FDT raise and settle), sans I/O.

Each answered probe may be an RTT sample of its target; a target slower than the probe
interval is dropped when others are fast, else the group's FDT is raised; once every
target has been fast for FDT_SETTLING_MS the FDT comes back down step by step.
"""

from __future__ import annotations

import math

from ipmp_core.constants import (
    FDT_SETTLING_MS,
    LOWER_FDT_TRIGGER,
    MIN_TARGETS_TO_DROP_ONE,
    NEXT_FDT_MULTIPLE,
    PROBE_INTERVAL_DIVISOR,
)
from ipmp_core.engine.actions import Action, Log
from ipmp_core.engine.prober import FAMILY_NAME, FamilyProber, ProbeRecord, ProbeStatus
from ipmp_core.engine.rtt import RttEstimator
from ipmp_core.engine.state import Group, Member
from ipmp_core.engine.targets import TargetState
from ipmp_core.model import GroupState


def rtt_sample(group: Group, member: Member, family_prober: FamilyProber,
               record: ProbeRecord) -> bool:
    """Feed an answered probe's round trip to its target's estimate, with in.mpathd's
    rules; True when the FDT is to be reconsidered. Not while the member or the group
    has failed, nor after its link came back until NUM_PROBE_REPAIRS answers in a row
    (FamilyProber.rtt_allowed): the first answers after a repair may have waited for
    ARP/ND on a dead link or a switch port still learning. Not when a later probe to
    the target was answered already (replies out of order). A lone spike is held
    back (RttEstimator.add_probe)."""
    if member.prober.failed or group.state is GroupState.FAILED:
        return False
    if not family_prober.rtt_allowed():
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
              out: list[Action]) -> None:
    """After a sample of ``target``: drop it when too slow, raise the FDT, or lower it
    once every target of the group (``members``' estimates) has been fast long enough."""
    interval = group.probe_interval
    crtt = family_prober.rtt[target].crtt
    family = family_prober.family
    targets = group.targets[family]
    if crtt > interval:
        others = [t for t in targets.active() if t != target]
        fast = all((family_prober.rtt[t].crtt if t in family_prober.rtt else 0)
                   <= interval / 2 for t in others)
        if len(targets.active()) >= MIN_TARGETS_TO_DROP_ONE and fast:
            targets.mark(target, TargetState.SLOW, now)
            out.append(Log("notice", f"Probe target {target}{group.log_phrase} is "
                           f"too slow ({crtt:.0f} ms); not used for a while"))
            return
        new_interval = NEXT_FDT_MULTIPLE * crtt
        new_fdt = int(math.ceil(new_interval * PROBE_INTERVAL_DIVISOR))
        if new_fdt > group.fdt_current:
            group.fdt_current = new_fdt
            group.fdt_raised_at = now
            group.fast_since = None
            out.append(Log("warning", f"Cannot meet requested failure detection time of "
                           f"{group.fdt_ms} ms on ({FAMILY_NAME[family]} "
                           f"{member.name}) new failure detection time for group "
                           f"\"{group.name}\" is {new_fdt} ms"))
        return
    if group.fdt_current <= group.fdt_ms:
        return
    if all_fast(members, interval):
        if group.fast_since is None:
            group.fast_since = now
        if now - group.fast_since >= FDT_SETTLING_MS and \
                now - group.fdt_raised_at >= FDT_SETTLING_MS:
            group.fdt_current = max(group.fdt_ms, group.fdt_current // NEXT_FDT_MULTIPLE)
            group.fdt_raised_at = now
            group.fast_since = None
            out.append(Log("notice", f"Improved failure detection time {group.fdt_current} "
                           f"ms on ({FAMILY_NAME[family]} {member.name}) for group "
                           f"\"{group.name}\""))
    else:
        group.fast_since = None


def all_fast(members: list[Member], interval: float) -> bool:
    """Every known estimate is well below the interval (in.mpathd's LOWER_FDT_TRIGGER)."""
    for member in members:
        for family_prober in member.prober.families.values():
            for est in family_prober.rtt.values():
                if est.known and est.crtt >= interval / LOWER_FDT_TRIGGER:
                    return False
    return True
