"""Group and group-list signatures, and the stamp every published event carries.

in.mpathd (mpd_tables.c) gives each group a signature, ``pg_sig``, that changes with
each change of the group that it publishes: a member joins (phyint_insert) or leaves
(phyint_delete), a member changes state or type (phyint_chstate, phyint_changed), the
group changes state (phyint_group_chstate). The group list has one too,
``phyint_grouplistsig``, changed when a group is added or removed
(phyint_group_insert, phyint_group_delete). Each signature starts as gensig(): a random
generation above a counter, so that a group deleted and created again, or a daemon
restarted, never continues an old sequence. Every event that changes a signature
carries the new value, and post_event() adds the event version to every event.

Here the events are Publish actions, stamped in one place as the engine's batch leaves
it (engine/batch.py, order_batch): the signature changes exactly when its event is
published, once per event, in the order the daemon delivers them. A consumer that saw
signature N of a group and then sees N + 2 (or another generation) missed something.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from ipmp_core.constants import EVENT_VERSION
from ipmp_core.engine.actions import Publish

# gensig()'s layout, narrowed: in.mpathd puts a 16-bit random generation above a 48-bit
# counter; ours sits above 37 bits so that a signature stays below 2**53 and survives
# JSON readers that hold numbers as doubles (jq, JavaScript).
SIG_GENERATION_BITS = 16
SIG_COUNTER_BITS = 37

# Event types that change the group's signature (in.mpathd's pg_sig++ and the event
# that follows it); group-added and group-removed change the group list's.
GROUP_SIGNED = frozenset({"member-added", "member-removed", "member-state", "group-state"})


class Signatures:
    """Owns the group-list signature and each group's; stamps events with them and
    with EVENT_VERSION."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.grouplist = self.gensig()
        self.groups: dict[str, int] = {}

    def gensig(self) -> int:
        """A fresh signature: a random generation, counter 1 (in.mpathd's gensig())."""
        generation = self.rng.getrandbits(SIG_GENERATION_BITS)
        return generation << SIG_COUNTER_BITS | 1

    def group(self, name: str) -> int:
        """The group's signature; a group the stamp has not met yet gets a fresh one."""
        sig = self.groups.get(name)
        if sig is None:
            sig = self.groups[name] = self.gensig()
        return sig

    def stamp(self, actions: Iterable[Any]) -> None:
        """Give every Publish of a batch its version and, for the events in.mpathd signs,
        the signature they change. An event already stamped is left alone (a batch may
        be ordered twice)."""
        for action in actions:
            if type(action) is Publish and "version" not in action.event:
                self.stamp_event(action.event)

    def stamp_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        name = event.get("group")
        if kind in GROUP_SIGNED and isinstance(name, str):
            self.groups[name] = self.group(name) + 1
            event["group_signature"] = self.groups[name]
        elif kind == "group-added" and isinstance(name, str):
            self.grouplist += 1
            self.groups[name] = self.gensig()
            event["group_signature"] = self.groups[name]
            event["grouplist_signature"] = self.grouplist
        elif kind == "group-removed" and isinstance(name, str):
            self.grouplist += 1
            event["group_signature"] = self.groups.pop(name, None)
            event["grouplist_signature"] = self.grouplist
        event["version"] = EVENT_VERSION

    def current(self, groups: Iterable[str]) -> dict[str, Any]:
        """What a new event stream starts from (the subscribe reply): the version, the
        group list's signature and those of ``groups``, so that a consumer that
        reconnects can tell whether it missed anything while it was away."""
        return {"version": EVENT_VERSION, "grouplist_signature": self.grouplist,
                "group_signatures": {name: self.group(name) for name in groups}}
