"""Transitive probing (Oracle Solaris 11's probing without test addresses), sans I/O.

Who probes what in a group with ``transitive_probing`` on (docs/design.md, "Who probes
what (engine)", says where each rule comes from):

- a member with a test address probes as always (classic probing);
- a member without one that carries an IPv4 data address probes the targets from it
  (`data_source`, read by Probing.wanted_sources): its probes are ordinary ones;
- every other member sends transitive probes (`SendTransitive`, layer 2) to one member
  that carries a data address (`choose_target`), kept in a FamilyProber of family
  TRANSITIVE so that loss, repair, schedule and probe events are the classic ones.

The verdicts on transitive probes are judgement.transitive_verdict. This module keeps
the records in step with the configuration and sends; Probing calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipmp_core.constants import PROBE_QUIET_PERIOD_MS
from ipmp_core.engine.actions import Action, Log, SendTransitive
from ipmp_core.engine.prober import TRANSITIVE, FamilyProber
from ipmp_core.engine.state import Group, Member

if TYPE_CHECKING:
    from ipmp_core.engine.probing import Probing

# The family a member probes the targets from a data address in: in.mpathd probes IPv6
# from link-locals (Probing.wanted_sources gives every member one), so a data address
# is only needed for IPv4.
DATA_SOURCE_FAMILY = 4


def label(member: str) -> str:
    """How ipmpstat -t/-p names a member as test address or target: ``<net0>``."""
    return f"<{member}>"


def applies(group: Group, member: Member) -> bool:
    """Whether transitive probing governs ``member``. Not in the anonymous group (no
    other member to probe), nor on an offline member (not probed at all)."""
    return bool(group.transitive_probing and group.name and member.present
                and not member.is_offline)


def data_source(group: Group, member: Member) -> str | None:
    """The data address ``member`` probes the targets from: the first IPv4 data
    address bound to it, in the group's order, so that it stays the same while the
    member keeps it (a new source restarts the probe history). Never an address bound
    to another member: probing with it through this one would teach the switch and
    the neighbours' ARP caches the wrong MAC."""
    if not applies(group, member):
        return None
    for addr, holder in group.binding.items():
        if holder == member.name and addr.version == DATA_SOURCE_FAMILY:
            return str(addr.ip)
    return None


def carriers(members: list[Member], group: Group) -> list[Member]:
    """Members that carry a data address: most addresses first, then configured order."""
    counts: dict[str, int] = {}
    for holder in group.binding.values():
        if holder is not None:
            counts[holder] = counts.get(holder, 0) + 1
    found = [m for m in members if counts.get(m.name)]
    return sorted(found, key=lambda m: -counts[m.name])  # stable: configured order kept


def choose_target(members: list[Member], group: Group, member: Member) -> str | None:
    """The member ``member``'s transitive probes go to. Kept while it still carries a
    data address and is usable, so that the records judge one path; else the usable
    carrier with the most data addresses (the one whose failure would cost the most,
    and the least likely to lose all of them to a rebalance); with no usable carrier,
    a failed one, so that the prober is repaired as soon as that carrier is."""
    others = [m for m in carriers(members, group) if m is not member]
    usable = [m.name for m in others if not m.failed and m.link_up]
    current = member.prober.transitive_target
    if current in usable:
        return current
    if usable:
        return usable[0]
    names = [m.name for m in others]
    if current in names:
        return current
    return names[0] if names else None


def probing_seat(members: list[Member], group: Group) -> list[str]:
    """Where a failed group's data addresses stay (Rules._place): with no active
    member they would go down, and with them the only probes that reach the targets,
    so nothing would ever see the path come back. They stay on the member that carries
    them while its link is up, else go to the first member with its link up (the
    probes of a member without link prove nothing). Empty without transitive probing:
    in.mpathd's rule, the addresses have no member."""
    if not group.transitive_probing or not group.name:
        return []
    candidates = [m for m in members if m.link_up and not m.is_offline]
    carrying = set(group.binding.values())
    seat = next((m for m in candidates if m.name in carrying), None) or \
        next(iter(candidates), None)
    return [seat.name] if seat is not None else []


