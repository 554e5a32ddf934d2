"""A throw-away network of Linux network namespaces for tests, ``make demo`` and benchmarks.

Why this exists: IPMP is about what the kernel does when a cable is pulled, an address
moves or a neighbour hears a gratuitous ARP. Mocking netlink would test our idea of the
kernel, not the kernel, so every integration test builds a small real network instead::

        node (host under test)            switch               router / client
    e0 ─────────────────────────── p0 ┐
    e1 ─────────────────────────── p1 ├─ br0 ─┬─ pr ────────── eth0 (198.51.100.1)
    e2 ─────────────────────────── p2 ┘        └─ pc ────────── eth0 (198.51.100.200)

Failures are simulated the way the recipes found to work on this kernel (no netem, no
dummy or bond devices): a cable pull sets the switch-side veth peer down (the node NIC loses
carrier, exactly like a real unplugged port), a probe-path failure is an nftables drop in
the switch's bridge, and a hot-swapped NIC is a deleted and re-created veth pair.

This module is test infrastructure, not the product: it shells out to ``ip`` and ``nft``
because that is easy to read and debug, and it batches commands (``ip -n NS -batch -``)
so that a lab builds in well under a second.

Safety: every name lives in namespaces this module creates (interfaces are created
directly inside them, never in the caller's namespace), every process it starts is killed
by PID (its own process group), and teardown runs on ``__exit__`` and again from
``atexit`` as a safety net.
"""

from __future__ import annotations

import atexit
import ipaddress
import re
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO, Any

from tests.support.lab_views import MAC_RE, LabViews
from tests.support.netns import (
    TERM_GRACE_S,
    Started,
    delete_namespaces,
    list_namespaces,
    run_cmd,
    signal_group,
    spawn_in,
    stop_processes,
)

# Namespace names become file names under /run/netns; keep them to a safe alphabet and
# short enough to read in ``ip netns list`` (interface names do not depend on the prefix).
_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]{0,23}$")
# e0..e15: more NICs than any IPMP group we test, and every name stays far below IFNAMSIZ.
_MAX_NICS = 16
# ICMPv6 neighbour-discovery types (RS, RA, NS, NA, redirect): kept flowing by default when
# dropping ICMP, so that IPv6 behaves like IPv4, whose ARP is not ICMP at all.
_ND_TYPES = (
    "nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect"
)

DEFAULT_ROUTER_ADDR4 = "198.51.100.1/24"
DEFAULT_ROUTER_ADDR6 = "2001:db8:1::1/64"
DEFAULT_CLIENT_ADDR4 = "198.51.100.200/24"
DEFAULT_CLIENT_ADDR6 = "2001:db8:1::200/64"


def cleanup_stale(prefix: str) -> list[str]:
    """Delete namespaces left over by a crashed run: every one named ``{prefix}-...``.

    Only namespaces are removed. Processes that may still run inside them are not killed
    (they were not started by this process, and we only kill by PID what we started);
    they keep an unnamed namespace alive until they exit. Returns the deleted names.
    """
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"bad lab prefix {prefix!r}")
    stale = [name for name in list_namespaces() if name.startswith(f"{prefix}-")]
    delete_namespaces(stale)
    return stale


def _iface(value: str, default_prefixlen: int) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """Parse "ADDR" or "ADDR/LEN"; a bare address gets the lab's usual prefix length."""
    text = value if "/" in value else f"{value}/{default_prefixlen}"
    return ipaddress.ip_interface(text)


