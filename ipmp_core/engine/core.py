"""The sans-I/O IPMP engine: in.mpathd's decisions, without the I/O.

Rules of this module (after h11's _state.py):
- Everything that decides a member's state, which members are active, and where each
  data address lives is here. The daemon only turns observations into calls and returns
  the actions it gets back into netlink requests, packets and log lines.
- The engine never reads a clock: every call takes ``now`` (milliseconds on a monotonic
  clock of the caller's choosing). Tests drive it with a fake clock.
- Requests that are refused raise EngineError and change nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
from collections.abc import Generator, Iterable, Iterator
from ipaddress import IPv4Interface, IPv6Interface
from typing import Any

from ipmp_core import errors
from ipmp_core.constants import (
    DEFAULT_FAILBACK,
    DEFAULT_FDT_MS,
    LOAD_CHUNK,
    MIN_REDUNDANCY,
    TICK_BATCH_DIVISOR,
    TICK_BATCH_MAX_MS,
)
from ipmp_core.engine import placement
from ipmp_core.engine.actions import (
    Action,
    BindAddress,
    ConfigChanged,
    DhcpData,
    DhcpTest,
    Log,
    Nominate,
    PlumbMember,
    Publish,
    PublishAttribute,
    PurgeMulticast,
    RoutePlan,
    SetRoutes,
    SetTestAddresses,
    UnbindAddress,
    UnplumbMember,
)
from ipmp_core.engine.probe import is_link_local
from ipmp_core.engine.probing import Probing
from ipmp_core.engine.state import Group, Member, Route
from ipmp_core.errors import EngineError
from ipmp_core.model import (
    AddressView,
    AddrState,
    GroupState,
    GroupView,
    IfFlags,
    IfState,
    InterfaceView,
    LinkState,
    ProbeState,
    Snapshot,
    TargetMode,
)
from ipmp_core.values import (
    IPInterface,
    check_fdt,
    check_name,
    parse_address,
    parse_bool,
    parse_data_address,
    parse_gateway,
    parse_ip,
    parse_network,
    parse_targets,
    parse_test_address,
)


class Observed:
    """What netlink last said about an interface name."""

    __slots__ = ("ifindex", "mac", "carrier", "admin_up")

    def __init__(self, ifindex: int, mac: str, carrier: bool | None, admin_up: bool) -> None:
        self.ifindex = ifindex
        self.mac = mac
        self.carrier = carrier
        self.admin_up = admin_up


# The anonymous group (in.mpathd's TRACK_INTERFACES_ONLY_WITH_GROUPS=no): interfaces in
# no group that have a test address get failure detection only, no failover.
ANONYMOUS = ""


class Engine:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.groups: dict[str, Group] = {}
        self.members: dict[str, Member] = {}
        self.observed: dict[str, Observed] = {}
        self.local_addresses: set[str] = set()  # every address of this node (not targets)
        self.linklocals: dict[str, str] = {}  # interface -> its IPv6 link-local address
        self._dhcp_members: dict[tuple[str, int], str | None] = {}
        self.probing = Probing(self, rng)
        self.track_all = False  # TRACK_INTERFACES_ONLY_WITH_GROUPS=no
        self.default_fdt = DEFAULT_FDT_MS  # for the anonymous group
        self._starting = False
        # The earliest deadline of any member's detectors (a flapping link's hold), kept
        # until a link observation or a detector tick can change it: the daemon asks for
        # the next deadline after every wake-up, and walking every member's detectors
        # each time was most of the engine's cost at 100+ probes per second.
        self._detector_due: float | None = None
        self._detector_due_known = False
        # Why the daemon refuses changes (its state file could not be loaded), shown by
        # ipmpstat; empty when it does not.
        self.state_error = ""
        # Groups whose refresh waits for the end of a batch (add_data_addresses, load):
        # a refresh walks every address of the group, so one per address added made a
        # batch of 1,000 quadratic. None: no batch under way.
        self._deferred: set[str] | None = None
        # The data addresses of every group while a batch is under way (see _data_ips).
        self._batch_ips: dict[tuple[int, int], str] | None = None
        # Every data address by (version, int): which group has it, under which key
        # (kernel events name addresses by IP alone, one event per address of a move).
        self._bound_ips: dict[tuple[int, int], tuple[str, IPInterface]] = {}

    # ------------------------------------------------------------------ observations
    def link_observed(
        self,
        name: str,
        now: float,
        *,
        ifindex: int,
        mac: str,
        carrier: bool | None,
        admin_up: bool,
    ) -> list[Action]:
        """Netlink reported an interface (RTM_NEWLINK or a dump at start)."""
        self.observed[name] = Observed(ifindex, mac, carrier, admin_up)
        member = self.members.get(name)
        if member is None:
            return []
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
        for line in self._observe_link(member, carrier, now):
            out.append(Log("notice", line))
        self.probing.link_changed(self.groups[member.group], member, now)
        self._refresh(self.groups[member.group], now, out)
        if appeared:
            self._purge_multicast(self.groups[member.group], name, out)
        return out

    def link_removed(self, name: str, now: float) -> list[Action]:
        """Netlink reported RTM_DELLINK: the NIC is gone (hot removal, DR)."""
        self.observed.pop(name, None)
        member = self.members.get(name)
        if member is None or not member.present:
            return []
        out: list[Action] = [Log("warning", f"IP interface {name} of group {member.group} "
                                 "was removed from the system")]
        member.present = False
        self._observe_link(member, None, now)
        member.linklocal = None
        self.probing.link_changed(self.groups[member.group], member, now)
        self._refresh(self.groups[member.group], now, out)
        return out

    def address_observed(self, ifname: str, address: str, added: bool,
                         now: float) -> list[Action]:
        """Netlink RTM_NEWADDR/RTM_DELADDR: our own addresses are never probe targets, and
        a member's IPv6 link-local is its IPv6 test address."""
        if added:
            self.local_addresses.add(address)
        else:
            self.local_addresses.discard(address)
        if is_link_local(address) and ":" in address:
            if added:
                self.linklocals[ifname] = address
            elif self.linklocals.get(ifname) == address:
                del self.linklocals[ifname]
        member = self.members.get(ifname)
        if added and not is_link_local(address):
            stray = self._stray_copy(ifname, address)
            if stray is not None:
                return [stray]
        if member is None or not is_link_local(address) or ":" not in address:
            return []
        new = address if added else (None if member.linklocal == address else member.linklocal)
        if new == member.linklocal:
            return []
        member.linklocal = new
        out: list[Action] = []
        self._refresh(self.groups[member.group], now, out)
        return out

    def _stray_copy(self, ifname: str, address: str) -> Log | None:
        """A data address showing up on an interface it is not bound to (added there by
        hand, or by another tool): two members answering for one address split its
        traffic. Said in the log; the daemon's own moves add the new copy only after the
        binding changed, so they never trigger this. One lookup per event: a failover of
        1,000 addresses brings 1,000 of them."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        found = self._bound_ips.get((ip.version, int(ip)))
        if found is None:
            return None
        group_name, addr = found
        group = self.groups.get(group_name)
        if group is None or addr not in group.binding:
            return None
        bound = group.binding[addr]
        if bound == ifname:
            return None
        where = f"bound to {bound}" if bound else "down (no active interface)"
        return Log("warning", f"Data address {addr.ip} of group {group.name} found on "
                   f"{ifname} although it is {where}; it was added there by "
                   f"someone else (remove it: ip addr del {addr} dev {ifname})")

    def routers_observed(self, family: int, routers: list[tuple[str, str]],
                         now: float) -> list[Action]:
        """The routing table's next hops [(gateway, interface)] for ``family``."""
        if self.probing.routers.get(family) == routers:
            return []
        self.probing.routers[family] = list(routers)
        out: list[Action] = []
        for group in self.groups.values():
            self._refresh(group, now, out)
        return out

    def probe_reply(self, member_name: str, family: int, seq: int, source: str, now: float,
                    netrtt_ms: float | None = None) -> list[Action]:
        """An ICMP echo reply to one of ``member_name``'s probes (identifier already
        checked by the socket)."""
        member = self.members.get(member_name)
        if member is None:
            return []
        out: list[Action] = []
        if self.probing.reply(member, family, seq, source, now, netrtt_ms, out):
            self._refresh(self.groups[member.group], now, out)
        return out

    def probe_sent(self, member_name: str, family: int, seq: int, sent_at: float) -> None:
        """When probe ``seq`` really left (ms, engine clock). A probe waits behind the lock
        when its batch also holds netlink work; its round trip and loss deadline count
        from the send, as in.mpathd stamps a probe as it sends it."""
        member = self.members.get(member_name)
        if member is not None:
            self.probing.sent_at(member, family, seq, sent_at)

    def set_linklocal_probes(self, name: str, value: bool | str, now: float) -> list[Action]:
        """Probe IPv6 from the members' link-local addresses even when the group has no
        IPv6 data address."""
        group = self._group(name)
        group.linklocal_probes = parse_bool(value)
        out: list[Action] = [ConfigChanged()]
        self._refresh(group, now, out)
        return out

    def set_multicast(self, name: str, addresses: Iterable[str], now: float) -> list[Action]:
        """Multicast groups the group receives: joined on the member nominated for its
        family (flags m / M) and moved with the nomination."""
        group = self._group(name)
        parsed = []
        for text in addresses:
            ip = parse_ip(text)
            if not ip.is_multicast:
                raise EngineError(errors.INVALID, f"{ip} is not a multicast address")
            parsed.append(str(ip))
        group.multicast = parsed
        out: list[Action] = [ConfigChanged()]
        for family in ("inet", "inet6"):  # re-join on the current nominee
            nominee = group.nominees.get(family)
            out.append(Nominate(group.name, family, nominee, nominee))
        return out

    def set_targets(self, name: str, targets: Iterable[str], now: float) -> list[Action]:
        """Configured probe targets (like bonding's arp_ip_target); empty = discover."""
        group = self._group(name)
        if isinstance(targets, str | bytes):
            raise EngineError(errors.INVALID, "probe targets must be a list of addresses")
        group.explicit_targets = parse_targets(targets, own=self._own_ips(),
                                               on_link=self._group_addresses(group))
        out: list[Action] = [ConfigChanged()]
        self._refresh(group, now, out)
        return out

    def tick(self, now: float) -> list[Action]:
        out: list[Action] = []
        detectors_due = self._detector_deadline()
        run_detectors = detectors_due is not None and detectors_due <= now
        if run_detectors:
            self._detector_due_known = False
        for group in self.groups.values():
            due = self.probing.deadline(group)
            changed = self.probing.tick(group, now, out) if due is not None and due <= now \
                else False
            if run_detectors:
                for name in group.members:
                    for detector in self.members[name].detectors:
                        deadline = detector.next_deadline()
                        if deadline is not None and deadline <= now:
                            out.extend(Log("notice", line) for line in detector.tick(now))
                            changed = True
            if changed:
                self._refresh(group, now, out)
        return out

    def next_deadline(self) -> float | None:
        """When tick() is next needed (ms, engine clock), if ever."""
        best = self._detector_deadline()
        for group in self.groups.values():
            due = self.probing.deadline(group)
            if due is not None and (best is None or due < best):
                best = due
        return best

    def next_wake(self, last_wake: float) -> float | None:
        """When the daemon should next wake up (read replies, then tick): the next
        deadline, but never sooner than TICK_BATCH_DIVISOR allows after the last wake-up
        (see constants.py for why that keeps in.mpathd's results)."""
        deadline = self.next_deadline()
        if deadline is None:
            return None
        shortest = min((g.probe_interval for g in self.groups.values()),
                       default=TICK_BATCH_MAX_MS * TICK_BATCH_DIVISOR)
        return max(deadline, last_wake + min(TICK_BATCH_MAX_MS, shortest / TICK_BATCH_DIVISOR))

    def _detector_deadline(self) -> float | None:
        if not self._detector_due_known:
            self._detector_due = min(
                (d for m in self.members.values() for det in m.detectors
                 if (d := det.next_deadline()) is not None),
                default=None,
            )
            self._detector_due_known = True
        return self._detector_due

    def _observe_link(self, member: Member, carrier: bool | None, now: float) -> list[str]:
        """Every link observation goes through here: it may start a detector deadline."""
        self._detector_due_known = False
        return member.link.observe(carrier, now)

    # ------------------------------------------------------------------ group commands
    def create_group(
        self,
        name: str,
        now: float,
        *,
        failback: bool = DEFAULT_FAILBACK,
        fdt_ms: int = DEFAULT_FDT_MS,
        attribute: str | None = None,
        multiplier: int = 1,
        dampen_ms: int = 0,
    ) -> list[Action]:
        check_name("group", name)
        if attribute:
            check_attribute(attribute, multiplier, dampen_ms)
        if name in self.groups:
            raise EngineError(errors.EXISTS, f"group {name} already exists")
        if name in self.observed or name in self.members:
            raise EngineError(errors.EXISTS, f"{name} is an interface; a group needs its own name")
        out: list[Action] = []
        fdt = check_fdt(fdt_ms)
        self.groups[name] = Group(name=name, failback=parse_bool(failback), fdt_ms=fdt,
                                  fdt_current=fdt, attribute=attribute or None,
                                  multiplier=int(multiplier), dampen_ms=int(dampen_ms))
        self.probing.invalidate(name)
        out.append(Log("notice", f"Group {name} created"))
        out.append(Publish({"type": "group-added", "group": name}))
        out.append(ConfigChanged())
        return out

    def delete_group(self, name: str, now: float) -> list[Action]:
        group = self._group(name)
        # Members leaving one by one are not news for the cluster: only the deletion is.
        attribute, group.attribute = group.attribute, None
        out: list[Action] = [DhcpData(name, slot, None, False) for slot in group.dhcp_slots]
        group.dhcp_slots.clear()
        for addr in list(group.binding):
            out += self._drop_address(group, addr)
        for member in list(group.members):
            out += self._drop_member(self.members[member], now)
        del self.groups[name]
        if attribute:  # the cluster must not keep judging the node by it
            out.append(PublishAttribute(name, attribute, None))
        out.append(SetRoutes(name, ()))  # nothing of the group stays routed
        out.append(Log("notice", f"Group {name} deleted"))
        out.append(Publish({"type": "group-removed", "group": name}))
        out.append(ConfigChanged())
        return out

    def set_attribute(self, name: str, attribute: str | None, now: float, *,
                      multiplier: int = 1, dampen_ms: int = 0) -> list[Action]:
        """The node attribute the group publishes for the cluster (None or "": none).

        The value is the group's usable members x ``multiplier`` and is published
        whenever that count changes (_attribute), dampened by ``dampen_ms`` in attrd.
        Setting it publishes the current value at once; renaming deletes the old one."""
        group = self._group(name)
        attribute = attribute or None
        if attribute:
            check_attribute(attribute, multiplier, dampen_ms)
        out: list[Action] = []
        if group.attribute and group.attribute != attribute:
            out.append(PublishAttribute(name, group.attribute, None))
        group.attribute = attribute
        group.multiplier = int(multiplier)
        group.dampen_ms = int(dampen_ms)
        group.attribute_value = None  # publish now, even an unchanged value
        self._attribute(group, out)
        out.append(ConfigChanged())
        return out

    def republish_attribute(self, name: str) -> list[Action]:
        """The current value again (the agent's monitor: attrd may have lost it when the
        node left and rejoined the cluster). Nothing when no attribute is configured."""
        group = self._group(name)
        if not group.attribute:
            return []
        group.attribute_value = None
        out: list[Action] = []
        self._attribute(group, out)
        return out

    def _attribute(self, group: Group, out: list[Action]) -> None:
        """The rule: a group's attribute follows its usable-member count, at once.

        Not while a persisted configuration is loaded (daemon restart): the group is
        rebuilt member by member, and its intermediate counts (0, then 1...) are not
        facts about the network; load() publishes the final value once."""
        if not group.attribute or group.name == ANONYMOUS or self._starting:
            return
        usable = sum(1 for m in self._members(group) if m.usable)
        value = usable * group.multiplier
        if value != group.attribute_value:
            group.attribute_value = value
            out.append(PublishAttribute(group.name, group.attribute, value, group.dampen_ms))

    def set_failback(self, name: str, value: bool | str, now: float) -> list[Action]:
        group = self._group(name)
        group.failback = parse_bool(value)
        if group.failback:
            for member in self._members(group):
                member.held = False
        out: list[Action] = [ConfigChanged()]
        self._refresh(group, now, out)
        return out

    def set_fdt(self, name: str, fdt_ms: int, now: float) -> list[Action]:
        group = self._group(name)
        fdt = check_fdt(fdt_ms)
        group.fdt_ms = fdt
        group.fdt_current = fdt
        self.probing.invalidate(name)
        return [ConfigChanged()]

    def add_route(self, name: str, dst: str, gateway: str, now: float) -> list[Action]:
        group = self._group(name)
        dst = "default" if dst in ("default", "", None) else str(parse_network(dst))
        gw = str(parse_gateway(gateway, on_link=self._group_addresses(group),
                               own=self._own_ips()))
        route = Route(dst, gw)
        if any(r.key() == route.key() for r in group.routes):
            raise EngineError(errors.EXISTS, f"route {dst} via {gw} already in group {name}")
        group.routes.append(route)
        out: list[Action] = [ConfigChanged()]
        self._refresh(group, now, out)
        return out

    def remove_route(self, name: str, dst: str, gateway: str, now: float) -> list[Action]:
        group = self._group(name)
        dst = "default" if dst in ("default", "", None) else str(parse_network(dst))
        gw = str(parse_ip(gateway))
        before = len(group.routes)
        group.routes = [r for r in group.routes if r.key() != (dst, gw)]
        if len(group.routes) == before:
            raise EngineError(errors.UNKNOWN_ADDRESS, f"no route {dst} via {gw} in group {name}")
        out: list[Action] = [ConfigChanged()]
        self._refresh(group, now, out)
        return out

    # ------------------------------------------------------------------ member commands
    def add_member(
        self,
        group_name: str,
        ifname: str,
        now: float,
        *,
        standby: bool = False,
        offline: bool = False,
        require_present: bool = True,
    ) -> list[Action]:
        group = self._group(group_name)
        check_name("interface", ifname)
        anon = self.members.get(ifname)
        if anon is not None and anon.group == ANONYMOUS:
            keep = [str(a) for a in anon.test_addresses]
            out = self._drop_member(anon, now)
            out += self.add_member(group_name, ifname, now, standby=standby, offline=offline,
                                   require_present=require_present)
            return out + self.set_test_addresses(ifname, keep, now)
        if ifname in self.members:
            raise EngineError(
                errors.IN_GROUP,
                f"interface {ifname} is already in group {self.members[ifname].group}",
            )
        if ifname == "lo":
            raise EngineError(errors.INVALID, "the loopback interface cannot join a group")
        if require_present and ifname not in self.observed:
            raise EngineError(errors.UNKNOWN_INTERFACE, f"no such interface: {ifname}")
        member = Member(name=ifname, group=group_name, standby=standby, offline=offline,
                        joined_at=now, linklocal=self.linklocals.get(ifname))
        self.members[ifname] = member
        group.members.append(ifname)
        out: list[Action] = [
            Log("notice", f"IP interface {ifname} added to group {group_name}"),
            Publish({"type": "member-added", "group": group_name, "interface": ifname}),
            ConfigChanged(),
        ]
        seen = self.observed.get(ifname)
        if seen is not None:
            member.present = True
            member.ifindex, member.mac, member.mac_since = seen.ifindex, seen.mac, now
            member.admin_up = seen.admin_up
            out.append(PlumbMember(group_name, ifname))
            # PlumbMember brings the link administratively up; the kernel will confirm it
            # with RTM_NEWLINK, but a member we plumb counts as up from now on.
            member.admin_up = True
            for line in self._observe_link(member, seen.carrier, now):
                out.append(Log("notice", line))
        else:
            out.append(Log("warning", f"IP interface {ifname} of group {group_name} is missing; "
                           "it will join when it appears"))
        self._refresh(group, now, out)
        if member.present:
            self._purge_multicast(group, ifname, out)
        return out

    def remove_member(self, ifname: str, now: float) -> list[Action]:
        member = self._member(ifname)
        group = self.groups[member.group]
        out = self._drop_member(member, now)
        self._refresh(group, now, out)
        return out

    def _drop_member(self, member: Member, now: float) -> list[Action]:
        group = self.groups[member.group]
        out: list[Action] = []
        # Take it out of service first so that its addresses move away before it leaves.
        member.offline = True
        self._refresh(group, now, out)
        group.members.remove(member.name)
        del self.members[member.name]
        if member.dhcp_test:
            out.append(DhcpTest(group.name, member.name, False))
        if member.present:
            if member.all_test_addresses:
                out.append(SetTestAddresses(member.name,
                                            remove=tuple(member.all_test_addresses)))
            out.append(UnplumbMember(group.name, member.name))
        out.append(Log("notice", f"IP interface {member.name} removed from group {group.name}"))
        out.append(Publish({"type": "member-removed", "group": group.name,
                            "interface": member.name}))
        out.append(ConfigChanged())
        return out

    def set_standby(self, ifname: str, value: bool | str, now: float) -> list[Action]:
        member = self._member(ifname)
        member.standby = parse_bool(value)
        if member.standby:
            member.held = False
        out: list[Action] = [ConfigChanged()]
        self._refresh(self.groups[member.group], now, out)
        return out

    def offline(self, ifname: str, now: float) -> list[Action]:
        """if_mpadm -d: take a member out of service, e.g. before replacing the NIC."""
        member = self._member(ifname)
        if member.offline:
            return []
        group = self.groups[member.group]
        others = [m for m in self._members(group) if m is not member and m.usable]
        if len(others) < MIN_REDUNDANCY:
            raise EngineError(
                errors.MIN_REDUNDANCY,
                f"cannot offline {ifname}: minimum redundancy of group {group.name} "
                f"would not be met (no other usable interface)",
            )
        member.offline = True
        self._release_held(self._members(group))
        out: list[Action] = [
            Log("notice", f"IP interface {ifname} in group {group.name} is now offline"),
            ConfigChanged(),
        ]
        self._refresh(group, now, out)
        return out

    def online(self, ifname: str, now: float) -> list[Action]:
        """if_mpadm -r: undo offline."""
        member = self._member(ifname)
        if not member.offline:
            return []
        group = self.groups[member.group]
        member.offline = False
        if not group.failback and group.state is not GroupState.FAILED and not member.standby:
            member.held = True
        out: list[Action] = [
            Log("notice", f"IP interface {ifname} in group {group.name} is back online"),
            ConfigChanged(),
        ]
        self._refresh(group, now, out)
        return out

    def set_test_addresses(self, ifname: str, addresses: Iterable[str],
                           now: float) -> list[Action]:
        """A member's test addresses: static ones, and/or "dhcp" for a leased one. An
        interface in no group gets one only under TRACK_INTERFACES_ONLY_WITH_GROUPS=no,
        which makes it a member of the anonymous group (and losing them ends that)."""
        _need_str("interface", ifname)
        if isinstance(addresses, str | bytes) or not isinstance(addresses, Iterable):
            raise EngineError(errors.INVALID, "test addresses must be a list")
        addresses = list(addresses)
        out: list[Action] = []
        if ifname not in self.members and self.track_all and ifname in self.observed:
            if not addresses:
                return []
            out += self._join_anonymous(ifname, now)
        member = self._member(ifname)
        want_dhcp = any(str(a).strip().lower() == "dhcp" for a in addresses)
        parsed = self._parse_test_addresses(
            member, [a for a in addresses if str(a).strip().lower() != "dhcp"])
        old, member.test_addresses = member.test_addresses, parsed
        out.append(ConfigChanged())
        out += self._set_dhcp_test(member, want_dhcp)
        out += self._check_test_subnets(self.groups[member.group])
        if member.present:
            add = tuple(a for a in parsed if a not in old)
            remove = tuple(a for a in old if a not in parsed)
            if add or remove:
                out.append(SetTestAddresses(ifname, add=add, remove=remove))
        if member.group == ANONYMOUS and not parsed and not want_dhcp:
            out += self._drop_member(member, now)
            return out
        self._refresh(self.groups[member.group], now, out)
        return out

    def _parse_test_addresses(self, member: Member, addresses: list[str]) -> list[IPInterface]:
        """Parsed; never a data address (section 3.17), never another member's, never
        twice."""
        parsed = [parse_test_address(a) for a in addresses]
        for i, addr in enumerate(parsed):
            if any(addr.ip == other.ip for other in parsed[:i]):
                raise EngineError(errors.EXISTS, f"test address {addr.ip} is given twice")
            self._check_not_data(addr.ip)
            owner = self._test_owner(addr.ip)
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
        member = self.members.get(ifname)
        if member is None or not member.dhcp_test:
            return []
        new = parse_address(address, kind="test address") if address else None
        if new is not None:
            try:
                self._check_not_data(new.ip)
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
        self._refresh(self.groups[member.group], now, out)
        return out

    def _check_test_subnets(self, group: Group) -> list[Action]:
        """Sun Cluster's rule: a group's test addresses share one subnet (probe targets
        are chosen per subnet, and an odd one out probes other routers)."""
        if not group.name:
            return []
        nets = {a.network for m in self._members(group) for a in m.test_addresses
                if a.version == 4}
        if len(nets) > 1:
            listed = ", ".join(sorted(str(n) for n in nets))
            return [Log("warning", f"Test addresses of group {group.name} are in different "
                        f"subnets ({listed}); they should share one")]
        return []

    def _join_anonymous(self, ifname: str, now: float) -> list[Action]:
        if ANONYMOUS not in self.groups:
            self.groups[ANONYMOUS] = Group(name=ANONYMOUS, fdt_ms=self.default_fdt,
                                           fdt_current=self.default_fdt)
        member = Member(name=ifname, group=ANONYMOUS, joined_at=now, notest_logged=True)
        seen = self.observed[ifname]
        member.present = True
        member.ifindex, member.mac, member.mac_since = seen.ifindex, seen.mac, now
        member.admin_up = seen.admin_up
        self._observe_link(member, seen.carrier, now)
        self.members[ifname] = member
        self.groups[ANONYMOUS].members.append(ifname)
        return [Log("notice", f"Tracking IP interface {ifname} (in no group): failure "
                    "detection only"), PlumbMember(ANONYMOUS, ifname)]

    def set_track_all(self, value: bool, now: float) -> list[Action]:
        """TRACK_INTERFACES_ONLY_WITH_GROUPS=no (True) or yes (False)."""
        self.track_all = value
        out: list[Action] = []
        anon = self.groups.get(ANONYMOUS)
        if not value and anon is not None:
            for name in list(anon.members):
                out += self._drop_member(self.members[name], now)
            del self.groups[ANONYMOUS]
        return out

    # ------------------------------------------------------------------ data addresses
    def add_data_address(
        self, group_name: str, text: str, now: float, *, hint: str | None = None,
        owner: str = "", dad: bool = False, deprecated: bool = False,
    ) -> list[Action]:
        """Add a data address to a group. ``hint`` is the member that already carries it
        (the daemon restarting): the binding is kept there when that member is active.
        ``owner`` names who added it (a resource), so that one owner's reconfiguration
        never removes another's addresses. ``dad``: the kernel checks that nobody else
        uses it (IPv6 duplicate address detection) before it is announced."""
        group = self._group(group_name)
        addr = parse_data_address(text)
        self._check_not_test(addr.ip)
        # int() of an interface is its address: .ip builds a new object per address, and
        # this runs once per address added (a restart with 1,000 spent 0.5 s here).
        wanted = (addr.version, int(addr))
        taken = self._data_ips()
        if wanted in taken:
            raise EngineError(
                errors.EXISTS, f"address {addr.ip} already belongs to group {taken[wanted]}"
            )
        active = self._active_names(group)
        out: list[Action] = []
        self._bound_ips[wanted] = (group.name, addr)
        if hint is not None and hint in active:
            group.binding[addr] = hint
            out.append(BindAddress(group.name, addr, hint, None, announce=False))
        else:
            member = placement.least_loaded(group.binding, active)
            group.binding[addr] = member
            if member is not None:
                out.append(BindAddress(group.name, addr, member, dad=dad))
            else:
                out.append(Log("warning", f"Address {addr} of group {group.name} stays down: "
                               "no active interface"))
                if hint:  # a restart found it in the kernel: down means off every member,
                    # as a running daemon takes it off when the last member fails
                    out.append(UnbindAddress(group.name, addr, hint))
        if owner:
            group.owners[addr] = owner
        if deprecated:
            # preferred_lft 0: reachable, but never the source the host picks for its own
            # connections (a floating address must not become the node's identity).
            group.deprecated.add(addr)
        if self._batch_ips is not None:
            self._batch_ips[wanted] = group.name
        out.append(Publish({"type": "address-added", "group": group.name, "address": str(addr),
                            "member": group.binding[addr]}))
        out.append(ConfigChanged())
        self._refresh(group, now, out)
        return out

    def _data_ips(self) -> dict[tuple[int, int], str]:
        """(version, address as int) -> group, for every data address: the duplicate
        check of add_data_address. Walking every group's addresses for each address added
        made a batch (a restart's load of 1,000) quadratic: within a batch the map is
        built once and kept up to date by add_data_address and _drop_address."""
        if self._batch_ips is not None:
            return self._batch_ips
        found = {(a.version, int(a)): g.name for g in self.groups.values() for a in g.binding}
        if self._deferred is not None:
            self._batch_ips = found
        return found

    def duplicate_check_from(self, group_name: str, text: str) -> tuple[str, str] | None:
        """Where to run IPv4 duplicate address detection (an ARP probe, RFC 5227) before
        ``text`` is added to the group: (member, its MAC), or None when there is nothing
        to check (not IPv4, refused anyway, already ours) or nowhere to check from (no
        active member: the address stays down until one is, and is announced then)."""
        group = self.groups.get(group_name)
        try:
            addr = parse_data_address(text)
        except EngineError:
            return None  # the request itself is refused with the precise reason
        if group is None or addr.version != 4 or str(addr.ip) in self.local_addresses:
            return None
        for name in self._active_names(group):
            member = self.members[name]
            if member.present and member.mac:
                return name, member.mac
        return None

    def own_macs(self) -> set[str]:
        """Hardware addresses of the interfaces we see: an answer from one of them to our
        ARP probe is our own host, not a conflict."""
        return {seen.mac.lower() for seen in self.observed.values() if seen.mac}

    # ------------------------------------------------------------------ DHCP data
    def add_dhcp_data(self, group_name: str, now: float, slot: int | None = None
                      ) -> list[Action]:
        """A data address leased by DHCP with a client id tied to the group (not to a
        NIC's MAC), so the lease survives failover; renewals follow the address."""
        group = self._group(group_name)
        if slot is None:
            slot = max(group.dhcp_slots, default=-1) + 1
        group.dhcp_slots[slot] = None
        member = placement.least_loaded(group.binding, self._active_names(group))
        self._dhcp_members[(group.name, slot)] = member
        return [DhcpData(group.name, slot, member, True), ConfigChanged(),
                Log("notice", f"DHCP data address {slot} of group {group.name} requested")]

    def dhcp_data_lease(self, group_name: str, slot: int, address: str | None,
                        now: float) -> list[Action]:
        """The session of a DHCP data slot bound, renewed or lost its lease."""
        group = self.groups.get(group_name)
        if group is None or slot not in group.dhcp_slots:
            return []
        new = parse_address(address, kind="data address") if address else None
        old = group.dhcp_slots[slot]
        if new == old and (new is None or new in group.binding):
            return []
        out: list[Action] = []
        if old is not None and old in group.binding and old != new:
            out += self._drop_address(group, old)
            out.append(Log("warning", f"DHCP lease of data address {old} of group "
                           f"{group.name} {'changed' if new else 'expired'}"))
        group.dhcp_slots[slot] = new
        if new is not None and new not in group.binding:
            # The member the session talks through keeps the address: the server answers
            # renewals there.
            holder = self._dhcp_members.get((group.name, slot))
            out += self.add_data_address(group.name, str(new), now, owner=f"dhcp:{slot}",
                                         hint=holder)
            out.append(Log("notice", f"DHCP data address {new} acquired for group "
                           f"{group.name}"))
        else:
            out.append(ConfigChanged())
            self._refresh(group, now, out)
        return out

    def dhcp_session_member(self, group_name: str, slot: int, member: str | None) -> None:
        """The daemon moved the slot's session to ``member``."""
        self._dhcp_members[(group_name, slot)] = member

    def remove_data_address(self, text: str, now: float) -> list[Action]:
        ip = parse_ip(text)
        for group in self.groups.values():
            for addr in group.binding:
                if addr.ip == ip:
                    owner = group.owners.get(addr, "")
                    if owner.startswith("dhcp:"):
                        slot = int(owner.split(":", 1)[1])
                        group.dhcp_slots.pop(slot, None)
                        out = self._drop_address(group, addr)
                        out.append(DhcpData(group.name, slot, None, False))
                        out.append(ConfigChanged())
                        self._refresh(group, now, out)
                        return out
                    out = self._drop_address(group, addr)
                    out.append(ConfigChanged())
                    self._refresh(group, now, out)
                    return out
        raise EngineError(errors.UNKNOWN_ADDRESS, f"no data address {ip} in any group")

    def _drop_address(self, group: Group, addr: IPInterface) -> list[Action]:
        member = group.binding.pop(addr)
        self._bound_ips.pop((addr.version, int(addr)), None)
        if self._batch_ips is not None:
            self._batch_ips.pop((addr.version, int(addr)), None)
        group.owners.pop(addr, None)
        group.deprecated.discard(addr)
        out: list[Action] = []
        if member is not None:
            out.append(UnbindAddress(group.name, addr, member))
        out.append(Publish({"type": "address-removed", "group": group.name,
                            "address": str(addr)}))
        return out

    def add_data_addresses(self, group_name: str, texts: list[str], now: float, *,
                           owner: str = "", deprecated: bool = False) -> list[Action]:
        """add_data_address for many, with one refresh of the group at the end; all or
        nothing (an error leaves the engine as it was, and raises)."""
        out: list[Action] = []
        done: list[str] = []
        with self.refresh_once(now, out):
            try:
                for text in texts:
                    out += self.add_data_address(group_name, text, now, owner=owner,
                                                 deprecated=deprecated)
                    done.append(text)
            except Exception:
                for text in done:
                    self.remove_data_address(text, now)
                out.clear()
                raise
        return out

    @contextlib.contextmanager
    def refresh_once(self, now: float, out: list[Action]) -> Iterator[None]:
        """Within: refreshes wait; at the end, each group touched is refreshed once (its
        actions appended to ``out``). Nests: only the outermost refreshes."""
        if self._deferred is not None:
            yield
            return
        self._deferred = set()
        try:
            yield
        finally:
            names, self._deferred = self._deferred, None
            self._batch_ips = None
        for name in sorted(names):
            group = self.groups.get(name)
            if group is not None:
                self._refresh(group, now, out)

    def find_address(self, text: str) -> tuple[str, IPInterface, str | None] | None:
        ip = parse_ip(text)
        for group in self.groups.values():
            for addr, member in group.binding.items():
                if addr.ip == ip:
                    return group.name, addr, member
        return None

    # ------------------------------------------------------------------ state machine
    def _refresh(self, group: Group, now: float, out: list[Action]) -> None:
        """Re-derive everything about ``group`` after any event; append the actions."""
        if self._deferred is not None:
            self._deferred.add(group.name)
            return
        if group.name == ANONYMOUS:
            self._refresh_anonymous(group, now, out)
            return
        was_usable = group.state is not GroupState.FAILED
        members = self._members(group)
        self.probing.sync(group, now, out)
        self._check_duplicate_mac(group, members, out)
        for member in members:
            functioning = member.functioning()
            if not member.judged:
                # First verdict: a member that joins healthy is not "repaired", but one
                # whose link is already down at start is a failure (a transition).
                member.judged = True
                member.failed = not functioning
                if member.failed and member.present:
                    out.append(Log("err", f"IP interface failure detected on {member.name} "
                                   f"of group {group.name}"))
                out.append(self._member_event(member))
            elif member.failed and functioning:
                member.failed = False
                if (
                    not group.failback
                    and was_usable
                    and not self._starting
                    and not member.standby
                    and not member.active
                ):
                    member.held = True
                out.append(Log("notice", f"IP interface repair detected on {member.name} "
                               f"of group {group.name}"))
                out.append(self._member_event(member))
            elif not member.failed and not functioning:
                member.failed = True
                self._release_held(members)
                out.append(Log("err", f"IP interface failure detected on {member.name} "
                               f"of group {group.name}"))
                out.append(self._member_event(member))

        before = self._active_names(group)
        if any(not self.members[n].usable for n in before):
            # An active member left service (failed, offline, admin down, leaving the
            # group): FAILBACK=no holds a repaired member back only "unless another
            # member fails" (in.mpathd's phyint_activate_another()).
            self._release_held(members)
        active = self._choose_active(group, members)
        for member in members:
            if member.active != (member.name in active):
                member.active = member.name in active
                if member.active:
                    member.held = False
                out.append(self._member_event(member))
        newly = [m for m in active if m not in before]
        self._place(group, active, newly, out)
        self._nominate(group, active, out)
        self._routes(group, active, out)
        self._group_state(group, members, out)
        self._attribute(group, out)

    def _refresh_anonymous(self, group: Group, now: float, out: list[Action]) -> None:
        """Detection only: each interface is on its own, always active, never failed over."""
        self.probing.sync(group, now, out)
        for member in self._members(group):
            functioning = member.functioning()
            if member.judged and member.failed == functioning:
                word = "repair" if functioning else "failure"
                out.append(Log("notice" if functioning else "err",
                               f"IP interface {word} detected on {member.name}"))
            member.judged = True
            member.failed = not functioning
            member.active = member.usable
            out.append(self._member_event(member))

    def _choose_active(self, group: Group, members: list[Member]) -> list[str]:
        """in.mpathd's goal: as many active members as non-standby members, at least one.

        Usable non-standby members are active; the rest of the goal is filled from
        currently active members first (no needless moves), then standby members, in
        configured order. A member held back by FAILBACK=no is not used to fill the goal
        until another member fails (_release_held)."""
        want = max(1, sum(1 for m in members if not m.standby))
        usable = [m for m in members if m.usable and not m.held]
        chosen = [m for m in usable if not m.standby]
        spare = [m for m in usable if m not in chosen]
        spare.sort(key=lambda m: (not m.active, not m.standby, group.members.index(m.name)))
        chosen += spare[: max(0, want - len(chosen))]
        return [m.name for m in members if m in chosen]  # keep configured order

    def _place(self, group: Group, active: list[str], newly: list[str], out: list[Action]) -> None:
        new = placement.rebalance(group.binding, active, newly)
        for addr, member in new.items():
            old = group.binding[addr]
            if old == member:
                continue
            if member is None:
                assert old is not None
                out.append(UnbindAddress(group.name, addr, old))
                out.append(Log("warning", f"Address {addr} of group {group.name} is down: "
                               "no active interface"))
            else:
                out.append(BindAddress(group.name, addr, member, old))
                out.append(Log("notice", f"Address {addr.ip} of group {group.name} moved from "
                               f"{old or '(none)'} to {member}"))
            out.append(Publish({"type": "address-moved", "group": group.name,
                                "address": str(addr), "from": old, "to": member}))
        group.binding = new

    def _nominate(self, group: Group, active: list[str], out: list[Action]) -> None:
        for family in ("inet", "inet6"):
            current = group.nominees.get(family)
            if current in active:
                continue
            nominee = active[0] if active else None
            if nominee != current:
                group.nominees[family] = nominee
                out.append(Nominate(group.name, family, nominee, current))

    @staticmethod
    def _purge_multicast(group: Group, member: str, out: list[Action]) -> None:
        """A member joined the group or appeared again: what other processes joined on
        it belongs on the nominee of each family. Without a nominee (no usable member)
        the memberships stay where they are."""
        if group.name == ANONYMOUS:
            return
        for family in ("inet", "inet6"):
            nominee = group.nominees.get(family)
            if nominee is not None and nominee != member:
                out.append(PurgeMulticast(group.name, member, family, nominee))

    def _routes(self, group: Group, active: list[str], out: list[Action]) -> None:
        plan = self.route_plan(group, active)
        if plan != group.last_routes:
            group.last_routes = plan
            out.append(SetRoutes(group.name, plan))

    def route_plan(self, group: Group, active: list[str]) -> tuple[RoutePlan, ...]:
        """Outbound routes: each data-address subnet, and each declared route, through the
        active members that have an address of their own in that subnet.

        Why not every active member: Linux picks the sender address of an ARP request
        from the outgoing interface (arp_announce=2), falling back to any address of the
        host. A member with no address in the subnet would send ARP requests naming a
        data address bound to ANOTHER member, with its own MAC, and every neighbour
        would re-learn that address on the wrong port. Members that hold an address
        there announce only addresses they really answer for."""

        def holders(net: Any) -> tuple[str, ...]:
            found = [
                m for m in active
                if any(a.network == net or a.ip in net for a, b in group.binding.items()
                       if b == m and a.version == net.version)
                or any(t.ip in net for t in self.members[m].test_addresses
                       if t.version == net.version)
            ]
            return tuple(found)

        def source(net: Any) -> str | None:
            # The kernel does not skip deprecated IPv4 addresses when it picks a source,
            # and a test address added first would be the subnet's primary address: name
            # a data address explicitly (Solaris: test addresses are never a source).
            # Never a deprecated one (preferred_lft 0: "not a source for this node's own
            # traffic"); when there is no other, no src, and each hop's kernel-chosen
            # primary address (normally the member's test address) is the source.
            return next((str(a.ip) for a, b in group.binding.items()
                         if b is not None and a.ip in net and a not in group.deprecated),
                        None)

        plan: list[RoutePlan] = []
        networks = sorted({a.network for a in group.binding},
                          key=lambda n: (n.version, int(n.network_address), n.prefixlen))
        for net in networks:
            members = holders(net)
            if members:
                plan.append(RoutePlan(str(net), members, None, source(net)))
        for route in group.routes:
            gw = parse_ip(route.gateway)
            subnets = [p.network for p in group.binding if gw in p.network]
            members = tuple(m for n in subnets for m in holders(n))
            members = tuple(dict.fromkeys(members)) or tuple(active)
            src = next((s for n in subnets if (s := source(n))), None)
            if members:
                plan.append(RoutePlan(route.dst, members, route.gateway, src))
        return tuple(plan)

    def _group_state(self, group: Group, members: list[Member], out: list[Action]) -> None:
        usable = [m for m in members if m.usable]
        if not usable:
            state = GroupState.FAILED
        elif len(usable) == len(members):
            state = GroupState.OK
        else:
            state = GroupState.DEGRADED
        if state is group.state:
            return
        old, group.state = group.state, state
        if state is GroupState.FAILED and members:
            out.append(Log("err", f"All IP interfaces in group {group.name} are now unusable"))
        elif old is GroupState.FAILED and usable:
            names = " ".join(m.name for m in usable)
            out.append(Log("notice", f"At least 1 IP interface ({names}) in group "
                           f"{group.name} is now usable"))
        out.append(Publish({"type": "group-state", "group": group.name, "state": str(state),
                            "previous": str(old)}))

    @staticmethod
    def _release_held(members: list[Member]) -> None:
        """FAILBACK=no: a repaired member stays inactive "unless another member fails"."""
        for m in members:
            m.held = False

    def _check_duplicate_mac(self, group: Group, members: list[Member], out: list[Action]) -> None:
        """A member whose MAC equals another online member's is offlined (flag h) and
        onlined again by itself once its MAC is unique. The member that had the MAC
        first keeps it; the newcomer (latest MAC change) is the one taken offline."""
        claimed: dict[str, Member] = {}
        ordered = sorted(
            (m for m in members if m.present and m.mac and not m.offline),
            key=lambda m: (m.duphw, m.mac_since, group.members.index(m.name)),
        )
        for member in ordered:
            owner = claimed.get(member.mac)
            if owner is None:
                claimed[member.mac] = member
                if member.duphw:
                    member.duphw = False
                    out.append(Log("notice", f"IP interface {member.name} now has a unique "
                                   f"hardware address; bringing it back online"))
                    out.append(self._member_event(member))
            elif not member.duphw:
                member.duphw = True
                out.append(Log("err", f"IP interface {member.name} has a hardware address "
                               f"({member.mac}) that duplicates {owner.name}'s in group "
                               f"{group.name}; taking it offline"))
                out.append(self._member_event(member))

    # ------------------------------------------------------------------ start-up
    def load(self, config: dict[str, Any], now: float,
             hints: dict[str, str] | None = None) -> list[Action]:
        """Rebuild groups from a persisted configuration, all or nothing: the daemon
        validated it (ipmp_core.state_schema) and tried it on a scratch engine first
        (`check_config`), so an EngineError here propagates instead of skipping a group
        whose loss the next save would make permanent. ``hints`` maps a data address
        (without prefix) to the member the kernel already has it on: it is adopted
        there. Anonymous members are the exception: their interface may have gone."""
        return run_steps(self.load_steps(config, now, hints))

    def load_steps(self, config: dict[str, Any], now: float,
                   hints: dict[str, str] | None = None) -> Generator[None, None, list[Action]]:
        """`load` in steps: it yields after every LOAD_CHUNK data addresses so that the
        daemon can serve its event loop in between (1,000 addresses take ~0.1 s), and
        returns the actions. Between two steps the engine is half-loaded: nobody else
        may use it until the generator has returned (the daemon holds its lock, and its
        read-only requests wait for the end of the load)."""
        hints = hints or {}
        out: list[Action] = []
        self._starting = True
        try:
            for i, g in enumerate(config.get("groups", [])):
                try:
                    out += yield from self._load_group(g, now, hints)
                except EngineError as exc:
                    raise EngineError(exc.code, f"groups[{i}] (group {g.get('name')}): "
                                      f"{exc.message}") from None
            for m in config.get("anonymous", []) if self.track_all else []:
                try:
                    out += self.set_test_addresses(m["name"], m.get("test_addresses", []), now)
                except EngineError as exc:
                    out.append(Log("err", f"Ignoring test addresses of {m.get('name')}: "
                                   f"{exc.message}"))
        finally:
            self._starting = False
        for group in self.groups.values():
            self._attribute(group, out)
        return [a for a in out if not isinstance(a, ConfigChanged)]

    def check_config(self, config: dict[str, Any], hints: dict[str, str] | None = None
                     ) -> None:
        """Raise EngineError if `load` would refuse any part of ``config``: it is loaded
        into a scratch engine that sees the same interfaces, so the real load takes all
        of it or is never started."""
        run_steps(self.check_steps(config, hints))

    def check_steps(self, config: dict[str, Any], hints: dict[str, str] | None = None
                    ) -> Generator[None, None, None]:
        """`check_config` in steps (as `load_steps`; the scratch engine is nobody else's,
        so this engine stays usable in between). ``hints`` as for `load`: they change
        where addresses go, never whether they are accepted, and with them the scratch
        load does the same work as the real one (without, each address looks for the
        least-loaded member: quadratic)."""
        scratch = Engine()
        scratch.observed = {name: Observed(o.ifindex, o.mac, o.carrier, o.admin_up)
                            for name, o in self.observed.items()}
        scratch.linklocals = dict(self.linklocals)
        scratch.local_addresses = set(self.local_addresses)
        scratch.default_fdt = self.default_fdt
        yield from scratch.load_steps(config, 0.0, hints)

    def _load_group(self, g: dict[str, Any], now: float, hints: dict[str, str]
                    ) -> Generator[None, None, list[Action]]:
        attr = g.get("attribute") or {}
        out = self.create_group(g["name"], now, failback=g.get("failback", DEFAULT_FAILBACK),
                                fdt_ms=g.get("fdt_ms", DEFAULT_FDT_MS),
                                attribute=attr.get("name"),
                                multiplier=attr.get("multiplier", 1),
                                dampen_ms=attr.get("dampen_ms", 0))
        for m in g.get("members", []):
            out += self.add_member(g["name"], m["name"], now, standby=m.get("standby", False),
                                   offline=m.get("offline", False), require_present=False)
            out += self.set_test_addresses(m["name"], m.get("test_addresses", []), now)
        if g.get("targets"):
            out += self.set_targets(g["name"], g["targets"], now)
        if g.get("linklocal_probes"):
            out += self.set_linklocal_probes(g["name"], True, now)
        if g.get("multicast"):
            out += self.set_multicast(g["name"], g["multicast"], now)
        for slot in g.get("dhcp_data", []):
            out += self.add_dhcp_data(g["name"], now, slot=int(slot))
        owners = g.get("owners", {})
        deprecated = set(g.get("deprecated", []))
        with self.refresh_once(now, out):  # one refresh for all: 1,000 cost 2.5 s each
            for n, a in enumerate(g.get("data_addresses", [])):
                if n and not n % LOAD_CHUNK:
                    yield
                ip = str(parse_address(a).ip)
                out += self.add_data_address(g["name"], a, now, hint=hints.get(ip),
                                             owner=owners.get(a, ""),
                                             deprecated=a in deprecated)
        # Routes last: a gateway must be on-link, in the subnet of a data or test address.
        for r in g.get("routes", []):
            out += self.add_route(g["name"], r["dst"], r["gateway"], now)
        return out

    def config(self) -> dict[str, Any]:
        """The desired configuration, as persisted and as `load` reads it back."""
        return {
            "version": 1,
            "groups": [
                {
                    "name": g.name,
                    "failback": g.failback,
                    "fdt_ms": g.fdt_ms,
                    "members": [
                        {
                            "name": m.name,
                            "standby": m.standby,
                            "offline": m.offline,
                            "test_addresses": [str(a) for a in m.test_addresses]
                            + (["dhcp"] if m.dhcp_test else []),
                        }
                        for m in self._members(g)
                    ],
                    "data_addresses": [str(a) for a in g.binding],
                    "owners": {str(a): o for a, o in g.owners.items()},
                    "deprecated": [str(a) for a in g.binding if a in g.deprecated],
                    "routes": [{"dst": r.dst, "gateway": r.gateway} for r in g.routes],
                    "targets": list(g.explicit_targets),
                    "linklocal_probes": g.linklocal_probes,
                    "multicast": list(g.multicast),
                    "dhcp_data": sorted(g.dhcp_slots),
                    **({"attribute": {"name": g.attribute, "multiplier": g.multiplier,
                                      "dampen_ms": g.dampen_ms}} if g.attribute else {}),
                }
                for g in self.groups.values()
                if g.name != ANONYMOUS
            ],
            "anonymous": [
                {"name": m.name, "test_addresses": [str(a) for a in m.test_addresses]
                 + (["dhcp"] if m.dhcp_test else [])}
                for m in self.members.values() if m.group == ANONYMOUS
            ],
        }

    # ------------------------------------------------------------------ views
    def snapshot(self) -> Snapshot:
        snap = Snapshot(state_error=self.state_error)
        for group in self.groups.values():
            members = self._members(group)
            active = [m.name for m in members if m.active]
            if group.name == ANONYMOUS:  # ipmpstat -i shows them with an empty GROUP
                snap.interfaces += [self._interface_view(group, m) for m in members]
                continue
            snap.groups.append(
                GroupView(
                    name=group.name,
                    state=group.state,
                    # empty when nobody probes (link-based detection only), as in ipmpstat
                    fdt_ms=group.fdt_current if any(m.prober.enabled for m in members)
                    else None,
                    failback=group.failback,
                    active=active,
                    inactive=[m.name for m in members if m.usable and not m.active],
                    unusable=[m.name for m in members if not m.usable],
                )
            )
            for m in members:
                snap.interfaces.append(self._interface_view(group, m))
            # OUTBOUND: the members that carry the route to the address's subnet.
            outbound = {p.dst: list(p.members) for p in self.route_plan(group, active)
                        if p.gateway is None}
            for addr, member in group.binding.items():
                snap.addresses.append(
                    AddressView(
                        address=str(addr.ip),
                        prefixlen=addr.network.prefixlen,
                        state=AddrState.UP if member else AddrState.DOWN,
                        group=group.name,
                        inbound=member or "",
                        owner=group.owners.get(addr, ""),
                        outbound=outbound.get(str(addr.network), []) if member else [],
                    )
                )
        return snap

    def _interface_view(self, group: Group, m: Member) -> InterfaceView:
        prober = m.prober
        if m.is_offline:
            state = IfState.OFFLINE
        elif m.failed:
            state = IfState.FAILED
        elif prober.enabled and not prober.has_targets:
            state = IfState.UNKNOWN  # probing, but nothing to probe: not judged
        else:
            state = IfState.OK
        if not prober.enabled:
            probe = ProbeState.DISABLED
        elif prober.failed:
            probe = ProbeState.FAILED
        elif prober.has_targets and prober.last_success() is not None:
            probe = ProbeState.OK
        else:
            probe = ProbeState.UNKNOWN
        mode, targets = self.probing.firing_order(group, m)
        testaddrs = [fp.source for _, fp in sorted(prober.families.items())]
        testaddrs += [str(a.ip) for a in m.all_test_addresses if str(a.ip) not in testaddrs]
        flags = IfFlags(
            inactive=not m.active and not m.is_offline and (m.usable or m.standby),
            standby=m.standby,
            mcast4=group.nominees["inet"] == m.name,
            bcast4=group.nominees["inet"] == m.name,
            mcast6=group.nominees["inet6"] == m.name,
            down=m.present and not m.admin_up,
            duphw=m.duphw,
        )
        return InterfaceView(
            name=m.name,
            group=group.name,
            active=m.active,
            flags=flags,
            link=m.link.state if m.present else LinkState.UNKNOWN,
            probe=probe,
            state=state,
            testaddrs=testaddrs,
            target_mode=TargetMode(mode),
            targets=targets,
            present=m.present,
            mac=m.mac,
            target_families=self.probing.family_views(group, m),
        )

    # ------------------------------------------------------------------ helpers
    def _group(self, name: str) -> Group:
        _need_str("group", name)
        try:
            if name == ANONYMOUS:
                raise KeyError(name)
            return self.groups[name]
        except KeyError:
            raise EngineError(errors.UNKNOWN_GROUP, f"no such group: {name}") from None

    def _member(self, name: str) -> Member:
        _need_str("interface", name)
        try:
            return self.members[name]
        except KeyError:
            if name in self.observed:
                raise EngineError(errors.NOT_IN_GROUP,
                                  f"interface {name} is not in any group") from None
            raise EngineError(errors.UNKNOWN_INTERFACE, f"no such interface: {name}") from None

    def _members(self, group: Group) -> list[Member]:
        return [self.members[n] for n in group.members]

    def _active_names(self, group: Group) -> list[str]:
        return [n for n in group.members if self.members[n].active]

    def _member_event(self, m: Member) -> Publish:
        view = self._interface_view(self.groups[m.group], m)
        return Publish({"type": "member-state", "group": m.group, "interface": m.name,
                        "state": str(view.state), "active": m.active,
                        "link": str(view.link)})

    def _group_addresses(self, group: Group) -> list[IPInterface]:
        """The group's data and test addresses: the subnets its gateways must be in."""
        return [*group.binding, *(a for m in self._members(group)
                                  for a in m.all_test_addresses)]

    def _own_ips(self) -> set[Any]:
        """Every address of this host we know: never a probe target or a gateway."""
        own: set[Any] = set()
        for text in self.local_addresses:
            with contextlib.suppress(ValueError):
                own.add(ipaddress.ip_address(text))
        for group in self.groups.values():
            own.update(a.ip for a in group.binding)
        for member in self.members.values():
            own.update(a.ip for a in member.all_test_addresses)
        return own

    def _test_owner(self, ip: Any) -> Member | None:
        for m in self.members.values():
            if any(a.ip == ip for a in m.all_test_addresses):
                return m
        return None

    def _check_not_test(self, ip: Any) -> None:
        owner = self._test_owner(ip)
        if owner is not None:
            raise EngineError(
                errors.INVALID,
                f"{ip} is the test address of {owner.name}: a data address can never "
                "double as a test address",
            )

    def _check_not_data(self, ip: Any) -> None:
        for group in self.groups.values():
            for addr in group.binding:
                if addr.ip == ip:
                    raise EngineError(
                        errors.INVALID,
                        f"{ip} is a data address of group {group.name}: a test address can "
                        "never double as a data address",
                    )


