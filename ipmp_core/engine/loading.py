"""Rebuilding the engine from a persisted configuration (the daemon's start), in steps.

The configuration is replayed as the requests that made it, so a loaded engine is the
engine those requests would have built; the rules hold back what is not news while it
runs (Rules.starting: no cluster attribute for intermediate counts).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ipmp_core.constants import DEFAULTED_SETTINGS, LOAD_CHUNK
from ipmp_core.engine.actions import Action, ConfigChanged, Log
from ipmp_core.engine.groups import GroupRequests
from ipmp_core.engine.state import FROM_DEFAULTS
from ipmp_core.errors import EngineError
from ipmp_core.values import parse_address


def run_steps(steps: Generator[None, None, Any]) -> Any:
    """Run a stepped engine call (`Engine.load_steps`, `check_steps`) to its end at
    once; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


class Loader:
    """Owns the replay of a persisted configuration through the requests (Engine.load)."""

    def __init__(self, groups: GroupRequests) -> None:
        # The group requests hold the tables, the rules and the other requests.
        self.groups = groups
        self.tables = groups.tables
        self.rules = groups.rules
        self.members = groups.members
        self.addresses = groups.addresses

    def load_steps(self, config: dict[str, Any], now: float,
                   hints: dict[str, str] | None = None) -> Generator[None, None, list[Action]]:
        """Engine.load_steps: yields after every LOAD_CHUNK data addresses, returns the
        actions (without ConfigChanged: the file loaded is the configuration)."""
        hints = hints or {}
        out: list[Action] = []
        self.rules.starting = True
        try:
            for i, g in enumerate(config.get("groups", [])):
                try:
                    out += yield from self._load_group(g, now, hints)
                except EngineError as exc:
                    raise EngineError(exc.code, f"groups[{i}] (group {g.get('name')}): "
                                      f"{exc.message}") from None
            for m in config.get("anonymous", []) if self.tables.track_all else []:
                try:
                    out += self.members.set_test_addresses(
                        m["name"], m.get("test_addresses", []), now, names=m.get("names"))
                except EngineError as exc:
                    out.append(Log("err", f"Ignoring test addresses of {m.get('name')}: "
                                   f"{exc.message}"))
        finally:
            self.rules.starting = False
        for group in self.tables.groups.values():
            self.rules.attribute(group, out)
        return [a for a in out if not isinstance(a, ConfigChanged)]

    def _load_group(self, g: dict[str, Any], now: float, hints: dict[str, str]
                    ) -> Generator[None, None, list[Action]]:
        attr = g.get("attribute") or {}
        name = g["name"]
        # A setting the file does not hold, or holds as following the defaults file,
        # takes the defaults file's value (state files before that rule hold them all).
        given = {k: g[k] for k in DEFAULTED_SETTINGS
                 if k in g and k not in g.get("follows_defaults", ())}
        out = self.groups.create_group(name, now,
                                failback=given.get("failback", FROM_DEFAULTS),
                                fdt_ms=given.get("fdt_ms", FROM_DEFAULTS),
                                attribute=attr.get("name"),
                                multiplier=attr.get("multiplier", 1),
                                dampen_ms=attr.get("dampen_ms", 0),
                                transitive_probing=given.get("transitive_probing",
                                                             FROM_DEFAULTS))
        for m in g.get("members", []):
            out += self.members.add_member(name, m["name"], now, standby=m.get("standby", False),
                                   offline=m.get("offline", False), require_present=False)
            out += self.members.set_test_addresses(m["name"], m.get("test_addresses", []), now,
                                                   names=m.get("names"))
        if g.get("targets"):
            out += self.groups.set_targets(name, g["targets"], now)
        if g.get("linklocal_probes"):
            out += self.groups.set_linklocal_probes(name, True, now)
        if g.get("multicast"):
            out += self.groups.set_multicast(name, g["multicast"], now)
        dhcp_names = g.get("dhcp_names", {})
        for slot in g.get("dhcp_data", []):
            out += self.addresses.add_dhcp_data(name, now, slot=int(slot),
                                                name=dhcp_names.get(str(slot)))
        owners = g.get("owners", {})
        names = g.get("names", {})  # absent in files written before address objects
        deprecated = set(g.get("deprecated", []))
        with self.rules.refresh_once(now, out):  # one refresh for all: 1,000 cost 2.5 s each
            for n, a in enumerate(g.get("data_addresses", [])):
                if n and not n % LOAD_CHUNK:
                    yield
                ip = str(parse_address(a).ip)
                out += self.addresses.add_data_address(name, a, now, hint=hints.get(ip),
                                             owner=owners.get(a, ""),
                                             deprecated=a in deprecated, name=names.get(a))
        # Routes last: a gateway must be on-link, in the subnet of a data or test address.
        for r in g.get("routes", []):
            out += self.groups.add_route(name, r["dst"], r["gateway"], now)
        return out
