"""The records beneath the rules, and their lookups (in.mpathd's mpd_tables.c).

Groups, members, what netlink last said of each interface, this node's own addresses,
and the indices that keep the lookups cheap. Nothing here decides anything: the rules
(engine/rules.py) and the requests (members.py, addresses.py, groups.py) read and change
the records through these lookups, and none of them needs a pointer to the Engine.
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

from ipmp_core import errors
from ipmp_core.constants import DEFAULT_FAILBACK, DEFAULT_FDT_MS, DEFAULT_TRANSITIVE_PROBING
from ipmp_core.engine.signatures import Signatures
from ipmp_core.engine.state import Group, Member
from ipmp_core.errors import EngineError
from ipmp_core.values import IPInterface, parse_ip

# The anonymous group (in.mpathd's TRACK_INTERFACES_ONLY_WITH_GROUPS=no): interfaces in
# no group that have a test address get failure detection only, no failover.
ANONYMOUS = ""
# The word a request gives instead of an address to ask for one leased by DHCP (a test
# address in a member's list, a data address of a group).
DHCP_ENTRY = "dhcp"

# A data address as the indices key it: (IP version, address as an int). int() of an
# interface is its address, and .ip would build a new object per lookup.
AddressKey = tuple[int, int]


def address_key(addr: IPInterface) -> AddressKey:
    return (addr.version, int(addr))


class LinkObservation:
    """What netlink last said about an interface name (whether or not it is a member)."""

    __slots__ = ("ifindex", "mac", "carrier", "admin_up")

    def __init__(self, ifindex: int, mac: str, carrier: bool | None, admin_up: bool) -> None:
        self.ifindex = ifindex
        self.mac = mac
        self.carrier = carrier
        self.admin_up = admin_up


def need_str(kind: str, value: object) -> None:
    """Names arrive from the control channel as any JSON value: only a string is one."""
    if not isinstance(value, str):
        raise EngineError(errors.INVALID, f"{kind} name {value!r} is not a string")


class Tables:
    """Owns every record of the engine (groups, members, link observations, this node's
    addresses, node-wide settings) and the indices over them; answers lookups."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.members: dict[str, Member] = {}
        self.observed: dict[str, LinkObservation] = {}
        self.local_addresses: set[str] = set()  # every address of this node (not targets)
        # interface -> {IPv4 address: prefix length} as netlink reports them (ungrouped.py)
        self.own_ipv4: dict[str, dict[str, int]] = {}
        self.linklocals: dict[str, str] = {}  # interface -> its IPv6 link-local address
        # (group, DHCP data slot) -> the member its session talks through
        self.dhcp_members: dict[tuple[str, int], str | None] = {}
        self.track_all = False  # TRACK_INTERFACES_ONLY_WITH_GROUPS=no
        # The defaults file's values, for the groups that follow them (FROM_DEFAULTS).
        self.default_fdt = DEFAULT_FDT_MS
        self.default_failback = DEFAULT_FAILBACK
        self.default_transitive = DEFAULT_TRANSITIVE_PROBING
        self.signatures = Signatures()  # the group list's and each group's (events)
        # Every data address by key: which group has it, under which interface (kernel
        # events name addresses by IP alone, one event per address of a move).
        self.bound_ips: dict[AddressKey, tuple[str, IPInterface]] = {}
        # The data addresses of every group while a batch is under way (data_ips); None
        # outside a batch.
        self.batch_ips: dict[AddressKey, str] | None = None
        # The earliest deadline of any member's detectors (a flapping link's hold), kept
        # until a link observation or a detector tick can change it: the daemon asks for
        # the next deadline after every wake-up, and walking every member's detectors
        # each time was most of the engine's cost at 100+ probes per second.
        self._detector_due: float | None = None
        self._detector_due_known = False

    # ------------------------------------------------------------------ lookups
    def group(self, name: str) -> Group:
        """The named group, or EngineError (the anonymous group is nobody's to name)."""
        need_str("group", name)
        try:
            if name == ANONYMOUS:
                raise KeyError(name)
            return self.groups[name]
        except KeyError:
            raise EngineError(errors.UNKNOWN_GROUP, f"no such group: {name}") from None

    def member(self, name: str) -> Member:
        """The named member, or EngineError saying whether the interface exists."""
        need_str("interface", name)
        try:
            return self.members[name]
        except KeyError:
            if name in self.observed:
                raise EngineError(errors.NOT_IN_GROUP,
                                  f"interface {name} is not in any group") from None
            raise EngineError(errors.UNKNOWN_INTERFACE, f"no such interface: {name}") from None

    def group_of(self, member: Member) -> Group:
        return self.groups[member.group]

    def members_of(self, group: Group) -> list[Member]:
        """The group's members in configured order."""
        return [self.members[n] for n in group.members]

    def active_names(self, group: Group) -> list[str]:
        return [n for n in group.members if self.members[n].active]

    def group_addresses(self, group: Group) -> list[IPInterface]:
        """The group's data and test addresses: the subnets its gateways must be in."""
        return [*group.binding, *(a for m in self.members_of(group)
                                  for a in m.all_test_addresses)]

    def own_ips(self) -> set[Any]:
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

    def test_owner(self, ip: Any) -> Member | None:
        """The member whose test address ``ip`` is, if any."""
        for m in self.members.values():
            if any(a.ip == ip for a in m.all_test_addresses):
                return m
        return None

    def check_not_test(self, ip: Any) -> None:
        owner = self.test_owner(ip)
        if owner is not None:
            raise EngineError(
                errors.INVALID,
                f"{ip} is the test address of {owner.name}: a data address can never "
                "double as a test address",
            )

    def check_not_data(self, ip: Any) -> None:
        for group in self.groups.values():
            for addr in group.binding:
                if addr.ip == ip:
                    raise EngineError(
                        errors.INVALID,
                        f"{ip} is a data address of group {group.name}: a test address can "
                        "never double as a data address",
                    )

    def find_address(self, text: str) -> tuple[str, IPInterface, str | None] | None:
        """(group, address with prefix, member it is bound to) of a data address."""
        ip = parse_ip(text)
        for group in self.groups.values():
            for addr, member in group.binding.items():
                if addr.ip == ip:
                    return group.name, addr, member
        return None

    def placed_addresses(self) -> list[tuple[str, str]]:
        """(member, address without prefix) of every bound data address and static test
        address: what the kernel must have where."""
        out = [(m, str(a.ip)) for g in self.groups.values() for a, m in g.binding.items()
               if m is not None]
        out += [(m.name, str(t.ip)) for m in self.members.values() for t in m.test_addresses]
        return out

    # ------------------------------------------------------------------ data-address index
    def data_ips(self, batching: bool) -> dict[AddressKey, str]:
        """Key -> group, for every data address: the duplicate check of an address added.
        Walking every group's addresses for each address added made a batch (a restart's
        load of 1,000) quadratic: within a batch the map is built once and kept up to
        date by index_address and unindex_address."""
        if self.batch_ips is not None:
            return self.batch_ips
        found = {address_key(a): g.name for g in self.groups.values() for a in g.binding}
        if batching:
            self.batch_ips = found
        return found

    def index_address(self, group: Group, addr: IPInterface) -> None:
        key = address_key(addr)
        self.bound_ips[key] = (group.name, addr)
        if self.batch_ips is not None:
            self.batch_ips[key] = group.name

    def unindex_address(self, addr: IPInterface) -> None:
        key = address_key(addr)
        self.bound_ips.pop(key, None)
        if self.batch_ips is not None:
            self.batch_ips.pop(key, None)

    # ------------------------------------------------------------------ detector deadlines
    def observe_link(self, member: Member, carrier: bool | None, now: float) -> list[str]:
        """Every link observation goes through here: it may start a detector deadline."""
        self._detector_due_known = False
        return member.link.observe(carrier, now)

    def forget_detector_deadline(self) -> None:
        """A detector is about to tick: its deadline will change."""
        self._detector_due_known = False

    def detector_deadline(self) -> float | None:
        if not self._detector_due_known:
            self._detector_due = min(
                (d for m in self.members.values() for det in m.detectors
                 if (d := det.next_deadline()) is not None),
                default=None,
            )
            self._detector_due_known = True
        return self._detector_due
