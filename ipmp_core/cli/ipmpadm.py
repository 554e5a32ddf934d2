"""ipmpadm: configure IPMP groups, modelled on Solaris 11 ipadm and if_mpadm.

    ipmpadm create-ipmp -i e0,e1 ipmp0           ipmpadm delete-ipmp ipmp0
    ipmpadm add-ipmp -i e2 ipmp0                  ipmpadm remove-ipmp -i e2 ipmp0
    ipmpadm create-addr -T static -a 192.0.2.10/24 ipmp0/v4   (data address, named)
    ipmpadm create-addr -a 198.51.100.10/24 -a 198.51.100.11/24 ipmp0   (several at once)
    ipmpadm create-addr -T static -a 198.51.100.11/24 e0/test (test address of a member)
    ipmpadm delete-addr ipmp0/v4                  ipmpadm delete-addr 198.51.100.10
    ipmpadm show-addr [[-p] -o FIELD,...] [ADDROBJ | IF/]
    ipmpadm show-if [[-p] -o FIELD,...] [IF]
    ipmpadm set-ifprop -p standby=on -m ip e2
    ipmpadm set-ipmp -p failback=no ipmp0        ipmpadm set-ipmp -p fdt=10000 ipmp0
    ipmpadm set-ipmp -p fdt=default ipmp0   (follow /etc/default/clearview-ipmp again)
    ipmpadm set-ipmp -p transitive-probing=on ipmp0   (probe without test addresses)
    ipmpadm offline e0                            ipmpadm online e0
    ipmpadm create-route -g 198.51.100.1 ipmp0   ipmpadm delete-route -g 198.51.100.1 ipmp0
    ipmpadm refresh      (read /etc/default/clearview-ipmp again: the same as SIGHUP)
    ipmpadm accept-empty-state     (go on without a state file ipmpd could not load)

Every change goes to the namespace's daemon, which is started when it is not running.
Errors are one line on stderr and exit status 1 (2 for usage errors).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import partial
from typing import Any

import click

from ipmp_core import __version__, aobjname
from ipmp_core.cli.complete_names import complete_names
from ipmp_core.control_client import ControlClient, ControlError, DaemonUnreachable, start_daemon
from ipmp_core.errors import EngineError
from ipmp_core.values import check_fdt, parse_bool


class AdmError(click.ClickException):
    """A failed ipmpadm command: one ``ipmpadm: message`` line on stderr, exit 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"ipmpadm: {self.message}", err=True)


# ipadm's protocol module of the standby interface property (ipadm show-ifprop: PROTO ip).
STANDBY_MODULE = "ip"
# A batch of addresses is answered once all are in place: allow this much per address on
# top of the usual timeout (measured: about 3 ms each at 1,000).
BATCH_S_PER_ADDRESS = 0.05


def call(op: str, *, start: bool = True, timeout: float | None = None, **args: Any) -> Any:
    if os.geteuid() != 0 and op not in ("snapshot", "config", "ping", "address-objects"):
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


def _or_default(rule: Callable[[Any], Any], value: str) -> Any:
    """A group setting's value as set-ipmp passes it: "default" (follow the defaults
    file again) as it is, anything else checked by its rule."""
    return value if value == "default" else _checked(rule, value)


def warn_interference(interfaces: tuple[str, ...]) -> None:
    from ipmp_core import interference

    for ifname in interfaces:
        note = interference.warning(ifname)
        if note:
            click.echo(f"ipmpadm: warning: {note}", err=True)


def under_interfaces(options: tuple[str, ...]) -> tuple[str, ...]:
    """-i e0,e1 -i e2, as ipadm takes them (update_ipmp_common splits on commas)."""
    return tuple(name for option in options for name in option.split(",") if name)


