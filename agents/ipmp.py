"""ocf:clearview:ipmp — an IPMP group on this node, usually cloned on every node.

The resource is the group's configuration, not the network's health: start configures
the group through the node's daemon (starting the daemon when needed) and succeeds even
when no member works right now; stop removes it and everything it added; monitor says
whether the group is configured and its daemon alive (0, or 190 with the reason while
members have failed, 1 only when the daemon cannot be brought back or the group
restored, 7 when absent). The network's health reaches Pacemaker through the node
attribute "usable members x multiplier", which ipmpd itself publishes the moment the
count changes (like ocf:pacemaker:ping's, but event-driven): location rules move
floating addresses away from a node whose group failed, with no failed operation, and
back as soon as ipmpd sees a member repaired. Every parameter but ``group`` is applied
in place by reload-agent.
"""

from __future__ import annotations

from agents import common
from ipmp_core.errors import EngineError
from ocf import Agent, OCFCode, OCFError, Parameter

DEFAULT_FDT_MS = 10_000
# No attrd dampening by default: the attribute changes only when ipmpd has judged a
# member (link flaps are damped, probe failures take the FDT), and every millisecond of
# dampening is a millisecond of outage for the floating addresses (docs/design.md).
DEFAULT_DAMPEN = "0s"

agent = Agent(
    "ipmp",
    "1.0",
    "An IPMP group (Solaris-style IP multipathing) on each node",
    "Configures an IPMP group of network interfaces on the node: data addresses belong "
    "to the group and are bound to its healthy members, failures are detected by link "
    "state and, with test addresses, by ICMP probes within the failure detection time, "
    "and addresses move between members within milliseconds. Usually cloned on every "
    "node. The daemon sets the node attribute (default ipmp-<group>) to the number of "
    "usable members times the multiplier the moment it changes, for location rules of "
    "resources that need the network. The resource reports configuration, not the "
    "network: start succeeds even when no member works (the attribute is 0 then); the "
    "monitor reports 0 when every member is usable, 190 (degraded) with the reason when "
    "some or all have failed, 1 only when the daemon cannot be restarted or the group "
    "restored; a network failure never fails the resource. Every parameter except group "
    "is applied in place (reload-agent).\n"
    + common.PER_NODE_HELP,
    provider="clearview",
    light_actions=("monitor",),
)


def check_name(kind: str, name: str) -> str:
    # ipmp_core.config imports ipaddress: loaded only where values are judged, never by
    # the monitor (a light action).
    from ipmp_core.config import check_name as check

    return check(kind, name)


def rules():  # noqa: ANN201
    """The shared value rules (ipmp_core.config), the ones the daemon applies too."""
    from ipmp_core import config

    return config


def _names(value: str) -> list[str]:
    names = value.split()
    for name in names:
        check_name("interface", name)
    return names


def _test_addresses(value: str) -> dict[str, str] | str:
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
        check_name("interface", ifname)
        if addr.strip().lower() == "dhcp":  # a DHCP-leased test address (DR-safe)
            if ifname in out:
                raise ValueError(f"interface {ifname} has two test addresses")
            out[ifname] = "dhcp"
            continue
        parsed = rules().parse_test_address(addr)
        if ifname in out:
            raise ValueError(f"interface {ifname} has two test addresses")
        out[ifname] = str(parsed)
    return out


def _addresses(value: str) -> list[str]:
    return [str(rules().parse_data_address(a)) for a in value.split()]


def _per_node(check):  # noqa: ANN001, ANN202
    """A validator applying ``check`` to every node's value of a per-node parameter."""
    def validate(value: str) -> None:
        try:
            for one in common.all_values(value):
                check(one)
        except EngineError as exc:
            raise ValueError(exc.message) from None
    return validate


def _group_name(value: str) -> None:
    try:
        check_name("group", value)
    except EngineError as exc:
        raise ValueError(exc.message) from None


def _targets(value: str) -> list[str]:
    try:
        return rules().parse_targets(value.replace(",", " ").split())
    except EngineError as exc:
        raise ValueError(exc.message) from None


def _gateway(value: str) -> None:
    if not value.strip():
        return
    try:
        rules().parse_gateway(value)
    except EngineError as exc:
        raise ValueError(exc.message) from None


