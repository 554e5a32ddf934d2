"""Firewall rules follow the group (Clearview design 4.12), through nftables sets.

Once an interface joins a group, the group's filtering rules apply to it. The daemon
keeps, in a table of its own (`inet clearview_ipmp`), one set per group named
`<group>_members` holding its members' interface names, updated on every join and
leave; a member re-created under the same name (DR) stays in it. Rules written once
against the group, in a chain of that table, cover every member:

    nft add chain inet clearview_ipmp input '{ type filter hook input priority 0; }'
    nft add rule inet clearview_ipmp input iifname @ipmp0_members tcp dport 23 drop

The daemon only ever touches its sets: never a chain or rule. It drives the nft command
(nftables' own front end; pyroute2's nftables support does not cover sets) with JSON
input (`nft -j -f -`): names are passed as they are, so each group's set is named after
it one to one (the text syntax forbids some characters of group names, and replacing
them made `ipmp-0` and `ipmp_0` share one set).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from typing import Any

log = logging.getLogger("ipmpd")

FAMILY = "inet"
TABLE_NAME = "clearview_ipmp"
TABLE = f"{FAMILY} {TABLE_NAME}"


def set_name(group: str) -> str:
    """The group's set: its name as it is (group names are checked by values.check_name),
    so two groups never share one."""
    return group + "_members"


def _set(group: str) -> dict[str, str]:
    return {"family": FAMILY, "table": TABLE_NAME, "name": set_name(group)}


def commands(groups: dict[str, list[str]], gone: list[str]) -> dict[str, Any]:
    """nft's JSON commands that make each group's set hold exactly its members."""
    cmds: list[dict[str, Any]] = [{"add": {"table": {"family": FAMILY, "name": TABLE_NAME}}}]
    for group, members in groups.items():
        cmds.append({"add": {"set": {**_set(group), "type": "ifname"}}})
        cmds.append({"flush": {"set": _set(group)}})
        if members:
            cmds.append({"add": {"element": {**_set(group), "elem": list(members)}}})
    for group in gone:
        # A set still used by an operator's rule cannot be deleted: emptying it first
        # keeps the rule harmless either way.
        cmds.append({"flush": {"set": _set(group)}})
    return {"nftables": cmds}


def _json(cmds: dict[str, Any]) -> bytes:
    return json.dumps(cmds).encode()


class MemberSets:
    def __init__(self) -> None:
        self.applied: dict[str, list[str]] = {}
        self.missing_logged = False

    async def sync(self, groups: dict[str, list[str]]) -> None:
        if groups == self.applied:
            return
        nft = shutil.which("nft")
        if nft is None:
            if not self.missing_logged:
                log.warning("nft not found: group member sets for firewall rules are not kept")
                self.missing_logged = True
            return
        gone = [g for g in self.applied if g not in groups]
        proc = await asyncio.create_subprocess_exec(
            nft, "-j", "-f", "-", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate(_json(commands(groups, gone)))
        if proc.returncode != 0:
            log.error("cannot update the group member sets: %s", err.decode().strip())
            return
        for group in gone:
            await self._delete(nft, group)
        self.applied = {g: list(m) for g, m in groups.items()}

    @staticmethod
    async def _delete(nft: str, group: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            nft, "-j", "-f", "-", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        # fails while a rule uses it: then it stays, empty
        await proc.communicate(_json({"nftables": [{"delete": {"set": _set(group)}}]}))
