"""ipmpadm: configure IPMP groups, modelled on Solaris 11 ipadm and if_mpadm.

    ipmpadm create-ipmp -i e0 -i e1 ipmp0        ipmpadm delete-ipmp ipmp0
    ipmpadm add-ipmp -i e2 ipmp0                  ipmpadm remove-ipmp -i e2 ipmp0
    ipmpadm create-addr -a 198.51.100.10/24 ipmp0          (data address of the group)
    ipmpadm create-addr -a 198.51.100.10/24 -a 198.51.100.11/24 ipmp0   (several at once)
    ipmpadm create-addr -T test -a 198.51.100.11/24 e0     (test address of a member)
    ipmpadm delete-addr 198.51.100.10
    ipmpadm set-ifprop -p standby=on e2
    ipmpadm set-ipmp -p failback=no ipmp0        ipmpadm set-ipmp -p fdt=10000 ipmp0
    ipmpadm offline e0                            ipmpadm online e0
    ipmpadm create-route -g 198.51.100.1 ipmp0   ipmpadm delete-route -g 198.51.100.1 ipmp0
    ipmpadm accept-empty-state     (go on without a state file ipmpd could not load)

Every change goes to the namespace's daemon, which is started when it is not running.
Errors are one line on stderr and exit status 1 (2 for usage errors).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import click

from ipmp_core.control_client import ControlClient, ControlError, DaemonUnreachable, start_daemon
from ipmp_core.errors import EngineError
from ipmp_core.values import check_fdt


class AdmError(click.ClickException):
    """A failed ipmpadm command: one ``ipmpadm: message`` line on stderr, exit 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"ipmpadm: {self.message}", err=True)


# A batch of addresses is answered once all are in place: allow this much per address on
# top of the usual timeout (measured: about 3 ms each at 1,000).
BATCH_S_PER_ADDRESS = 0.05


def call(op: str, *, start: bool = True, timeout: float | None = None, **args: Any) -> Any:
    if os.geteuid() != 0 and op not in ("snapshot", "config", "ping"):
        raise AdmError(f"permission denied: '{op}' needs root")
    client = ControlClient() if timeout is None else ControlClient(timeout=timeout)
    try:
        return client.call(op, **args)
    except DaemonUnreachable:
        if not start:
            raise AdmError("the IPMP daemon is not running") from None
        try:
            start_daemon(client)
        except DaemonUnreachable as exc:
            raise AdmError(exc.message) from None
    except ControlError as exc:
        raise AdmError(exc.message) from None
    try:
        return client.call(op, **args)
    except ControlError as exc:
        raise AdmError(exc.message) from None


def _checked(rule: Callable[[Any], Any], value: Any) -> Any:
    """Apply one of the shared value rules (ipmp_core.values) before asking the daemon,
    which applies the same rule again: the message is the same either way."""
    try:
        return rule(value)
    except EngineError as exc:
        raise AdmError(exc.message) from None


def warn_interference(interfaces: tuple[str, ...]) -> None:
    from ipmp_core import interference

    for ifname in interfaces:
        note = interference.warning(ifname)
        if note:
            click.echo(f"ipmpadm: warning: {note}", err=True)


