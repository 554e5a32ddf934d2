"""The anonymous group on the real kernel (TRACK_INTERFACES_ONLY_WITH_GROUPS=no): two
interfaces in no group, each with a test address on a subnet of its own, each probing
the router of its subnet; one fails alone, is repaired alone, and ipmpstat shows it."""

from __future__ import annotations

import os
import signal

import pytest

from tests.netns.test_probe_detection import FDT, probe_states, wait_probing
from tests.support.node import Node

pytestmark = pytest.mark.netns

ROUTER_A, ROUTER_B = "198.51.100.1", "203.0.113.1"  # one router, a leg in each subnet
TEST_A, TEST_B = "198.51.100.21", "203.0.113.22"
# A destination behind each router: the routes make the routers probe targets.
BEHIND_A, BEHIND_B = "192.0.2.0/25", "192.0.2.128/25"
# Repair takes NUM_PROBE_REPAIRS answers at FDT/7 apart (1.4 s); room for a busy machine.
REPAIR_TIMEOUT_S = 15.0


def _track_all(node: Node) -> None:
    """TRACK_INTERFACES_ONLY_WITH_GROUPS=no and the short FDT, applied by SIGHUP."""
    (node.state_dir / "defaults").write_text("TRACK_INTERFACES_ONLY_WITH_GROUPS=no\n"
                                             f"FAILURE_DETECTION_TIME={FDT}\n")
    assert node.daemon is not None
    os.kill(node.daemon.pid, signal.SIGHUP)
    node.wait_for(lambda: "SIGHUP: rereading" in node.log(), "SIGHUP")


def _targets(node: Node) -> dict[str, str]:
    rows = node.stat("-n", "-t", "-P", "-o", "interface,testaddr,targets").splitlines()
    return {r.split(":")[0]: r.split(":", 1)[1] for r in rows if r}


def _anonymous_row(node: Node) -> str | None:
    rows = node.stat("-g", "-P", "-o", "group,groupname,state,interfaces").splitlines()
    return next((r[len(":"):] for r in rows if r.startswith("::")), None)


def test_ungrouped_interfaces_on_two_subnets_probe_their_own_router_and_fail_alone(
        node: Node) -> None:
    lab = node.lab
    assert lab.router is not None
    lab.run(lab.router, "ip", "addr", "add", f"{ROUTER_B}/24", "dev", "eth0")
    _track_all(node)
    assert _anonymous_row(node) == ":ok:"  # listed for good, before any member
    node.adm("create-addr", "-T", "test", "-a", f"{TEST_A}/24", "e0")
    node.adm("create-addr", "-T", "test", "-a", f"{TEST_B}/24", "e1")
    # Test addresses have no prefix route: the gateways are on-link by declaration.
    lab.run(node.ns, "ip", "route", "add", BEHIND_A, "via", ROUTER_A, "dev", "e0", "onlink")
    lab.run(node.ns, "ip", "route", "add", BEHIND_B, "via", ROUTER_B, "dev", "e1", "onlink")
    want = {"e0": f"{TEST_A}:{ROUTER_A}", "e1": f"{TEST_B}:{ROUTER_B}"}
    node.wait_for(lambda: _targets(node) == want, "each interface's own router as target")
    wait_probing(node, "e0", "e1")
    assert _anonymous_row(node) == ":ok:e0 e1"

    lab.drop_icmp("e1")
    node.wait_for(lambda: probe_states(node)["e1"] == ("failed", "failed"), "e1 failure")
    assert probe_states(node)["e0"] == ("ok", "ok")
    assert "e1::failed:failed" in node.stat("-i", "-P", "-o", "interface,group,probe,state")
    assert _anonymous_row(node) == ":ok:e0 [e1]"
    human = node.stat("-g").splitlines()[-1].split()
    # FDT: the configured one, unless a slow answer on a busy machine raised it
    assert human[:3] + human[4:] == ["--", "--", "ok", "e0", "[e1]"]
    assert float(human[3].rstrip("s")) >= FDT / 1000
    log = node.log()
    assert any(line.endswith("IP interface failure detected on e1")
               for line in log.splitlines())
    assert "failure detected on e0" not in log and "are now unusable" not in log

    lab.undrop_icmp("e1")
    node.wait_for(lambda: probe_states(node)["e1"] == ("ok", "ok"), "e1 repair",
                  timeout=REPAIR_TIMEOUT_S)
    assert any(line.endswith("IP interface repair detected on e1")
               for line in node.log().splitlines())
    assert _anonymous_row(node) == ":ok:e0 e1"