def run_steps(steps: Generator[None, None, Any]) -> Any:
    """Run a stepped engine call (`Engine.load_steps`, `check_steps`) to its end at
    once; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def _need_str(kind: str, value: object) -> None:
    """Names arrive from the control channel as any JSON value: only a string is one."""
    if not isinstance(value, str):
        raise EngineError(errors.INVALID, f"{kind} name {value!r} is not a string")


__all__ = ["Engine", "IPv4Interface", "IPv6Interface"]


# Pacemaker's attribute names: XML IDs (letters, digits, "-", "_", "."), not too long.
_ATTRIBUTE_MAX = 128


def check_attribute(name: str, multiplier: int, dampen_ms: int) -> None:
    ok = name[:1].isalpha() and all(c.isalnum() or c in "-_." for c in name)
    if not ok or len(name) > _ATTRIBUTE_MAX:
        raise EngineError(errors.INVALID, f"'{name}' is not a node attribute name (letters, "
                          "digits, '-', '_', '.'; starting with a letter)")
    if type(multiplier) is not int or multiplier < 0:
        raise EngineError(errors.INVALID, "the attribute multiplier must be a whole number "
                          ">= 0")
    if type(dampen_ms) is not int or dampen_ms < 0:
        raise EngineError(errors.INVALID, "the attribute dampening must be a whole number "
                          "of milliseconds >= 0")
