"""The group side of probe-based detection (in.mpathd's mpd_probe.c decisions), sans I/O.

Per group: which members probe and from which test address, the shared probe targets,
the adaptive FDT, and the judgement when probes are lost: an interface failure (another
member still reaches a target), a bad target (the others answer), or all members at once
(first suspect the targets: routers marked dead, hosts flushed, rediscovery by multicast
for one FDT; only then a group failure). The engine calls this; it returns nothing but
appends actions, like the rest of the engine.
"""

from __future__ import annotations

import ipaddress
import math
import random
from typing import TYPE_CHECKING, Any

from ipmp_core.constants import (
    FDT_SETTLING_MS,
    LOWER_FDT_TRIGGER,
    MIN_TARGETS_TO_DROP_ONE,
    NEXT_FDT_MULTIPLE,
    NUM_PROBE_FAILS,
    PROBE_INTERVAL_DIVISOR,
    TESTADDR_CONF_MS,
)
from ipmp_core.engine.actions import Action, Log, Publish
from ipmp_core.engine.probe import (
    MULTICAST_DEST,
    FamilyProber,
    ProbeKind,
    ProbeRecord,
    ProbeStatus,
    SendProbe,
    is_link_local,
)
from ipmp_core.engine.rtt import RttEstimator
from ipmp_core.engine.targets import TargetState
from ipmp_core.model import GroupState, TargetFamilyView

if TYPE_CHECKING:
    from ipmp_core.engine.core import Engine
    from ipmp_core.engine.state import Group, Member

FAMILY_NAME = {4: "inet", 6: "inet6"}
# Multicast probe sequence numbers remembered per family to recognise discovery replies.
MULTICAST_SEQS_KEPT = 8


def _of(group: Group) -> str:
    """" of group NAME" for log lines; nothing for the anonymous group."""
    return f" of group {group.name}" if group.name else ""


