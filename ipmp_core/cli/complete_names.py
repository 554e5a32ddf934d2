"""`ipmpadm complete-names KIND...`: the names the shell's completion offers, taken from
this namespace's running daemon (hidden from --help: only the completion calls it).

Completion runs on every TAB, so this never starts a daemon, never prints an error and
gives up after COMPLETION_TIMEOUT_S: no daemon means no names, at once.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import click

from ipmp_core.control_client import ControlClient, ControlError

# A TAB must answer before a person notices: a daemon answers config in a few ms, and one
# that takes longer than this is busy with failures and must not be kept from them.
COMPLETION_TIMEOUT_S = 0.5
KINDS = ("groups", "members", "addresses")


def names(kind: str, config: dict[str, Any], objects: list[dict[str, Any]]) -> list[str]:
    """The names of one kind: groups, their members (and interfaces probed outside any
    group), or data addresses by object name and by address (no prefix)."""
    if kind == "groups":
        return [g["name"] for g in config.get("groups", [])]
    if kind == "members":
        return [m["name"] for g in config.get("groups", []) for m in g.get("members", [])] \
            + [m["name"] for m in config.get("anonymous", [])]
    found = []
    for obj in objects:
        if obj.get("test"):
            continue
        found.append(str(obj["addrobj"]))
        try:
            found.append(str(ipaddress.ip_interface(obj["addr"]).ip))
        except ValueError:
            pass  # a DHCP address not leased yet has none ("?")
    return found


@click.command("complete-names", hidden=True)
@click.argument("kinds", nargs=-1, type=click.Choice(KINDS))
def complete_names(kinds: tuple[str, ...]) -> None:
    """Print the names of KINDS known to the daemon, one a line; nothing without one."""
    client = ControlClient(timeout=COMPLETION_TIMEOUT_S)
    try:
        config = client.call("config")
        objects = client.call("address-objects") if "addresses" in kinds else []
    except (ControlError, OSError):
        return
    for kind in kinds:
        for name in names(kind, config, objects):
            click.echo(name)
