"""The ipmp agent's plan: this node's wanted group, read from the (per-node) parameters
and checked against itself, and reconciling the daemon's group with it.

The value rules are ipmp_core/values.py's, the ones the daemon applies too; what only
the parameters can get wrong (a member listed twice, a clone giving every node the same
test addresses) is checked here and refused with OCF_ERR_CONFIGURED.
"""

from __future__ import annotations

import ipaddress
import os

from agents import daemon_link, ipmp_probing, per_node
from ipmp_core import values
from ocf import OCFCode, OCFError


def parse_names(value: str) -> list[str]:
    found = value.split()
    for name in found:
        values.check_name("interface", name)
    return found


def parse_test_addresses(value: str) -> dict[str, str] | str:
    """'e0=198.51.100.21/24 e1=...' -> {e0: ...}; or 'link-local'."""
    value = value.strip()
    if value in ("", "none"):
        return {}
    if value == "link-local":
        return "link-local"
    out: dict[str, str] = {}
    for item in value.split():
        ifname, sep, addr = item.partition("=")
        if not sep:
            raise ValueError(f"'{item}' is not INTERFACE=ADDRESS/PREFIX")
        values.check_name("interface", ifname)
        if addr.strip().lower() == "dhcp":  # a DHCP-leased test address (DR-safe)
            if ifname in out:
                raise ValueError(f"interface {ifname} has two test addresses")
            out[ifname] = "dhcp"
            continue
        parsed = values.parse_test_address(addr)
        if ifname in out:
            raise ValueError(f"interface {ifname} has two test addresses")
        out[ifname] = str(parsed)
    return out


def parse_addresses(value: str) -> list[str]:
    return [str(values.parse_data_address(a)) for a in value.split()]


def per_node_validator(check):  # noqa: ANN001, ANN202
    """A validator applying ``check`` to every node's value of a per-node parameter."""
    def validate(value: str) -> None:
        for one in per_node.all_values(value):
            check(one)
    return validate


def parse_targets(value: str) -> list[str]:
    return values.parse_targets(value.replace(",", " ").split())


def check_gateway(value: str) -> None:
    if value.strip():
        values.parse_gateway(value)


MEMBER_PARAMS = ("interfaces", "standby_interfaces")


class NodeNotCovered(OCFError):
    """The parameters give this node no interface. A fact about the node, not an error in
    the parameters (they may be meant for other nodes): OCF_ERR_INSTALLED, which bans
    only this node, never OCF_ERR_CONFIGURED, which stops the resource on every node."""

    def __init__(self, node: str, params: dict) -> None:
        named = [n for name in MEMBER_PARAMS
                 for n in per_node.node_entries(params.get(name) or "")[1]]
        # Pacemaker keeps 128 characters of an exit reason: the node and the cause first.
        if any(per_node.covers(params.get(name), node) for name in MEMBER_PARAMS):
            why = f"its entry \"@{node}\" in interfaces is empty"
        elif named:
            why = f"interfaces names only {', '.join(dict.fromkeys(named))}, no entry without @node"
        else:
            why = "interfaces is empty"
        super().__init__(OCFCode.ERR_INSTALLED,
                         f"node {node or '(unnamed)'} has no interface: {why}")
        self.node = node


def clone_size(ctx) -> int:  # noqa: ANN001
    """How many instances Pacemaker runs (clone-max), 1 for a primitive. An instance
    number without clone-max is a clone of unknown size: counted as more than one."""
    raw = ctx.meta("clone_max")
    if raw is None:
        return 1 if ctx.meta("clone") is None else 2
    try:
        return int(raw)
    except ValueError:
        return 2


def shared_static_tests(params: dict) -> list[str]:
    """The static test addresses of the entry without @node: every node it applies to
    would put the same addresses on the wire."""
    default, _ = per_node.node_entries(params.get("test_addresses") or "")
    try:
        tests = parse_test_addresses(default or "")
    except ValueError:
        return []  # reported by the parameter's own validation
    return [a for a in tests.values() if a != "dhcp"] if isinstance(tests, dict) else []


def check_clone_test_addresses(ctx) -> None:  # noqa: ANN001
    """A clone may not give every node the same static test addresses (duplicate
    addresses on the network, false probe failures): OCF_ERR_CONFIGURED, since the
    parameters are wrong for every node."""
    shared = shared_static_tests(ctx.params)
    size = clone_size(ctx)
    if shared and size > 1:
        ctx.log.error(f"test_addresses: static test addresses ({' '.join(shared)}) without "
                      f"@node on a clone of {size} would be the same on every node "
                      "(duplicate addresses on the network)")
        # The exit reason (128 characters in Pacemaker) says what to write instead.
        raise OCFError(
            OCFCode.ERR_CONFIGURED,
            "test_addresses on a clone: give each node its own (@node1 e0=ADDR/PREFIX ...; "
            "@node2 ...), or use dhcp or link-local")


