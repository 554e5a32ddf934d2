"""What the kernel says inside a lab (links, carrier, MACs) and what its client sees
(pings, its neighbour table): the read side of tests.support.lab."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from tests.support.netns import LabCommandError

# A MAC address as ``ip link`` prints and accepts it.
MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


class LabViews:
    """Owns nothing: the queries of a Lab, which provides the node and client namespaces
    and its command runners."""

    node: str
    client: str | None

    def run(self, ns: str, *argv: str, check: bool = True,
            timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        raise NotImplementedError

    def _ip(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        raise NotImplementedError


    def link(self, nic: str, ns: str | None = None) -> dict[str, Any]:
        """``ip -j -d link show`` of ``nic`` in ``ns`` (default: the node) as a dict."""
        out = self._ip(ns or self.node, "-j", "link", "show", "dev", nic).stdout
        data = json.loads(out)
        if not data:
            raise LabCommandError(1, ["ip", "link", "show", nic], out, "no such device")
        return data[0]

    def ifindex(self, nic: str, ns: str | None = None) -> int:
        """The current ifindex of ``nic`` (default namespace: the node)."""
        return int(self.link(nic, ns)["ifindex"])

    def carrier(self, nic: str) -> bool:
        """Whether node NIC ``nic`` has carrier (/sys/class/net/NIC/carrier reads 1)."""
        res = self.run(self.node, "cat", f"/sys/class/net/{nic}/carrier", check=False)
        # Reading carrier of an admin-down device fails with EINVAL: no carrier then.
        return res.returncode == 0 and res.stdout.strip() == "1"

    def set_mac(self, nic: str, mac: str) -> None:
        """Change node NIC ``nic``'s MAC (veth allows it while up)."""
        if not MAC_RE.match(mac):
            raise ValueError(f"bad MAC {mac!r}")
        self._ip(self.node, "link", "set", "dev", nic, "address", mac)

    def mac(self, nic: str) -> str:
        """Node NIC ``nic``'s MAC as ``ip`` prints it (lower case, colon separated)."""
        return str(self.link(nic)["address"])

    def _need_client(self) -> str:
        if self.client is None:
            raise RuntimeError("this lab has no client (with_client=False)")
        return self.client

    def client_ping(self, addr: str, count: int = 1, timeout: float = 2) -> bool:
        """Ping ``addr`` from the client ``count`` times, 0.2 s apart; True if any reply came
        (the last one waited for up to ``timeout`` s)."""
        client = self._need_client()
        if not 1 <= count <= 100:
            raise ValueError("count must be 1..100")
        # iputils ping takes fractional -W; a short wait keeps negative checks quick.
        wait = min(max(0.1, float(timeout)), 60.0)
        res = self.run(
            client,
            "ping",
            "-n",
            "-q",
            "-c",
            str(count),
            "-i",
            "0.2",
            "-W",
            f"{wait:g}",
            addr,
            check=False,
            timeout=count * (wait + 0.2) + 5,
        )
        return res.returncode == 0

    def neigh_flush_client(self) -> None:
        """Forget everything the client's neighbour tables (ARP and ND) learned."""
        client = self._need_client()
        self._ip(client, "-4", "neigh", "flush", "dev", "eth0", check=False)
        self._ip(client, "-6", "neigh", "flush", "dev", "eth0", check=False)

    def client_neigh(self, addr: str) -> str | None:
        """The MAC the client's neighbour table holds for ``addr``; None if none (or failed)."""
        client = self._need_client()
        out = self._ip(client, "-j", "neigh", "show", "to", addr, "dev", "eth0").stdout
        for entry in json.loads(out or "[]"):
            states = entry.get("state", [])
            lladdr = entry.get("lladdr")
            if lladdr and "FAILED" not in states and "INCOMPLETE" not in states:
                return str(lladdr)
        return None