def parse_props(props: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for prop in props:
        key, sep, value = prop.partition("=")
        if not sep or not key:
            raise click.UsageError(f"property '{prop}' must be NAME=VALUE")
        out[key.strip().lower()] = value.strip()
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Configure IP multipathing groups (Solaris ipadm/if_mpadm style)."""


@cli.command("create-ipmp")
@click.option("-i", "interfaces", multiple=True, metavar="IF", help="Member interface.")
@click.option("-s", "standby", multiple=True, metavar="IF", help="Standby member interface.")
@click.argument("group")
def create_ipmp(interfaces: tuple[str, ...], standby: tuple[str, ...], group: str) -> None:
    """Create GROUP with the given member interfaces."""
    call("create-group", group=group)
    try:
        for ifname in interfaces:
            call("add-member", group=group, interface=ifname)
        for ifname in standby:
            call("add-member", group=group, interface=ifname, standby=True)
        warn_interference(interfaces + standby)
    except AdmError:
        # A failed create leaves nothing behind: no half-made group.
        try:
            call("delete-group", group=group)
        except AdmError:
            pass
        raise


@cli.command("delete-ipmp")
@click.argument("group")
def delete_ipmp(group: str) -> None:
    """Delete GROUP: its members leave, its data addresses are removed."""
    call("delete-group", group=group)


@cli.command("add-ipmp")
@click.option("-i", "interfaces", multiple=True, required=True, metavar="IF")
@click.option("-s", "--standby", is_flag=True, help="Add as standby members.")
@click.argument("group")
def add_ipmp(interfaces: tuple[str, ...], standby: bool, group: str) -> None:
    """Add interfaces to GROUP."""
    for ifname in interfaces:
        call("add-member", group=group, interface=ifname, standby=standby)
    warn_interference(interfaces)


@cli.command("remove-ipmp")
@click.option("-i", "interfaces", multiple=True, required=True, metavar="IF")
@click.argument("group")
def remove_ipmp(interfaces: tuple[str, ...], group: str) -> None:
    """Remove interfaces from GROUP (their data addresses move to other members first)."""
    config = call("config")
    members = {m["name"] for g in config["groups"] if g["name"] == group for m in g["members"]}
    if not any(g["name"] == group for g in config["groups"]):
        raise AdmError(f"no such group: {group}")
    for ifname in interfaces:
        if ifname not in members:
            raise AdmError(f"interface {ifname} is not in group {group}")
        call("remove-member", interface=ifname)


@cli.command("create-addr")
@click.option("-T", "addr_type", type=click.Choice(["static", "test"]), default="static",
              show_default=True, help="static: a data address of a group; test: a test "
              "address of a member interface.")
@click.option("-a", "addresses", required=True, multiple=True, metavar="ADDR/PREFIX",
              help="Repeat for several: data addresses are added in one request, all or "
              "none.")
@click.argument("target")
def create_addr(addr_type: str, addresses: tuple[str, ...], target: str) -> None:
    """Add data addresses to a group, or test addresses to a member interface."""
    if addr_type == "test":
        for address in addresses:
            call("add-test-address", interface=target, address=address)
    elif len(addresses) == 1:
        call("add-address", group=target, address=addresses[0])
    else:
        from ipmp_core.constants import CONTROL_TIMEOUT_S

        call("add-addresses", group=target, addresses=list(addresses),
             timeout=CONTROL_TIMEOUT_S + BATCH_S_PER_ADDRESS * len(addresses))


@cli.command("delete-addr")
@click.argument("address")
def delete_addr(address: str) -> None:
    """Remove a data or test address."""
    try:
        call("remove-address", address=address)
    except AdmError as exc:
        if "no data address" not in exc.message:
            raise
        call("remove-test-address", address=address)


@cli.command("set-ifprop")
@click.option("-p", "props", multiple=True, required=True, metavar="PROP=VALUE",
              help="standby=on|off")
@click.argument("interface")
def set_ifprop(props: tuple[str, ...], interface: str) -> None:
    """Set a property of a member interface."""
    for key, value in parse_props(props).items():
        if key != "standby":
            raise AdmError(f"unknown interface property '{key}' (known: standby)")
        call("set-standby", interface=interface, standby=value)


@cli.command("set-ipmp")
@click.option("-p", "props", multiple=True, required=True, metavar="PROP=VALUE",
              help="failback=yes|no, fdt=MILLISECONDS, targets=ADDR[,ADDR...] (empty: "
              "discover), linklocal=yes|no (probe IPv6 from link-locals), "
              "multicast=GROUP[,GROUP...] (received on the nominated member)")
@click.argument("group")
def set_ipmp(props: tuple[str, ...], group: str) -> None:
    """Set a property of GROUP."""
    for key, value in parse_props(props).items():
        if key == "failback":
            call("set-failback", group=group, failback=value)
        elif key == "fdt":
            call("set-fdt", group=group, fdt_ms=_checked(check_fdt, value))
        elif key == "multicast":
            call("set-multicast", group=group,
                 addresses=[t.strip() for t in value.split(",") if t.strip()])
        elif key == "linklocal":
            call("set-linklocal-probes", group=group, enabled=value)
        elif key == "targets":
            call("set-targets", group=group,
                 targets=[t.strip() for t in value.split(",") if t.strip()])
        else:
            raise AdmError(f"unknown group property '{key}' "
                           "(known: failback, fdt, targets, linklocal, multicast)")


def _route_command(name: str, op: str, summary: str) -> None:
    """create-route and delete-route take the same options; each is one control op."""

    @cli.command(name, help=summary)
    @click.option("-g", "gateway", required=True, metavar="GATEWAY")
    @click.option("-d", "dst", default="default", show_default=True, metavar="PREFIX")
    @click.argument("group")
    def command(gateway: str, dst: str, group: str) -> None:
        call(op, group=group, dst=dst, gateway=gateway)


_route_command("create-route", "add-route",
               "Route DST via GATEWAY through the group's active members (multipath).")
_route_command("delete-route", "remove-route", "Remove a route declared on the group.")


@cli.command("offline")
@click.argument("interface")
def offline(interface: str) -> None:
    """Take a member out of service (if_mpadm -d), e.g. before replacing its NIC: its
    data addresses move, it stops probing, ipmpstat flags it d. Refused (exit 1) when it
    is offline already or no other functioning member would remain."""
    call("offline", interface=interface)


@cli.command("online")
@click.argument("interface")
def online(interface: str) -> None:
    """Put an offlined member back in service (if_mpadm -r), in use at once even with
    FAILBACK=no. Refused (exit 1) when it is not offline."""
    call("online", interface=interface)


@cli.command("show-config")
def show_config() -> None:
    """Print the daemon's configuration as JSON."""
    click.echo(json.dumps(call("config", start=False), indent=2))


@cli.command("dump")
def dump() -> None:
    """Write groups, targets and probe statistics to the daemon's log (like SIGUSR1)."""
    call("dump", start=False)


@cli.command("shutdown")
def shutdown() -> None:
    """Stop this namespace's daemon (the network stays as configured)."""
    call("shutdown", start=False)


@cli.command("accept-empty-state")
def accept_empty_state() -> None:
    """Go on without a state file the daemon could not load (it stays kept aside)."""
    kept = call("accept-empty-state", start=False)
    click.echo(f"ipmpd accepts changes again; the unloadable state file stays at {kept}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
