"""Failure detection and repair as in.mpathd decides them, on the real kernel: a port
that comes back up with a broken path stays failed until its probes answer
(phyint_repaired()), and a group whose every path goes dark fails at once
(failure_state() -> GROUP_FAILURE)."""

from __future__ import annotations

import re
import time

import pytest

from ipmp_core.constants import NUM_PROBE_REPAIRS
from tests.support.node import Node

pytestmark = pytest.mark.netns

DATA = "198.51.100.10"
ROUTER = "198.51.100.1"
TEST = {"e0": "198.51.100.21", "e1": "198.51.100.22"}
UNUSABLE = "All IP interfaces in group ipmp0 are now unusable"


def probing_group(node: Node, fdt_ms: int) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={fdt_ms}", "ipmp0")
    for member, address in TEST.items():
        node.adm("create-addr", "-T", "test", "-a", f"{address}/24", member)
    node.adm("create-addr", "-a", f"{DATA}/24", "ipmp0")
    node.adm("create-route", "-g", ROUTER, "ipmp0")  # the router is the probe target
    node.wait_for(lambda: states(node) == {"e0": "ok", "e1": "ok"}, "probing to be ok")
    # "ok" comes with the targets; the quiet period ends only with a first answer
    node.wait_for(lambda: answering(node) >= set(TEST), "answers on every member")


def states(node: Node) -> dict[str, str]:
    rows = node.stat("-i", "-P", "-o", "interface,state").split()
    return dict(r.split(":") for r in rows)


def answering(node: Node) -> set[str]:
    """Members whose probes the daemon's statistics dump shows answered."""
    mark = len(node.log())
    node.adm("dump")
    time.sleep(0.2)  # the dump is written by the daemon's loop
    found = re.findall(r"probes (\S+) inet from \S+: (\d+) answered", node.log()[mark:])
    return {member for member, count in found if int(count) > 0}


def test_repair_after_link_failure_waits_for_ten_answered_probes(node: Node) -> None:
    """The cable comes back but the port still drops the probes: the link is up, the
    member stays failed and its address stays on e1; it is repaired only once its probes
    are answered again, NUM_PROBE_REPAIRS of them."""
    fdt_ms = 1000  # interval 143 ms
    lab = node.lab
    probing_group(node, fdt_ms)
    lab.drop_icmp("e0")
    lab.pull_cable("e0")
    node.wait_for(lambda: states(node)["e0"] == "failed", "e0 to fail by its link")
    lab.plug_cable("e0")
    node.wait_for(lambda: "The link has come up on e0" in node.log(), "the link-up")
    assert lab.carrier("e0")
    time.sleep(5 * fdt_ms / 1000)  # dozens of probe intervals: all of them lost
    assert states(node)["e0"] == "failed"
    assert node.inbound()[DATA] == "e1"
    assert "IP interface repair detected on e0" not in node.log()
    lab.undrop_icmp("e0")
    start = time.monotonic()
    node.wait_for(lambda: states(node)["e0"] == "ok", "the repair by probes")
    took = time.monotonic() - start
    # NUM_PROBE_REPAIRS answers, each probe at least half an interval after the last
    assert took >= (NUM_PROBE_REPAIRS - 1) * fdt_ms / 7 / 2 / 1000, took
    assert "IP interface repair detected on e0 of group ipmp0" in node.log()


def test_group_failure_is_declared_within_one_fdt(node: Node) -> None:
    """Every member's probes dropped at once: no member got an answer after the others'
    first loss, so the group fails within one FDT with in.mpathd's line; the old
    engine first suspected the targets for one more FDT (2 x FDT)."""
    fdt_ms = 3000  # long enough for the measurement to tell one FDT from two
    lab = node.lab
    probing_group(node, fdt_ms)
    start = time.monotonic()
    lab.drop_icmp("e0")
    lab.drop_icmp("e1")
    node.wait_for(lambda: node.group_state() == "failed", "the group failure", timeout=10)
    took = time.monotonic() - start
    assert took <= 1.5 * fdt_ms / 1000, took  # 2 x FDT before; polling and load add a little
    assert node.log().count(UNUSABLE) == 1
    assert "looking for other targets" not in node.log()
    assert node.inbound()[DATA] == ""
    lab.undrop_icmp("e0")
    lab.undrop_icmp("e1")
    node.wait_for(lambda: node.group_state() == "ok", "the group repair", timeout=20)