def _fdt(value: int) -> bool:
    try:
        rules().check_fdt(value)
    except EngineError as exc:
        raise ValueError(exc.message) from None
    return True


for param in (
    Parameter("group", "string", "Group name",
              "Name of the IPMP group (like an interface name: up to 15 characters).",
              required=True, unique_group="group",
              validator=_group_name),
    Parameter("interfaces", "string", "Member interfaces",
              "Space-separated member interfaces. " + common.PER_NODE_HELP,
              required=True, unique_group="interfaces", reloadable=True,
              validator=_per_node(_names)),
    Parameter("standby_interfaces", "string", "Standby members",
              "Members used only when another fails (Solaris standby). "
              + common.PER_NODE_HELP,
              unique_group="standby_interfaces", reloadable=True,
              validator=_per_node(_names)),
    Parameter("test_addresses", "string", "Test addresses for probing",
              "INTERFACE=ADDRESS/PREFIX per member, e.g. \"e0=198.51.100.21/24 "
              "e1=198.51.100.22/24\", used only for ICMP probes (never by applications, "
              "never moved); INTERFACE=dhcp for a test address leased by DHCP (it survives "
              "the NIC being replaced); or \"link-local\" to probe with the members' IPv6 "
              "link-local addresses. Without test addresses (and without IPv6 data "
              "addresses, which turn on probing from the link-local addresses), failures "
              "are detected by link state only. " + common.PER_NODE_HELP,
              unique_group="test_addresses", reloadable=True,
              validator=_per_node(_test_addresses)),
    Parameter("data_addresses", "string", "Fixed data addresses",
              "Space-separated ADDRESS/PREFIX data addresses of this node's group (for "
              "floating addresses use ocf:clearview:ipmp-address). "
              + common.PER_NODE_HELP,
              unique_group="data_addresses", reloadable=True,
              validator=_per_node(_addresses)),
    Parameter("gateway", "string", "Default gateway through the group",
              "A default route via this gateway through the group's active members.",
              reloadable=True, validator=_per_node(_gateway)),
    Parameter("failure_detection_time", "integer", "Failure detection time (ms)",
              "Probe-based failures are detected within this time (in.mpathd's "
              "FAILURE_DETECTION_TIME; 100 to 3600000).", default=DEFAULT_FDT_MS,
              reloadable=True, validator=_fdt),
    Parameter("failback", "boolean", "Fail back to repaired members",
              "A repaired member takes its share of addresses back (Solaris FAILBACK).",
              default=True, reloadable=True),
    Parameter("targets", "string", "Probe targets",
              "Probe these addresses instead of discovering routers or hosts.",
              reloadable=True, validator=_targets),
    Parameter("attribute", "string", "Node attribute name",
              "Node attribute set to usable members x multiplier (default ipmp-<group>).",
              reloadable=True),
    Parameter("multiplier", "integer", "Attribute multiplier",
              "The node attribute is the number of usable members times this.",
              default=1, reloadable=True, validator=lambda v: v >= 0),
    Parameter("dampen", "string", "Attribute dampening",
              "attrd waits this long for further changes before it writes the node "
              "attribute (attrd_updater -d). 0 by default: ipmpd changes the attribute "
              "only once it has judged a member (flapping links are damped, probes take "
              "the failure detection time), and each second of dampening is a second "
              "longer outage for the addresses that follow the attribute.",
              default=DEFAULT_DAMPEN,
              reloadable=True, validator=lambda v: common.parse_dampen(v) and None),
    Parameter("degraded_ok", "boolean", "Report a degraded group as OK",
              "Return 0 instead of 190 (OCF_DEGRADED) while some members have failed.",
              default=False, reloadable=True),
):
    agent.add_parameter(param)


# --------------------------------------------------------------------------- the plan
MEMBER_PARAMS = ("interfaces", "standby_interfaces")