def check_tests_across_nodes(params: dict) -> None:
    """Two nodes' entries may not name the same static test address."""
    default, nodes = per_node.node_entries(params.get("test_addresses") or "")
    seen: dict[object, str] = {}
    entries = ([("(nodes not named)", default)] if default else []) + list(nodes.items())
    for node, value in entries:
        try:
            tests = parse_test_addresses(value)
        except ValueError:
            continue  # reported by the parameter's own validation
        if not isinstance(tests, dict):
            continue
        for addr in (a for a in tests.values() if a != "dhcp"):
            ip = ipaddress.ip_interface(addr).ip
            if ip in seen and seen[ip] != node:
                raise OCFError(OCFCode.ERR_CONFIGURED,
                               f"test_addresses: {ip} is given to {seen[ip]} and to {node} "
                               "(duplicate addresses on the network)")
            seen[ip] = node


class Plan:
    """This node's desired group, from the parameters."""

    def __init__(self, ctx, node: str | None = None) -> None:  # noqa: ANN001
        p = ctx.params
        node = node if node is not None else per_node.local_node(ctx)
        check_clone_test_addresses(ctx)
        check_tests_across_nodes(p)
        self.group: str = p["group"]
        self.members = parse_names(per_node.for_node(p["interfaces"], node))
        self.standby = parse_names(per_node.for_node(p.get("standby_interfaces") or "", node))
        if not self.members and not self.standby:
            raise NodeNotCovered(node, p)
        tests = parse_test_addresses(per_node.for_node(p.get("test_addresses") or "", node))
        self.node = node
        self.linklocal = tests == "link-local"
        self.tests: dict[str, str] = tests if isinstance(tests, dict) else {}
        self.probing = ipmp_probing.chosen(p.get("probing"), self.tests, self.linklocal)
        self.data = parse_addresses(per_node.for_node(p.get("data_addresses") or "", node))
        self.gateway = per_node.for_node(p.get("gateway") or "", node).strip()
        self.fdt: int = p["failure_detection_time"]
        self.failback: bool = p["failback"]
        self.targets = parse_targets(p.get("targets") or "")
        self.attribute: str = p.get("attribute") or f"ipmp-{self.group}"
        self.multiplier: int = p["multiplier"]
        self.dampen = parse_dampen(p["dampen"])
        self.owner = daemon_link.owner_of(ctx)
        self.check()

    def check(self) -> None:
        """Consistency of the values with each other (OCF_ERR_CONFIGURED)."""
        both = set(self.members) & set(self.standby)
        if both:
            raise OCFError(OCFCode.ERR_CONFIGURED,
                           f"{' '.join(sorted(both))} listed as both active and standby")
        if self.group in self.members + self.standby:
            raise OCFError(OCFCode.ERR_CONFIGURED,
                           f"the group cannot be named like its member {self.group}")
        everyone = self.members + self.standby
        for ifname in self.tests:
            if ifname not in everyone:
                raise OCFError(OCFCode.ERR_CONFIGURED,
                               f"test_addresses: {ifname} is not a member of the group")
        ipmp_probing.check(self.probing, self.node, self.tests, self.linklocal)
        static = [a for a in self.tests.values() if a != "dhcp"]
        tests = {ipaddress.ip_interface(a).ip for a in static}
        if len(tests) != len(static):
            raise OCFError(OCFCode.ERR_CONFIGURED, "test_addresses: a test address repeats")
        for addr in self.data:
            if ipaddress.ip_interface(addr).ip in tests:
                raise OCFError(OCFCode.ERR_CONFIGURED,
                               f"{addr} is both a data and a test address: a data address "
                               "can never double as a test address")
        mine = [ipaddress.ip_interface(a) for a in [*static, *self.data]]
        own = {a.ip for a in mine}
        try:
            if self.gateway:
                values.parse_gateway(self.gateway, on_link=mine or None, own=own)
            values.parse_targets(self.targets, own=own)
        except ValueError as exc:
            raise OCFError(OCFCode.ERR_CONFIGURED, str(exc)) from None

    @property
    def transitive(self) -> bool:
        return self.probing == ipmp_probing.TRANSITIVE

    def notes(self) -> list[str]:
        """Warnings about the plan (ipmp_probing.notes): logged, never refused."""
        return ipmp_probing.notes(self.probing, self.members + self.standby, self.tests,
                                  self.linklocal, self.data)

    def check_host(self, log=None) -> None:  # noqa: ANN001
        """Level 10: this host has the interfaces (OCF_ERR_INSTALLED); warn about network
        managers that would fight the daemon over them."""
        missing = [i for i in self.members + self.standby if not interface_exists(i)]
        if missing:
            raise OCFError(OCFCode.ERR_INSTALLED, f"no such interface: {' '.join(missing)}")
        if log is not None:
            from ipmp_core import interference

            for ifname in self.members + self.standby:
                note = interference.warning(ifname)
                if note:
                    log.warning(note)


def plan_for(ctx, node: str | None = None) -> Plan:  # noqa: ANN001
    try:
        return Plan(ctx, node)
    except ValueError as exc:  # values.InvalidValue included
        raise OCFError(OCFCode.ERR_CONFIGURED, str(exc)) from None


