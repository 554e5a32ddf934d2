"""What netlink says about members: their link appearing, changing or going (DR), and
their IPv6 link-local address (their IPv6 test address). Each observation updates the
member's record and lets the rules (engine/rules.py) derive the rest.
"""

from __future__ import annotations

from ipmp_core.engine.actions import Action, Log, PlumbMember, SetTestAddresses
from ipmp_core.engine.probing import Probing
from ipmp_core.engine.rules import Rules
from ipmp_core.engine.state import Member
from ipmp_core.engine.tables import Tables


class MemberLinks:
    """Owns the members' side of link and link-local observations."""

    def __init__(self, tables: Tables, rules: Rules, probing: Probing) -> None:
        self.tables = tables
        self.rules = rules
        self.probing = probing

    def link_observed(self, member: Member, now: float, *, ifindex: int, mac: str,
                      carrier: bool | None, admin_up: bool) -> list[Action]:
        """Netlink reported the member's interface (RTM_NEWLINK or a dump at start)."""
        name = member.name
        group = self.tables.group_of(member)
        out: list[Action] = []
        appeared = not member.present
        if appeared:
            member.present = True
            out.append(Log("notice", f"IP interface {name} of group {member.group} appeared"))
            out.append(PlumbMember(member.group, name))
            if member.test_addresses:
                out.append(SetTestAddresses(name, add=tuple(member.test_addresses)))
        if member.mac != mac:
            member.mac, member.mac_since = mac, now
        member.ifindex = ifindex
        member.admin_up = admin_up
        for line in self.tables.observe_link(member, carrier, now):  # LOG_ERR in in.mpathd
            out.append(Log("err", line, member.group, name))
        self.probing.link_changed(group, member, now)
        self.rules.refresh(group, now, out)
        if appeared:
            self.rules.purge_multicast(group, name, out)
        return out

    def link_removed(self, member: Member, now: float) -> list[Action]:
        """Netlink reported RTM_DELLINK for the member: the NIC is gone (hot removal, DR)."""
        if not member.present:
            return []
        out: list[Action] = [Log("warning", f"IP interface {member.name} of group "
                                 f"{member.group} was removed from the system")]
        member.present = False
        self.tables.observe_link(member, None, now)
        member.linklocal = None
        group = self.tables.group_of(member)
        self.probing.link_changed(group, member, now)
        self.rules.refresh(group, now, out)
        return out

    def linklocal_observed(self, member: Member, address: str, added: bool,
                           now: float) -> list[Action]:
        """The member's IPv6 link-local address came or went: its IPv6 test address."""
        new = address if added else (None if member.linklocal == address else member.linklocal)
        if new == member.linklocal:
            return []
        member.linklocal = new
        out: list[Action] = []
        self.rules.refresh(self.tables.group_of(member), now, out)
        return out