class NodeNotCovered(OCFError):
    """The parameters give this node no interface. A fact about the node, not an error in
    the parameters (they may be meant for other nodes): OCF_ERR_INSTALLED, which bans
    only this node, never OCF_ERR_CONFIGURED, which stops the resource on every node."""

    def __init__(self, node: str, params: dict) -> None:
        named = [n for name in MEMBER_PARAMS
                 for n in common.node_entries(params.get(name) or "")[1]]
        # Pacemaker keeps 128 characters of an exit reason: the node and the cause first.
        if any(common.covers(params.get(name), node) for name in MEMBER_PARAMS):
            why = f"its entry \"@{node}\" in interfaces is empty"
        elif named:
            why = f"interfaces names only {', '.join(dict.fromkeys(named))}, no entry without @node"
        else:
            why = "interfaces is empty"
        super().__init__(OCFCode.ERR_INSTALLED,
                         f"node {node or '(unnamed)'} has no interface: {why}")
        self.node = node


def _clone_size(ctx) -> int:  # noqa: ANN001
    """How many instances Pacemaker runs (clone-max), 1 for a primitive. An instance
    number without clone-max is a clone of unknown size: counted as more than one."""
    raw = ctx.meta("clone_max")
    if raw is None:
        return 1 if ctx.meta("clone") is None else 2
    try:
        return int(raw)
    except ValueError:
        return 2


def _shared_static_tests(params: dict) -> list[str]:
    """The static test addresses of the entry without @node: every node it applies to
    would put the same addresses on the wire."""
    default, _ = common.node_entries(params.get("test_addresses") or "")
    try:
        tests = _test_addresses(default or "")
    except (ValueError, EngineError):
        return []  # reported by the parameter's own validation
    return [a for a in tests.values() if a != "dhcp"] if isinstance(tests, dict) else []


def check_clone_test_addresses(ctx) -> None:  # noqa: ANN001
    """A clone may not give every node the same static test addresses (duplicate
    addresses on the network, false probe failures): OCF_ERR_CONFIGURED, since the
    parameters are wrong for every node."""
    shared = _shared_static_tests(ctx.params)
    size = _clone_size(ctx)
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
    import ipaddress

    default, nodes = common.node_entries(params.get("test_addresses") or "")
    seen: dict[object, str] = {}
    entries = ([("(nodes not named)", default)] if default else []) + list(nodes.items())
    for node, value in entries:
        try:
            tests = _test_addresses(value)
        except (ValueError, EngineError):
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
        node = node if node is not None else common.local_node(ctx)
        check_clone_test_addresses(ctx)
        check_tests_across_nodes(p)
        self.group: str = p["group"]
        self.members = _names(common.for_node(p["interfaces"], node))
        self.standby = _names(common.for_node(p.get("standby_interfaces") or "", node))
        if not self.members and not self.standby:
            raise NodeNotCovered(node, p)
        tests = _test_addresses(common.for_node(p.get("test_addresses") or "", node))
        self.linklocal = tests == "link-local"
        self.tests: dict[str, str] = tests if isinstance(tests, dict) else {}
        self.data = _addresses(common.for_node(p.get("data_addresses") or "", node))
        self.gateway = common.for_node(p.get("gateway") or "", node).strip()
        self.fdt: int = p["failure_detection_time"]
        self.failback: bool = p["failback"]
        self.targets = _targets(p.get("targets") or "")
        self.attribute: str = p.get("attribute") or f"ipmp-{self.group}"
        self.multiplier: int = p["multiplier"]
        self.dampen = common.parse_dampen(p["dampen"])
        self.owner = common.owner_of(ctx)
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
        import ipaddress

        everyone = self.members + self.standby
        for ifname in self.tests:
            if ifname not in everyone:
                raise OCFError(OCFCode.ERR_CONFIGURED,
                               f"test_addresses: {ifname} is not a member of the group")
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
                rules().parse_gateway(self.gateway, on_link=mine or None, own=own)
            rules().parse_targets(self.targets, own=own)
        except EngineError as exc:
            raise OCFError(OCFCode.ERR_CONFIGURED, exc.message) from None

    def check_host(self, log=None) -> None:  # noqa: ANN001
        """Level 10: this host has the interfaces (OCF_ERR_INSTALLED); warn about network
        managers that would fight the daemon over them."""
        missing = [i for i in self.members + self.standby if not common.interface_exists(i)]
        if missing:
            raise OCFError(OCFCode.ERR_INSTALLED, f"no such interface: {' '.join(missing)}")
        if log is not None:
            from ipmp_core import interference

            for ifname in self.members + self.standby:
                note = interference.warning(ifname)
                if note:
                    log.warning(note)


