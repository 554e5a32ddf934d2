"""Which usable members of a group carry traffic: in.mpathd's IFF_INACTIVE transitions.

A member is active when it is usable (engine/state.py) and not inactive. in.mpathd
does not recompute the active set from scratch: it moves IFF_INACTIVE at a few events,
and these functions are those moves (docs/design.md, "Rules traced to illumos"):
- a member comes (back) into service: `transition_to_running` (mpd_probe.c's
  phyint_transition_to_running), plus `refresh_standby` for a standby that joins
  (phyint_standby_refresh_inactive);
- an active member leaves service (failure, offline, removal): `activate_another`
  (phyint_activate_another) brings ONE inactive member into use, a standby first;
- a member out of service is never inactive (phyint_offline and the failure path clear
  IFF_INACTIVE), so a failed standby shows `-s-----`, not `is-----`.

Pure functions over the group's members in configured order; engine/rules.py calls them.
"""

from __future__ import annotations

from ipmp_core.engine.state import Member


def _in_use(members: list[Member], but: Member | None = None) -> list[Member]:
    """phyint_is_functioning() and not IFF_INACTIVE: the members carrying traffic."""
    return [m for m in members if m is not but and m.usable and not m.inactive]


def activate_another(members: list[Member], gone: Member | None) -> Member | None:
    """``gone`` was active and left service: one inactive usable member takes over,
    a standby one first (phyint_activate_another). Returns the one activated."""
    chosen = None
    for m in members:
        if m is gone or not m.usable or not m.inactive:
            continue
        if m.standby:
            chosen = m
            break
        chosen = chosen or m
    if chosen is not None:
        chosen.inactive = False
    return chosen


def transition_to_running(members: list[Member], member: Member, *, onlining: bool,
                          initial: bool, failback: bool, group_failed: bool) -> None:
    """``member`` came into service (joined, repaired, onlined): is it, or an active
    standby, to be inactive? phyint_transition_to_running's three cases:
    1. a standby is inactive when the group is at capacity (as many active members as
       non-standby ones);
    2. a non-standby member being onlined, or repaired with FAILBACK=yes, is active,
       and an active standby steps back when the group is now above capacity;
    3. a non-standby member repaired with FAILBACK=no is inactive unless the group had
       failed (or it is the member's first verdict)."""
    in_use = _in_use(members, but=member)
    nonstandby = sum(1 for m in members if not m.standby)
    standbys_in_use = [m for m in in_use if m.standby]
    if member.standby:
        member.inactive = len(in_use) >= nonstandby
    elif onlining or failback:
        member.inactive = False
        if len(in_use) >= nonstandby and standbys_in_use:
            standbys_in_use[-1].inactive = True
    else:
        member.inactive = not initial and not group_failed


def refresh_standby(members: list[Member], member: Member) -> None:
    """A member that is (now) a standby: inactive if the group is above capacity, active
    if nothing else is or the group is below it (phyint_standby_refresh_inactive)."""
    if not member.usable:
        return
    in_use = len(_in_use(members))
    nonstandby = sum(1 for m in members if not m.standby)
    if in_use == 0 or in_use < nonstandby:
        member.inactive = False
    elif in_use > nonstandby:
        member.inactive = True


def keep_one_active(members: list[Member]) -> None:
    """The goal's floor, "at least one active member": when every usable member is
    inactive (e.g. the last active one left), one of them is activated, a standby
    first (phyint_delete's and phyint_standby_refresh_inactive's guarantee)."""
    if not _in_use(members):
        activate_another(members, gone=None)