class TransitiveProbes:
    """Keeps each member's transitive records in step (`sync_member`) and sends them.
    It also keeps one quiet period per member (in.mpathd's phyint_inst_create():
    spanning tree may still block the port): it starts once, when the member is first
    probed in a transitive group, and ends at the member's first answer of any kind, so
    that a data-address prober created when an address moves in inherits it instead of
    ignoring 40 s of losses on a port known to forward."""

    def __init__(self, probing: Probing) -> None:
        self.probing = probing
        self.quiet_until: dict[str, float] = {}
        # Members that failed on their own probes to the targets (as carriers) and have
        # not been repaired by them since: see holds_back.
        self.failed_on_targets: set[str] = set()

    def holds_back(self, member: Member) -> bool:
        """Whether ``member``, coming back into service now, is kept inactive as with
        FAILBACK=no (asked once per return: the mark is consumed). So is a member that
        failed on its own probes to the targets and was repaired by transitive probes:
        those prove only the layer-2 path to the carrier, and giving it the addresses
        back to find out would, where it reaches the other members but not the
        router, fail it again every two FDTs. It is used again, and judged by its own
        probes, as soon as an active member fails (activation.activate_another)."""
        marked = member.name in self.failed_on_targets
        self.failed_on_targets.discard(member.name)
        return marked and member.prober.transitive_only

    def sync_member(self, group: Group, member: Member, now: float,
                    out: list[Action]) -> None:
        """Create, enable, disable or retarget ``member``'s transitive records. Runs
        before Probing.sync sets the failure latch: a member whose data address moved
        away keeps probing (transitively), so its failure is kept until repaired."""
        prober = member.prober
        if not applies(group, member):
            prober.transitive, prober.transitive_target = None, None
            self.quiet_until.pop(member.name, None)
            self.failed_on_targets.discard(member.name)
            return
        quiet = self.quiet_until.setdefault(member.name, now + PROBE_QUIET_PERIOD_MS)
        for family_prober in prober.families.values():
            family_prober.quiet_until = min(family_prober.quiet_until, quiet)
        transitive = prober.transitive
        if transitive is None:
            transitive = prober.transitive = FamilyProber(
                member.name, TRANSITIVE, label(member.name), self.probing.rng,
                enabled=False)
        wanted = not any(f.enabled for f in prober.families.values())
        if wanted and not transitive.enabled:
            transitive.enabled = True
            transitive.clear()
            transitive.quiet_until = quiet
            out.append(Log("notice", f"Starting transitive probing on {member.name}"
                           f"{group.log_phrase}"))
            if member.link_up:
                transitive.start(now, group.probe_interval)
            else:
                transitive.stop()
        elif not wanted and transitive.enabled:
            transitive.enabled = False
            transitive.stop()
            transitive.clear()
        target = choose_target(self.probing.tables.members_of(group), group, member) \
            if transitive.enabled else None
        if target != prober.transitive_target:
            transitive.clear()  # losses to the old target say nothing of the new path
            prober.transitive_target = target
            if target is not None:
                out.append(Log("notice", f"Transitive probes from {member.name}"
                               f"{group.log_phrase} go to {target}"))

    def answered(self, member: Member, now: float) -> None:
        """Any answer on ``member`` ends its quiet period: its port forwards."""
        if member.name in self.quiet_until:
            self.quiet_until[member.name] = min(self.quiet_until[member.name], now)
        if member.prober.transitive is not None:
            transitive = member.prober.transitive
            transitive.quiet_until = min(transitive.quiet_until, now)

    def send(self, member: Member, transitive: FamilyProber, now: float,
             out: list[Action]) -> None:
        """One transitive probe to the member's target (none without a target)."""
        target = member.prober.transitive_target
        if target is None:
            return
        seq = transitive.next_seq()
        transitive.sent(seq, target, now)
        out.append(SendTransitive(member.name, target, seq))
