"""ocf:clearview:ipmp-address — a floating address hosted on an IPMP group.

Sun Cluster's LogicalHostname on an IPMP group: start hands the address to the group,
whose daemon checks that no other host uses it (IPv4 ARP probe; IPv6 duplicate address
detection by the kernel), binds it to the least-loaded active member and announces it;
moves inside the group never fail the resource. Colocate it with the group clone and
put a location rule on the group's node attribute: when a node's group fails, ipmpd
drops the attribute at once and the address moves to another node by the rule, with no
failed operation. Without the rule the monitor fails once the group has had no usable
member for longer than ``failed_grace``, so the address never stays for ever on a node
without network.
"""

from __future__ import annotations

import os
import time
from functools import partial

from agents import daemon_link
from ipmp_core import __version__, values
from ocf import Agent, OCFCode, OCFError, Parameter

DEFAULT_ARP_COUNT = 3
DEFAULT_ARP_INTERVAL_MS = 200
# How long start listens for another host answering its ARP probes. RFC 5227 waits 1-2 s
# for hosts that are slow to answer; on a LAN an owner of the address answers in well
# under a millisecond, and in the cluster Pacemaker has already stopped the address on
# the node it leaves, so the probe guards only against a third party that is up and
# answering. Every millisecond here is outage after a failover (docs/design.md).
DEFAULT_DAD_WAIT_MS = 100
# Without the location rule, how long the address may sit on a node whose group has no
# usable member before its monitor fails: well above the attribute path (the rule moves
# the address within a second, with no failed operation), short enough that a node
# without network does not keep the address for long.
DEFAULT_FAILED_GRACE_S = 10

agent = Agent(
    "ipmp-address",
    __version__,
    "A floating IP address on an IPMP group",
    "An IPv4 or IPv6 address that belongs to an IPMP group (ocf:clearview:ipmp) on the "
    "node where it runs. The group's daemon binds it to a healthy member, moves it "
    "between members when one fails and announces every move (gratuitous ARP / "
    "unsolicited neighbour advertisement). The monitor reports it running whichever "
    "member holds it; degraded (190) while the group has no usable member, failed once "
    "that has lasted failed_grace seconds (with the recommended location rule on the "
    "group's node attribute the address has long moved by then, without any failure); "
    "stopped when absent.",
    provider="clearview",
    light_actions=("monitor",),
)


def _ip(value: str) -> None:
    import ipaddress

    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local:
        raise ValueError(f"{value} cannot be a floating address")


def _lifetime(value: str) -> None:
    if value not in ("forever", "0"):
        raise ValueError("preferred_lft must be 'forever' or 0")


for param in (
    Parameter("ip", "string", "The address", "IPv4 or IPv6 address, without prefix.",
              required=True, unique_group="ip", validator=_ip),
    Parameter("cidr_netmask", "integer", "Prefix length",
              "Prefix length of the address's subnet (default 24 for IPv4, 64 for IPv6).",
              validator=lambda v: 0 < v <= 128),
    Parameter("group", "string", "IPMP group", "The IPMP group that hosts the address "
              "(the group parameter of an ocf:clearview:ipmp resource).", required=True,
              validator=partial(values.check_name, "group")),
    Parameter("arp_count", "integer", "Announcements at start",
              "Gratuitous ARPs / unsolicited neighbour advertisements sent at start "
              "(the group's daemon also announces every move).",
              default=DEFAULT_ARP_COUNT, reloadable=True, validator=lambda v: 0 <= v <= 20),
    Parameter("arp_interval", "integer", "Announcement interval (ms)",
              "Milliseconds between announcements.", default=DEFAULT_ARP_INTERVAL_MS,
              reloadable=True, validator=lambda v: 1 <= v <= 10_000),
    Parameter("arp_count_refresh", "integer", "Announcements on every monitor",
              "Announce the address again on every monitor (0: no), to un-stick switches "
              "and neighbours after a split brain (IPaddr2's arp_count_refresh).",
              default=0, reloadable=True, validator=lambda v: 0 <= v <= 20),
    Parameter("nodad", "boolean", "Skip duplicate address detection",
              "Do not check at start that no other host uses the address.", default=False,
              reloadable=True),
    Parameter("dad_wait", "integer", "Duplicate address check (ms)",
              "IPv4: how long start listens for another host answering its ARP probes "
              "(two probes, the second a quarter of this later). The default is short "
              "because in the cluster the address was just stopped on the other node "
              "and a host that owns it answers within a millisecond on a LAN.",
              default=DEFAULT_DAD_WAIT_MS, reloadable=True,
              validator=lambda v: 10 <= v <= 10_000),
    Parameter("failed_grace", "integer", "Grace while the group has failed (s)",
              "How long the monitor reports the address degraded (190) while its group "
              "has no usable member before it fails, so that the address does not stay "
              "on a node without network when no location rule moves it (0: fail at "
              "once).", default=DEFAULT_FAILED_GRACE_S, reloadable=True,
              validator=lambda v: 0 <= v <= 86_400),
    Parameter("preferred_lft", "string", "Preferred lifetime",
              "'forever', or 0 so that the node never picks the floating address as the "
              "source of its own connections.", default="forever", validator=_lifetime),
):
    agent.add_parameter(param)


