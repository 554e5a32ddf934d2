"""The anonymous group with transitive probing on the real kernel: e0, in no group, with
a plain `ip addr` address on the router's subnet, is tracked once the defaults file says
TRACK_INTERFACES_ONLY_WITH_GROUPS=no and TRANSITIVE_PROBING=yes, probes the router from
its own address, fails when the switch drops its ICMP, is repaired when the drop is
lifted, and leaves when its address goes. No test address anywhere."""

from __future__ import annotations

import os
import signal

import pytest

from tests.netns.test_anonymous_group_kernel import REPAIR_TIMEOUT_S
from tests.netns.test_probe_detection import FDT, probe_states, wait_probing
from tests.support.node import Node

pytestmark = pytest.mark.netns

OWN = "198.51.100.31"  # e0's own address, on the router's subnet (lab.py's router)
BEHIND = "192.0.2.0/25"  # a destination behind the router: its route makes it a target


def _defaults(node: Node, transitive: str) -> None:
    """Every interface tracked, TRANSITIVE_PROBING as given, the short FDT; SIGHUP."""
    node.defaults.write_text("TRACK_INTERFACES_ONLY_WITH_GROUPS=no\n"
                             f"TRANSITIVE_PROBING={transitive}\n"
                             f"FAILURE_DETECTION_TIME={FDT}\n")
    assert node.daemon is not None
    before = node.log().count("SIGHUP: rereading")
    os.kill(node.daemon.pid, signal.SIGHUP)
    node.wait_for(lambda: node.log().count("SIGHUP: rereading") > before, "SIGHUP")


def _targets(node: Node) -> list[str]:
    return [r for r in node.stat("-n", "-t", "-P", "-o",
                                 "interface,mode,testaddr,targets").splitlines() if r]


def _tracked(node: Node) -> list[str]:
    return [r for r in node.stat("-i", "-P", "-o", "interface,group").splitlines() if r]


def _anonymous_row(node: Node) -> str | None:
    rows = node.stat("-g", "-P", "-o", "group,groupname,state,interfaces").splitlines()
    return next((r[len(":"):] for r in rows if r.startswith("::")), None)


def test_an_ungrouped_interface_probes_the_router_from_its_own_address(node: Node) -> None:
    lab = node.lab
    assert lab.router_addr4 is not None
    router = lab.router_addr4
    lab.run(node.ns, "ip", "addr", "add", f"{OWN}/24", "dev", "e0")
    lab.run(node.ns, "ip", "route", "add", BEHIND, "via", router, "dev", "e0")
    _defaults(node, "no")  # tracking every interface is not enough: nothing probes
    assert _anonymous_row(node) == ":ok:"
    assert _tracked(node) == []

    _defaults(node, "yes")
    node.wait_for(lambda: _targets(node) == [f"e0:routes:{OWN}:{router}"],
                  "e0 probing the router from its own address")
    wait_probing(node, "e0")
    assert _tracked(node) == ["e0:"]  # not lo, not e1 (no address of its own)
    assert _anonymous_row(node) == ":ok:e0"

    lab.drop_icmp("e0")
    node.wait_for(lambda: probe_states(node)["e0"] == ("failed", "failed"), "e0 failure")
    assert _anonymous_row(node) == ":ok:[e0]"
    assert any(line.endswith("IP interface failure detected on e0")
               for line in node.log().splitlines())
    lab.undrop_icmp("e0")
    node.wait_for(lambda: probe_states(node)["e0"] == ("ok", "ok"), "e0 repair",
                  timeout=REPAIR_TIMEOUT_S)
    assert any(line.endswith("IP interface repair detected on e0")
               for line in node.log().splitlines())
    assert _anonymous_row(node) == ":ok:e0"

    lab.run(node.ns, "ip", "addr", "del", f"{OWN}/24", "dev", "e0")
    node.wait_for(lambda: _tracked(node) == [], "e0 to leave with its address")
    assert _anonymous_row(node) == ":ok:"


def test_the_daemon_tracks_it_from_the_start(node: Node) -> None:
    """Started with the defaults file in place and the address already there (the
    start-up path: no SIGHUP, no address event)."""
    lab = node.lab
    assert lab.router_addr4 is not None
    lab.run(node.ns, "ip", "addr", "add", f"{OWN}/24", "dev", "e0")
    lab.run(node.ns, "ip", "route", "add", BEHIND, "via", lab.router_addr4, "dev", "e0")
    node.shutdown()
    daemon = node.daemon
    assert daemon is not None
    node.wait_for(lambda: daemon.poll() is not None, "the daemon to exit")
    node.defaults.write_text("TRACK_INTERFACES_ONLY_WITH_GROUPS=no\nTRANSITIVE_PROBING=yes\n"
                             f"FAILURE_DETECTION_TIME={FDT}\n")
    node.start()
    node.wait_for(lambda: _targets(node) == [f"e0:routes:{OWN}:{lab.router_addr4}"],
                  "e0 probing the router from its own address after a start")
    wait_probing(node, "e0")
