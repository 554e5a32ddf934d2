"""Duplicate address detection of static test addresses: a test address another host on
the link already uses is refused (the request fails with a clear error, the address is
not configured and the member does not probe from it), as two cluster nodes given the
same static test addresses would otherwise both answer ARP for them."""

from __future__ import annotations

import pytest
from test_agents import Ocf, exit_reason, ocf  # noqa: F401 (fixture)

from tests.support.node import Node

pytestmark = pytest.mark.netns

TAKEN4 = "198.51.100.21"
FREE4 = "198.51.100.22"
TAKEN6 = "fe80::21"


def _group(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", "fdt=1000", "ipmp0")
    # the router as the probe target (a route via it would have to wait for an address
    # of its subnet: gateways must be on-link)
    node.adm("set-ipmp", "-p", "targets=198.51.100.1", "ipmp0")


def _configured_tests(node: Node) -> dict[str, list[str]]:
    return {i["name"]: i["testaddrs"] for i in node.snapshot()["interfaces"]}


def test_a_test_address_another_host_uses_is_refused(node: Node) -> None:
    lab = node.lab
    assert lab.client is not None
    # another host on the same switch already has the address
    lab.run(lab.client, "ip", "addr", "add", f"{TAKEN4}/24", "dev", "eth0")
    _group(node)
    res = node.adm("create-addr", "-T", "test", "-a", f"{TAKEN4}/24", "e0", check=False)
    assert res.returncode == 1, res
    assert f"duplicate test address {TAKEN4} on e0" in \
        res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert node.holders(TAKEN4) == []  # never on the wire from this node
    assert _configured_tests(node)["e0"] == []  # not configured: nothing probes from it
    assert TAKEN4 not in node.adm("show-config").stdout
    assert "not configured" in node.log()
    # a free address still goes on, is probed from, and the group stays healthy
    node.adm("create-addr", "-T", "test", "-a", f"{FREE4}/24", "e1")
    assert node.holders(FREE4) == ["e1"]
    node.wait_for(lambda: node.iface("e1")["probe"] == "ok", "e1 to be probed ok")
    assert node.group_state() == "ok"
    assert node.iface("e0")["state"] == "ok"
    # once the other host gives the address up, it can be configured
    lab.run(lab.client, "ip", "addr", "del", f"{TAKEN4}/24", "dev", "eth0")
    node.adm("create-addr", "-T", "test", "-a", f"{TAKEN4}/24", "e0")
    assert node.holders(TAKEN4) == ["e0"]
    node.wait_for(lambda: node.iface("e0")["probe"] == "ok", "e0 to be probed ok")


def test_an_ipv6_link_local_test_address_fails_kernel_dad(node: Node) -> None:
    lab = node.lab
    assert lab.client is not None
    lab.run(lab.client, "ip", "-6", "addr", "add", f"{TAKEN6}/64", "dev", "eth0", "nodad")
    _group(node)
    res = node.adm("create-addr", "-T", "test", "-a", f"{TAKEN6}/64", "e0", check=False)
    assert res.returncode == 1, res
    assert f"duplicate test address {TAKEN6} on e0" in \
        res.stderr, res.stderr
    assert node.holders(TAKEN6) == []
    assert _configured_tests(node)["e0"] == []


def test_the_agent_start_reports_a_duplicate_test_address(ocf: Ocf) -> None:  # noqa: F811
    lab = ocf.lab
    assert lab.client is not None
    lab.run(lab.client, "ip", "addr", "add", f"{TAKEN4}/24", "dev", "eth0")
    params = ["group=ipmp0", "interfaces=e0 e1",
              f"test_addresses=@n1 e0={TAKEN4}/24 e1={FREE4}/24; @n2 e0=198.51.100.23/24"]
    res = ocf("ipmp", "start", *params, OCF_RESKEY_CRM_meta_on_node="n1",
              OCF_RESKEY_CRM_meta_clone_max="2", OCF_RESKEY_CRM_meta_clone="0")
    assert res.returncode == 1, res.stderr  # this node only (never 6: fine elsewhere)
    assert f"duplicate test address {TAKEN4} on e0" in \
        exit_reason(res), res.stderr
    assert ocf.code("ipmp", "stop", *params, OCF_RESKEY_CRM_meta_on_node="n1") == 0
    assert lab.run(lab.node, "ip", "-o", "addr", "show", "to", f"{TAKEN4}/32").stdout == ""
