"""The data network as the cluster tests act on it (cables, paths the switch darkens)
and as the client sees it (pings, neighbour table, ARP answers, a background watch)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tests.support.cluster.base import CLIENT_ADDR4, PROBE_SCRIPT, run
from tests.support.cluster.watch import ClientWatch

if TYPE_CHECKING:
    from tests.support.cluster.nodes import ClusterNode


class DataNetwork:
    """Owns nothing: the data-network operations of a Cluster (which provides the switch
    and client namespaces, its nodes and run_in)."""

    def pull_cable(self, node: ClusterNode | str, nic: str) -> None:
        n = self._node(node)
        run(["ip", "-n", self.switch, "link", "set", n.port(nic), "down"])

    def plug_cable(self, node: ClusterNode | str, nic: str) -> None:
        n = self._node(node)
        run(["ip", "-n", self.switch, "link", "set", n.port(nic), "up"])

    def darken(self, node: ClusterNode | str, nics: Iterable[str] | None = None) -> None:
        """Every frame to and from ``nics`` (default: all data NICs) of ``node`` dropped
        by the switch, carriers up: a dead path that only probes can see."""
        n = self._node(node)
        ports = ", ".join(n.port(nic) for nic in (nics or n.nics))
        table = f"dark_{n.name}"
        rules = (f"table bridge {table} {{\n"
                 "  chain drop_ports {\n"
                 "    type filter hook forward priority 0; policy accept;\n"
                 f"    iifname {{ {ports} }} drop\n"
                 f"    oifname {{ {ports} }} drop\n"
                 "  }\n}\n")
        run(["ip", "netns", "exec", self.switch, "nft", "-f", "-"], input=rules)

    def light(self, node: ClusterNode | str) -> None:
        """Undo darken()."""
        n = self._node(node)
        run(["ip", "netns", "exec", self.switch, "nft", "delete", "table", "bridge",
              f"dark_{n.name}"], check=False)

    def client_ping(self, addr: str, count: int = 1, timeout: float = 1.0) -> bool:
        """Ping ``addr`` from the client (0.2 s apart); True if any reply came."""
        if not 1 <= count <= 100:
            raise ValueError("count must be 1..100")
        res = self.run_in(self.client, "ping", "-n", "-q", "-c", str(count), "-i", "0.2",
                          "-W", f"{max(0.1, timeout):g}", addr,
                          timeout=count * (timeout + 0.2) + 5)
        return res.returncode == 0

    def client_neigh(self, addr: str) -> str | None:
        """The MAC the client's neighbour table has for ``addr`` (None: none, or failed)."""
        out = run(["ip", "-n", self.client, "-j", "neigh", "show", "to", addr,
                    "dev", "eth0"]).stdout
        for entry in json.loads(out or "[]"):
            states = entry.get("state", [])
            if entry.get("lladdr") and "FAILED" not in states and "INCOMPLETE" not in states:
                return str(entry["lladdr"])
        return None

    def flush_client_neigh(self) -> None:
        for fam in ("-4", "-6"):
            run(["ip", "-n", self.client, fam, "neigh", "flush", "dev", "eth0"], check=False)

    def arp_replies(self, addr: str, wait: float = 0.3, count: int = 1) -> list[str]:
        """MACs that answered the client's ARP request(s) for IPv4 ``addr``."""
        res = self.run_in(self.client, sys.executable, str(PROBE_SCRIPT), "arp", addr,
                          "--src", CLIENT_ADDR4, "--wait", f"{wait:g}", "--count", str(count),
                          check=True, timeout=30)
        return list(json.loads(res.stdout)["macs"])

    def owners_of(self, macs: Iterable[str]) -> set[str]:
        """Node names owning ``macs``; a MAC of no node appears as "unknown:MAC"."""
        mm = self.mac_map
        return {mm[m][0] if m in mm else f"unknown:{m}" for m in macs}

    def arp_owners(self, addr: str, wait: float = 0.3, count: int = 1) -> set[str]:
        """Which node(s) currently answer ARP for ``addr`` (see owners_of)."""
        return self.owners_of(self.arp_replies(addr, wait=wait, count=count))

    def watch(self, addr: str, duration: float = 120.0, ping_interval: float = 0.01,
              arp_interval: float = 0.05) -> ClientWatch:
        """Start pinging ``addr`` every ``ping_interval`` and ARP-requesting it every
        ``arp_interval`` from the client, in the background, for at most ``duration`` s;
        ``.stop()`` returns a WatchResult."""
        return ClientWatch(self, addr, duration, ping_interval, arp_interval)