PER_NODE_PARAMS = ("interfaces", "standby_interfaces", "test_addresses", "data_addresses",
                   "gateway")


def named_nodes(ctx) -> list[str]:  # noqa: ANN001
    nodes: list[str] = []
    for name in PER_NODE_PARAMS:
        _, entries = per_node.node_entries(ctx.params.get(name) or "")
        nodes += [n for n in entries if n not in nodes]
    return nodes



def reconcile(plan: Plan, ctx) -> None:  # noqa: ANN001
    """Make the daemon's group match the plan, touching only what differs."""
    for note in plan.notes():
        ctx.log.warning(note)
    call = daemon_link.call
    config = call("config")
    group = next((g for g in config["groups"] if g["name"] == plan.group), None)
    attribute = {"attribute": plan.attribute, "multiplier": plan.multiplier,
                 "dampen_ms": dampen_ms(plan.dampen)}
    if group is None:
        call("create-group", group=plan.group, fdt_ms=plan.fdt, failback=plan.failback,
             transitive_probing=plan.transitive, **attribute)
        group = {"members": [], "data_addresses": [], "routes": [], "targets": [],
                 "owners": {}, "fdt_ms": plan.fdt, "failback": plan.failback,
                 "transitive_probing": plan.transitive,
                 "attribute": {"name": plan.attribute, "multiplier": plan.multiplier,
                               "dampen_ms": attribute["dampen_ms"]}}
    if group["fdt_ms"] != plan.fdt:
        call("set-fdt", group=plan.group, fdt_ms=plan.fdt)
    if group["failback"] != plan.failback:
        call("set-failback", group=plan.group, failback=plan.failback)
    # Set even when equal while it follows the defaults file (a group made before the
    # parameter existed): the parameter, not the node's file, decides.
    if group.get("transitive_probing") != plan.transitive or \
            "transitive_probing" in group.get("follows_defaults", ()):
        call("set-transitive-probing", group=plan.group, enabled=plan.transitive)
    wanted = {m: False for m in plan.members} | {m: True for m in plan.standby}
    have = {m["name"]: m for m in group["members"]}
    for name in have:
        if name not in wanted:
            call("remove-member", interface=name)
    for name, standby in wanted.items():
        if name not in have:
            call("add-member", group=plan.group, interface=name, standby=standby)
        elif have[name]["standby"] != standby:
            call("set-standby", interface=name, standby=standby)
    for name in wanted:
        current = have.get(name, {}).get("test_addresses", [])
        target = [plan.tests[name]] if name in plan.tests else []
        for addr in current:
            if addr not in target:
                call("remove-test-address", address=addr, interface=name)
        for addr in target:
            if addr not in current:
                call("add-test-address", interface=name, address=addr)
    if plan.linklocal != group.get("linklocal_probes", False):
        call("set-linklocal-probes", group=plan.group, enabled=plan.linklocal)
    owners = group.get("owners", {})
    for addr in group["data_addresses"]:
        if owners.get(addr) == plan.owner and addr not in plan.data:
            call("remove-address", address=addr)
    for addr in plan.data:
        if addr not in group["data_addresses"]:
            call("add-address", group=plan.group, address=addr, owner=plan.owner)
    routes = {(r["dst"], r["gateway"]) for r in group["routes"]}
    wanted_routes = {("default", plan.gateway)} if plan.gateway else set()
    for dst, gateway in routes - wanted_routes:
        call("remove-route", group=plan.group, dst=dst, gateway=gateway)
    for dst, gateway in wanted_routes - routes:
        call("add-route", group=plan.group, dst=dst, gateway=gateway)
    if list(group.get("targets", [])) != plan.targets:
        call("set-targets", group=plan.group, targets=plan.targets)
    # Last: the value it publishes now counts the members as they are configured now.
    have_attr = group.get("attribute") or {}
    if (have_attr.get("name"), have_attr.get("multiplier"), have_attr.get("dampen_ms")) != \
            (plan.attribute, plan.multiplier, attribute["dampen_ms"]):
        call("set-attribute", group=plan.group, **attribute)



def parse_dampen(text: str) -> str:
    """Pacemaker durations: 5, 5s, 500ms, 1m; returned as attrd_updater accepts it.
    (String operations, not re: this runs in every monitor.)"""
    value = (text or "").strip().replace(" ", "")
    for unit in ("ms", "min", "s", "m", ""):
        if value.endswith(unit):
            number = value[: len(value) - len(unit)] if unit else value
            if number.isascii() and number.isdigit():
                return f"{number}{unit or 's'}"
    raise ValueError(f"'{text}' is not a duration (e.g. 5s, 500ms)")


_UNIT_MS = {"ms": 1, "s": 1000, "": 1000, "m": 60_000, "min": 60_000}


def dampen_ms(text: str) -> int:
    """A duration as parse_dampen accepts it, in milliseconds (for the daemon)."""
    value = parse_dampen(text)
    for unit in ("ms", "min", "s", "m"):
        if value.endswith(unit):
            return int(value[: len(value) - len(unit)]) * _UNIT_MS[unit]
    return int(value) * 1000


def interface_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")
