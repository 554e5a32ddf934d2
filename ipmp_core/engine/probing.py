"""The group side of probe-based detection (in.mpathd's mpd_probe.c), sans I/O.

Per group: which members probe and from which test address, the shared probe targets,
when each probe goes out, and what each reply or loss means. The judgement (an
interface failure, a bad target, or every member at once) is engine/judgement.py,
the adaptive FDT engine/adaptive_fdt.py, the target lists engine/target_sync.py,
transitive probes engine/transitive.py; `Probing.act` is the one place a verdict
changes anything. The engine calls this with its tables; it returns nothing but
appends actions, like the rest of the engine.
"""

from __future__ import annotations

import random

from ipmp_core.constants import NUM_PROBE_FAILS, PROBE_QUIET_PERIOD_MS, TESTADDR_CONF_MS
from ipmp_core.engine.actions import Action, Log, ProbeKind, SendProbe
from ipmp_core.engine.adaptive_fdt import adapt_fdt, rtt_probe_reply, rtt_sample
from ipmp_core.engine.judgement import (
    ProbeVerdict,
    bad_target,
    drop_target,
    fail_group,
    failure_verdict,
)
from ipmp_core.engine.probe_events import probe_event
from ipmp_core.engine.prober import (
    FAMILY_NAME,
    MULTICAST_DEST,
    TRANSITIVE,
    FamilyProber,
    ProbeRecord,
    ProbeStatus,
    is_link_local,
)
from ipmp_core.engine.state import Group, Member, target_lists, targets_for
from ipmp_core.engine.tables import Tables
from ipmp_core.engine.target_sync import sync_targets, update_has_targets
from ipmp_core.engine.testaddr_unique import shared_sources, uniqueness_logs
from ipmp_core.engine.transitive import TransitiveProbes, data_source
from ipmp_core.engine.ungrouped import own_source
from ipmp_core.model import LinkState

# Multicast probe sequence numbers remembered per family to recognise discovery replies.
MULTICAST_SEQS_KEPT = 8