def _plan(ctx, node: str | None = None) -> Plan:  # noqa: ANN001
    try:
        return Plan(ctx, node)
    except (ValueError, EngineError) as exc:
        raise OCFError(OCFCode.ERR_CONFIGURED, getattr(exc, "message", str(exc))) from None


PER_NODE_PARAMS = ("interfaces", "standby_interfaces", "test_addresses", "data_addresses",
                   "gateway")


def _named_nodes(ctx) -> list[str]:  # noqa: ANN001
    nodes: list[str] = []
    for name in PER_NODE_PARAMS:
        _, per_node = common.node_entries(ctx.params.get(name) or "")
        nodes += [n for n in per_node if n not in nodes]
    return nodes


# --------------------------------------------------------------------------- actions
def validate(ctx) -> int:  # noqa: ANN001
    """Level 0: the values in themselves, for every node they name (wherever this runs:
    pcs validates on one node for all); a node they give no interface is this node's
    matter (start there: OCF_ERR_INSTALLED), only warned about. Level 10: this node's
    plan and interfaces."""
    if ctx.check_level >= 10:
        _plan(ctx).check_host(ctx.log)
        return OCFCode.SUCCESS
    p = ctx.params
    check_clone_test_addresses(ctx)
    check_tests_across_nodes(p)
    if not any(v.split() for name in MEMBER_PARAMS for v in common.all_values(p.get(name))):
        raise OCFError(OCFCode.ERR_CONFIGURED, "interfaces: no interface for any node")
    nodes = _named_nodes(ctx)
    member_nodes = [n for name in MEMBER_PARAMS for n in common.node_entries(p.get(name) or "")[1]]
    has_default = any(common.node_entries(p.get(n) or "")[0] for n in MEMBER_PARAMS)
    for node in nodes or [None]:
        try:
            _plan(ctx, node)
        except NodeNotCovered as exc:
            ctx.log.warning(exc.reason)
    if nodes and has_default:
        _plan(ctx, "")  # the nodes not named
    elif member_nodes:
        ctx.log.warning(f"interfaces has no entry without @node: nodes other than "
                        f"{', '.join(dict.fromkeys(member_nodes))} cannot run the group "
                        "(start there returns OCF_ERR_INSTALLED)")
    if _shared_static_tests(p) and _clone_size(ctx) == 1:
        ctx.log.warning("test_addresses without @node: every node that runs this resource "
                        "gets the same static test addresses; a clone needs the per-node "
                        "form")
    return OCFCode.SUCCESS


def start(ctx) -> int:  # noqa: ANN001
    """Configure the group. Succeeds once it is configured, whatever the network's state:
    a node whose members are all down right now has the attribute 0 (floating addresses
    stay away by the location rule) and becomes eligible again by itself the moment
    ipmpd sees a member repaired; a failed start would ban it until an operator came."""
    plan = _plan(ctx)
    plan.check_host(ctx.log)
    common.start_daemon()
    _reconcile(plan, ctx)
    group = common.find_group(common.snapshot_or_none(), plan.group)
    if group is None:
        raise OCFError(OCFCode.ERR_GENERIC, f"group {plan.group} was not created")
    if group["state"] == "failed":
        ctx.log.warning(f"group {plan.group} configured, but {_why_unusable(plan.group)}: "
                        f"{plan.attribute} is 0 until a member is repaired")
    ctx.log.info(f"group {plan.group} started: {group['state']}, active "
                 f"{' '.join(group['active']) or 'none'}")
    return OCFCode.SUCCESS


def reload(ctx) -> int:  # noqa: ANN001
    """Apply changed parameters in place (reload-agent): members, test and data addresses,
    routes, targets, FDT, failback and the attribute change without a restart; only the
    addresses of a removed member or a removed data address move."""
    plan = _plan(ctx)
    if common.find_group(common.snapshot_or_none(), plan.group) is None:
        return start(ctx)
    _reconcile(plan, ctx)
    ctx.log.info(f"group {plan.group} reloaded in place")
    return OCFCode.SUCCESS