class Lab(LabViews, Started):
    """A node with ``nics`` veth NICs, a bridge, and optionally a router and a client.

    Use as a context manager; everything is torn down on exit, also when the body raised::

        with Lab(prefix="cvt1", nics=3) as lab:
            lab.pull_cable("e0")

    Namespaces are ``{prefix}-node``, ``{prefix}-sw``, ``{prefix}-r`` and ``{prefix}-cl``,
    so labs with different prefixes can run side by side. Node NICs get no addresses: what
    the host under test puts on them is the test's business. Router and client have their
    addresses at once (IPv6 without DAD); the router forwards IPv4 and IPv6.
    """

    def __init__(
        self,
        prefix: str,
        nics: int = 3,
        *,
        with_client: bool = True,
        with_router: bool = True,
        client_addr4: str = DEFAULT_CLIENT_ADDR4,
        router_addr4: str = DEFAULT_ROUTER_ADDR4,
        client_addr6: str = DEFAULT_CLIENT_ADDR6,
        router_addr6: str = DEFAULT_ROUTER_ADDR6,
        ipv6: bool = True,
    ) -> None:
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"bad lab prefix {prefix!r}: letters, digits, '_' and '.', <= 24")
        if not 1 <= nics <= _MAX_NICS:
            raise ValueError(f"nics must be 1..{_MAX_NICS}, not {nics}")
        self.prefix = prefix
        self.ipv6 = ipv6
        self.node = f"{prefix}-node"
        self.switch = f"{prefix}-sw"
        self.router: str | None = f"{prefix}-r" if with_router else None
        self.client: str | None = f"{prefix}-cl" if with_client else None
        self.nics: list[str] = [f"e{i}" for i in range(nics)]
        # node NIC -> its switch port; "pr"/"pc" are the router's and client's ports.
        self._peer: dict[str, str] = {nic: f"p{i}" for i, nic in enumerate(self.nics)}

        r4, c4 = _iface(router_addr4, 24), _iface(client_addr4, 24)
        r6, c6 = _iface(router_addr6, 64), _iface(client_addr6, 64)
        if r4.version != 4 or c4.version != 4 or r6.version != 6 or c6.version != 6:
            raise ValueError("addr4 arguments must be IPv4 and addr6 arguments IPv6")
        self._router_if: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = (
            [r4, r6] if ipv6 else [r4]
        )
        self._client_if: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = (
            [c4, c6] if ipv6 else [c4]
        )
        self.router_addr4: str | None = str(r4.ip) if with_router else None
        self.router_addr6: str | None = str(r6.ip) if with_router and ipv6 else None
        self.client_addr4: str | None = str(c4.ip) if with_client else None
        self.client_addr6: str | None = str(c6.ip) if with_client and ipv6 else None

        self._procs: list[subprocess.Popen[Any]] = []
        self._nft_tables: set[str] = set()
        self._created: list[str] = []
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def namespaces(self) -> list[str]:
        """All namespaces of this lab (whether or not created yet)."""
        return [ns for ns in (self.node, self.switch, self.router, self.client) if ns]

    def start(self) -> None:
        """Build the network. On any failure, tear down what was built and re-raise."""
        if self._started:
            raise RuntimeError("lab already started")
        self._started = True
        # Registered before the first namespace exists, so that even a crash in the middle
        # of building (or a test that forgets the with-block) leaves nothing behind.
        atexit.register(self.close)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        existing = set(list_namespaces())
        clash = [ns for ns in self.namespaces if ns in existing]
        if clash:
            # Never adopt (and later delete) namespaces someone else may be using.
            raise RuntimeError(f"namespaces already exist: {clash}; see cleanup_stale()")
        try:
            run_cmd(
                ["ip", "-batch", "-"], input="".join(f"netns add {ns}\n" for ns in self.namespaces)
            )
        except BaseException:
            # Delete only what this call created (a racing lab may own the rest).
            new = set(list_namespaces()) - existing
            self._created = [ns for ns in self.namespaces if ns in new]
            raise
        self._created = list(self.namespaces)

        # Sysctls first: new devices copy net.ipv6.conf.default, so accept_dad=0 must be
        # in place before eth0 is created for its link-local to be usable at once.
        # The switch is pure layer 2: IPv6 off keeps its ports from sending DAD/MLD/RS noise.
        self.sysctl(
            self.switch,
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        )
        for ns in (self.router, self.client):
            if ns is None:
                continue
            keys = ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]
            if ns == self.router:
                keys += ["net.ipv4.ip_forward=1"]
                if self.ipv6:
                    keys += ["net.ipv6.conf.all.forwarding=1"]
            self.sysctl(ns, *keys)

        # STP off and forward_delay 0: ports forward the moment they come up, like an edge
        # port with portfast; snooping off so that multicast (ND) is simply flooded.
        self._ip_batch(
            self.switch,
            [
                "link set lo up",
                "link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
                "link set br0 up",
            ],
        )
        node_cmds = ["link set lo up"]
        for nic in self.nics:
            node_cmds.append(
                f"link add {nic} type veth peer name {self._peer[nic]} netns {self.switch}"
            )
            node_cmds.append(f"link set {nic} up")
        self._ip_batch(self.node, node_cmds)
        ports = [self._peer[nic] for nic in self.nics]
        for ns, port, ifaces in (
            (self.router, "pr", self._router_if),
            (self.client, "pc", self._client_if),
        ):
            if ns is None:
                continue
            cmds = [
                "link set lo up",
                f"link add eth0 type veth peer name {port} netns {self.switch}",
            ]
            for ifc in ifaces:
                nodad = " nodad" if ifc.version == 6 else ""
                cmds.append(f"addr add {ifc.with_prefixlen} dev eth0{nodad}")
            cmds.append("link set eth0 up")
            self._ip_batch(ns, cmds)
            ports.append(port)
        self._ip_batch(self.switch, [f"link set {p} master br0 up" for p in ports])

    def close(self) -> None:
        """Tear everything down: processes, nft tables, namespaces. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            atexit.unregister(self.close)
        except Exception:  # noqa: BLE001 - interpreter shutdown; nothing useful to do
            pass
        try:
            self._kill_all()
        finally:
            try:
                if self._nft_tables and self.switch in self._created:
                    script = "".join(f"delete table bridge {t}\n" for t in sorted(self._nft_tables))
                    self._nft(script, check=False)
                self._nft_tables.clear()
            finally:
                delete_namespaces(self._created)
                self._created = []

    # ------------------------------------------------------------------ commands

    def run(
        self, ns: str, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside namespace ``ns`` (``ip netns exec``), capturing text output."""
        return run_cmd(["ip", "netns", "exec", ns, *argv], check=check, timeout=timeout)

    def _ip_batch(self, ns: str, cmds: Sequence[str]) -> None:
        """Run many ``ip`` commands in one process: ~2 ms instead of ~2 ms per command."""
        run_cmd(["ip", "-n", ns, "-batch", "-"], input="".join(f"{c}\n" for c in cmds))

    def _ip(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cmd(["ip", "-n", ns, *args], check=check)

    def _nft(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cmd(
            ["ip", "netns", "exec", self.switch, "nft", "-f", "-"], input=script, check=check
        )

    def sysctl(self, ns: str, key: str, value: str | int | None = None, *more: str) -> None:
        """Set sysctls inside ``ns``: ``sysctl(ns, "net.ipv4.ip_forward", 1)`` or, to set
        several in one process, ``sysctl(ns, "a.b=1", "c.d=0")`` (items containing "=")."""
        items: list[str] = []
        if "=" in key:
            items.append(key)
            if value is not None:
                items.append(str(value))
        else:
            if value is None:
                raise ValueError(f"no value for sysctl {key}")
            items.append(f"{key}={value}")
        items.extend(more)
        bad = [i for i in items if "=" not in i]
        if bad:
            raise ValueError(f"sysctl items need key=value: {bad}")
        self.run(ns, "sysctl", "-q", "-w", *items)

    # ------------------------------------------------------------------ processes

    def spawn(
        self,
        ns: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        stdout: int | IO[Any] | None = subprocess.DEVNULL,
        stderr: int | IO[Any] | None = subprocess.DEVNULL,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        cwd: str | None = None,
    ) -> subprocess.Popen[Any]:
        """Start a long-running process inside ``ns`` (``spawn_in``: its own session);
        the lab kills it at teardown."""
        proc = spawn_in(
            ns,
            argv,
            env=dict(env) if env is not None else None,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
        )
        self._procs.append(proc)
        return proc

    # Tests and the demo interrupt their pings with ``lab._signal(proc, SIGINT)``.
    _signal = staticmethod(signal_group)

    def stop(self, proc: subprocess.Popen[Any], timeout: float = TERM_GRACE_S) -> int | None:
        """SIGTERM proc, wait up to ``timeout`` s, then SIGKILL. Returns its exit status."""
        self._signal(proc, signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal(proc, signal.SIGKILL)
            try:
                return proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                return None

    def _kill_all(self) -> None:
        """SIGTERM every spawned process, give them 5 s together, then SIGKILL the rest."""
        procs, self._procs = self._procs, []
        stop_processes(procs)

    # ------------------------------------------------------------------ failures

    def _port(self, nic: str) -> str:
        try:
            return self._peer[nic]
        except KeyError:
            raise ValueError(f"{nic!r} is not a node NIC of this lab ({self.nics})") from None

    def peer(self, nic: str) -> str:
        """The switch port (in ``lab.switch``) that node NIC ``nic`` is plugged into."""
        return self._port(nic)

    def pull_cable(self, nic: str) -> None:
        """Unplug: the switch-side peer goes down, so ``nic`` loses carrier (stays admin up)."""
        self._ip(self.switch, "link", "set", self._port(nic), "down")

    def plug_cable(self, nic: str) -> None:
        """Plug back in: the switch-side peer comes up and ``nic`` regains carrier."""
        self._ip(self.switch, "link", "set", self._port(nic), "up")

    @staticmethod
    def _drop_table(port: str) -> str:
        return f"cvdrop_{port}"

    def drop_icmp(self, nic: str, keep_nd: bool = True) -> None:
        """Drop ICMP and ICMPv6 the switch receives from ``nic``'s port; the link stays up.

        This is a probe-path failure: the NIC has carrier, but its probes never reach a
        target. With ``keep_nd`` (the default) IPv6 neighbour discovery still passes, the
        way ARP still passes for IPv4; ``keep_nd=False`` drops all ICMPv6.
        """
        port = self._port(nic)
        table = self._drop_table(port)
        nd_rule = f'    iifname "{port}" icmpv6 type {{ {_ND_TYPES} }} accept\n' if keep_nd else ""
        # Re-creating makes the call idempotent and lets keep_nd change: "add table" is a
        # no-op if present, then the table is deleted and defined afresh in one transaction.
        script = (
            f"add table bridge {table}\n"
            f"delete table bridge {table}\n"
            f"table bridge {table} {{\n"
            "  chain filt {\n"  # "fwd" is a reserved word in nft
            "    type filter hook forward priority 0; policy accept;\n"
            f"{nd_rule}"
            f'    iifname "{port}" meta l4proto {{ icmp, ipv6-icmp }} drop\n'
            "  }\n"
            "}\n"
        )
        self._nft(script)
        self._nft_tables.add(table)

    def drop_port(self, nic: str) -> None:
        """Drop every frame the switch receives from ``nic``'s port (ARP, IP, anything,
        any EtherType); the link stays up. A port gone deaf while its carrier stays: what
        only a probe through the switch finds. ``undrop_icmp(nic)`` undoes it (one drop
        table per port)."""
        port = self._port(nic)
        table = self._drop_table(port)
        self._nft(
            f"add table bridge {table}\n"
            f"delete table bridge {table}\n"
            f"table bridge {table} {{\n"
            "  chain filt {\n"
            "    type filter hook forward priority 0; policy accept;\n"
            f'    iifname "{port}" drop\n'
            "  }\n"
            "}\n"
        )
        self._nft_tables.add(table)

    def undrop_icmp(self, nic: str) -> None:
        """Undo drop_icmp(nic) or drop_port(nic); a no-op if nothing is dropped."""
        table = self._drop_table(self._port(nic))
        if table in self._nft_tables:
            self._nft(f"delete table bridge {table}\n")
            self._nft_tables.discard(table)

    def delete_nic(self, nic: str) -> None:
        """Hot-unplug a NIC: delete the veth pair (both ends vanish, the ifindex is gone)."""
        self._port(nic)
        self._ip(self.node, "link", "del", nic)

    def recreate_nic(self, nic: str, mac: str | None = None) -> None:
        """Hot-plug a NIC with the same name (a new ifindex), optionally a given MAC, up."""
        port = self._port(nic)
        if mac is not None and not MAC_RE.match(mac):
            raise ValueError(f"bad MAC {mac!r}")
        addr = f" address {mac}" if mac else ""
        self._ip_batch(
            self.node, [f"link add {nic}{addr} type veth peer name {port} netns {self.switch}"]
        )
        self._ip_batch(self.switch, [f"link set {port} master br0 up"])
        self._ip_batch(self.node, [f"link set {nic} up"])