def parse_props(props: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for prop in props:
        key, sep, value = prop.partition("=")
        if not sep or not key:
            raise click.UsageError(f"property '{prop}' must be NAME=VALUE")
        out[key.strip().lower()] = value.strip()
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ipmpadm")
def cli() -> None:
    """Configure IP multipathing groups (Solaris ipadm/if_mpadm style)."""


@cli.command("create-ipmp")
@click.option("-i", "interfaces", multiple=True, metavar="IF", help="Member interface.")
@click.option("-s", "standby", multiple=True, metavar="IF", help="Standby member interface.")
@click.argument("group")
def create_ipmp(interfaces: tuple[str, ...], standby: tuple[str, ...], group: str) -> None:
    """Create GROUP with the given member interfaces."""
    interfaces, standby = under_interfaces(interfaces), under_interfaces(standby)
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
    interfaces = under_interfaces(interfaces)
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
    for ifname in under_interfaces(interfaces):
        if ifname not in members:
            raise AdmError(f"interface {ifname} is not in group {group}")
        call("remove-member", interface=ifname)


@cli.command("create-addr")
@click.option("-T", "addr_type", type=click.Choice(["static", "dhcp", "addrconf", "test"]),
              default="static", show_default=True, help="static: an address; on a group "
              "a data address, on a member a test address (as ipadm on an IPMP "
              "under-interface); dhcp: leased; test: a test address (older syntax).")
@click.option("-a", "addresses", multiple=True, metavar="[local=]ADDR/PREFIX",
              help="Repeat for several (without an object name): data addresses are added "
              "in one request, all or none.")
@click.argument("target", metavar="GROUP[/NAME] | IF[/NAME]")
def create_addr(addr_type: str, addresses: tuple[str, ...], target: str) -> None:
    """Add an address object: data addresses to a group (ipmp0/v4), test addresses to a
    member interface (e0/test). Without /NAME a name is generated (ipmp0/_a)."""
    ifname, name = _checked(aobjname.split, target) if "/" in target else (target, None)
    texts = [_local(a) for a in addresses]
    if addr_type == "addrconf":
        raise AdmError("-T addrconf is not supported: IPv6 autoconfiguration is the "
                       "kernel's (docs/design.md, ipadm compatibility)")
    if addr_type == "dhcp":
        if texts:
            raise AdmError("invalid arguments for type dhcp: -a is not used")
        texts = ["dhcp"]
    elif not texts:
        raise AdmError(f"invalid arguments for type {addr_type}: -a ADDR/PREFIX is needed")
    if name is not None and len(texts) > 1:
        raise AdmError("an address object holds one address: give one -a with a name")
    named = {} if name is None else {"name": name}
    config = call("config")
    is_group = any(g["name"] == ifname for g in config["groups"])
    members = {m["name"] for g in config["groups"] for m in g["members"]} | \
        {m["name"] for m in config.get("anonymous", [])}
    # neither a group nor a member: the daemon's answer to a data address says why
    if addr_type == "test" or (not is_group and ifname in members):
        for text in texts:
            call("add-test-address", interface=ifname, address=text, **named)
    elif len(texts) == 1:
        call("add-address", group=ifname, address=texts[0], **named)
    else:
        from ipmp_core.constants import CONTROL_TIMEOUT_S

        call("add-addresses", group=ifname, addresses=texts,
             timeout=CONTROL_TIMEOUT_S + BATCH_S_PER_ADDRESS * len(texts))


def _local(text: str) -> str:
    """ipadm's -a local=ADDR is ADDR; remote= (point-to-point) has no use here."""
    key, sep, value = text.partition("=")
    if not sep:
        return text
    if key.strip().lower() != "local":
        raise AdmError(f"'{text}': only -a ADDR or -a local=ADDR (no point-to-point "
                       "addresses on an IPMP group)")
    return value.strip()


@cli.command("delete-addr")
@click.argument("address", metavar="ADDROBJ | ADDRESS")
def delete_addr(address: str) -> None:
    """Remove a data or test address, by its object name (ipmp0/v4) or its address."""
    try:
        call("remove-address", address=address)
    except AdmError as exc:
        if "no data address" not in exc.message:
            raise
        call("remove-test-address", address=address)


def _show(fields: Any, spec: str | None, default: str, parsable: bool,
          rows: Callable[[], list[dict[str, str]]]) -> None:
    """ipadm's show-* output: fields chosen as ofmt does, then the rows."""
    from ipmp_core.cli import ipadm_show

    try:
        chosen, warning = ipadm_show.select(fields, spec, default, parsable)
        if warning:
            click.echo(f"ipmpadm: warning: {warning}", err=True)
        for line in ipadm_show.render(chosen, rows(), parsable):
            click.echo(line)
    except ipadm_show.ShowError as exc:
        raise AdmError(str(exc)) from None


@cli.command("show-addr")
@click.option("-p", "parsable", is_flag=True, help="Parsable: fields joined by ':' (needs -o).")
@click.option("-o", "fields", metavar="FIELD,...", help="addrobj, type, state, current, "
              "persistent, addr, inbound (the member it is on), or all.")
@click.argument("addrobj", required=False, metavar="[ADDROBJ | IF/]")
def show_addr(parsable: bool, fields: str | None, addrobj: str | None) -> None:
    """List address objects (as ipadm show-addr): data addresses, then test addresses."""
    from ipmp_core.cli import ipadm_show

    _show(ipadm_show.ADDR_FIELDS, fields, ipadm_show.ADDR_DEFAULT, parsable,
          lambda: ipadm_show.address_rows(call("address-objects", start=False), addrobj))


@cli.command("show-if")
@click.option("-p", "parsable", is_flag=True, help="Parsable: fields joined by ':' (needs -o).")
@click.option("-o", "fields", metavar="FIELD,...", help="ifname, class, state, active, over, "
              "or all.")
@click.argument("interface", required=False)
def show_if(parsable: bool, fields: str | None, interface: str | None) -> None:
    """List the groups (class ipmp, over their members) and their members (class ip)."""
    from ipmp_core.cli import ipadm_show
    from ipmp_core.model import Snapshot

    _show(ipadm_show.IF_FIELDS, fields, ipadm_show.IF_DEFAULT, parsable,
          lambda: ipadm_show.interface_rows(
              Snapshot.from_dict(call("snapshot", start=False)), interface))


@cli.command("set-ifprop")
@click.option("-p", "props", multiple=True, required=True, metavar="PROP=VALUE",
              help="standby=on|off")
@click.option("-m", "module", metavar="ip", help="The protocol module (ipadm's -m): "
              "standby is a property of ip.")
@click.argument("interface")
def set_ifprop(props: tuple[str, ...], module: str | None, interface: str) -> None:
    """Set a property of a member interface."""
    if module is not None and module.strip().lower() != STANDBY_MODULE:
        raise AdmError(f"set-ifprop: standby is a property of protocol module "
                       f"'{STANDBY_MODULE}', not '{module}'")
    for key, value in parse_props(props).items():
        if key != "standby":
            raise AdmError(f"unknown interface property '{key}' (known: standby)")
        call("set-standby", interface=interface, standby=value)


def _list(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


# set-ipmp's properties: NAME -> (the control request, its argument, the value passed).
# failback and linklocal go as typed: the daemon's own rule names a bad value.
GROUP_PROPERTIES: dict[str, tuple[str, str, Callable[[str], Any]]] = {
    "failback": ("set-failback", "failback", str),
    "fdt": ("set-fdt", "fdt_ms", partial(_or_default, check_fdt)),
    "targets": ("set-targets", "targets", _list),
    "linklocal": ("set-linklocal-probes", "enabled", str),
    "multicast": ("set-multicast", "addresses", _list),
    "transitive-probing": ("set-transitive-probing", "enabled",
                           partial(_or_default, parse_bool)),
}


@cli.command("set-ipmp")
@click.option("-p", "props", multiple=True, required=True, metavar="PROP=VALUE",
              help="failback=yes|no|default, fdt=MILLISECONDS|default (default: the "
              "defaults file's, also after it is re-read), targets=ADDR[,ADDR...] (empty: "
              "discover), linklocal=yes|no (probe IPv6 from link-locals), "
              "multicast=GROUP[,GROUP...] (received on the nominated member), "
              "transitive-probing=on|off|default (members without a test address probe "
              "too: Solaris 11's transitive probing)")
@click.argument("group")
def set_ipmp(props: tuple[str, ...], group: str) -> None:
    """Set a property of GROUP."""
    for key, value in parse_props(props).items():
        if key not in GROUP_PROPERTIES:
            raise AdmError(f"unknown group property '{key}' "
                           f"(known: {', '.join(GROUP_PROPERTIES)})")
        op, arg, convert = GROUP_PROPERTIES[key]
        call(op, group=group, **{arg: convert(value)})


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


@cli.command("refresh")
def refresh() -> None:
    """Make ipmpd read its defaults file again and apply it (the same as SIGHUP; Solaris:
    svcadm refresh network/ipmp)."""
    call("refresh", start=False)


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


cli.add_command(complete_names)  # hidden: the names bash completion offers


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
