"""The defaults file on a real daemon: SIGHUP and `ipmpadm refresh` read it again and
apply it to every group whose setting nobody set (in.mpathd re-executes itself on SIGHUP;
its FAILURE_DETECTION_TIME and FAILBACK are global), shell quoting included; the state
file remembers which settings follow the file across a restart."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

from tests.support.node import Node


def _groups(node: Node) -> dict[str, dict[str, Any]]:
    config = json.loads(node.adm("show-config").stdout)
    return {g["name"]: g for g in config["groups"]}


def _settings(node: Node) -> dict[str, tuple[int, bool]]:
    return {name: (g["fdt_ms"], g["failback"]) for name, g in _groups(node).items()}


def test_sighup_applies_a_quoted_defaults_file_to_groups_without_their_own_settings(
        node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "plain")
    node.adm("create-ipmp", "-i", "e1", "own")
    node.adm("set-ipmp", "-p", "fdt=5000", "own")
    assert _settings(node) == {"plain": (10000, True), "own": (5000, True)}

    node.defaults.write_text("# as a shell would source it\n"
                             'FAILURE_DETECTION_TIME="2000"\n'
                             "export FAILBACK='no'   # keep repaired NICs inactive\n"
                             "BOGUS=1\n")
    os.kill(node.pid, signal.SIGHUP)
    node.wait_for(lambda: _settings(node)["plain"] == (2000, False),
                  "the re-read defaults to reach group plain")
    assert _settings(node)["own"] == (5000, False)  # its own FDT, the file's FAILBACK
    log = node.log()
    assert "SIGHUP: rereading" in log
    assert "unknown key BOGUS; ignoring 'BOGUS=1'" in log
    assert "Group plain takes FAILBACK=no FAILURE_DETECTION_TIME=2000" in log

    node.defaults.write_text("FAILURE_DETECTION_TIME=3000\n")
    node.adm("refresh")
    node.wait_for(lambda: _settings(node)["plain"] == (3000, True),
                  "ipmpadm refresh to apply the file")
    node.adm("set-ipmp", "-p", "fdt=default", "own")
    assert _settings(node)["own"] == (3000, True)

    node.shutdown()
    assert node.daemon is not None
    node.daemon.wait(timeout=10)
    node.defaults.write_text("FAILURE_DETECTION_TIME=4000\nFAILBACK=no\n")
    node.start()
    assert _settings(node) == {"plain": (4000, False), "own": (4000, False)}
    node.adm("set-ipmp", "-p", "fdt=6000", "own")
    node.defaults.write_text("FAILURE_DETECTION_TIME=4500\n")
    node.adm("refresh")
    node.wait_for(lambda: _settings(node)["plain"] == (4500, True), "the last refresh")
    assert _settings(node)["own"] == (6000, True)


def test_refresh_needs_root_and_a_running_daemon(node: Node) -> None:
    res = node.adm("refresh", check=False, user="nobody")
    assert res.returncode == 1 and "needs root" in res.stderr
    node.shutdown()
    assert node.daemon is not None
    node.daemon.wait(timeout=10)
    res = node.adm("refresh", check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == "ipmpadm: the IPMP daemon is not running"
