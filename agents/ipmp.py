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

from functools import partial

from agents import daemon_link, ipmp_plan, ipmp_probing, per_node
from agents.ipmp_plan import NodeNotCovered, plan_for
from ipmp_core import __version__, values
from ocf import Agent, OCFCode, OCFError, Parameter

DEFAULT_FDT_MS = 10_000
# No attrd dampening by default: the attribute changes only when ipmpd has judged a
# member (link flaps are damped, probe failures take the FDT), and every millisecond of
# dampening is a millisecond of outage for the floating addresses (docs/design.md).
DEFAULT_DAMPEN = "0s"

agent = Agent(
    "ipmp",
    __version__,
    "An IPMP group (Solaris-style IP multipathing) on each node",
    "Configures an IPMP group of network interfaces on the node: data addresses belong "
    "to the group and are bound to its healthy members, failures are detected by link "
    "state and by probes within the failure detection time (from test addresses, or "
    "without them by transitive probing: see probing), "
    "and addresses move between members within milliseconds. Usually cloned on every "
    "node. The daemon sets the node attribute (default ipmp-<group>) to the number of "
    "usable members times the multiplier the moment it changes, for location rules of "
    "resources that need the network. The resource reports configuration, not the "
    "network: start succeeds even when no member works (the attribute is 0 then); the "
    "monitor reports 0 when every member is usable, 190 (degraded) with the reason when "
    "some or all have failed, 1 only when the daemon cannot be restarted or the group "
    "restored; a network failure never fails the resource. Every parameter except group "
    "is applied in place (reload-agent).\n"
    + per_node.PER_NODE_HELP,
    provider="clearview",
    light_actions=("monitor",),
)


for param in (
    Parameter("group", "string", "Group name",
              "Name of the IPMP group (like an interface name: up to 15 characters).",
              required=True, unique_group="group",
              validator=partial(values.check_name, "group")),
    Parameter("interfaces", "string", "Member interfaces",
              "Space-separated member interfaces. " + per_node.PER_NODE_HELP,
              required=True, unique_group="interfaces", reloadable=True,
              validator=ipmp_plan.per_node_validator(ipmp_plan.parse_names)),
    Parameter("standby_interfaces", "string", "Standby members",
              "Members used only when another fails (Solaris standby). "
              + per_node.PER_NODE_HELP,
              unique_group="standby_interfaces", reloadable=True,
              validator=ipmp_plan.per_node_validator(ipmp_plan.parse_names)),
    Parameter("test_addresses", "string", "Test addresses for probing",
              "INTERFACE=ADDRESS/PREFIX per member, e.g. \"e0=198.51.100.21/24 "
              "e1=198.51.100.22/24\", used only for ICMP probes (never by applications, "
              "never moved); INTERFACE=dhcp for a test address leased by DHCP (it survives "
              "the NIC being replaced); or \"link-local\" to probe with the members' IPv6 "
              "link-local addresses. Without test addresses (and without IPv6 data "
              "addresses, which turn on probing from the link-local addresses), failures "
              "are detected by link state only. " + per_node.PER_NODE_HELP,
              unique_group="test_addresses", reloadable=True,
              validator=ipmp_plan.per_node_validator(ipmp_plan.parse_test_addresses)),
    Parameter("probing", "select", "Probe-based failure detection", ipmp_probing.HELP,
              choices=ipmp_probing.CHOICES, reloadable=True),
    Parameter("data_addresses", "string", "Fixed data addresses",
              "Space-separated ADDRESS/PREFIX data addresses of this node's group (for "
              "floating addresses use ocf:clearview:ipmp-address). "
              + per_node.PER_NODE_HELP,
              unique_group="data_addresses", reloadable=True,
              validator=ipmp_plan.per_node_validator(ipmp_plan.parse_addresses)),
    Parameter("gateway", "string", "Default gateway through the group",
              "A default route via this gateway through the group's active members.",
              reloadable=True, validator=ipmp_plan.per_node_validator(ipmp_plan.check_gateway)),
    Parameter("failure_detection_time", "integer", "Failure detection time (ms)",
              "Probe-based failures are detected within this time (in.mpathd's "
              "FAILURE_DETECTION_TIME; 100 to 3600000).", default=DEFAULT_FDT_MS,
              reloadable=True, validator=values.check_fdt),
    Parameter("failback", "boolean", "Fail back to repaired members",
              "A repaired member takes its share of addresses back (Solaris FAILBACK).",
              default=True, reloadable=True),
    Parameter("targets", "string", "Probe targets",
              "Probe these addresses instead of discovering routers or hosts.",
              reloadable=True, validator=ipmp_plan.parse_targets),
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
              reloadable=True, validator=lambda v: ipmp_plan.parse_dampen(v) and None),
    Parameter("degraded_ok", "boolean", "Report a degraded group as OK",
              "Return 0 instead of 190 (OCF_DEGRADED) while some members have failed.",
              default=False, reloadable=True),
):
    agent.add_parameter(param)