def _address(ctx):  # noqa: ANN001, ANN201 (an ipaddress interface)
    import ipaddress

    p = ctx.params
    ip = ipaddress.ip_address(p["ip"].strip())
    prefix = p.get("cidr_netmask")
    if prefix is None:
        prefix = 24 if ip.version == 4 else 64
    if ip.version == 4 and prefix > 32:
        raise OCFError(OCFCode.ERR_CONFIGURED, f"cidr_netmask {prefix} is too long for IPv4")
    try:
        return values.parse_data_address(f"{ip}/{prefix}")  # the daemon's rules
    except values.InvalidValue as exc:
        raise OCFError(OCFCode.ERR_CONFIGURED, str(exc)) from None


def _find(snapshot: dict | None, ip: str) -> dict | None:
    if snapshot is None:
        return None
    ip = ip.strip()
    found = next((a for a in snapshot["addresses"] if a["address"] == ip), None)
    if found is not None or ":" not in ip:
        return found
    import ipaddress  # an IPv6 address written in another form than the daemon's

    want = ipaddress.ip_address(ip)
    return next((a for a in snapshot["addresses"]
                 if ipaddress.ip_address(a["address"]) == want), None)


def validate(ctx) -> int:  # noqa: ANN001
    _address(ctx)
    return OCFCode.SUCCESS


def start(ctx) -> int:  # noqa: ANN001
    p = ctx.params
    iface = _address(ctx)
    snapshot = daemon_link.snapshot_or_none()
    group = daemon_link.find_group(snapshot, p["group"])
    if group is None:
        raise OCFError(OCFCode.ERR_GENERIC, f"group {p['group']} is not configured on this "
                       "node (start the ocf:clearview:ipmp resource first)")
    found = _find(snapshot, str(iface.ip))
    if found is not None:
        if found["group"] != p["group"]:
            raise OCFError(OCFCode.ERR_CONFIGURED, f"{iface.ip} already belongs to group "
                           f"{found['group']}")
        return OCFCode.SUCCESS
    if group["state"] == "failed" or not group["active"]:
        raise OCFError(OCFCode.ERR_GENERIC, f"group {p['group']} has no usable interface")
    # The daemon checks that no other host uses the address before it adds it (an ARP
    # probe for IPv4 timed by dad_wait, the kernel's DAD for IPv6) and refuses it if one does.
    daemon_link.call("add-address", group=p["group"], address=str(iface),
                     owner=daemon_link.owner_of(ctx), dad=not p["nodad"],
                     dad_wait_ms=p["dad_wait"], deprecated=p["preferred_lft"] == "0")
    found = _find(daemon_link.snapshot_or_none(), str(iface.ip))
    if found is None or not found["inbound"]:
        raise OCFError(OCFCode.ERR_GENERIC, f"{iface.ip} could not be bound to a member of "
                       f"group {p['group']}")
    if p["arp_count"]:
        daemon_link.call("announce", address=str(iface.ip), count=p["arp_count"],
                    interval_ms=p["arp_interval"])
    ctx.log.info(f"{iface} is up on {found['inbound']} (group {p['group']})")
    return OCFCode.SUCCESS


