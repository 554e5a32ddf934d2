"""DHCP test addresses in the daemon, with a real dnsmasq, through a DR cycle."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from test_dhcp_session import SERVER, Dnsmasq

from tests.support.node import Node

pytestmark = pytest.mark.netns

V4 = "198.51.100.10"
FDT = 1000


def probe_sources(node: Node) -> dict[str, str]:
    rows = node.stat("-n", "-t", "-P", "-o", "interface,testaddr").split()
    return dict(r.split(":", 1) for r in rows)


def states(node: Node) -> dict[str, str]:
    rows = node.stat("-i", "-P", "-o", "interface,probe,state").split()
    return {r.split(":", 1)[0]: r.split(":", 1)[1] for r in rows}


@pytest.fixture
def dhcp_node(node: Node, tmp_path: Path):  # noqa: ANN201
    lab = node.lab
    lab.run(lab.client, "ip", "addr", "add", f"{SERVER}/24", "dev", "eth0")
    # the DHCP server is also the probe target: it answers multicast echo
    lab.sysctl(lab.client, "net.ipv4.icmp_echo_ignore_broadcasts", "0")
    server = Dnsmasq(lab, tmp_path)
    server.start()
    try:
        yield node, server
    finally:
        server.stop()


def test_dhcp_test_addresses_survive_a_hot_swap(dhcp_node: tuple[Node, Dnsmasq]) -> None:
    node, server = dhcp_node
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    node.adm("create-addr", "-T", "test", "-a", "dhcp", "e0")
    node.adm("create-addr", "-T", "test", "-a", "dhcp", "e1")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.wait_for(lambda: all(re.match(r"203\.0\.113\.\d+$", a) for a in probe_sources(node)
                              .values()) and len(set(probe_sources(node).values())) == 2,
                  "two DHCP test addresses", timeout=15)
    leased = probe_sources(node)["e0"]
    info = lab.run(node.ns, "ip", "-o", "addr", "show", "dev", "e0").stdout
    assert f"{leased}/24" in info and "deprecated" in info  # a test address: never a source
    assert "default" not in lab.run(node.ns, "ip", "route").stdout  # no route from DHCP
    node.wait_for(lambda: states(node) == {"e0": "ok:ok", "e1": "ok:ok"}, "probing",
                  timeout=15)
    assert "dhcp" in node.adm("show-config").stdout
    ping = lab.spawn(lab.client, ["ping", "-n", "-D", "-i", "0.05", V4],
                     stdout=subprocess.PIPE)

    node.adm("offline", "e0")
    lab.delete_nic("e0")
    node.wait_for(lambda: node.iface("e0")["present"] is False, "the NIC to be gone")
    lab.recreate_nic("e0", mac="02:cf:00:00:0d:01")
    node.adm("online", "e0")
    node.wait_for(lambda: probe_sources(node).get("e0") == leased, "the same lease again",
                  timeout=20)
    node.wait_for(lambda: states(node)["e0"] == "ok:ok", "probing to resume", timeout=15)
    time.sleep(0.3)
    lab._signal(ping, 2)
    out, _ = ping.communicate(timeout=10)
    stamps = [float(m) for m in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", out.decode(),
                                           re.M)]
    assert stamps and max(b - a for a, b in zip(stamps, stamps[1:], strict=False)) < 1.0
    assert "DHCP test address" in node.log()


def test_no_server_means_link_based_until_a_lease_arrives(dhcp_node: tuple[Node, Dnsmasq]
                                                          ) -> None:
    node, server = dhcp_node
    server.stop()
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    node.adm("create-addr", "-T", "test", "-a", "dhcp", "e0")
    time.sleep(1.0)
    assert states(node)["e0"] == "disabled:ok"  # no lease: link-based detection only
    server.start()
    node.wait_for(lambda: states(node)["e0"] == "ok:ok", "a lease and probing", timeout=20)
    node.adm("delete-addr", probe_sources(node)["e0"])  # stops DHCP on e0
    node.wait_for(lambda: states(node)["e0"] == "disabled:ok", "DHCP stopped")
    assert '"dhcp"' not in node.adm("show-config").stdout


def test_dhcp_data_address_is_kept_across_failover(dhcp_node: tuple[Node, Dnsmasq]) -> None:
    import ipaddress

    from test_dhcp_session import T1

    node, server = dhcp_node
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", "dhcp", "ipmp0")

    def leased() -> dict[str, str]:
        return {a: m for a, m in node.inbound().items() if a.startswith("203.0.113.")}

    node.wait_for(lambda: len(leased()) == 1 and all(leased().values()),
                  "a DHCP data address", timeout=15)
    (address, holder), = leased().items()
    assert lab.client_ping(address)
    other = "e1" if holder == "e0" else "e0"
    lab.pull_cable(holder)
    node.wait_for(lambda: leased() == {address: other}, "the failover")
    assert lab.client_ping(address)
    # the lease is renewed through the member that now holds the address, same address
    mac = lab.mac(other)
    iface = ipaddress.ip_interface(f"{address}/24")
    node.wait_for(lambda: any(mac in line for line in server.lines("DHCPACK", iface)),
                  "a renewal through the new member", timeout=T1 * 2 + 5)
    assert leased() == {address: other}
    assert lab.client_ping(address)
    # the client id is the group's (RFC 4361 type 255), not a NIC's MAC
    assert "ff:" in server.leases() or " ff" in server.leases()
    node.adm("delete-addr", address)
    assert leased() == {}
    assert '"dhcp_data": []' in node.adm("show-config").stdout


def test_a_dhcp_test_address_removed_behind_the_daemon_is_restored(
        dhcp_node: tuple[Node, Dnsmasq]) -> None:
    """Someone deletes the leased test address (`ip addr del`, a network manager): the
    daemon puts it back and says so, like a static one; probing goes on from it."""
    node, _server = dhcp_node
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    node.adm("create-addr", "-T", "test", "-a", "dhcp", "e0")
    node.wait_for(lambda: states(node)["e0"] == "ok:ok", "a lease and probing", timeout=20)
    leased = probe_sources(node)["e0"]
    lab.run(node.ns, "ip", "addr", "del", f"{leased}/24", "dev", "e0")
    node.wait_for(lambda: node.holders(leased) == ["e0"], "the leased address restored")
    assert f"DHCP test address {leased}/24 of e0 was removed by someone else" in node.log()
    assert "deprecated" in lab.run(node.ns, "ip", "-o", "addr", "show", "to",
                                   f"{leased}/32").stdout  # still a test address
    time.sleep(3 * FDT / 1000)  # long enough to fail by probes if nothing answered
    assert states(node)["e0"] == "ok:ok"
    assert probe_sources(node)["e0"] == leased
