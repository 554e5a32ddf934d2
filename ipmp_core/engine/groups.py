"""Group requests (ipmpadm create-group, set-group, routes, targets, the attribute).

Each request checks its input (refusals raise EngineError and change nothing), changes
the group's configuration, and lets the rules (engine/rules.py) derive the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ipmp_core import errors
from ipmp_core.constants import DEFAULT_TRANSITIVE_PROBING
from ipmp_core.engine import activation
from ipmp_core.engine.actions import (
    Action,
    ConfigChanged,
    DhcpData,
    Log,
    Nominate,
    Publish,
    PublishAttribute,
    SetRoutes,
)
from ipmp_core.engine.addresses import AddressRequests
from ipmp_core.engine.members import MemberRequests
from ipmp_core.engine.probing import Probing
from ipmp_core.engine.rules import Rules
from ipmp_core.engine.state import FROM_DEFAULTS, FromDefaults, Group, Route
from ipmp_core.engine.tables import Tables
from ipmp_core.errors import EngineError
from ipmp_core.values import (
    check_fdt,
    check_name,
    parse_bool,
    parse_gateway,
    parse_ip,
    parse_network,
    parse_targets,
)

# Pacemaker's attribute names: XML IDs (letters, digits, "-", "_", "."), not too long.
_ATTRIBUTE_MAX = 128


def check_attribute(name: str, multiplier: int, dampen_ms: int) -> None:
    """Refuse what Pacemaker would not take as a node attribute and its value rule."""
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


class GroupRequests:
    """Owns the requests on groups: creation and deletion, failback, FDT, routes, probe
    targets, multicast groups and the cluster attribute."""

    def __init__(self, tables: Tables, rules: Rules, probing: Probing,
                 members: MemberRequests, addresses: AddressRequests) -> None:
        self.tables = tables
        self.rules = rules
        self.probing = probing
        self.members = members
        self.addresses = addresses

    def _refreshed(self, group: Group, now: float) -> list[Action]:
        """A configuration change: persist it, and derive what follows from it."""
        out: list[Action] = [ConfigChanged()]
        self.rules.refresh(group, now, out)
        return out

    # ------------------------------------------------------------------ life
    def create_group(self, name: str, now: float, *,
                     failback: bool | str | FromDefaults = FROM_DEFAULTS,
                     fdt_ms: int | FromDefaults = FROM_DEFAULTS, attribute: str | None = None,
                     multiplier: int = 1, dampen_ms: int = 0,
                     transitive_probing: bool | str | FromDefaults = FROM_DEFAULTS
                     ) -> list[Action]:
        check_name("group", name)
        if attribute:
            check_attribute(attribute, multiplier, dampen_ms)
        tables = self.tables
        if name in tables.groups:
            raise EngineError(errors.EXISTS, f"group {name} already exists")
        if name in tables.observed or name in tables.members:
            raise EngineError(errors.EXISTS, f"{name} is an interface; a group needs its own name")
        follows = {key for key, value in (("failback", failback), ("fdt_ms", fdt_ms),
                                          ("transitive_probing", transitive_probing))
                   if value is FROM_DEFAULTS}
        fdt = tables.default_fdt if fdt_ms is FROM_DEFAULTS else check_fdt(fdt_ms)
        back = tables.default_failback if failback is FROM_DEFAULTS else parse_bool(failback)
        transitive = tables.default_transitive if transitive_probing is FROM_DEFAULTS \
            else parse_bool(transitive_probing)
        tables.groups[name] = Group(name=name, failback=back, fdt_ms=fdt, fdt_current=fdt,
                                    follows_defaults=follows, attribute=attribute or None,
                                    multiplier=int(multiplier), dampen_ms=int(dampen_ms),
                                    transitive_probing=transitive)
        self.probing.invalidate(name)
        return [Log("notice", f"Group {name} created"),
                Publish({"type": "group-added", "group": name}),
                ConfigChanged()]

    def delete_group(self, name: str, now: float) -> list[Action]:
        group = self.tables.group(name)
        # Members leaving one by one are not news for the cluster: only the deletion is.
        attribute, group.attribute = group.attribute, None
        out: list[Action] = [DhcpData(name, slot, None, False) for slot in group.dhcp_slots]
        group.dhcp_slots.clear()
        for addr in list(group.binding):
            out += self.addresses.drop_address(group, addr)
        for member in list(group.members):
            out += self.members.drop_member(self.tables.members[member], now)
        del self.tables.groups[name]
        if attribute:  # the cluster must not keep judging the node by it
            out.append(PublishAttribute(name, attribute, None))
        out.append(SetRoutes(name, ()))  # nothing of the group stays routed
        out.append(Log("notice", f"Group {name} deleted"))
        out.append(Publish({"type": "group-removed", "group": name}))
        out.append(ConfigChanged())
        return out

    # ------------------------------------------------------------------ the attribute
    def set_attribute(self, name: str, attribute: str | None, now: float, *,
                      multiplier: int = 1, dampen_ms: int = 0) -> list[Action]:
        """The node attribute the group publishes for the cluster (None or "": none).

        The value is the group's usable members x ``multiplier`` and is published
        whenever that count changes (Rules.attribute), dampened by ``dampen_ms`` in
        attrd. Setting it publishes the current value at once; renaming deletes the old
        one."""
        group = self.tables.group(name)
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
        self.rules.attribute(group, out)
        out.append(ConfigChanged())
        return out

    def republish_attribute(self, name: str) -> list[Action]:
        """The current value again (the agent's monitor: attrd may have lost it when the
        node left and rejoined the cluster). Nothing when no attribute is configured."""
        group = self.tables.group(name)
        if not group.attribute:
            return []
        group.attribute_value = None
        out: list[Action] = []
        self.rules.attribute(group, out)
        return out

    # ------------------------------------------------------------------ settings
    def set_failback(self, name: str, value: bool | str | FromDefaults,
                     now: float) -> list[Action]:
        """FAILBACK for this group; FROM_DEFAULTS: the defaults file's, from now on."""
        group = self.tables.group(name)
        failback = _chosen(group, "failback", value, self.tables.default_failback, parse_bool)
        return self._failback(group, failback, now)

    def set_fdt(self, name: str, fdt_ms: int | FromDefaults, now: float) -> list[Action]:
        """The FDT for this group; FROM_DEFAULTS: the defaults file's, from now on."""
        group = self.tables.group(name)
        return self._fdt(group, _chosen(group, "fdt_ms", fdt_ms, self.tables.default_fdt,
                                        check_fdt))

    def set_transitive_probing(self, name: str, value: bool | str | FromDefaults,
                               now: float) -> list[Action]:
        """Transitive probing for this group (Solaris 11's config/transitive-probing,
        per group here); FROM_DEFAULTS: the defaults file's TRANSITIVE_PROBING, from now
        on."""
        group = self.tables.group(name)
        on = _chosen(group, "transitive_probing", value, self.tables.default_transitive,
                     parse_bool)
        return self._transitive(group, on, now)

    def set_defaults(self, fdt_ms: int, failback: bool, now: float, *,
                     transitive_probing: bool = DEFAULT_TRANSITIVE_PROBING) -> list[Action]:
        """The defaults file was read again (SIGHUP): every group that follows it takes
        its values, as in.mpathd's groups do when it re-executes itself; a group whose
        setting was set keeps it."""
        tables = self.tables
        tables.default_fdt, tables.default_failback = check_fdt(fdt_ms), bool(failback)
        tables.default_transitive = bool(transitive_probing)
        out: list[Action] = []
        for group in tables.groups.values():
            changed = []
            follows = group.follows_defaults
            if "failback" in follows and group.failback != failback:
                out += self._failback(group, failback, now)
                changed.append(f"FAILBACK={'yes' if failback else 'no'}")
            if "fdt_ms" in follows and group.fdt_ms != tables.default_fdt:
                out += self._fdt(group, tables.default_fdt)
                changed.append(f"FAILURE_DETECTION_TIME={tables.default_fdt}")
            if "transitive_probing" in follows and \
                    group.transitive_probing != tables.default_transitive:
                out += self._transitive(group, tables.default_transitive, now)
                changed.append("TRANSITIVE_PROBING="
                               f"{'yes' if tables.default_transitive else 'no'}")
            if changed:
                out.append(Log("notice", f"Group {group.name or '--'} takes "
                               f"{' '.join(changed)} from the defaults file"))
        return out

    def _failback(self, group: Group, failback: bool, now: float) -> list[Action]:
        group.failback = failback
        if failback:
            # As after in.mpathd re-reads FAILBACK: members held inactive by FAILBACK=no
            # are used again, and an active standby steps back if the group is above
            # capacity (phyint_transition_to_running's case 2).
            members = self.tables.members_of(group)
            for member in members:
                if member.usable and member.inactive and not member.standby:
                    activation.transition_to_running(
                        members, member, onlining=True, initial=False, failback=True,
                        group_failed=False)
        return self._refreshed(group, now)

    def _fdt(self, group: Group, fdt: int) -> list[Action]:
        group.fdt_ms = fdt
        group.fdt_current = fdt
        self.probing.invalidate(group.name)
        return [ConfigChanged()]

    def _transitive(self, group: Group, on: bool, now: float) -> list[Action]:
        """The one place the setting changes: the probe schedule is worked out again
        and the rules see the group anew."""
        group.transitive_probing = on
        self.probing.invalidate(group.name)
        return self._refreshed(group, now)

    def add_route(self, name: str, dst: str, gateway: str, now: float) -> list[Action]:
        group = self.tables.group(name)
        dst = "default" if dst in ("default", "", None) else str(parse_network(dst))
        gw = str(parse_gateway(gateway, on_link=self.tables.group_addresses(group),
                               own=self.tables.own_ips()))
        route = Route(dst, gw)
        if any(r.key() == route.key() for r in group.routes):
            raise EngineError(errors.EXISTS, f"route {dst} via {gw} already in group {name}")
        group.routes.append(route)
        return self._refreshed(group, now)

    def remove_route(self, name: str, dst: str, gateway: str, now: float) -> list[Action]:
        group = self.tables.group(name)
        dst = "default" if dst in ("default", "", None) else str(parse_network(dst))
        gw = str(parse_ip(gateway))
        before = len(group.routes)
        group.routes = [r for r in group.routes if r.key() != (dst, gw)]
        if len(group.routes) == before:
            raise EngineError(errors.UNKNOWN_ADDRESS, f"no route {dst} via {gw} in group {name}")
        return self._refreshed(group, now)

    def set_linklocal_probes(self, name: str, value: bool | str, now: float) -> list[Action]:
        """Probe IPv6 from the members' link-local addresses even when the group has no
        IPv6 data address."""
        group = self.tables.group(name)
        group.linklocal_probes = parse_bool(value)
        return self._refreshed(group, now)

    def set_multicast(self, name: str, addresses: Iterable[str], now: float) -> list[Action]:
        """Multicast groups the group receives: joined on the member nominated for its
        family (flags m / M) and moved with the nomination."""
        group = self.tables.group(name)
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
        group = self.tables.group(name)
        if isinstance(targets, str | bytes):
            raise EngineError(errors.INVALID, "probe targets must be a list of addresses")
        group.explicit_targets = parse_targets(targets, own=self.tables.own_ips(),
                                               on_link=self.tables.group_addresses(group))
        return self._refreshed(group, now)


def with_transitive_probing(config: dict[str, Any], tables: Tables) -> dict[str, Any]:
    """The persisted configuration (views.config_dump) with each group's transitive
    probing setting, which Engine.load gives back to create_group."""
    for g in config["groups"]:
        g["transitive_probing"] = tables.groups[g["name"]].transitive_probing
    return config


def _chosen(group: Group, setting: str, value: Any, default: Any,
            rule: Callable[[Any], Any]) -> Any:
    """The value a request gives one of DEFAULTED_SETTINGS (checked by ``rule`` before
    anything changes): FROM_DEFAULTS is the defaults file's, followed from now on."""
    chosen = default if value is FROM_DEFAULTS else rule(value)
    _follow(group, setting, value is FROM_DEFAULTS)
    return chosen


def _follow(group: Group, setting: str, follows: bool) -> None:
    """Whether the group's ``setting`` follows the defaults file from now on."""
    if follows:
        group.follows_defaults.add(setting)
    else:
        group.follows_defaults.discard(setting)
