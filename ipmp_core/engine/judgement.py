"""Judging a member by its probes (in.mpathd's failure_state() and its helpers), sans I/O.

`failure_verdict` only reads: it says whether a member's probes repaired it, failed it
alone, or fail with every other member (then the targets are suspect first). The one
place that acts on a verdict is `Probing.act` (in.mpathd's
phyint_inst_check_for_failure). The target rules beside it: a target that alone stops
answering is bad, not the interface; all targets silent at once are suspected (routers
marked dead, hosts flushed, rediscovery for one FDT) before the group is failed.
"""

from __future__ import annotations

import math
from enum import Enum

from ipmp_core.constants import NUM_PROBE_FAILS
from ipmp_core.engine.actions import Action, Log
from ipmp_core.engine.prober import FamilyProber, ProbeStatus
from ipmp_core.engine.state import Group, Member
from ipmp_core.engine.tables import Tables
from ipmp_core.engine.targets import Target, TargetState


class ProbeVerdict(Enum):
    """What a member's probes say now (in.mpathd: PHYINT_OK / PHYINT_FAILURE /
    GROUP_FAILURE), for Probing.act."""

    UNCHANGED = "unchanged"
    REPAIRED = "repaired"  # NUM_PROBE_REPAIRS answers in a row after a failure
    INTERFACE_FAILURE = "interface-failure"  # lost while another member got answers
    ALL_FAILING = "all-failing"  # every member lost its targets: suspect the targets
    GROUP_FAILURE = "group-failure"  # the suspicion ended and nobody answered anything


def voters(group: Group, member: Member) -> set[int]:
    """The member's families that have a target to probe: only they judge it."""
    return {f for f, family_prober in member.prober.families.items()
            if family_prober.enabled and group.targets[f].active()}


def failure_verdict(tables: Tables, group: Group, member: Member,
                    now: float) -> ProbeVerdict:
    """The member's probe verdict; changes nothing."""
    prober = member.prober
    if not prober.enabled:
        return ProbeVerdict.UNCHANGED
    if prober.failed:
        if member.link_up and prober.repaired():
            return ProbeVerdict.REPAIRED
        return ProbeVerdict.UNCHANGED
    first_fail = prober.all_families_failing(voters(group, member))
    if first_fail is None:
        return ProbeVerdict.UNCHANGED
    if member.link_up and all(now < f.quiet_until for f in prober.families.values()):
        return ProbeVerdict.UNCHANGED  # spanning-tree quiet period: losses do not count yet
    if others_alive(tables, group, member, first_fail):
        return ProbeVerdict.INTERFACE_FAILURE
    return ProbeVerdict.ALL_FAILING


def others_alive(tables: Tables, group: Group, member: Member, first_fail: float) -> bool:
    """in.mpathd's failure_state(): an interface failure when another usable member
    answered a probe after our first loss, or cannot be judged by probes at all
    (link-based only, link up); otherwise every member is failing together."""
    if not group.name:  # the anonymous group: every interface stands alone
        return True
    for other in tables.members_of(group):
        if other is member or not other.link_up or other.is_offline:
            continue
        if not other.prober.enabled:
            return True
        last = other.prober.last_success()
        if last is not None and last > first_fail and not other.prober.failed:
            return True
    return False


def bad_target(group: Group, family_prober: FamilyProber) -> Target | None:
    """The target probed last, when it lost NUM_PROBE_FAILS in a row while others
    answered: the target is bad, not the interface. Changes nothing."""
    last = next((r for r in reversed(family_prober.records)
                 if r.status is not ProbeStatus.UNACKED), None)
    if last is None:
        return None
    if family_prober.loss_run()[0] >= NUM_PROBE_FAILS or \
            family_prober.target_loss_run(last.target) < NUM_PROBE_FAILS:
        return None
    return group.targets[family_prober.family].get(last.target)


def drop_target(group: Group, family_prober: FamilyProber, target: Target, now: float,
                out: list[Action]) -> None:
    """A bad target: a host is forgotten (another is looked for), a router marked dead."""
    targets = group.targets[family_prober.family]
    if target.kind == "host":
        targets.remove(target.address)
        out.append(Log("notice", f"Probe target {target.address}{group.log_phrase} "
                       "stopped answering; looking for another"))
    else:
        targets.mark(target.address, TargetState.DEAD, now)
        out.append(Log("notice", f"Probe target {target.address}{group.log_phrase} "
                       "stopped answering; marked dead"))
    family_prober.rtt.pop(target.address, None)


def suspect_targets(tables: Tables, group: Group, now: float, out: list[Action]) -> None:
    """Every probing member lost its targets at once: first suspect the targets."""
    if group.suspect_since is not None:
        return
    group.suspect_since = now
    # Looking for other targets takes one FDT; configured targets leave none to find
    # (no rediscovery), so the suspicion ends at the next tick: a group whose paths
    # are all dark fails within one FDT, as the cluster relies on (docs/design.md).
    group.suspect_until = now + (0 if group.explicit_targets else group.fdt_current)
    out.append(Log("warning", f"No probe target{group.log_phrase} answers on any "
                   "interface; looking for other targets"))
    group.suspected = []
    for targets in group.targets.values():
        for t in list(targets.targets):
            if t.kind == "router" and t.state is TargetState.ACTIVE:
                targets.mark(t.address, TargetState.DEAD, now)
                group.suspected.append((targets.family, t.address))
        targets.flush_hosts()
    for member in tables.members_of(group):
        for family_prober in member.prober.families.values():
            family_prober.clear()
            family_prober.rtt.clear()


def end_suspicion(tables: Tables, group: Group, now: float, out: list[Action]) -> bool:
    """The suspicion's time is up: True when nobody answered anything (a group failure:
    the caller fails every probing member); the suspected routers are probed again."""
    since = group.suspect_since
    group.suspect_since = None
    members = tables.members_of(group)
    answered = any((m.prober.last_success() or -math.inf) > (since or 0)
                   for m in members if m.prober.enabled)
    if answered:
        out.append(Log("notice", f"Probes{group.log_phrase} answered by new targets"))
        return False
    for targets in group.targets.values():
        targets.flush_hosts()
    # Nobody answers anything: the fault is ours, not the routers'. Keep probing them
    # so that the group is repaired as soon as a path is back.
    for family, address in group.suspected:
        group.targets[family].mark(address, TargetState.ACTIVE, now)
    group.suspected = []
    out.append(Log("err", f"All probe targets{group.log_phrase} unreachable from "
                   "every interface"))
    return True