# --------------------------------------------------------------------------- actions
def validate(ctx) -> int:  # noqa: ANN001
    """Level 0: the values in themselves, for every node they name (wherever this runs:
    pcs validates on one node for all); a node they give no interface is this node's
    matter (start there: OCF_ERR_INSTALLED), only warned about. Level 10: this node's
    plan and interfaces."""
    if ctx.check_level >= 10:
        plan_for(ctx).check_host(ctx.log)
        return OCFCode.SUCCESS
    p = ctx.params
    ipmp_plan.check_clone_test_addresses(ctx)
    ipmp_plan.check_tests_across_nodes(p)
    if not any(v.split() for name in ipmp_plan.MEMBER_PARAMS
               for v in per_node.all_values(p.get(name))):
        raise OCFError(OCFCode.ERR_CONFIGURED, "interfaces: no interface for any node")
    nodes = ipmp_plan.named_nodes(ctx)
    member_nodes = [n for name in ipmp_plan.MEMBER_PARAMS
                    for n in per_node.node_entries(p.get(name) or "")[1]]
    has_default = any(per_node.node_entries(p.get(n) or "")[0] for n in ipmp_plan.MEMBER_PARAMS)
    for node in nodes or [None]:
        try:
            for note in plan_for(ctx, node).notes():
                ctx.log.warning(note)
        except NodeNotCovered as exc:
            ctx.log.warning(exc.reason)
    if nodes and has_default:
        plan_for(ctx, "")  # the nodes not named
    elif member_nodes:
        ctx.log.warning(f"interfaces has no entry without @node: nodes other than "
                        f"{', '.join(dict.fromkeys(member_nodes))} cannot run the group "
                        "(start there returns OCF_ERR_INSTALLED)")
    if ipmp_plan.shared_static_tests(p) and ipmp_plan.clone_size(ctx) == 1:
        ctx.log.warning("test_addresses without @node: every node that runs this resource "
                        "gets the same static test addresses; a clone needs the per-node "
                        "form")
    return OCFCode.SUCCESS


def start(ctx) -> int:  # noqa: ANN001
    """Configure the group. Succeeds once it is configured, whatever the network's state:
    a node whose members are all down right now has the attribute 0 (floating addresses
    stay away by the location rule) and becomes eligible again by itself the moment
    ipmpd sees a member repaired; a failed start would ban it until an operator came."""
    plan = plan_for(ctx)
    plan.check_host(ctx.log)
    daemon_link.start_daemon()
    ipmp_plan.reconcile(plan, ctx)
    group = daemon_link.find_group(daemon_link.snapshot_or_none(), plan.group)
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
    plan = plan_for(ctx)
    if daemon_link.find_group(daemon_link.snapshot_or_none(), plan.group) is None:
        return start(ctx)
    ipmp_plan.reconcile(plan, ctx)
    ctx.log.info(f"group {plan.group} reloaded in place")
    return OCFCode.SUCCESS


def stop(ctx) -> int:  # noqa: ANN001
    p = ctx.params
    name = p["group"]
    attribute = p.get("attribute") or f"ipmp-{name}"
    snapshot = daemon_link.snapshot_or_none()
    if daemon_link.find_group(snapshot, name) is not None:
        daemon_link.call("delete-group", group=name)  # the daemon deletes the attribute too
        ctx.log.info(f"group {name} removed")
    daemon_link.delete_attribute(attribute, ctx.log)  # and so do we: the daemon may be gone
    snapshot = daemon_link.snapshot_or_none()
    if snapshot is not None and not daemon_link.named_groups(snapshot) and \
            not snapshot["interfaces"]:
        try:
            daemon_link.client().call("shutdown")
        except Exception:  # noqa: BLE001 (stop must not fail for this)
            ctx.log.debug("the daemon was already gone")
    return OCFCode.SUCCESS


def monitor(ctx) -> int:  # noqa: ANN001
    """Configuration, not the network: 0 / 190 while the group is configured (the node
    attribute tells Pacemaker how many members work), 7 when absent, 1 when the daemon
    died and cannot be brought back (snapshot_for_monitor)."""
    p = ctx.params
    name = p["group"]
    snapshot, restarted = daemon_link.snapshot_for_monitor(ctx)
    group = daemon_link.find_group(snapshot, name)
    if group is None:
        if restarted:
            ctx.log.warning(f"{restarted}, but group {name} was not in its state")
        return OCFCode.NOT_RUNNING
    # A safety net: the daemon publishes every change itself; attrd may have lost the
    # value (this node left and rejoined the cluster), so have it published again.
    try:
        daemon_link.client().call("publish-attribute", group=name)
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
    snapshot = snapshot or daemon_link.snapshot_or_none() or {"interfaces": []}
    parts = []
    for i in snapshot["interfaces"]:
        if i["group"] != name or i["state"] == "ok":
            continue
        why = "missing" if not i.get("present", True) else (
            "link down" if i["link"] == "down" else
            "probes failed" if i["probe"] == "failed" else i["state"])
        parts.append(f"{i['name']} {why}")
    return "no usable interface (" + ", ".join(parts) + ")" if parts else "no usable interface"


agent.add_resource_actions(start=start, stop=stop, monitor=monitor, reload=reload,
                           validate=validate, timeout=30,
                           reloads=("reload", "reload-agent"))

if __name__ == "__main__":
    agent.main()