class Probing:
    def __init__(self, engine: Engine, rng: random.Random | None = None) -> None:
        self.engine = engine
        self.rng = rng or random.Random()
        # family -> [(gateway, outgoing interface)] from the routing table
        self.routers: dict[int, list[tuple[str, str]]] = {4: [], 6: []}
        self.multicast_seqs: dict[tuple[str, int], list[int]] = {}
        self.events = False  # publish a Publish per probe only while someone listens
        # Each group's next deadline, valid until something of that group changes (every
        # change goes through a method below, which drops it): the daemon asks after
        # every packet, and recomputing it walked every member and target.
        self._deadlines: dict[str, float | None] = {}

    # ------------------------------------------------------------------ configuration
    def wanted_sources(self, group: Group, member: Member) -> dict[int, str]:
        """Test address per family: IPv4 from the configuration; IPv6 a configured
        link-local, else the member's own link-local when the group has IPv6 data
        addresses (in.mpathd probes IPv6 with link-locals)."""
        wanted: dict[int, str] = {}
        for addr in member.all_test_addresses:
            if addr.version == 4 and 4 not in wanted:
                wanted[4] = str(addr.ip)
            elif addr.version == 6 and 6 not in wanted and addr.ip.is_link_local:
                wanted[6] = str(addr.ip)
        if 6 not in wanted and member.linklocal and (
                group.linklocal_probes or any(a.version == 6 for a in group.binding)):
            wanted[6] = member.linklocal
        return wanted

    def sync(self, group: Group, now: float, out: list[Action]) -> None:
        """Create, restart or drop each member's per-family probers to match the config."""
        self._deadlines.pop(group.name, None)
        seen: dict[str, str] = {}
        for member in self.engine._members(group):
            wanted = self.wanted_sources(group, member) if member.present else {}
            families = member.prober.families
            for family in list(families):
                if family not in wanted or families[family].source != wanted[family]:
                    del families[family]
            for family, source in wanted.items():
                fp = families.get(family)
                if fp is None:
                    fp = FamilyProber(member.name, family, source, self.rng)
                    families[family] = fp
                    out.append(Log("notice", f"Starting {FAMILY_NAME[family]} probing on "
                                   f"{member.name}{_of(group)} from {source}"))
                    if member.link_up:
                        fp.start(now, group.probe_interval)
                    else:
                        fp.settled = False  # see link_changed
                owner = seen.get(source)
                if owner is not None and owner != member.name:
                    if fp.enabled:
                        out.append(Log("err", f"Test address {source} of {member.name} "
                                       f"duplicates {owner}'s in group {group.name}; "
                                       f"disabling probe-based failure detection on "
                                       f"{member.name}"))
                    fp.enabled = False
                else:
                    seen[source] = member.name
                    fp.enabled = True
            if not member.prober.enabled:
                member.prober.failed = False
        self._sync_targets(group, now, out)
        self._update_has_targets(group)

    @staticmethod
    def voters(group: Group, member: Member) -> set[int]:
        """The member's families that have a target to probe: only they judge it."""
        return {f for f, fp in member.prober.families.items()
                if fp.enabled and group.targets[f].active()}

    def _update_has_targets(self, group: Group) -> None:
        for member in self.engine._members(group):
            member.prober.has_targets = any(
                group.targets[f].active()
                for f, fp in member.prober.families.items() if fp.enabled
            )

    def _sync_targets(self, group: Group, now: float, out: list[Action]) -> None:
        for family, targets in group.targets.items():
            explicit = [t for t in group.explicit_targets
                        if ipaddress.ip_address(t).version == family]
            if explicit != targets.explicit:
                targets.set_explicit(explicit)
            if targets.set_routers(self._routers_for(group, family), now):
                routers = " ".join(t.address for t in targets.targets) or "none"
                out.append(Log("notice", f"Probe targets ({FAMILY_NAME[family]})"
                               f"{_of(group)}: routers {routers}"))

    def _routers_for(self, group: Group, family: int) -> list[str]:
        """Next hops of routes that lie in the subnet of the group's test addresses
        (IPv6: link-local next hops through a member), never our own addresses."""
        members = self.engine._members(group)
        nets = [a.network for m in members for a in m.all_test_addresses
                if a.version == family]
        found: list[str] = []
        # The group's own declared routes count even while they are not installed (no
        # active member): otherwise a failed group would lose the very targets that
        # would tell it the path is back.
        declared = [(r.gateway, oif) for r in group.routes for oif in group.members[:1]]
        for gateway, oif in [*self.routers.get(family, []), *declared]:
            if ipaddress.ip_address(gateway).version != family:
                continue
            if gateway in found or gateway in self.engine.local_addresses:
                continue
            ip = ipaddress.ip_address(gateway)
            if family == 6:
                if ip.is_link_local and oif in group.members:
                    found.append(gateway)
            elif any(ip in net for net in nets):
                found.append(gateway)
        return found

    # ------------------------------------------------------------------ time
    def invalidate(self, group_name: str) -> None:
        self._deadlines.pop(group_name, None)

    def deadline(self, group: Group) -> float | None:
        if group.name in self._deadlines:
            return self._deadlines[group.name]
        found = self._deadline(group)
        self._deadlines[group.name] = found
        return found

    def _deadline(self, group: Group) -> float | None:
        times: list[float] = []
        interval = group.probe_interval
        members = self.engine.members
        for name in group.members:
            member = members[name]
            for fp in member.prober.families.values():
                if fp.next_send is not None:
                    times.append(fp.next_send)
                if fp.unacked:
                    loss = fp.next_loss_deadline(interval)
                    if loss is not None:
                        times.append(loss)
            if not member.notest_logged and member.present:
                times.append(member.joined_at + TESTADDR_CONF_MS)
        if group.suspect_since is not None:
            times.append(group.suspect_until)
        for targets in group.targets.values():
            t = targets.next_deadline()
            if t is not None:
                times.append(t)
        return min(times) if times else None

    def tick(self, group: Group, now: float, out: list[Action]) -> bool:
        """Expire probes, judge, send due probes; True when member states may change."""
        self._deadlines.pop(group.name, None)
        changed = False
        interval = group.probe_interval
        targets_changed = False
        for targets in group.targets.values():
            if targets.tick(now):
                changed = targets_changed = True
        for member in self.engine._members(group):
            if not member.notest_logged and member.present and now >= member.joined_at + \
                    TESTADDR_CONF_MS:
                member.notest_logged = True
                if not member.prober.enabled:
                    out.append(Log("notice", f"No test address configured on interface "
                                   f"{member.name}; disabling probe-based failure "
                                   f"detection on it"))
            for fp in member.prober.families.values():
                if fp.unacked and self._expire(group, member, fp, now, out):
                    changed = True
            for fp in member.prober.families.values():
                if fp.enabled and member.link_up and fp.due(now):
                    self._send(group, member, fp, now, out)
                    fp.schedule_next(now, interval)
        if group.suspect_since is not None and now >= group.suspect_until:
            self._end_suspicion(group, now, out)
            changed = targets_changed = True
        if targets_changed:
            self._update_has_targets(group)
        return changed

    def _expire(self, group: Group, member: Member, fp: FamilyProber, now: float,
                out: list[Action]) -> bool:
        """Declare lost what ran out of time by ``now`` and judge; True when the member's
        state may change (only a loss can fail a member here: answers are judged as they
        arrive)."""
        lost = fp.expire(now, group.probe_interval)
        for record in lost:
            self._probe_event(member, fp, record, out)
        return bool(lost) and self.judge(group, member, now, out)

    def _send(self, group: Group, member: Member, fp: FamilyProber, now: float,
              out: list[Action]) -> None:
        targets = group.targets[fp.family]
        active = targets.active()
        if active:
            target = active[fp.target_index % len(active)]
            fp.target_index = (fp.target_index + 1) % len(active)
            seq = fp.next_seq()
            fp.sent(seq, target, now)
            out.append(SendProbe(member.name, fp.family, fp.source, target, seq,
                                 ProbeKind.UNICAST))
            if not targets.are_hosts or len(active) > 1:
                return
        # No target, or a single host target (no resilience): look for (more) hosts.
        seq = fp.next_seq()
        seqs = self.multicast_seqs.setdefault((member.name, fp.family), [])
        seqs.append(seq)
        del seqs[:-MULTICAST_SEQS_KEPT]
        out.append(SendProbe(member.name, fp.family, fp.source, MULTICAST_DEST[fp.family],
                             seq, ProbeKind.MULTICAST))

    # ------------------------------------------------------------------ link events
    def link_changed(self, group: Group, member: Member, now: float) -> None:
        """in.mpathd clears probe statistics on link down (a repair must not rely on
        probes answered before it) and restarts the timers on link up."""
        self._deadlines.pop(group.name, None)
        for fp in member.prober.families.values():
            if member.link_up:
                if fp.next_send is None:
                    fp.start(now, group.probe_interval)
            else:
                fp.stop()
                fp.clear()
                fp.settled = False

    def sent_at(self, member: Member, family: int, seq: int, sent_at: float) -> None:
        fp = member.prober.families.get(family)
        record = fp.find(seq) if fp is not None else None
        if record is not None and record.status is ProbeStatus.UNACKED and \
                sent_at > record.start:
            record.start = sent_at
            self._deadlines.pop(member.group, None)

    # ------------------------------------------------------------------ replies
    def reply(self, member: Member, family: int, seq: int, source: str, now: float,
              netrtt_ms: float | None, out: list[Action]) -> bool:
        """A validated-at-the-socket echo reply; True when member states may change."""
        group = self.engine.groups[member.group]
        self._deadlines.pop(group.name, None)
        fp = member.prober.families.get(family)
        if fp is None:
            return False
        if family == 6 and not is_link_local(source):
            fp.ignored["not-link-local"] += 1
            return False
        # The daemon reads replies in batches (their times are the kernel's receive
        # stamps): probes whose time ran out before this reply arrived are lost first,
        # exactly as if the daemon had woken up at their deadline.
        late = fp.next_loss_deadline(group.probe_interval) if fp.unacked else None
        changed = late is not None and late <= now and self._expire(group, member, fp, now,
                                                                     out)
        if seq in self.multicast_seqs.get((member.name, family), []):
            return self._discovered(group, family, source, now, out) or changed
        record = fp.find(seq)
        if record is None:
            fp.ignored["unknown-sequence"] += 1
            return changed
        if record.status is ProbeStatus.ACKED:
            fp.ignored["duplicate"] += 1
            return changed
        if source != record.target:
            fp.ignored["wrong-source"] += 1
            return changed
        record.status = ProbeStatus.ACKED
        record.done = now
        if record in fp.unacked:  # keeps the list of what may still be lost short
            fp.unacked = [r for r in fp.unacked if r is not record]
        record.rtt = now - record.start
        fp.last_success = now
        fp.quiet_until = min(fp.quiet_until, now)  # the first reply ends the quiet period
        sampled = self._rtt_sample(group, member, fp, record)
        self._probe_event(member, fp, record, out, netrtt_ms)
        if sampled:
            self._adapt_fdt(group, member, fp, record.target, now, out)
        if not member.prober.failed:
            return changed  # an answer can neither fail a member nor make a target bad
        return self.judge(group, member, now, out) or changed

    @staticmethod
    def _rtt_sample(group: Group, member: Member, fp: FamilyProber,
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
        if not fp.rtt_allowed():
            return False
        for later in reversed(fp.records):
            if later is record:
                break
            if later.target == record.target and later.status is ProbeStatus.ACKED:
                return False
        est = fp.rtt.get(record.target)
        if est is None:
            est = fp.rtt[record.target] = RttEstimator()
        est.add_probe(record.rtt, group.probe_interval)
        return True

    def _discovered(self, group: Group, family: int, source: str, now: float,
                    out: list[Action]) -> bool:
        if source in self.engine.local_addresses:
            return False
        if family == 6 and not is_link_local(source):
            return False
        if group.targets[family].add_host(source, now):
            out.append(Log("notice", f"Probe target {source} ({FAMILY_NAME[family]}) found "
                           f"by multicast for group {group.name}"))
            self._update_has_targets(group)
            return True
        return False

    # ------------------------------------------------------------------ judgement
    def judge(self, group: Group, member: Member, now: float, out: list[Action]) -> bool:
        """Update the member's probe latch; True when it changed."""
        prober = member.prober
        if not prober.enabled:
            return False
        if prober.failed:
            if member.link_up and prober.repaired():
                prober.failed = False
                return True
            return False
        for fp in prober.families.values():
            self._check_bad_target(group, fp, now, out)
        first_fail = prober.all_families_failing(self.voters(group, member))
        if first_fail is None:
            return False
        if member.link_up and all(now < fp.quiet_until for fp in prober.families.values()):
            return False  # spanning-tree quiet period: losses do not count yet
        if self._others_alive(group, member, first_fail):
            prober.failed = True
            out.append(Log("err", f"Probes on {member.name}{_of(group)} "
                           f"unanswered {NUM_PROBE_FAILS} times in a row"))
            return True
        self._suspect_targets(group, now, out)
        return False

    def _check_bad_target(self, group: Group, fp: FamilyProber, now: float,
                          out: list[Action]) -> None:
        """The target probed last lost NUM_PROBE_FAILS in a row while others answered:
        the target is bad, not the interface."""
        last = next((r for r in reversed(fp.records) if r.status is not ProbeStatus.UNACKED),
                    None)
        if last is None:
            return
        if fp.loss_run()[0] >= NUM_PROBE_FAILS or fp.target_loss_run(last.target) < \
                NUM_PROBE_FAILS:
            return
        targets = group.targets[fp.family]
        target = targets.get(last.target)
        if target is None:
            return
        if target.kind == "host":
            targets.remove(target.address)
            out.append(Log("notice", f"Probe target {target.address}{_of(group)} "
                           "stopped answering; looking for another"))
        else:
            targets.mark(target.address, TargetState.DEAD, now)
            out.append(Log("notice", f"Probe target {target.address}{_of(group)} "
                           "stopped answering; marked dead"))
        fp.rtt.pop(target.address, None)

    def _others_alive(self, group: Group, member: Member, first_fail: float) -> bool:
        """in.mpathd's failure_state(): an interface failure when another usable member
        answered a probe after our first loss, or cannot be judged by probes at all
        (link-based only, link up); otherwise every member is failing together."""
        if not group.name:  # the anonymous group: every interface stands alone
            return True
        for other in self.engine._members(group):
            if other is member or not other.link_up or other.is_offline:
                continue
            if not other.prober.enabled:
                return True
            last = other.prober.last_success()
            if last is not None and last > first_fail and not other.prober.failed:
                return True
        return False

    def _suspect_targets(self, group: Group, now: float, out: list[Action]) -> None:
        """Every probing member lost its targets at once: first suspect the targets."""
        if group.suspect_since is not None:
            return
        group.suspect_since = now
        # Looking for other targets takes one FDT; configured targets leave none to find
        # (no rediscovery), so the suspicion ends at the next tick: a group whose paths
        # are all dark fails within one FDT, as the cluster relies on (docs/design.md).
        group.suspect_until = now + (0 if group.explicit_targets else group.fdt_current)
        out.append(Log("warning", f"No probe target{_of(group)} answers on any "
                       "interface; looking for other targets"))
        group.suspected = []
        for targets in group.targets.values():
            for t in list(targets.targets):
                if t.kind == "router" and t.state is TargetState.ACTIVE:
                    targets.mark(t.address, TargetState.DEAD, now)
                    group.suspected.append((targets.family, t.address))
            targets.flush_hosts()
        for member in self.engine._members(group):
            for fp in member.prober.families.values():
                fp.clear()
                fp.rtt.clear()

    def _end_suspicion(self, group: Group, now: float, out: list[Action]) -> None:
        since = group.suspect_since
        group.suspect_since = None
        members = self.engine._members(group)
        answered = any((m.prober.last_success() or -math.inf) > (since or 0)
                       for m in members if m.prober.enabled)
        if answered:
            out.append(Log("notice", f"Probes{_of(group)} answered by new targets"))
            return
        for member in members:
            if member.prober.enabled and not member.prober.failed:
                member.prober.failed = True
        for targets in group.targets.values():
            targets.flush_hosts()
        # Nobody answers anything: the fault is ours, not the routers'. Keep probing them
        # so that the group is repaired as soon as a path is back.
        for family, address in group.suspected:
            group.targets[family].mark(address, TargetState.ACTIVE, now)
        group.suspected = []
        out.append(Log("err", f"All probe targets{_of(group)} unreachable from "
                       "every interface"))

    # ------------------------------------------------------------------ adaptive FDT
    def _adapt_fdt(self, group: Group, member: Member, fp: FamilyProber, target: str,
                   now: float, out: list[Action]) -> None:
        interval = group.probe_interval
        crtt = fp.rtt[target].crtt
        targets = group.targets[fp.family]
        if crtt > interval:
            others = [t for t in targets.active() if t != target]
            fast = all((fp.rtt[t].crtt if t in fp.rtt else 0) <= interval / 2 for t in others)
            if len(targets.active()) >= MIN_TARGETS_TO_DROP_ONE and fast:
                targets.mark(target, TargetState.SLOW, now)
                out.append(Log("notice", f"Probe target {target}{_of(group)} is "
                               f"too slow ({crtt:.0f} ms); not used for a while"))
                return
            new_interval = NEXT_FDT_MULTIPLE * crtt
            new_fdt = int(math.ceil(new_interval * PROBE_INTERVAL_DIVISOR))
            if new_fdt > group.fdt_current:
                group.fdt_current = new_fdt
                group.fdt_raised_at = now
                group.fast_since = None
                out.append(Log("warning", f"Cannot meet requested failure detection time of "
                               f"{group.fdt_ms} ms on ({FAMILY_NAME[fp.family]} "
                               f"{member.name}) new failure detection time for group "
                               f"\"{group.name}\" is {new_fdt} ms"))
            return
        if group.fdt_current <= group.fdt_ms:
            return
        if self._all_fast(group, interval):
            if group.fast_since is None:
                group.fast_since = now
            if now - group.fast_since >= FDT_SETTLING_MS and \
                    now - group.fdt_raised_at >= FDT_SETTLING_MS:
                group.fdt_current = max(group.fdt_ms, group.fdt_current // NEXT_FDT_MULTIPLE)
                group.fdt_raised_at = now
                group.fast_since = None
                out.append(Log("notice", f"Improved failure detection time {group.fdt_current} "
                               f"ms on ({FAMILY_NAME[fp.family]} {member.name}) for group "
                               f"\"{group.name}\""))
        else:
            group.fast_since = None

    def _all_fast(self, group: Group, interval: float) -> bool:
        for member in self.engine._members(group):
            for fp in member.prober.families.values():
                for est in fp.rtt.values():
                    if est.known and est.crtt >= interval / LOWER_FDT_TRIGGER:
                        return False
        return True

    # ------------------------------------------------------------------ events and views
    def _probe_event(self, member: Member, fp: FamilyProber, record: ProbeRecord,
                     out: list[Action], netrtt_ms: float | None = None) -> None:
        if not self.events:
            return
        est = fp.rtt.get(record.target)
        event: dict[str, Any] = {
            "type": "probe",
            "interface": member.name,
            "family": FAMILY_NAME[fp.family],
            "probe": record.seq,
            "status": str(record.status),
            "time_ns": int(record.start * 1e6),
            "target": record.target,
        }
        if record.status is ProbeStatus.ACKED:
            event.update(
                rtt_ms=record.rtt,
                netrtt_ms=netrtt_ms if netrtt_ms is not None else record.rtt,
                rttavg_ms=est.average if est else None,
                rttdev_ms=est.deviation if est else None,
            )
        out.append(Publish(event))

    def family_views(self, group: Group, member: Member) -> list[TargetFamilyView]:
        """Per probing family: mode, test address, targets in firing order."""
        views = []
        for family, fp in sorted(member.prober.families.items()):
            if not fp.enabled:
                continue
            targets = group.targets[family]
            active = targets.active()
            i = fp.target_index % len(active) if active else 0
            views.append(TargetFamilyView(family, targets.mode, fp.source,
                                          active[i:] + active[:i]))
        return views

    def firing_order(self, group: Group, member: Member) -> tuple[str, list[str]]:
        """(target mode, targets in the order this member will probe them)."""
        for family in (4, 6):
            fp = member.prober.families.get(family)
            if fp is None or not fp.enabled:
                continue
            targets = group.targets[family]
            active = targets.active()
            i = fp.target_index % len(active) if active else 0
            return str(targets.mode), active[i:] + active[:i]
        return "disabled", []
