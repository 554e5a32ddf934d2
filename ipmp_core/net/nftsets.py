"""Firewall rules follow the group (Clearview design 4.12), through nftables sets.

Once an interface joins a group, the group's filtering rules apply to it. The daemon
keeps, in a table of its own (`inet clearview_ipmp`), one set per group named
`<group>_members` holding its members' interface names, updated on every join and
leave; a member re-created under the same name (DR) stays in it. Rules written once
against the group, in a chain of that table, cover every member:

    nft add chain inet clearview_ipmp input '{ type filter hook input priority 0; }'
    nft add rule inet clearview_ipmp input iifname @ipmp0_members tcp dport 23 drop

The daemon only ever touches its sets: never a chain or rule. It drives the nft command
(nftables' own front end; pyroute2's nftables support does not cover sets).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil

log = logging.getLogger("ipmpd")

TABLE = "inet clearview_ipmp"
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def set_name(group: str) -> str:
    """nft set names allow letters, digits and _ only."""
    return _UNSAFE.sub("_", group) + "_members"


def script(groups: dict[str, list[str]], gone: list[str]) -> str:
    """An nft script that makes each group's set hold exactly its members."""
    lines = [f"add table {TABLE}"]
    for group, members in groups.items():
        name = set_name(group)
        lines.append(f"add set {TABLE} {name} {{ type ifname; }}")
        lines.append(f"flush set {TABLE} {name}")
        if members:
            elements = ", ".join(f'"{m}"' for m in members)
            lines.append(f"add element {TABLE} {name} {{ {elements} }}")
    for group in gone:
        # A set still used by an operator's rule cannot be deleted: emptying it first
        # keeps the rule harmless either way.
        lines.append(f"flush set {TABLE} {set_name(group)}")
    return "\n".join(lines) + "\n"


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
            nft, "-f", "-", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate(script(groups, gone).encode())
        if proc.returncode != 0:
            log.error("cannot update the group member sets: %s", err.decode().strip())
            return
        for group in gone:
            await self._delete(nft, group)
        self.applied = {g: list(m) for g, m in groups.items()}

    @staticmethod
    async def _delete(nft: str, group: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            nft, "delete", "set", *TABLE.split(), set_name(group),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()  # fails while a rule uses it: then it stays, empty
