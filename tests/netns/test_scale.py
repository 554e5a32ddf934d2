"""Many data addresses: added in one request, failed over and back as netlink batches, and
the daemon still following the kernel afterwards."""

from __future__ import annotations

import pytest
from test_events import data_addresses, follow_after_burst, kernel_holders

from tests.support.node import Node

pytestmark = pytest.mark.netns

# The large site: a thousand data addresses in one group.
LARGE = 1000
# Failovers and failbacks of the large group before checking that the daemon still follows.
CYCLES = 3


def test_create_addr_adds_several_addresses_in_one_request(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", "198.51.100.10/24", "-a", "198.51.100.11/24",
             "-a", "2001:db8:1::10/64", "ipmp0")
    inbound = node.inbound()
    assert set(inbound) == {"198.51.100.10", "198.51.100.11", "2001:db8:1::10"}
    held = kernel_holders(node)
    assert all(held[ip] == [member] for ip, member in inbound.items())
    assert "Traceback" not in node.log()


def test_a_batch_with_one_bad_address_adds_none(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", "198.51.100.10/24", "ipmp0")
    res = node.adm("create-addr", "-a", "198.51.100.20/24", "-a", "198.51.100.10/24",
                   "-a", "198.51.100.21/24", "ipmp0", check=False)
    assert res.returncode == 1
    assert "already belongs to group ipmp0" in res.stderr
    assert "none of the 3 addresses was added" in res.stderr
    assert "Traceback" not in res.stderr
    assert set(node.inbound()) == {"198.51.100.10"}
    held = kernel_holders(node)
    assert "198.51.100.20" not in held and "198.51.100.21" not in held
    res = node.adm("create-addr", "-a", "198.51.100.20/24", "-a", "not-an-address",
                   "ipmp0", check=False)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert set(node.inbound()) == {"198.51.100.10"}


def test_1000_addresses_fail_over_and_back_three_times_and_the_daemon_still_follows(
        node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    addresses = data_addresses(LARGE)
    node.adm("create-addr", *[x for a in addresses for x in ("-a", a)], "ipmp0")
    assert len(node.inbound()) == LARGE
    follow_after_burst(node, addresses, cycles=CYCLES)