def stop(ctx) -> int:  # noqa: ANN001
    p = ctx.params
    name = p["group"]
    attribute = p.get("attribute") or f"ipmp-{name}"
    snapshot = common.snapshot_or_none()
    if common.find_group(snapshot, name) is not None:
        common.call("delete-group", group=name)  # the daemon deletes the attribute too
        ctx.log.info(f"group {name} removed")
    common.delete_attribute(attribute, ctx.log)  # and so do we: the daemon may be gone
    snapshot = common.snapshot_or_none()
    if snapshot is not None and not snapshot["groups"] and not snapshot["interfaces"]:
        try:
            common.client().call("shutdown")
        except Exception:  # noqa: BLE001 (stop must not fail for this)
            ctx.log.debug("the daemon was already gone")
    return OCFCode.SUCCESS


def monitor(ctx) -> int:  # noqa: ANN001
    """Configuration, not the network: 0 / 190 while the group is configured (the node
    attribute tells Pacemaker how many members work), 7 when absent, 1 when the daemon
    died and cannot be brought back (snapshot_for_monitor)."""
    p = ctx.params
    name = p["group"]
    snapshot, restarted = common.snapshot_for_monitor(ctx)
    group = common.find_group(snapshot, name)
    if group is None:
        if restarted:
            ctx.log.warning(f"{restarted}, but group {name} was not in its state")
        return OCFCode.NOT_RUNNING
    # A safety net: the daemon publishes every change itself; attrd may have lost the
    # value (this node left and rejoined the cluster), so have it published again.
    try:
        common.client().call("publish-attribute", group=name)
    except Exception as exc:  # noqa: BLE001 - the monitor's verdict does not depend on it
        ctx.log.warning(f"could not have the node attribute published again: {exc}")
    if group["state"] == "ok":
        if restarted:
            ctx.exit_reason(f"{restarted}; group {name} restored")
            return OCFCode.DEGRADED
        return OCFCode.SUCCESS
    if group["state"] == "degraded":
        reason = f"group {name} degraded: {' '.join(group['unusable'])} unusable"
    else:
        reason = f"group {name} failed: {_why_unusable(name, snapshot)}"
    if restarted:
        reason = f"{restarted}; {reason}"
    if p["degraded_ok"] and not restarted:
        ctx.log.warning(reason)
        return OCFCode.SUCCESS
    ctx.exit_reason(reason)
    return OCFCode.DEGRADED


def _why_unusable(name: str, snapshot: dict | None = None) -> str:
    snapshot = snapshot or common.snapshot_or_none() or {"interfaces": []}
    parts = []
    for i in snapshot["interfaces"]:
        if i["group"] != name or i["state"] == "ok":
            continue
        why = "missing" if not i.get("present", True) else (
            "link down" if i["link"] == "down" else
            "probes failed" if i["probe"] == "failed" else i["state"])
        parts.append(f"{i['name']} {why}")
    return "no usable interface (" + ", ".join(parts) + ")" if parts else "no usable interface"


# --------------------------------------------------------------------------- reconcile
def _reconcile(plan: Plan, ctx) -> None:  # noqa: ANN001
    """Make the daemon's group match the plan, touching only what differs."""
    call = common.call
    config = call("config")
    group = next((g for g in config["groups"] if g["name"] == plan.group), None)
    attribute = {"attribute": plan.attribute, "multiplier": plan.multiplier,
                 "dampen_ms": common.dampen_ms(plan.dampen)}
    if group is None:
        call("create-group", group=plan.group, fdt_ms=plan.fdt, failback=plan.failback,
             **attribute)
        group = {"members": [], "data_addresses": [], "routes": [], "targets": [],
                 "owners": {}, "fdt_ms": plan.fdt, "failback": plan.failback,
                 "attribute": {"name": plan.attribute, "multiplier": plan.multiplier,
                               "dampen_ms": attribute["dampen_ms"]}}
    if group["fdt_ms"] != plan.fdt:
        call("set-fdt", group=plan.group, fdt_ms=plan.fdt)
    if group["failback"] != plan.failback:
        call("set-failback", group=plan.group, failback=plan.failback)
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


agent.add_action("start", start, timeout=30)
agent.add_action("stop", stop, timeout=30)
agent.add_action("monitor", monitor, timeout=20, interval=10)
agent.add_action("reload", reload, timeout=30)
agent.add_action("reload-agent", reload, timeout=30)
agent.add_action("validate-all", validate, timeout=20)
agent.add_action("meta-data", timeout=5)


def main() -> None:
    agent.main()


if __name__ == "__main__":
    main()
