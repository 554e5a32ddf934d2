"""Member requests (if_mpadm, ipmpadm); what netlink says about members is
engine/member_links.py's.

Each request checks its input (refusals raise EngineError and change nothing), changes
the member's configuration, and lets the rules (engine/rules.py) derive the rest.

Rules of this module: the test-address list with its "dhcp" entry (adding, removing and
refusing one address of it), and the namespace-wide sysctls restored with the last
member (`UnplumbMember.last`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ipmp_core import aobjname, errors
from ipmp_core.constants import MIN_REDUNDANCY
from ipmp_core.engine import activation, address_objects, ungrouped
from ipmp_core.engine.actions import (
    Action,
    ConfigChanged,
    DhcpTest,
    Log,
    PlumbMember,
    Publish,
    SetTestAddresses,
    UnplumbMember,
)
from ipmp_core.engine.rules import Rules
from ipmp_core.engine.state import Group, Member
from ipmp_core.engine.tables import ANONYMOUS, DHCP_ENTRY, Tables, need_str
from ipmp_core.errors import EngineError
from ipmp_core.model import GroupState
from ipmp_core.values import (
    IPInterface,
    check_name,
    parse_address,
    parse_bool,
    parse_ip,
    parse_test_address,
)


class MemberRequests:
    """Owns the requests on members (add, remove, standby, offline/online, test
    addresses, the DHCP test address)."""

    def __init__(self, tables: Tables, rules: Rules) -> None:
        self.tables = tables
        self.rules = rules

    # ------------------------------------------------------------------ joining and leaving
    def add_member(self, group_name: str, ifname: str, now: float, *, standby: bool = False,
                   offline: bool = False, require_present: bool = True) -> list[Action]:
        tables = self.tables
        group = tables.group(group_name)
        check_name("interface", ifname)
        anon = tables.members.get(ifname)
        if anon is not None and anon.group == ANONYMOUS:
            keep = [str(a) for a in anon.test_addresses]
            names = {str(a): n for a, n in anon.test_names.items()}
            out = self.drop_member(anon, now)
            out += self.add_member(group_name, ifname, now, standby=standby, offline=offline,
                                   require_present=require_present)
            return out + self.set_test_addresses(ifname, keep, now, names=names)
        if ifname in tables.members:
            raise EngineError(
                errors.IN_GROUP,
                f"interface {ifname} is already in group {tables.members[ifname].group}",
            )
        if ifname == "lo":
            raise EngineError(errors.INVALID, "the loopback interface cannot join a group")
        if require_present and ifname not in tables.observed:
            raise EngineError(errors.UNKNOWN_INTERFACE, f"no such interface: {ifname}")
        member = Member(name=ifname, group=group_name, standby=standby, offline=offline,
                        joined_at=now, linklocal=tables.linklocals.get(ifname))
        tables.members[ifname] = member
        group.members.append(ifname)
        out: list[Action] = [
            Log("notice", f"IP interface {ifname} added to group {group_name}", group_name,
                ifname),
            Publish({"type": "member-added", "group": group_name, "interface": ifname}),
            ConfigChanged(),
        ]
        seen = tables.observed.get(ifname)
        if seen is not None:
            member.present = True
            member.ifindex, member.mac, member.mac_since = seen.ifindex, seen.mac, now
            member.admin_up = seen.admin_up
            out.append(PlumbMember(group_name, ifname))
            # PlumbMember brings the link administratively up; the kernel will confirm it
            # with RTM_NEWLINK, but a member we plumb counts as up from now on.
            member.admin_up = True
            for line in tables.observe_link(member, seen.carrier, now):
                out.append(Log("notice", line))
        else:
            out.append(Log("warning", f"IP interface {ifname} of group {group_name} is missing; "
                           "it will join when it appears"))
        self.rules.refresh(group, now, out)
        if member.present:
            self.rules.purge_multicast(group, ifname, out)
        return out

    def remove_member(self, ifname: str, now: float) -> list[Action]:
        member = self.tables.member(ifname)
        group = self.tables.group_of(member)
        out = self.drop_member(member, now)
        self.rules.refresh(group, now, out)
        return out

    def drop_member(self, member: Member, now: float) -> list[Action]:
        """Take the member out of its group (its addresses move away first)."""
        group = self.tables.group_of(member)
        out: list[Action] = []
        # Take it out of service first so that its addresses move away before it leaves;
        # another member is brought into use if it was an active standby or the last
        # active member (mpd_tables.c's phyint_delete).
        members = self.tables.members_of(group)
        if member.active and (member.standby or not any(
                m.active for m in members if m is not member)):
            activation.activate_another(members, member)
        member.offline, member.in_service, member.inactive = True, False, False
        self.rules.refresh(group, now, out)
        group.members.remove(member.name)
        del self.tables.members[member.name]
        if member.dhcp_test:
            out.append(DhcpTest(group.name, member.name, False))
        if member.present:
            if member.all_test_addresses:
                out.append(SetTestAddresses(member.name,
                                            remove=tuple(member.all_test_addresses)))
            out.append(UnplumbMember(group.name, member.name, last=not any(
                m.present for m in self.tables.members.values())))
        out.append(Log("notice", f"IP interface {member.name} removed from group {group.name}",
                       group.name, member.name))
        out.append(Publish({"type": "member-removed", "group": group.name,
                            "interface": member.name}))
        out.append(ConfigChanged())
        return out

    def _join_anonymous(self, ifname: str, now: float) -> list[Action]:
        tables = self.tables
        if ANONYMOUS not in tables.groups:
            tables.groups[ANONYMOUS] = Group(
                name=ANONYMOUS, fdt_ms=tables.default_fdt, fdt_current=tables.default_fdt,
                transitive_probing=tables.default_transitive,
                follows_defaults={"fdt_ms", "transitive_probing"})
        member = Member(name=ifname, group=ANONYMOUS, joined_at=now, notest_logged=True)
        seen = tables.observed[ifname]
        member.present = True
        member.ifindex, member.mac, member.mac_since = seen.ifindex, seen.mac, now
        member.admin_up = seen.admin_up
        tables.observe_link(member, seen.carrier, now)
        tables.members[ifname] = member
        tables.groups[ANONYMOUS].members.append(ifname)
        tables.groups[ANONYMOUS].member_targets.pop(ifname, None)  # none of a former stay
        return [Log("notice", f"Tracking IP interface {ifname} (in no group): failure "
                    "detection only"), PlumbMember(ANONYMOUS, ifname)]

    def set_track_all(self, value: bool, now: float) -> list[Action]:
        """TRACK_INTERFACES_ONLY_WITH_GROUPS=no (True) or yes (False)."""
        self.tables.track_all = value
        out: list[Action] = []
        anon = self.tables.groups.get(ANONYMOUS)
        if not value and anon is not None:
            for name in list(anon.members):
                out += self.drop_member(self.tables.members[name], now)
            del self.tables.groups[ANONYMOUS]
        return out

    # ------------------------------------------------------------------ service
    def set_standby(self, ifname: str, value: bool | str, now: float) -> list[Action]:
        """STANDBY on: inactive if the group is above capacity (in.mpathd's
        phyint_standby_refresh_inactive); off: an ordinary member, in use when usable."""
        member = self.tables.member(ifname)
        member.standby = parse_bool(value)
        members = self.tables.members_of(self.tables.group_of(member))
        # in the anonymous group every interface stands alone: active, standby or not
        if member.standby and member.group != ANONYMOUS:
            activation.refresh_standby(members, member)
        else:
            member.inactive = False
        out: list[Action] = [ConfigChanged()]
        self.rules.refresh(self.tables.group_of(member), now, out)
        return out

    def offline(self, ifname: str, now: float) -> list[Action]:
        """if_mpadm -d: take a member out of service, e.g. before replacing the NIC
        (mpd_tables.c's phyint_offline): it stops probing, its addresses move away and
        one inactive member takes its place. Refused, with if_mpadm's words, when it is
        offline already or no other functioning member would remain; in a group that
        has failed, any other member not offline will do (the NIC can be replaced)."""
        member = self.tables.member(ifname)
        if member.is_offline:
            raise EngineError(errors.INVALID, f"interface {ifname} is already offline")
        group = self.tables.group_of(member)
        failed = group.state is GroupState.FAILED
        others = [m for m in self.tables.members_of(group) if m is not member and (
            m.usable or (failed and not m.is_offline))]
        if group.name == ANONYMOUS:  # phyint_offline(): no interface there stands in
            others = []
        if len(others) < MIN_REDUNDANCY:
            raise EngineError(errors.MIN_REDUNDANCY, f"cannot offline {ifname}: no other "
                              "functioning interfaces are in its IPMP group")
        member.offline = True
        return self._noted(group, now, f"IP interface {ifname} in group {group.name} "
                           "is now offline")

    def online(self, ifname: str, now: float) -> list[Action]:
        """if_mpadm -r: undo offline (phyint_undo_offline); the member is in use again at
        once, FAILBACK=no or not (phyint_transition_to_running's "onlining" case)."""
        member = self.tables.member(ifname)
        if not member.offline:
            if member.duphw:
                raise EngineError(errors.HWADDR_DUPLICATE, f"cannot undo-offline {ifname}: "
                                  "interface has duplicate hardware address")  # libipmp
            raise EngineError(errors.NOT_OFFLINE, f"interface {ifname} is not offline")
        group = self.tables.group_of(member)
        member.offline = False
        return self._noted(group, now, f"IP interface {ifname} in group {group.name} "
                           "is back online")

    def _noted(self, group: Group, now: float, message: str) -> list[Action]:
        """An administrative change of a member (if_mpadm): logged, persisted, and the
        group refreshed."""
        out: list[Action] = [Log("notice", message), ConfigChanged()]
        self.rules.refresh(group, now, out)
        return out

    # ------------------------------------------------------------------ test addresses
    def set_test_addresses(self, ifname: str, addresses: Iterable[str],
                           now: float, names: Mapping[str, str] | None = None
                           ) -> list[Action]:
        """A member's test addresses: static ones, and/or "dhcp" for a leased one. An
        interface in no group gets one only under TRACK_INTERFACES_ONLY_WITH_GROUPS=no,
        which makes it a member of the anonymous group (and losing them ends that).
        ``names``: address object names of some of them ({address: name}); the others
        keep theirs or get generated ones (address_objects.py)."""
        need_str("interface", ifname)
        if isinstance(addresses, str | bytes) or not isinstance(addresses, Iterable):
            raise EngineError(errors.INVALID, "test addresses must be a list")
        addresses = list(addresses)
        out: list[Action] = []
        tables = self.tables
        if ifname not in tables.members and tables.track_all and ifname in tables.observed:
            if not addresses:
                return []
            out += self._join_anonymous(ifname, now)
        member = tables.member(ifname)
        want_dhcp = any(str(a).strip().lower() == DHCP_ENTRY for a in addresses)
        parsed = self._parse_test_addresses(
            member, [a for a in addresses if str(a).strip().lower() != DHCP_ENTRY])
        given = address_objects.check_names_map(names, parsed, ifname)
        kept = {a: n for a, n in member.test_names.items() if a in parsed and a not in given}
        taken = [n for n in given.values() if n in kept.values()]
        if taken:
            raise EngineError(errors.EXISTS, f"address object {ifname}/{taken[0]} already "
                              "exists")
        member.test_names = kept
        for addr in parsed:
            member.next_name = address_objects.claim(member.test_names, member.next_name, addr,
                                              given.get(addr))
        old, member.test_addresses = member.test_addresses, parsed
        out.append(ConfigChanged())
        out += self._set_dhcp_test(member, want_dhcp)
        out += self._check_test_subnets(tables.group_of(member))
        if member.present:
            add = tuple(a for a in parsed if a not in old)
            remove = tuple(a for a in old if a not in parsed)
            if add or remove:
                out.append(SetTestAddresses(ifname, add=add, remove=remove))
        if member.group == ANONYMOUS and not parsed and not want_dhcp and \
                not ungrouped.wants_tracking(tables, ifname):  # else its own address probes
            out += self.drop_member(member, now)
            return out
        self.rules.refresh(tables.group_of(member), now, out)
        return out

    @staticmethod
    def test_list(member: Member) -> list[str]:
        """The member's test addresses as set_test_addresses takes them ("dhcp" too)."""
        return [str(a) for a in member.test_addresses] + ([DHCP_ENTRY] if member.dhcp_test
                                                          else [])

    def add_test_address(self, ifname: str, address: str, now: float,
                         name: str | None = None) -> list[Action]:
        """Add one test address, with its address object name (``test`` of e0/test)
        or the next generated one."""
        member = self.tables.members.get(ifname) if isinstance(ifname, str) else None
        current = self.test_list(member) if member else []
        names = None
        if name is not None:
            if isinstance(address, str) and address.strip().lower() == DHCP_ENTRY:
                raise EngineError(errors.INVALID, "a DHCP test address has no address "
                                  "object name (it shows as INTERFACE/?)")
            aobjname.check_user_name(name)
            names = {str(parse_test_address(address)): name}
        return self.set_test_addresses(ifname, [*current, address], now, names=names)

    def remove_test_address(self, address: str, interface: str | None, now: float
                            ) -> list[Action]:
        """Remove a test address; "dhcp" (with the interface), or the address DHCP
        leased, stops DHCP on that member."""
        if not isinstance(address, str):
            raise EngineError(errors.INVALID, f"test address {address!r} is not a string")
        if address_objects.is_object_name(address):
            found = address_objects.find_test(self.tables, address)
            if found is None:
                raise EngineError(errors.UNKNOWN_ADDRESS,
                                  f"address object {address.strip()[:64]} not found")
            address = str(found[1].ip)
        if address.strip().lower() == DHCP_ENTRY:
            member = self.tables.members.get(interface or "")
            if member is None or not member.dhcp_test:
                raise EngineError(errors.UNKNOWN_ADDRESS,
                                  f"no DHCP test address on {interface or '(no interface)'}")
            keep = [a for a in self.test_list(member) if a != DHCP_ENTRY]
            return self.set_test_addresses(member.name, keep, now)
        ip = parse_ip(address)
        for member in self.tables.members.values():
            if member.dhcp_lease is not None and member.dhcp_lease.ip == ip:
                keep = [a for a in self.test_list(member) if a != DHCP_ENTRY]
                return self.set_test_addresses(member.name, keep, now)
            keep = [str(a) for a in member.test_addresses if a.ip != ip]
            if len(keep) != len(member.test_addresses):
                keep += [DHCP_ENTRY] if member.dhcp_test else []
                return self.set_test_addresses(member.name, keep, now)
        raise EngineError(errors.UNKNOWN_ADDRESS, f"no test address {ip}")

    def refuse_test_address(self, ifname: str, addr: IPInterface, why: str, now: float
                            ) -> tuple[list[Action], str]:
        """A static test address duplicate address detection refused (``why``): out of
        the configuration (the member falls back to the other detectors), and the
        message for the request that caused it."""
        # Short: the agent's exit reason quotes it, and Pacemaker keeps 128 characters.
        message = f"duplicate test address {addr.ip} on {ifname}: another host has it ({why})"
        out: list[Action] = [Log("err", f"{message}; not configured")]
        member = self.tables.members.get(ifname)
        if member is None or addr not in member.test_addresses:
            return out, message
        keep = [a for a in self.test_list(member) if a != str(addr)]
        actions = self.set_test_addresses(ifname, keep, now)
        # The address never went on: nothing to remove from the kernel.
        out += [a for a in actions if not (
            isinstance(a, SetTestAddresses) and a.remove == (addr,) and not a.add)]
        return out, message

    def _parse_test_addresses(self, member: Member, addresses: list[str]) -> list[IPInterface]:
        """Parsed; never a data address (section 3.17), never another member's, never
        twice."""
        parsed = [parse_test_address(a) for a in addresses]
        for i, addr in enumerate(parsed):
            if any(addr.ip == other.ip for other in parsed[:i]):
                raise EngineError(errors.EXISTS, f"test address {addr.ip} is given twice")
            self.tables.check_not_data(addr.ip)
            owner = self.tables.test_owner(addr.ip)
            if owner is not None and owner is not member:
                raise EngineError(
                    errors.EXISTS, f"test address {addr.ip} is already used on {owner.name}"
                )
        return parsed

    def _set_dhcp_test(self, member: Member, wanted: bool) -> list[Action]:
        """Start or stop the member's DHCP client; stopping drops the leased address."""
        if wanted == member.dhcp_test:
            return []
        member.dhcp_test = wanted
        out: list[Action] = [DhcpTest(member.group, member.name, wanted)]
        if not wanted and member.dhcp_lease is not None:
            if member.present:
                out.append(SetTestAddresses(member.name, remove=(member.dhcp_lease,)))
            member.dhcp_lease = None
        return out

    def dhcp_test_lease(self, ifname: str, address: str | None, now: float) -> list[Action]:
        """The DHCP session of ``ifname``'s test address bound, renewed or lost a lease."""
        member = self.tables.members.get(ifname)
        if member is None or not member.dhcp_test:
            return []
        new = parse_address(address, kind="test address") if address else None
        if new is not None:
            try:
                self.tables.check_not_data(new.ip)
            except EngineError as exc:
                return [Log("err", f"DHCP offered {new} to {ifname}: {exc.message}; ignored")]
        old, member.dhcp_lease = member.dhcp_lease, new
        out: list[Action] = []
        if old == new:
            if new is not None and member.present:  # re-confirmed (after DR): re-install
                out.append(SetTestAddresses(ifname, add=(new,)))
            return out
        if member.present:
            out.append(SetTestAddresses(ifname, add=(new,) if new else (),
                                        remove=(old,) if old else ()))
        if new is None:
            out.append(Log("warning", f"DHCP lease of test address {old} on {ifname} "
                           "expired; falling back to link-based detection"))
        else:
            out.append(Log("notice", f"DHCP test address {new} acquired on {ifname}"))
        self.rules.refresh(self.tables.group_of(member), now, out)
        return out

    def _check_test_subnets(self, group: Group) -> list[Action]:
        """Sun Cluster's rule: a group's test addresses share one subnet (probe targets
        are chosen per subnet, and an odd one out probes other routers)."""
        if not group.name:
            return []
        nets = {a.network for m in self.tables.members_of(group) for a in m.test_addresses
                if a.version == 4}
        if len(nets) > 1:
            listed = ", ".join(sorted(str(n) for n in nets))
            return [Log("warning", f"Test addresses of group {group.name} are in different "
                        f"subnets ({listed}); they should share one")]
        return []
