"""The transitive-probing setting on a real daemon: ipmpadm set-ipmp -p
transitive-probing=on|off|default, the defaults file's TRANSITIVE_PROBING applied on
SIGHUP to the groups that follow it (Solaris 11: svccfg setprop
config/transitive-probing, then svcadm refresh), and the state file across a restart."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

from tests.support.node import Node


def _transitive(node: Node) -> dict[str, bool]:
    config = json.loads(node.adm("show-config").stdout)
    return {g["name"]: g["transitive_probing"] for g in config["groups"]}


def _restart(node: Node) -> None:
    node.shutdown()
    assert node.daemon is not None
    node.daemon.wait(timeout=10)
    node.start()


def test_set_ipmp_turns_transitive_probing_on_and_off_and_refuses_bad_values(
        node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0,e1", "ipmp0")
    assert _transitive(node) == {"ipmp0": False}  # off unless asked for, as in Solaris
    node.adm("set-ipmp", "-p", "transitive-probing=on", "ipmp0")
    assert _transitive(node) == {"ipmp0": True}
    for bad in ("maybe", ""):
        res = node.adm("set-ipmp", "-p", f"transitive-probing={bad}", "ipmp0", check=False)
        assert res.returncode == 1, res
        assert res.stderr.strip() == f"ipmpadm: '{bad}' is not a boolean (use yes/no, on/off)"
    res = node.adm("set-ipmp", "-p", "transitive-probing=on", "nosuch", check=False)
    assert res.returncode == 1 and "nosuch" in res.stderr, res.stderr
    res = node.adm("set-ipmp", "-p", "transitive-probing=off", "ipmp0", check=False,
                   user="nobody")
    assert res.returncode == 1 and "needs root" in res.stderr, res.stderr
    assert _transitive(node) == {"ipmp0": True}  # nothing of the refusals changed it
    node.adm("set-ipmp", "-p", "transitive-probing=off", "ipmp0")
    assert _transitive(node) == {"ipmp0": False}
    saved: dict[str, Any] = json.loads(node.state_path.read_text())
    assert saved["groups"][0]["transitive_probing"] is False
    assert "transitive_probing" not in saved["groups"][0].get("follows_defaults", [])


def test_the_defaults_file_turns_it_on_for_groups_that_follow_it(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "plain")
    node.adm("create-ipmp", "-i", "e1", "own")
    node.adm("set-ipmp", "-p", "transitive-probing=off", "own")
    node.defaults.write_text("TRANSITIVE_PROBING=yes\n")
    os.kill(node.pid, signal.SIGHUP)
    node.wait_for(lambda: _transitive(node)["plain"], "TRANSITIVE_PROBING=yes to reach plain")
    assert _transitive(node)["own"] is False  # its own value wins
    assert "Group plain takes TRANSITIVE_PROBING=yes from the defaults file" in node.log()

    node.adm("set-ipmp", "-p", "transitive-probing=default", "own")
    assert _transitive(node) == {"plain": True, "own": True}

    # a restart: both follow the file, which now says no
    node.defaults.write_text("TRANSITIVE_PROBING=no\n")
    _restart(node)
    assert _transitive(node) == {"plain": False, "own": False}
    node.adm("set-ipmp", "-p", "transitive-probing=on", "own")  # its own again
    node.defaults.write_text("TRANSITIVE_PROBING=no\nFAILBACK=yes\n")
    node.adm("refresh")
    _restart(node)
    assert _transitive(node) == {"plain": False, "own": True}
