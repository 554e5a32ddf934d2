"""DhcpSession against a real dnsmasq: leases, renewal, release, hot-swap (DR), a server
that is away, move() to another member, and a lease running out while the NIC is gone.

dnsmasq runs in the lab's client namespace on its eth0 (given 203.0.113.1/24), handing
out 203.0.113.50-99 for 2 minutes (its shortest) with T1 = 10 s and T2 = 15 s (options
58/59, which dnsmasq honours), so a renewal can be watched in a test.

The sessions run in the node namespace: each scenario is an asyncio program run by a
thread that entered the namespace with setns(2) (network namespaces are per thread, and
every socket the session opens lands in the namespace of the thread that opens it). The
lab commands it calls are explicit about their namespace (``ip -n``/``ip netns exec``).

Where a renewal must be answered, the test's on_lease installs the address, as the
daemon would: a server answers a RENEWING request unicast to the leased address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest
from netns_thread import in_netns

from ipmp_core.net.dhcp import DhcpSession
from ipmp_core.net.dhcp_ids import client_id_for_group, client_id_for_member
from ipmp_core.net.dhcp_lease import Lease
from tests.support.lab import Lab

pytestmark = pytest.mark.netns

SERVER = "203.0.113.1"
POOL = (ipaddress.IPv4Address("203.0.113.50"), ipaddress.IPv4Address("203.0.113.99"))
T1, T2, LEASE_S = 10, 15, 120
HOST = "dhcptest"  # client ids as on a host of this name

T = TypeVar("T")


# --------------------------------------------------------------------------- helpers


class Dnsmasq:
    """dnsmasq in the lab's client namespace; started and stopped by PID (lab.spawn)."""

    def __init__(self, lab: Lab, tmp: Path) -> None:
        assert lab.client is not None
        self.lab = lab
        self.ns = lab.client
        self.logfile = tmp / "dnsmasq.log"
        self.leasefile = tmp / "dnsmasq.leases"
        self.pidfile = tmp / "dnsmasq.pid"
        self.proc: subprocess.Popen[Any] | None = None
        self._out: IO[str] | None = None

    def start(self) -> None:
        assert self.proc is None
        self._out = open(self.logfile, "a")  # noqa: SIM115 - closed in stop()
        before = self.log().count("sockets bound exclusively")
        self.proc = self.lab.spawn(
            self.ns,
            [
                "dnsmasq",
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--interface=eth0",
                "--bind-interfaces",
                "--no-ping",
                "--dhcp-authoritative",
                f"--dhcp-range={POOL[0]},{POOL[1]},255.255.255.0,2m",
                f"--dhcp-option=58,{T1}",
                f"--dhcp-option=59,{T2}",
                f"--dhcp-leasefile={self.leasefile}",
                f"--pid-file={self.pidfile}",
                "--log-dhcp",
                "--log-facility=-",
                "--user=root",
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            if self.log().count("sockets bound exclusively") > before:
                return
            assert self.proc.poll() is None, f"dnsmasq exited:\n{self.log()}"
            time.sleep(0.05)
        raise AssertionError(f"dnsmasq did not come up:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None
        if self._out is not None:
            self._out.close()
            self._out = None

    def log(self) -> str:
        try:
            return self.logfile.read_text()
        except FileNotFoundError:
            return ""

    def lines(self, what: str, addr: ipaddress.IPv4Interface) -> list[str]:
        """Log lines like 'DHCPACK(eth0) 203.0.113.57 02:..:..' for ``addr``."""
        pat = re.compile(rf"\b{what}\(eth0\) {re.escape(str(addr.ip))} ")
        return [line for line in self.log().splitlines() if pat.search(line)]

    def leases(self) -> str:
        try:
            return self.leasefile.read_text()
        except FileNotFoundError:
            return ""


@pytest.fixture
def dhcp_lab(lab: Lab, tmp_path: Path) -> Iterator[tuple[Lab, Dnsmasq]]:
    """The default lab plus a DHCP server (not started) on the client's eth0. Node NICs
    answer ARP only for their own addresses (arp_ignore=1), as the daemon sets members."""
    assert lab.client is not None
    lab.run(lab.client, "ip", "addr", "add", f"{SERVER}/24", "dev", "eth0")
    lab.sysctl(lab.node, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
    server = Dnsmasq(lab, tmp_path)
    try:
        yield lab, server
    finally:
        server.stop()


def run_in_netns(ns: str, scenario: Callable[[], Awaitable[T]], budget: float = 45) -> T:
    """Run the coroutine ``scenario()`` with its own event loop in a thread inside ``ns``."""

    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), budget)  # type: ignore[arg-type]

    return in_netns(ns, lambda: asyncio.run(bounded()), timeout=budget + 15)


class Recorder:
    """An on_lease callback that records its calls; optionally installs each lease on
    the session's current interface, as the daemon would."""

    def __init__(self, lab: Lab | None = None) -> None:
        self.calls: list[Lease | None] = []
        self.changed = asyncio.Event()
        self.lab = lab
        self.session: DhcpSession | None = None

    def __call__(self, lease: Lease | None) -> None:
        self.calls.append(lease)
        self.changed.set()
        if lease is not None and self.lab is not None and self.session is not None:
            addr = lease.address.with_prefixlen
            self.lab.run(self.lab.node, "ip", "addr", "replace", addr, "dev", self.session.ifname)

    async def wait(self, pred: Callable[[list[Lease | None]], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not pred(self.calls):
                self.changed.clear()
                await self.changed.wait()


async def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(step)


def session(ifname: str, rec: Recorder, cid: bytes) -> DhcpSession:
    s = DhcpSession(ifname, client_id=cid, on_lease=rec, hostname="node1")
    rec.session = s
    return s


def in_pool(lease: Lease) -> bool:
    return POOL[0] <= lease.address.ip <= POOL[1]


def cid_hex(cid: bytes) -> str:
    """A client id as dnsmasq writes it in its lease file."""
    return ":".join(f"{b:02x}" for b in cid)


# --------------------------------------------------------------------------- tests


def test_sessions_lease_renew_release(dhcp_lab: tuple[Lab, Dnsmasq]) -> None:
    """Two members, each with its session, plus a group (data address) session on e0 as
    well: three leases; all renew at T1 through their NIC (unicast, answered because
    on_lease installed the address); stop(release=True) sends a DHCPRELEASE, stop() does
    not; nothing is left running."""
    lab, server = dhcp_lab
    server.start()
    cid0 = client_id_for_member("ipmp0", "e0", host=HOST)
    cid1 = client_id_for_member("ipmp0", "e1", host=HOST)
    cidg = client_id_for_group("ipmp0", 0, host=HOST)

    async def scenario() -> tuple[list[Lease], list[Lease]]:
        before = asyncio.all_tasks()
        recs = [Recorder(lab), Recorder(lab), Recorder(lab)]
        sessions = [
            session("e0", recs[0], cid0),
            session("e1", recs[1], cid1),
            session("e0", recs[2], cidg),
        ]
        assert sessions[0].state == "init" and sessions[0].lease is None
        t0 = time.monotonic()
        try:
            for s in sessions:
                await s.start()
            first = [await s.wait_for_lease(5) for s in sessions]
            print(f"all bound in {time.monotonic() - t0:.2f}s")
            for rec, lease in zip(recs, first, strict=True):
                assert rec.calls == [lease]
            assert [s.state for s in sessions] == ["bound"] * 3
            # Renewal at T1 (10 s after the ACK): on_lease again, same address, later.
            for rec in recs:
                await rec.wait(lambda c: len(c) >= 2, T1 + 5)
            print(f"all renewed {time.monotonic() - t0:.2f}s after start")
            renewed = [rec.calls[1] for rec in recs]
            assert all(None not in rec.calls for rec in recs)
            await sessions[0].stop(release=True)
            await sessions[1].stop()
            await sessions[2].stop()
            assert [s.state for s in sessions] == ["stopped"] * 3
            assert sessions[0].lease is None  # released
            assert sessions[1].lease == recs[1].calls[-1]  # not released: ours until it ends
            await asyncio.sleep(0.05)
            left = {t for t in asyncio.all_tasks() if not t.done()} - before
            assert not left, left
            return first, renewed  # type: ignore[return-value]
        finally:
            for s in sessions:
                await s.stop()

    (l0, l1, lg), (r0, r1, rg) = run_in_netns(lab.node, scenario)
    assert len({l0.address, l1.address, lg.address}) == 3
    for lease in (l0, l1, lg):
        assert in_pool(lease) and lease.address.network.prefixlen == 24
        assert lease.server == SERVER and lease.router == SERVER
        assert (lease.lease_time, lease.renewal_time, lease.rebinding_time) == (LEASE_S, T1, T2)
    assert (r0.address, r1.address, rg.address) == (l0.address, l1.address, lg.address)
    assert r0.obtained_at - l0.obtained_at == pytest.approx(T1, abs=1.5)
    # Each renewal was answered, and each REQUEST came from its member's own MAC.
    for lease, nic in ((l0, "e0"), (l1, "e1"), (lg, "e0")):
        assert len(server.lines("DHCPACK", lease.address)) >= 2
        requests = server.lines("DHCPREQUEST", lease.address)
        assert len(requests) >= 2 and all(lab.mac(nic) in line for line in requests)
    # The release reached the server, only for e0's member session.
    deadline = time.monotonic() + 3
    while not server.lines("DHCPRELEASE", l0.address) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.lines("DHCPRELEASE", l0.address)
    assert not server.lines("DHCPRELEASE", l1.address)
    assert not server.lines("DHCPRELEASE", lg.address)
    # Our option-61 bytes went out verbatim: dnsmasq keys the leases on them.
    leases = server.leases()
    assert f" {l0.address.ip} " not in leases
    for lease, cid in ((l1, cid1), (lg, cidg)):
        line = next(x for x in leases.splitlines() if f" {lease.address.ip} " in x)
        assert line.split()[-1] == cid_hex(cid)


def test_dr_nic_replaced_gets_the_same_address(dhcp_lab: tuple[Lab, Dnsmasq]) -> None:
    """Admin-down/up, then hot-swap e0 (deleted, re-created with a new MAC and ifindex):
    the session waits, then re-confirms the SAME address with the same client id and calls
    on_lease again. The client itself configures nothing."""
    lab, server = dhcp_lab
    server.start()
    cid = client_id_for_member("ipmp0", "e0", host=HOST)
    new_mac = "02:00:5e:00:d4:01"

    async def scenario() -> tuple[Lease, list[Lease | None], dict[str, float]]:
        rec = Recorder()  # installs nothing: the client must not either
        s = session("e0", rec, cid)
        times: dict[str, float] = {}
        await s.start()
        try:
            first = await s.wait_for_lease(5)
            addrs = lab.run(lab.node, "ip", "-4", "-o", "addr", "show").stdout
            routes = lab.run(lab.node, "ip", "-4", "route", "show").stdout
            assert "203.0.113." not in addrs and routes.strip() == ""

            lab.run(lab.node, "ip", "link", "set", "e0", "down")
            await wait_until(lambda: s.state == "waiting", 3)
            t = time.monotonic()
            lab.run(lab.node, "ip", "link", "set", "e0", "up")
            await rec.wait(lambda c: len(c) >= 2, 5)
            times["down/up"] = time.monotonic() - t

            old_index = lab.ifindex("e0")
            lab.delete_nic("e0")
            await wait_until(lambda: s.state == "waiting", 3)
            assert s.lease == rec.calls[-1]  # still held while the NIC is away
            await asyncio.sleep(0.5)
            t = time.monotonic()
            lab.recreate_nic("e0", mac=new_mac)
            assert lab.ifindex("e0") != old_index
            await rec.wait(lambda c: len(c) >= 3, 5)
            times["re-created"] = time.monotonic() - t
            assert s.state == "bound"
            return first, list(rec.calls), times
        finally:
            await s.stop()

    first, calls, times = run_in_netns(lab.node, scenario)
    print("re-confirmed after", {k: f"{v:.2f}s" for k, v in times.items()})
    assert None not in calls
    assert [c.address for c in calls if c] == [first.address] * 3
    acks = server.lines("DHCPACK", first.address)
    assert any(new_mac in line for line in acks), acks


def test_no_server_then_server(dhcp_lab: tuple[Lab, Dnsmasq]) -> None:
    """Nobody answers: no lease, no on_lease call, no crash; the client keeps trying and
    the lease comes as soon as a server is there (next retransmission, about 4 s)."""
    lab, server = dhcp_lab
    cid = client_id_for_group("ipmp0", 0, host=HOST)

    async def scenario() -> tuple[Lease, list[Lease | None], float]:
        rec = Recorder()
        s = session("e0", rec, cid)
        await s.start()
        try:
            await asyncio.sleep(1.5)
            assert s.lease is None and rec.calls == [] and s.state == "init"
            server.start()
            t = time.monotonic()
            lease = await s.wait_for_lease(15)
            waited = time.monotonic() - t
            await asyncio.sleep(0.2)
            return lease, list(rec.calls), waited
        finally:
            await s.stop()

    lease, calls, waited = run_in_netns(lab.node, scenario)
    print(f"lease {waited:.2f}s after the server started")
    assert calls == [lease] and in_pool(lease)
    assert cid_hex(cid) in server.leases()


def test_move_renews_through_the_new_member(dhcp_lab: tuple[Lab, Dnsmasq]) -> None:
    """A data address's session starts on e0 and is moved to e1 (the address moves with
    it, as on failover): the lease is re-confirmed through e1 at once, and after e0's
    cable is pulled the T1 renewal goes out through e1 and keeps the lease bound."""
    lab, server = dhcp_lab
    server.start()
    cid = client_id_for_group("ipmp0", 0, host=HOST)
    mac0, mac1 = lab.mac("e0"), lab.mac("e1")

    async def scenario() -> tuple[Lease, list[Lease | None], float]:
        rec = Recorder(lab)
        s = session("e0", rec, cid)
        await s.start()
        try:
            first = await s.wait_for_lease(5)
            await rec.wait(lambda c: len(c) >= 1, 1)
            # Failover: the daemon moves the address to e1, then the session.
            addr = first.address.with_prefixlen
            lab.run(lab.node, "ip", "addr", "del", addr, "dev", "e0")
            lab.run(lab.node, "ip", "addr", "add", addr, "dev", "e1")
            s.move("e1")
            assert s.ifname == "e1"
            await rec.wait(lambda c: len(c) >= 2, 5)
            moved_at = time.monotonic()
            lab.pull_cable("e0")
            lab.neigh_flush_client()  # what the daemon's gratuitous ARP achieves
            await rec.wait(lambda c: len(c) >= 3, T1 + 5)
            renewed_after = time.monotonic() - moved_at
            assert s.state == "bound" and s.ifname == "e1"
            return first, list(rec.calls), renewed_after
        finally:
            await s.stop()

    first, calls, renewed_after = run_in_netns(lab.node, scenario)
    print(f"renewed through e1 {renewed_after:.2f}s after the move")
    assert None not in calls
    assert [c.address for c in calls if c] == [first.address] * 3
    requests = server.lines("DHCPREQUEST", first.address)
    # first REQUEST (from the offer) via e0; every one after the move via e1.
    assert mac0 in requests[0]
    assert len(requests) >= 3 and all(mac1 in line for line in requests[1:]), requests


def test_lease_expires_while_nic_is_gone(dhcp_lab: tuple[Lab, Dnsmasq]) -> None:
    """The member is missing at start; a held lease (1 s left, injected) runs out while it
    is gone: on_lease(None) once. When the NIC appears, a new lease arrives."""
    lab, server = dhcp_lab
    server.start()
    cid = client_id_for_member("ipmp0", "e2", host=HOST)
    lab.delete_nic("e2")

    async def scenario() -> tuple[list[Lease | None], list[str]]:
        rec = Recorder()
        s = session("e2", rec, cid)
        states = []
        await s.start()
        try:
            await asyncio.sleep(0.2)
            states.append(s.state)
            fake = Lease(
                address=ipaddress.IPv4Interface("203.0.113.77/24"),
                server=SERVER,
                router=None,
                lease_time=1.0,
                renewal_time=0.5,
                obtained_at=time.monotonic(),
            )
            s._held.adopt(fake, None)
            assert s.lease == fake
            await rec.wait(lambda c: len(c) >= 1, 3)
            assert s.lease is None
            await asyncio.sleep(2.5)  # no repeated None
            states.append(s.state)
            assert rec.calls == [None]
            lab.recreate_nic("e2")
            await s.wait_for_lease(6)
            states.append(s.state)
            return list(rec.calls), states
        finally:
            await s.stop()

    calls, states = run_in_netns(lab.node, scenario)
    assert states == ["waiting", "waiting", "bound"]
    assert calls[0] is None and len(calls) == 2 and calls[1] is not None and in_pool(calls[1])
