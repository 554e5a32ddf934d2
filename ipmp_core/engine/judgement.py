"""Judging a member by its probes (in.mpathd's failure_state() and its helpers), sans I/O.

`failure_verdict` only reads: it says whether a member's probes repaired it, failed it
alone, or failed the whole group (nobody else got an answer since). The one place that
acts on a verdict is `Probing.act` (in.mpathd's phyint_inst_check_for_failure). The
target rules beside it: a target that alone stops answering is bad, not the interface;
a group failure flushes the host targets (`fail_group`, in.mpathd's
phyint_group_chstate(PG_FAILED) -> target_flush_hosts()), routers are kept.
"""

from __future__ import annotations

from enum import Enum

from ipmp_core.constants import NUM_PROBE_FAILS, NUM_PROBE_REPAIRS
from ipmp_core.engine.actions import Action, Log
from ipmp_core.engine.prober import FamilyProber, ProbeStatus
from ipmp_core.engine.state import Group, Member, target_lists, target_phrase, targets_for
from ipmp_core.engine.tables import Tables
from ipmp_core.engine.targets import Target, TargetState


class ProbeVerdict(Enum):
    """What a member's probes say now (in.mpathd: PHYINT_OK / PHYINT_FAILURE /
    GROUP_FAILURE), for Probing.act."""

    UNCHANGED = "unchanged"
    REPAIRED = "repaired"  # NUM_PROBE_REPAIRS answers in a row after a failure
    INTERFACE_FAILURE = "interface-failure"  # lost while another member got answers
    GROUP_FAILURE = "group-failure"  # lost, and no other member got an answer since


def voters(group: Group, member: Member) -> set[int]:
    """The member's families that have a target to probe: only they judge it."""
    return {f for f, family_prober in member.prober.families.items()
            if family_prober.enabled and targets_for(group, member.name, f).active()}


def failure_verdict(tables: Tables, group: Group, member: Member,
                    now: float) -> ProbeVerdict:
    """The member's probe verdict; changes nothing."""
    prober = member.prober
    if not prober.enabled:
        return ProbeVerdict.UNCHANGED
    if prober.transitive_only:
        return transitive_verdict(tables, member, now)
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
    return ProbeVerdict.GROUP_FAILURE


def transitive_verdict(tables: Tables, member: Member, now: float) -> ProbeVerdict:
    """A member judged by its transitive probes (docs/design.md, "Who probes what"):
    NUM_PROBE_FAILS lost in a row fail it only while the member they go to still
    reaches the targets (its own probes were answered since the first loss): otherwise
    the fault is that member's, which its own probes judge. Repaired by
    NUM_PROBE_REPAIRS answers in a row, again only while that member is not failed:
    answers from a member that reaches nothing prove nothing about the targets. Never a
    group failure: only probes to the targets can say that nobody reaches them."""
    prober = member.prober
    transitive = prober.transitive
    target = tables.members.get(prober.transitive_target or "")
    if transitive is None or target is None:
        return ProbeVerdict.UNCHANGED
    if prober.failed:
        if member.link_up and not target.failed and \
                transitive.success_run() >= NUM_PROBE_REPAIRS:
            return ProbeVerdict.REPAIRED
        return ProbeVerdict.UNCHANGED
    count, first_fail = transitive.loss_run()
    if count < NUM_PROBE_FAILS or first_fail is None:
        return ProbeVerdict.UNCHANGED
    if member.link_up and now < transitive.quiet_until:
        return ProbeVerdict.UNCHANGED  # spanning-tree quiet period, as for classic probes
    if not target.failed and not target.prober.failed and \
            target.prober.targets_answered_since(first_fail):
        return ProbeVerdict.INTERFACE_FAILURE
    return ProbeVerdict.UNCHANGED


def others_alive(tables: Tables, group: Group, member: Member, first_fail: float) -> bool:
    """in.mpathd's failure_state(): an interface failure when another usable member
    answered a probe after our first loss, or cannot be judged by probes at all
    (link-based only, link up); otherwise the whole group has failed. A transitive
    member that is not failed cannot be judged by probes to the targets either: it
    counts as a link-based one, so that the data addresses move to it and its own
    probes from them say whether it reaches the targets."""
    if not group.name:  # the anonymous group: every interface stands alone
        return True
    for other in tables.members_of(group):
        if other is member or not other.link_up or other.is_offline:
            continue
        if not other.prober.enabled:
            return True
        if other.prober.transitive_only and not other.prober.failed:
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
    return targets_for(group, family_prober.member, family_prober.family).get(last.target)


def drop_target(group: Group, family_prober: FamilyProber, target: Target, now: float,
                out: list[Action]) -> None:
    """A bad target: a host is forgotten (another is looked for), a router marked dead."""
    targets = targets_for(group, family_prober.member, family_prober.family)
    phrase = target_phrase(group, family_prober.member)
    if target.kind == "host":
        targets.remove(target.address)
        out.append(Log("notice", f"Probe target {target.address}{phrase} "
                       "stopped answering; looking for another"))
    else:
        targets.mark(target.address, TargetState.DEAD, now)
        out.append(Log("notice", f"Probe target {target.address}{phrase} "
                       "stopped answering; marked dead"))
    family_prober.rtt.pop(target.address, None)


def fail_group(tables: Tables, group: Group) -> list[Member]:
    """in.mpathd's GROUP_FAILURE: every probing member fails at once, its RTT estimates
    reset (reset_crtt_all()); the host targets are flushed so that the next probes
    multicast for others (target_flush_hosts(): new hosts may have replaced the old
    ones), the routers are kept (the routing table still names them). Returns the
    members newly failed; "All IP interfaces in group ... are now unusable" is logged
    by the group's state (Rules._group_state)."""
    failed: list[Member] = []
    for other in tables.members_of(group):
        prober = other.prober
        if not prober.enabled or other.is_offline:
            continue
        for family_prober in prober.families.values():
            family_prober.rtt.clear()
        if not prober.failed:
            prober.failed = True
            failed.append(other)
    for _, targets in target_lists(group):
        targets.flush_hosts()
    return failed
