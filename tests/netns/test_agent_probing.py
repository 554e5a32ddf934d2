"""ocf:clearview:ipmp's probing parameter on the real kernel: ipmp-ocf in the lab's node
namespace, against a daemon whose defaults file the test writes. probing=transitive
turns the group's transitive probing on; reload-agent changes it in place (no address
moves), as every parameter but group; the node's TRANSITIVE_PROBING never overrides the
resource's choice; a contradiction with test_addresses is OCF_ERR_CONFIGURED and leaves
the group as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

from tests.support.node import Node

BASE = ["group=ipmp0", "interfaces=e0 e1", "data_addresses=198.51.100.10/24 198.51.100.11/24"]


def agent(node: Node, action: str, *params: str) -> subprocess.CompletedProcess[str]:
    """ipmp-ocf's ipmp agent in the node namespace (it finds the running daemon)."""
    return node.exec(sys.executable, "-m", "agents.cli", "ipmp", action, *params)


def groups(node: Node) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in json.loads(node.adm("show-config").stdout)["groups"]}


def test_probing_transitive_is_set_reloaded_in_place_and_wins_over_the_defaults_file(
        node: Node) -> None:
    res = agent(node, "start", *BASE, "probing=transitive")
    assert res.returncode == 0, res.stderr
    group = groups(node)["ipmp0"]
    assert group["transitive_probing"] is True
    assert "transitive_probing" not in group.get("follows_defaults", [])
    where = node.inbound()
    assert set(where) == {"198.51.100.10", "198.51.100.11"} and all(where.values()), where

    # the parameter removed: back to today's behaviour (no test addresses: link), in place
    res = agent(node, "reload-agent", *BASE)
    assert res.returncode == 0, res.stderr
    assert groups(node)["ipmp0"]["transitive_probing"] is False
    assert node.inbound() == where  # nothing moved

    # The node's defaults file says yes: a group of ipmpadm's follows it, the
    # resource's group keeps what its parameter says.
    node.adm("create-ipmp", "-i", "e2", "plain")
    node.defaults.write_text("TRANSITIVE_PROBING=yes\n")
    os.kill(node.pid, signal.SIGHUP)
    node.wait_for(lambda: groups(node)["plain"]["transitive_probing"],
                  "TRANSITIVE_PROBING=yes to reach group plain")
    assert groups(node)["ipmp0"]["transitive_probing"] is False

    res = agent(node, "reload-agent", *BASE, "probing=transitive")
    assert res.returncode == 0, res.stderr
    assert groups(node)["ipmp0"]["transitive_probing"] is True
    assert node.inbound() == where

    # a contradiction: refused before anything changes
    res = agent(node, "reload-agent", *BASE, "probing=link",
                "test_addresses=e0=198.51.100.21/24 e1=198.51.100.22/24")
    assert res.returncode == 6, res.stderr
    assert res.stderr.strip().splitlines()[-1].endswith(
        "probing=link contradicts test_addresses (they are for probing): remove them or "
        "use probing=test-addresses"), res.stderr
    group = groups(node)["ipmp0"]
    assert group["transitive_probing"] is True
    assert all(m["test_addresses"] == [] for m in group["members"]), group

    res = agent(node, "stop", *BASE, "probing=transitive")
    assert res.returncode == 0, res.stderr
    assert set(groups(node)) == {"plain"}


def test_probing_test_addresses_without_any_is_refused_and_creates_nothing(
        node: Node) -> None:
    res = agent(node, "start", *BASE, "probing=test-addresses")
    assert res.returncode == 6, res.stderr
    assert "probing=test-addresses, but test_addresses has none for node" in res.stderr
    assert groups(node) == {}
    res = agent(node, "start", *BASE, "probing=test-addresses",
                "test_addresses=e0=198.51.100.21/24 e1=198.51.100.22/24")
    assert res.returncode == 0, res.stderr
    group = groups(node)["ipmp0"]
    assert group["transitive_probing"] is False
    assert sorted(a for m in group["members"] for a in m["test_addresses"]) == [
        "198.51.100.21/24", "198.51.100.22/24"]
    assert agent(node, "stop", *BASE).returncode == 0
