"""A family without probe targets does not vote (issue 10, point 5), on the real kernel.

IPv4 test addresses with no IPv4 target (no route through the router, and Linux hosts
ignore multicast echo), IPv6 probing from the link-locals to the hosts that answer
ff02::1. A member cut off the LAN with its carrier up must fail by its IPv6 probes
alone, within about the FDT, and give up its data addresses.
"""

from __future__ import annotations

import time

import pytest

from tests.netns.test_probe_detection import wait_probing
from tests.support.node import Node

pytestmark = pytest.mark.netns

V4 = "198.51.100.10"
V6 = "2001:db8:1::10"
FDT = 1000  # ms
TEST = {"e0": "198.51.100.21", "e1": "198.51.100.22"}
# Failure takes NUM_PROBE_FAILS lost probes (about the FDT); the rest is the daemon's and
# ipmpstat's polling on a shared 2-core machine.
FAIL_BOUND_S = 2 * FDT / 1000


def states(node: Node) -> dict[str, tuple[str, str]]:
    rows = node.stat("-i", "-P", "-o", "interface,probe,state").split()
    return {r.split(":")[0]: tuple(r.split(":")[1:]) for r in rows}


def test_member_fails_by_ipv6_probes_when_ipv4_has_no_target(node: Node) -> None:
    lab = node.lab
    assert lab.router is not None and lab.client is not None
    for ns in (lab.router, lab.client):  # Linux's default, said out loud
        lab.sysctl(ns, "net.ipv4.icmp_echo_ignore_broadcasts", "1")
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    for m, addr in TEST.items():
        node.adm("create-addr", "-T", "test", "-a", f"{addr}/24", m)
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-addr", "-a", f"{V6}/64", "ipmp0")
    node.wait_for(lambda: states(node) == {"e0": ("ok", "ok"), "e1": ("ok", "ok")},
                  "IPv6 probing to be ok on both members", timeout=15)
    if node.inbound()[V4] != "e1":  # the address under test lives on the member we cut
        node.adm("offline", "e0")
        node.wait_for(lambda: node.inbound()[V4] == "e1", "the address on e1")
        node.adm("online", "e0")
        node.wait_for(lambda: states(node)["e0"] == ("ok", "ok"), "e0 back")
        node.inbound()  # stays on e1: placement moves nothing to a member coming back
    assert node.inbound()[V4] == "e1" or node.inbound()[V6] == "e1"
    on_e1 = [a for a, m in node.inbound().items() if m == "e1"]
    # PROBE ok comes with the targets; e1's losses count only once an answer has ended
    # its quiet period (and e0 must be answering to make it e1's failure alone)
    wait_probing(node, "e0", "e1")

    lab.drop_icmp("e1", keep_nd=False)  # cut off: carrier up, no probe gets through
    start = time.monotonic()
    node.wait_for(lambda: states(node)["e1"] == ("failed", "failed"),
                  "e1 to fail by IPv6 probes", timeout=10 * FDT / 1000)
    took = time.monotonic() - start
    assert took < FAIL_BOUND_S, took
    assert lab.carrier("e1")
    assert states(node)["e0"] == ("ok", "ok")
    node.wait_for(lambda: all(node.inbound()[a] == "e0" for a in on_e1),
                  "e1's data addresses to move to e0")
    assert lab.client_ping(V4)

    # ipmpstat -t: IPv4 probes with no target (MODE multicast, TARGETS --), IPv6 has some.
    rows = node.stat("-t", "-P", "-o", "interface,mode,testaddr,targets").splitlines()
    assert f"e0:multicast:{TEST['e0']}:" in rows, rows
    assert any(r.startswith("e0:multicast:fe80") and not r.endswith(":") for r in rows), rows
    human = node.stat("-t").splitlines()
    assert any(line.split()[:2] == ["e0", "multicast"] and line.split()[-1] == "--"
               for line in human), human
