"""The engine's runtime records of groups and members (looked up through tables.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from ipmp_core.constants import DEFAULT_FAILBACK, DEFAULT_FDT_MS, PROBE_INTERVAL_DIVISOR
from ipmp_core.engine.detector import Detector, Verdict
from ipmp_core.engine.link import LinkDetector
from ipmp_core.engine.prober import Prober
from ipmp_core.engine.targets import TargetList
from ipmp_core.model import GroupState, LinkState
from ipmp_core.values import IPInterface


class FromDefaults(Enum):
    """A group setting nobody set: it takes the defaults file's value, again after every
    SIGHUP (in.mpathd's settings are all global; ours can also be set per group)."""

    VALUE = "default"


FROM_DEFAULTS = FromDefaults.VALUE


@dataclass(frozen=True)
class DhcpOwner:
    """The owner of a DHCP data address: the group's DHCP slot that leased it. Written
    "dhcp:N" in the state file and on the wire; parsed only by `parse_owner`."""

    slot: int

    def __str__(self) -> str:
        return f"dhcp:{self.slot}"


Owner = str | DhcpOwner
_DHCP_OWNER = re.compile(r"dhcp:(\d+)")


def parse_owner(owner: Owner) -> Owner:
    """An owner as given by a request or the state file: "dhcp:N" is a DHCP slot, any
    other text a resource's name."""
    if isinstance(owner, str):
        match = _DHCP_OWNER.fullmatch(owner)
        if match:
            return DhcpOwner(int(match.group(1)))
    return owner


@dataclass
class Member:
    """One interface of a group (in.mpathd's phyint): its configuration (standby,
    offline, test addresses), what netlink last said of it, its detectors and the state
    the rules derived (failed, active). Changed by the rules through one funnel
    (rules.Rules.set_member_state)."""

    name: str
    group: str
    standby: bool = False
    offline: bool = False  # administratively offline (if_mpadm -d)
    duphw: bool = False  # offline because its MAC duplicates another member's (flag h)
    present: bool = False
    ifindex: int = 0
    mac: str = ""
    mac_since: float = 0.0  # when the MAC was last seen to change (who keeps a shared MAC)
    admin_up: bool = False
    failed: bool = True
    verdict_given: bool = False  # failure state evaluated once (no 'repair' at join)
    active: bool = False
    inactive: bool = False  # IFF_INACTIVE: usable but kept out of use (engine/activation.py)
    in_service: bool = False  # usable when the rules last ran: what changed since then
    duptaddr_logged: bool = False  # "Test address ... is not unique in group" was logged
    test_addresses: list[IPInterface] = field(default_factory=list)
    linklocal: str | None = None  # its IPv6 link-local address, when the kernel has one
    dhcp_test: bool = False  # its test address comes from DHCP
    dhcp_lease: IPInterface | None = None  # the address currently leased
    # ipadm address object names of its static test addresses (``e0/test`` -> "test"),
    # and the count its next generated name takes (ipmgmtd's am_nextnum)
    test_names: dict[IPInterface, str] = field(default_factory=dict)
    next_name: int = 0
    joined_at: float = 0.0
    notest_logged: bool = False
    link: LinkDetector = field(init=False)
    prober: Prober = field(init=False)

    def __post_init__(self) -> None:
        self.link = LinkDetector(self.name)
        self.prober = Prober(self.name)

    @property
    def detectors(self) -> list[Detector]:
        return [self.link, self.prober]

    @property
    def all_test_addresses(self) -> list[IPInterface]:
        """Configured test addresses and the DHCP-leased one."""
        if self.dhcp_lease is not None and self.dhcp_lease not in self.test_addresses:
            return [*self.test_addresses, self.dhcp_lease]
        return list(self.test_addresses)

    @property
    def link_up(self) -> bool:
        return self.present and self.link.state is LinkState.UP

    @property
    def is_offline(self) -> bool:
        return self.offline or self.duphw

    def functioning(self) -> bool:
        """in.mpathd's combined rule: failed if ANY detector says so."""
        return self.present and all(d.verdict() is not Verdict.FAILED for d in self.detectors)

    @property
    def usable(self) -> bool:
        return not self.failed and not self.is_offline and self.admin_up

    @property
    def down(self) -> bool:
        """ipmpstat's flag d (no address of it up): administratively down, or offlined
        by if_mpadm -d, which brings every address of the interface down."""
        return self.present and (not self.admin_up or self.offline)


@dataclass
class Route:
    """A route the group declares (``dst`` via ``gateway``): installed through its
    active members."""

    dst: str  # "default" or a prefix
    gateway: str

    def key(self) -> tuple[str, str]:
        return (self.dst, self.gateway)


@dataclass
class Group:
    """One IPMP group (in.mpathd's phyint_group): its configuration, its data addresses
    and where each lives, its probe targets and FDT, and the state the rules derived."""

    name: str
    failback: bool = DEFAULT_FAILBACK
    fdt_ms: int = DEFAULT_FDT_MS
    follows_defaults: set[str] = field(default_factory=set)  # of DEFAULTED_SETTINGS
    members: list[str] = field(default_factory=list)  # configured order
    binding: dict[IPInterface, str | None] = field(default_factory=dict)  # data addresses
    owners: dict[IPInterface, Owner] = field(default_factory=dict)  # who added an address
    deprecated: set[IPInterface] = field(default_factory=set)  # preferred_lft 0 addresses
    # ipadm address object names of its data addresses (``ipmp0/v4`` -> "v4"), and the
    # count its next generated name takes (ipmgmtd's am_nextnum)
    names: dict[IPInterface, str] = field(default_factory=dict)
    next_name: int = 0
    routes: list[Route] = field(default_factory=list)
    state: GroupState = GroupState.FAILED  # a new group is failed until a member is usable
    failmsg_printed: bool = False  # "... are now unusable" logged; "now usable" may follow
    nominees: dict[str, str | None] = field(
        default_factory=lambda: {"inet": None, "inet6": None}
    )
    last_routes: tuple | None = None
    # probing
    targets: dict[int, TargetList] = field(
        default_factory=lambda: {4: TargetList(4), 6: TargetList(6)}
    )
    # The anonymous group's targets, per member: its interfaces need not share a subnet
    # (in.mpathd's router_add_common()); read through targets_for() / target_lists()
    member_targets: dict[str, dict[int, TargetList]] = field(default_factory=dict)
    explicit_targets: list[str] = field(default_factory=list)
    # Solaris 11's transitive probing: members without a test address probe anyway
    # (active ones from a data address bound to them, the others at layer 2)
    transitive_probing: bool = False
    linklocal_probes: bool = False  # probe IPv6 from link-locals even without v6 data
    multicast: list[str] = field(default_factory=list)  # groups joined on the nominee
    dhcp_slots: dict[int, IPInterface | None] = field(default_factory=dict)  # leased data
    dhcp_names: dict[int, str] = field(default_factory=dict)  # a slot's address object
    fdt_current: int = DEFAULT_FDT_MS  # raised above fdt_ms when targets are too slow
    fdt_raised_at: float = 0.0  # in.mpathd's last_fdt_bumpup_time
    # the node attribute for the cluster (None: not published), see Engine.set_attribute
    attribute: str | None = None
    multiplier: int = 1
    dampen_ms: int = 0
    attribute_value: int | None = None  # the value last emitted in a PublishAttribute

    @property
    def log_phrase(self) -> str:
        """" of group NAME" for log lines; nothing for the anonymous group."""
        return f" of group {self.name}" if self.name else ""

    @property
    def probe_interval(self) -> float:
        """in.mpathd's pg_probeint: failure-detection probes are this far apart."""
        return self.fdt_current / PROBE_INTERVAL_DIVISOR

    @property
    def user_probe_interval(self) -> float:
        """in.mpathd's user_probe_interval: probes (failure-detection or, while the FDT
        is raised, PROBE_RTT) go out this often, from the configured FDT."""
        return self.fdt_ms / PROBE_INTERVAL_DIVISOR


def _new_lists() -> dict[int, TargetList]:
    return {4: TargetList(4), 6: TargetList(6)}


def targets_for(group: Group, member: str, family: int) -> TargetList:
    """The probe targets ``member`` uses in ``family``: its group's, shared by every
    member (they are on one link), except in the anonymous group, where each interface
    has its own (in.mpathd adds a router or a host that answered to that interface only:
    "other phyints in the anongroup may not be on the same subnet")."""
    if group.name:
        return group.targets[family]
    lists = group.member_targets.get(member)
    if lists is None:
        lists = group.member_targets[member] = _new_lists()
    return lists[family]


def sync_member_targets(group: Group) -> None:
    """The anonymous group: a list pair for each interface, none kept for one gone."""
    if group.name:
        return
    for gone in set(group.member_targets) - set(group.members):
        del group.member_targets[gone]
    for name in group.members:
        group.member_targets.setdefault(name, _new_lists())


def target_lists(group: Group) -> list[tuple[str | None, TargetList]]:
    """Every target list of the group with the member it belongs to (None: shared by
    the whole group), for what walks them all (timers, a group failure's flush)."""
    if group.name:
        return [(None, t) for t in group.targets.values()]
    return [(m, t) for m in group.members for t in group.member_targets.get(m, {}).values()]


def target_phrase(group: Group, member: str) -> str:
    """Whose targets a log line speaks of: " of group NAME", or " on IFNAME" for an
    interface of the anonymous group (its targets are its own)."""
    return group.log_phrase if group.name else f" on {member}"