def stop(ctx) -> int:  # noqa: ANN001
    ip = ctx.params["ip"].strip()
    if _find(daemon_link.snapshot_or_none(), ip) is not None:
        daemon_link.call("remove-address", address=ip)
        ctx.log.info(f"{ip} removed")
    _forget_failure(ctx)
    return OCFCode.SUCCESS


def monitor(ctx) -> int:  # noqa: ANN001
    p = ctx.params
    snapshot, restarted = daemon_link.snapshot_for_monitor(ctx)
    found = _find(snapshot, p["ip"])
    if found is None:
        return OCFCode.NOT_RUNNING
    if found["group"] != p["group"]:
        raise OCFError(OCFCode.ERR_GENERIC, f"{p['ip']} is in group {found['group']}, "
                       f"not {p['group']}")
    group = daemon_link.find_group(snapshot, p["group"])
    if not found["inbound"] or group is None or group["state"] == "failed":
        return _group_failed(ctx)
    _forget_failure(ctx)
    if p["arp_count_refresh"]:
        daemon_link.call("announce", address=p["ip"].strip(), count=p["arp_count_refresh"],
                    interval_ms=p["arp_interval"])
    if restarted:
        ctx.exit_reason(restarted)
        return OCFCode.DEGRADED
    return OCFCode.SUCCESS


def _failure_note(ctx) -> str:  # noqa: ANN001
    base = os.environ.get("HA_RSCTMP") or "/run/resource-agents"
    name = (ctx.instance or "ipmp-address").replace("/", "_")
    return os.path.join(base, f"clearview-{name}-group-failed")


def _group_failed(ctx) -> int:  # noqa: ANN001
    """The group has no usable member: degraded for failed_grace seconds (the location
    rule on the node attribute moves the address meanwhile, without a failure), then
    failed, so that without the rule the address does not stay on this node for ever."""
    p = ctx.params
    note = _failure_note(ctx)
    now = time.monotonic()  # CLOCK_MONOTONIC: the same clock in every monitor process
    try:
        with open(note, encoding="ascii") as fh:
            since = float(fh.read().strip())
    except (OSError, ValueError):
        since = now
        try:
            with open(note, "w", encoding="ascii") as fh:
                fh.write(f"{now}\n")
        except OSError as exc:
            ctx.log.warning(f"cannot note when group {p['group']} failed: {exc}")
    lasted = now - since
    reason = f"{p['ip']} is down: group {p['group']} has no usable interface"
    if lasted >= p["failed_grace"]:
        raise OCFError(OCFCode.ERR_GENERIC, f"{reason} (for {lasted:.0f} s, longer than "
                       f"failed_grace={p['failed_grace']} s)")
    ctx.exit_reason(f"{reason} (for {lasted:.0f} s; the monitor fails after "
                    f"failed_grace={p['failed_grace']} s)")
    return OCFCode.DEGRADED


def _forget_failure(ctx) -> None:  # noqa: ANN001
    try:
        os.unlink(_failure_note(ctx))
    except OSError:
        pass


def reload(ctx) -> int:  # noqa: ANN001
    """reload-agent: the reloadable parameters (announcements, the duplicate address
    check, the grace) are read by each action; nothing to change on the node."""
    _address(ctx)
    return OCFCode.SUCCESS


agent.add_resource_actions(start=start, stop=stop, monitor=monitor, reload=reload,
                           validate=validate, timeout=20)

if __name__ == "__main__":
    agent.main()
