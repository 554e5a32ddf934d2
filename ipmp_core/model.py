"""Plain data shared by the engine, the daemon, the control channel and ipmpstat.

The snapshot is what in.mpathd's libipmp calls a snapshot: one consistent view of every
group, interface and address. It crosses the control socket as JSON, so every field is a
plain type; ipmpstat formats it and never computes state itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

E = TypeVar("E", bound=StrEnum)


class GroupState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"


class IfState(StrEnum):
    OK = "ok"
    FAILED = "failed"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class LinkState(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class ProbeState(StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"
    DISABLED = "disabled"


class TargetMode(StrEnum):
    ROUTES = "routes"
    MULTICAST = "multicast"
    TRANSITIVE = "transitive"  # Solaris 11: layer-2 probes to another member
    DISABLED = "disabled"


class AddrState(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass
class IfFlags:
    """ipmpstat -i FLAGS, printed in the order i s m b M d h."""

    inactive: bool = False
    standby: bool = False
    mcast4: bool = False  # m: nominated for IPv4 multicast reception
    bcast4: bool = False  # b: nominated for IPv4 broadcast reception
    mcast6: bool = False  # M: nominated for IPv6 multicast reception
    down: bool = False  # d: administratively down
    duphw: bool = False  # h: offlined because its hardware address duplicates another's


# A value ipmpstat could not obtain (a newer daemon's state, a key an older one lacks) is
# None in a view rebuilt by from_dict: ipmpstat prints ``?`` for it, as ofmt does, and the
# rest of the row as usual.


@dataclass
class GroupView:
    name: str
    state: GroupState | None
    fdt_ms: int | None  # None when no member probes (ipmpstat prints an empty FDT)
    failback: bool
    active: list[str] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)


@dataclass
class TargetFamilyView:
    """One family's probing on one interface: an ipmpstat -t row (in.mpathd's
    ipmp_targinfo_t). A family that probes but has no target shows its mode with no
    TARGETS: it does not vote on the interface's failure."""

    family: int  # 4 or 6; 0 for transitive probes (no IP family)
    mode: TargetMode | None
    testaddr: str
    targets: list[str] = field(default_factory=list)


@dataclass
class InterfaceView:
    name: str
    group: str  # "" for the anonymous group
    active: bool | None
    flags: IfFlags | None
    link: LinkState | None
    probe: ProbeState | None
    state: IfState | None
    testaddrs: list[str] = field(default_factory=list)
    target_mode: TargetMode | None = TargetMode.DISABLED
    targets: list[str] = field(default_factory=list)
    present: bool = True
    mac: str = ""
    target_families: list[TargetFamilyView] = field(default_factory=list)


@dataclass
class AddressView:
    address: str  # without prefix length
    prefixlen: int
    state: AddrState | None
    group: str
    inbound: str  # member the address is bound to, "" when unbound
    outbound: list[str] = field(default_factory=list)  # members routing its subnet
    owner: str = ""  # who added it (a resource id), "" for the administrator


@dataclass
class Snapshot:
    groups: list[GroupView] = field(default_factory=list)
    interfaces: list[InterfaceView] = field(default_factory=list)
    addresses: list[AddressView] = field(default_factory=list)
    # Set while the daemon refuses changes because its state file could not be loaded:
    # what is wrong and where the file was kept aside (ipmpstat prints it on stderr).
    state_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        """Rebuild from JSON; keys this version does not know are ignored, so an older
        ipmpstat keeps working against a newer daemon, and a value it cannot read (an
        unknown state, a missing key) becomes None, printed ``?``."""
        groups = [
            GroupView(**{**_known(GroupView, g), "state": _enum(GroupState, g.get("state"))})
            for g in data.get("groups", [])
        ]
        interfaces = []
        for i in data.get("interfaces", []):
            flags = i.get("flags")
            interfaces.append(
                InterfaceView(
                    **{
                        **_known(InterfaceView, i),
                        "active": i["active"] if isinstance(i.get("active"), bool) else None,
                        "flags": IfFlags(**_known(IfFlags, flags))
                        if isinstance(flags, dict) else None,
                        "link": _enum(LinkState, i.get("link")),
                        "probe": _enum(ProbeState, i.get("probe")),
                        "state": _enum(IfState, i.get("state")),
                        "target_mode": _enum(TargetMode, i.get("target_mode")),
                        "target_families": [
                            TargetFamilyView(**{**_known(TargetFamilyView, t),
                                                "mode": _enum(TargetMode, t.get("mode"))})
                            for t in i.get("target_families", [])
                        ],
                    }
                )
            )
        addresses = [
            AddressView(**{**_known(AddressView, a), "state": _enum(AddrState, a.get("state"))})
            for a in data.get("addresses", [])
        ]
        return cls(groups=groups, interfaces=interfaces, addresses=addresses,
                   state_error=str(data.get("state_error") or ""))


def _enum(cls: type[E], raw: Any) -> E | None:
    """The enum member for ``raw``; None (ipmpstat's ``?``) for a value this version
    does not know, like illumos' enum2str() printing ``<N>`` instead of failing."""
    try:
        return cls(raw)
    except (ValueError, TypeError):
        return None


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


# Field names of each view class, read once: dataclasses.asdict deep-copies every value
# and looks the fields up for every object, ~16 ms for a snapshot of 1,000 addresses,
# all of it on the daemon's event loop for each `ipmpstat` or monitor.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """What dataclasses.asdict makes of a view (dicts, lists and tuples rebuilt, the
    rest shared: every leaf of a view is immutable), in a third of its time."""
    names = _FIELD_NAMES.get(type(value))
    if names is None and hasattr(type(value), "__dataclass_fields__"):
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