class Probing:
    """Owns the group side of probing: the routers seen in the routing table, the
    sequence numbers of discovery probes, each group's cached next deadline, and whether
    per-probe events are published. It reads and changes the records through the tables
    and returns nothing but appends actions."""

    def __init__(self, tables: Tables, rng: random.Random | None = None) -> None:
        self.tables = tables
        self.rng = rng or random.Random()
        # family -> [(gateway, outgoing interface)] from the routing table
        self.routers: dict[int, list[tuple[str, str]]] = {4: [], 6: []}
        self.multicast_seqs: dict[tuple[str, int], list[int]] = {}
        self.events = False  # publish a Publish per probe only while someone listens
        # Each group's next deadline, valid until something of that group changes (every
        # change goes through a method below, which drops it): the daemon asks after
        # every packet, and recomputing it walked every member and target.
        self._deadlines: dict[str, float | None] = {}
        self.transitive = TransitiveProbes(self)

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
        source = data_source(group, member) or own_source(self.tables, group, member) \
            if 4 not in wanted else None
        if source is not None:  # transitive: a data address bound to it, or its own
            wanted[4] = source
        return wanted

    def sync(self, group: Group, now: float, out: list[Action]) -> None:
        """Create, restart or drop each member's per-family probers to match the config."""
        self._deadlines.pop(group.name, None)
        members = self.tables.members_of(group)
        # An offline member is not probed (mpd_main.c's stop_probing); a test address
        # two members share disables probing on both (check_addr_unique).
        wanted_by = {m.name: self.wanted_sources(group, m) if m.present and not m.is_offline
                     else {} for m in members}
        dups = shared_sources(wanted_by) if group.name else set()
        for member in members:
            wanted = wanted_by[member.name]
            families = member.prober.families
            was_probing = member.prober.enabled
            for family in list(families):
                if family not in wanted or families[family].source != wanted[family]:
                    del families[family]
            for family, source in wanted.items():
                family_prober = families.get(family)
                if family_prober is None:
                    family_prober = FamilyProber(member.name, family, source, self.rng)
                    # in.mpathd's phyint_inst_create(): the quiet period starts once,
                    # with the instance, never again on a link-up.
                    family_prober.quiet_until = now + PROBE_QUIET_PERIOD_MS
                    families[family] = family_prober
                    # its sequence numbers start again: the old discovery probes' do not
                    # name its replies (an onlined member's first answers were ignored)
                    self.multicast_seqs.pop((member.name, family), None)
                    out.append(Log("notice", f"Starting {FAMILY_NAME[family]} probing on "
                                   f"{member.name}{group.log_phrase} from {source}"))
                    if member.link_up:
                        family_prober.start(now, group.probe_interval)
                    else:
                        family_prober.settled = False  # see link_changed
                family_prober.enabled = source not in dups
            self.transitive.sync_member(group, member, now, out)
            out += uniqueness_logs(member, [s for s in wanted.values() if s in dups])
            if not member.prober.enabled:
                member.prober.failed = False
            elif member.link.state is LinkState.DOWN or (
                    not was_probing and member.verdict_given and member.failed):
                # A failed interface that probes is repaired by its probes only
                # (phyint_repaired()): the latch holds it until NUM_PROBE_REPAIRS answers.
                member.prober.failed = True
            member.link.probing = member.prober.enabled
        sync_targets(self.tables, self.routers, group, now, out)
        update_has_targets(self.tables, group)

    def _update_has_targets(self, group: Group) -> None:
        update_has_targets(self.tables, group)

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
        members = self.tables.members
        for name in group.members:
            member = members[name]
            for family_prober in member.prober.probers():
                # a disabled prober (duplicate test address) sends nothing: its stale
                # next_send would be a deadline forever in the past (a busy loop)
                if family_prober.enabled and family_prober.next_send is not None:
                    times.append(family_prober.next_send)
                if family_prober.unacked:
                    loss = family_prober.next_loss_deadline(interval)
                    if loss is not None:
                        times.append(loss)
            if not member.notest_logged and member.present:
                times.append(member.joined_at + TESTADDR_CONF_MS)
        for _, targets in target_lists(group):
            t = targets.next_deadline()
            if t is not None:
                times.append(t)
        return min(times) if times else None

    def tick(self, group: Group, now: float, out: list[Action]) -> bool:
        """Expire probes, judge, send due probes; True when member states may change."""
        self._deadlines.pop(group.name, None)
        changed = False
        targets_changed = False
        for _, targets in target_lists(group):
            if targets.tick(now):
                changed = targets_changed = True
        for member in self.tables.members_of(group):
            if not member.notest_logged and member.present and now >= member.joined_at + \
                    TESTADDR_CONF_MS:
                member.notest_logged = True
                if not member.prober.enabled:
                    out.append(Log("info", f"No test address configured on interface "
                                   f"{member.name}; disabling probe-based failure "
                                   f"detection on it"))
            for family_prober in member.prober.probers():
                if family_prober.unacked and self._expire(group, member, family_prober, now, out):
                    changed = True
            for family_prober in member.prober.probers():
                if family_prober.enabled and member.link_up and family_prober.due(now):
                    # in.mpathd's phyint_inst_timer(): the next send time first (every
                    # configured interval), then what kind of probe goes out now
                    family_prober.schedule_next(now, group.user_probe_interval)
                    self._send(group, member, family_prober, now, out)
        if targets_changed:
            self._update_has_targets(group)
        return changed

    def _expire(self, group: Group, member: Member, family_prober: FamilyProber, now: float,
                out: list[Action]) -> bool:
        """Declare lost what ran out of time by ``now`` and judge; True when the member's
        state may change (only a loss can fail a member here: answers are judged as they
        arrive)."""
        lost = family_prober.expire(now, group.probe_interval)
        for record in lost:
            self._probe_event(member, family_prober, record, out)
        return bool(lost) and self.judge(group, member, now, out)

    def _send(self, group: Group, member: Member, family_prober: FamilyProber, now: float,
              out: list[Action]) -> None:
        if family_prober.family == TRANSITIVE:
            self.transitive.send(member, family_prober, now, out)
            return
        targets = targets_for(group, member.name, family_prober.family)
        active = targets.active()
        if not active:
            family_prober.fd_base = family_prober.base
            self._multicast(member, family_prober, out)
            return
        if not family_prober.fd_probe_now(now, group.probe_interval,
                                          group.fdt_current != group.fdt_ms):
            # The FDT is raised and the failure-detection probe is not due: a PROBE_RTT
            # probe, so that a recovered path brings the FDT down without waiting for
            # enough of the (rarer) failure-detection probes.
            target = active[family_prober.rtt_target_index % len(active)]
            family_prober.rtt_target_index = (family_prober.rtt_target_index + 1) % len(active)
            seq = family_prober.next_seq()
            family_prober.sent_rtt(seq, target, now)
            out.append(SendProbe(member.name, family_prober.family, family_prober.source,
                                 target, seq, ProbeKind.RTT))
            return
        target = active[family_prober.target_index % len(active)]
        family_prober.target_index = (family_prober.target_index + 1) % len(active)
        family_prober.rtt_target_index = family_prober.target_index
        seq = family_prober.next_seq()
        family_prober.sent(seq, target, now)
        out.append(SendProbe(member.name, family_prober.family, family_prober.source,
                             target, seq, ProbeKind.UNICAST))
        if targets.are_hosts and len(active) == 1:
            self._multicast(member, family_prober, out)  # one host: no resilience

    def _multicast(self, member: Member, family_prober: FamilyProber,
                   out: list[Action]) -> None:
        """Look for (more) host targets: an all-hosts echo (in.mpathd's PROBE_MULTI)."""
        seq = family_prober.next_seq()
        seqs = self.multicast_seqs.setdefault((member.name, family_prober.family), [])
        seqs.append(seq)
        del seqs[:-MULTICAST_SEQS_KEPT]
        out.append(SendProbe(member.name, family_prober.family, family_prober.source,
                             MULTICAST_DEST[family_prober.family], seq, ProbeKind.MULTICAST))

    # ------------------------------------------------------------------ link events
    def link_changed(self, group: Group, member: Member, now: float) -> None:
        """in.mpathd clears probe statistics on link down (a repair must not rely on
        probes answered before it) and restarts the timers on link up. A link failure
        of an interface that probes is repaired only by NUM_PROBE_REPAIRS answers
        (phyint_repaired()): link up is necessary, not sufficient."""
        self._deadlines.pop(group.name, None)
        if not member.link_up and member.prober.enabled:
            member.prober.failed = True
        for family_prober in member.prober.probers():
            if member.link_up:
                if family_prober.next_send is None:
                    family_prober.start(now, group.probe_interval)
            else:
                family_prober.stop()
                family_prober.clear()
                family_prober.settled = False

    def sent_at(self, member: Member, family: int, seq: int, sent_at: float,
                out: list[Action]) -> None:
        family_prober = member.prober.prober_for(family)
        if family_prober is None:
            return
        record = family_prober.find(seq)
        rtt_only = record is None  # PROBE_RTT probes are no probe events (pii_probes)
        if rtt_only:
            record = family_prober.find_rtt(seq)
        if record is not None and record.status is ProbeStatus.UNACKED:
            if sent_at > record.start:
                record.start = sent_at
                self._deadlines.pop(member.group, None)
            if not rtt_only:
                self._probe_event(member, family_prober, record, out)  # in.mpathd's "sent"

    # ------------------------------------------------------------------ replies
    def reply(self, member: Member, family: int, seq: int, source: str, now: float,
              processed_at: float | None, out: list[Action]) -> bool:
        """A validated-at-the-socket echo reply received at ``now`` (the kernel's stamp)
        and read by the daemon at ``processed_at``; True when member states may
        change."""
        group = self.tables.groups[member.group]
        self._deadlines.pop(group.name, None)
        family_prober = member.prober.prober_for(family)
        if family_prober is None:
            return False
        if family == 6 and not is_link_local(source):
            family_prober.ignored["not-link-local"] += 1
            return False
        # The daemon reads replies in batches (their times are the kernel's receive
        # stamps): probes whose time ran out before this reply arrived are lost first,
        # exactly as if the daemon had woken up at their deadline.
        late = family_prober.next_loss_deadline(group.probe_interval) \
            if family_prober.unacked else None
        changed = late is not None and late <= now and \
            self._expire(group, member, family_prober, now, out)
        if seq in self.multicast_seqs.get((member.name, family), []):
            return self._discovered(group, member, family, source, now, out) or changed
        rtt_probe = family_prober.find_rtt(seq)
        if rtt_probe is not None:
            if source != rtt_probe.target:
                family_prober.ignored["wrong-source"] += 1
                return changed
            family_prober.rtt_probes.remove(rtt_probe)  # one answer each
            rtt_probe_reply(group, self.tables.members_of(group), member, family_prober,
                            rtt_probe.target, now - rtt_probe.start, now, out)
            return changed
        record = family_prober.find(seq)
        if record is None:
            family_prober.ignored["unknown-sequence"] += 1
            return changed
        if record.status is ProbeStatus.ACKED:
            family_prober.ignored["duplicate"] += 1
            return changed
        if source != record.target:
            family_prober.ignored["wrong-source"] += 1
            return changed
        record.status = ProbeStatus.ACKED
        record.done = now
        if record in family_prober.unacked:  # keeps the list of what may still be lost short
            family_prober.unacked = [r for r in family_prober.unacked if r is not record]
        record.rtt = now - record.start
        family_prober.answered(record)
        family_prober.last_success = now
        # the first reply ends the quiet period
        family_prober.quiet_until = min(family_prober.quiet_until, now)
        self.transitive.answered(member, now)
        # transitive probes keep no RTT: their loss waits one probe interval
        sampled = family != TRANSITIVE and rtt_sample(group, member, family_prober, record)
        self._probe_event(member, family_prober, record, out,
                          now if processed_at is None else processed_at)
        if sampled and adapt_fdt(group, self.tables.members_of(group), member,
                                 family_prober, record.target, now, out):
            self._multicast(member, family_prober, out)  # a slow host was deleted
            self._update_has_targets(group)
        if not member.prober.failed:
            return changed  # an answer can neither fail a member nor make a target bad
        return self.judge(group, member, now, out) or changed

    def _discovered(self, group: Group, member: Member, family: int, source: str,
                    now: float, out: list[Action]) -> bool:
        if source in self.tables.local_addresses:
            return False
        if family == 6 and not is_link_local(source):
            return False
        if targets_for(group, member.name, family).add_host(source, now):
            found_for = f"for group {group.name}" if group.name else f"on {member.name}"
            out.append(Log("notice", f"Probe target {source} ({FAMILY_NAME[family]}) found "
                           f"by multicast {found_for}"))
            self._update_has_targets(group)
            return True
        return False

    # ------------------------------------------------------------------ judgement
    def judge(self, group: Group, member: Member, now: float, out: list[Action]) -> bool:
        """Judge the member by its probes and act on the verdict; True when its probe
        latch changed."""
        prober = member.prober
        if prober.enabled and not prober.failed:
            for family_prober in prober.families.values():
                target = bad_target(group, family_prober)
                if target is not None:
                    drop_target(group, family_prober, target, now, out)
                    if target.kind == "host":  # in.mpathd: target_delete, PROBE_MULTI
                        self._multicast(member, family_prober, out)
        return self.act(group, member, failure_verdict(self.tables, group, member, now),
                        now, out)

    def act(self, group: Group, member: Member, verdict: ProbeVerdict, now: float,
            out: list[Action]) -> bool:
        """The one place a probe verdict changes anything (in.mpathd's
        phyint_inst_check_for_failure): the member's probe latch, or every probing
        member's at once (GROUP_FAILURE). True when a latch changed."""
        prober = member.prober
        if verdict is ProbeVerdict.REPAIRED:
            prober.failed = False
            if not prober.transitive_only:  # its own probes reach the targets again
                self.transitive.failed_on_targets.discard(member.name)
            return True
        if verdict is ProbeVerdict.INTERFACE_FAILURE:
            prober.failed = True
            if group.transitive_probing and not prober.transitive_only:
                self.transitive.failed_on_targets.add(member.name)
            what = f"Transitive probes from {member.name} to {prober.transitive_target}" \
                if prober.transitive_only else f"Probes on {member.name}"
            out.append(Log("err", f"{what}{group.log_phrase} "
                           f"unanswered {NUM_PROBE_FAILS} times in a row"))
            return True
        if verdict is ProbeVerdict.GROUP_FAILURE:
            changed = bool(fail_group(self.tables, group))
            self._update_has_targets(group)  # the host targets are gone
            return changed
        return False

    # ------------------------------------------------------------------ events
    def _probe_event(self, member: Member, family_prober: FamilyProber, record: ProbeRecord,
                     out: list[Action], processed_at: float | None = None) -> None:
        if self.events:
            out.append(probe_event(member.name, family_prober, record, processed_at))
