"""The daemon never stops following the kernel: a burst of address notifications (a
failover of many data addresses) must not leave it deaf, and when notifications are lost
anyway it resynchronises from a fresh dump and says so."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ipmp_core.net.event_socket import EVENT_RCVBUF_ENV
from tests.support.lab import Lab
from tests.support.node import Node

pytestmark = pytest.mark.netns

# How long the daemon may take to follow a cable pull of many addresses (moves, then the
# notifications of its own moves); generous because the machine is shared.
MOVE_S = 30.0
# An address removed by hand is restored in milliseconds; the bound only matters when the
# daemon stopped listening.
RESTORE_S = 10.0
# Addresses in the client's subnet (the router is .1, the client .200).
V4_FIRST, V4_LAST = 2, 199


def v4_addresses(count: int) -> list[str]:
    if count > V4_LAST - V4_FIRST + 1:
        raise ValueError(f"at most {V4_LAST - V4_FIRST + 1} IPv4 data addresses")
    return [f"198.51.100.{i}" for i in range(V4_FIRST, V4_FIRST + count)]


def data_addresses(count: int) -> list[str]:
    """``count`` data addresses with prefix: IPv4 in the client's subnet first, then IPv6
    (2001:db8:1::/64, also the client's) for the rest."""
    v4 = v4_addresses(min(count, V4_LAST - V4_FIRST + 1))
    v6 = [f"2001:db8:1::1:{i:x}" for i in range(count - len(v4))]
    return [f"{a}/24" for a in v4] + [f"{a}/64" for a in v6]


def add_addresses(node: Node, addresses: list[str], group: str = "ipmp0") -> None:
    """Add many data addresses in one batch request (all or nothing; one duplicate
    address probe for all of them)."""
    code = (
        "import json, sys\n"
        "from ipmp_core.control_client import ControlClient\n"
        "client = ControlClient(timeout=120)\n"
        "client.call('add-addresses', group=sys.argv[1], addresses=json.loads(sys.argv[2]))\n"
    )
    res = node.exec(sys.executable, "-c", code, group, json.dumps(addresses))
    assert res.returncode == 0, res.stderr


def kernel_holders(node: Node) -> dict[str, list[str]]:
    """Every global address of the node -> the interfaces that carry it (one dump)."""
    out = node.lab.run(node.ns, "ip", "-j", "addr", "show").stdout
    found: dict[str, list[str]] = {}
    for link in json.loads(out):
        for info in link.get("addr_info", []):
            if info.get("scope") == "global":
                found.setdefault(info["local"], []).append(link["ifname"])
    return found


def interfaces(node: Node) -> dict[str, tuple[str, str]]:
    """ipmpstat -i, as an operator reads it: interface -> (link, state)."""
    out = node.stat("-i", "-P", "-o", "interface,link,state")
    rows = [line.split(":") for line in out.splitlines() if line]
    return {name: (link, state) for name, link, state in rows}


def all_on(node: Node, addresses: list[str], member: str) -> bool:
    """Every address is on ``member`` only, in the kernel and in ipmpstat."""
    held = kernel_holders(node)
    ips = [a.split("/")[0] for a in addresses]
    if any(held.get(ip) != [member] for ip in ips):
        return False
    inbound = node.inbound()
    return all(inbound.get(ip) == member for ip in ips)


def ping_from_client(lab: Lab, addr: str, tries: int = 5) -> bool:
    """The client reaches ``addr`` (a few tries: its neighbour entry may be moving)."""
    return any(lab.client_ping(addr) for _ in range(tries))


def follow_after_burst(node: Node, addresses: list[str], cycles: int = 1) -> None:
    """Fail over and back ``cycles`` times (e0's cable, then e1's, in turn: a link that
    comes up more than twice a minute is damped as flapping, by design), then check that
    the daemon still follows the kernel: an address removed by hand, a second failure."""
    lab = node.lab
    for cycle in range(cycles):
        pulled, other = ("e0", "e1") if cycle % 2 == 0 else ("e1", "e0")
        lab.pull_cable(pulled)
        node.wait_for(lambda other=other: all_on(node, addresses, other),
                      f"every data address to move to {other}", timeout=MOVE_S)
        lab.plug_cable(pulled)
        node.wait_for(lambda pulled=pulled: interfaces(node).get(pulled) == ("up", "ok"),
                      f"ipmpstat -i to show {pulled} up and ok again", timeout=MOVE_S)
        node.wait_for(lambda: set(node.inbound().values()) == {"e0", "e1"},
                      "failback to spread the addresses again", timeout=MOVE_S)
    time.sleep(1.0)  # let the notifications of the last moves arrive

    # An address removed by hand is noticed and put back.
    victim = addresses[0].split("/")[0]
    holder = node.inbound()[victim]
    lab.run(node.ns, "ip", "addr", "del", addresses[0], "dev", holder)
    node.wait_for(lambda: kernel_holders(node).get(victim) == [holder],
                  f"{victim} to be restored on {holder}", timeout=RESTORE_S)

    # The other cable: everything lands on e0, and the client still reaches it.
    lab.pull_cable("e1")
    node.wait_for(lambda: all_on(node, addresses, "e0"),
                  "every data address to move to e0", timeout=MOVE_S)
    assert node.group_state() == "degraded"
    assert ping_from_client(lab, v4_addresses(1)[0])
    assert "Traceback" not in node.log()


def test_a_failover_of_150_addresses_leaves_the_daemon_following_the_kernel(
        node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    addresses = data_addresses(150)
    add_addresses(node, addresses)
    assert len(node.inbound()) == 150
    follow_after_burst(node, addresses)


def test_lost_notifications_are_logged_and_resynchronised_from_a_dump(
        lab: Lab, tmp_path: Path) -> None:
    """A receive buffer of the kernel's minimum (a few notifications) and a burst of
    removals by hand: the notifications are lost (ENOBUFS), the daemon says how many and
    puts back every address from a fresh dump, as it would have one by one."""
    node = Node(lab, tmp_path / "state")
    node.env[EVENT_RCVBUF_ENV] = "1"  # the kernel rounds it up to its minimum
    node.start()
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    addresses = data_addresses(40)
    add_addresses(node, addresses)
    node.wait_for(lambda: set(node.inbound().values()) == {"e0", "e1"}, "40 addresses")
    time.sleep(1.0)  # notifications of the adds are read (or lost and resynchronised)
    before = node.log().count("Kernel notifications were lost")
    bound = node.inbound()

    # Removed by hand in one burst, faster than the daemon reads: ENOBUFS.
    batch = "".join(f"addr del {a} dev {bound[a.split('/')[0]]}\n" for a in addresses)
    res = subprocess.run(["ip", "-n", node.ns, "-batch", "-"], input=batch, text=True,
                         capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    node.wait_for(lambda: node.log().count("Kernel notifications were lost") > before,
                  "the daemon to notice the lost notifications")
    node.wait_for(lambda: all(kernel_holders(node).get(a.split("/")[0])
                              == [bound[a.split("/")[0]]] for a in addresses),
                  "every address to be restored where it was", timeout=RESTORE_S)
    assert node.inbound() == bound
    lost = [line for line in node.log().splitlines()
            if "Kernel notifications were lost" in line][before:]
    assert "WARNING" in lost[0]
    assert "ENOBUFS" in lost[0]
    assert re.search(r"; [1-9]\d* notifications dropped\)", lost[0]), lost[0]

    # Still following: a cable pull and its repair.
    lab.pull_cable("e0")
    node.wait_for(lambda: all_on(node, addresses, "e1"), "every address to move to e1",
                  timeout=MOVE_S)
    lab.plug_cable("e0")
    node.wait_for(lambda: interfaces(node).get("e0") == ("up", "ok"),
                  "ipmpstat -i to show e0 up and ok again", timeout=MOVE_S)
    assert "Traceback" not in node.log()
