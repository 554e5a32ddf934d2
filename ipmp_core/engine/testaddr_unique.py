"""Test addresses two members of a group share: in.mpathd's check_addr_unique() marks
the address on EVERY member that has it, and check_testconfig() disables probing on
each with one log line (and one when the address is unique again). Probing.sync in
engine/probing.py applies it."""

from __future__ import annotations

from ipmp_core.engine.actions import Log
from ipmp_core.engine.state import Member


def shared_sources(wanted_by: dict[str, dict[int, str]]) -> set[str]:
    """Test addresses more than one member would probe from ({member: {family: source}})."""
    owners: dict[str, set[str]] = {}
    for name, wanted in wanted_by.items():
        for source in wanted.values():
            owners.setdefault(source, set()).add(name)
    return {source for source, names in owners.items() if len(names) > 1}


def uniqueness_logs(member: Member, shared: list[str]) -> list[Log]:
    """in.mpathd's words, once per member each way; ``shared``: its duplicated sources."""
    if shared and not member.duptaddr_logged:
        member.duptaddr_logged = True
        return [Log("err", f"Test address {shared[0]} is not unique in group; disabling "
                    f"probe-based failure detection on {member.name}")]
    if not shared and member.duptaddr_logged and member.prober.enabled:
        member.duptaddr_logged = False
        return [Log("err", f"Test address now configured on interface {member.name}; "
                    "enabling probe-based failure detection on it")]
    return []
