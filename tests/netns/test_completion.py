"""bash completion against a real daemon in a namespace: the names of groups, members and
data addresses come from it; without a daemon the names helper is silent, quick, exits 0
and starts nothing (it runs on every TAB)."""

from __future__ import annotations

import time

import pytest

from tests.support.bash_completion import VENV_BIN, complete
from tests.support.lab import Lab
from tests.support.node import Node

pytestmark = pytest.mark.netns

# The helper's own timeout is 0.5 s; with no daemon the connect is refused at once. This
# bound leaves room for the interpreter's start on a loaded 2-core machine.
NO_DAEMON_BOUND_S = 3.0


def _in(node_or_ns: Node | str) -> list[str]:
    ns = node_or_ns if isinstance(node_or_ns, str) else node_or_ns.ns
    return ["ip", "netns", "exec", ns]


def test_names_come_from_the_running_daemon(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-ipmp", "-i", "e2", "ipmp1")
    node.adm("create-addr", "-a", "198.51.100.10/24", "ipmp0/v4")
    node.adm("create-addr", "-a", "2001:db8::10/64", "ipmp0/v6")
    node.adm("create-addr", "-T", "test", "-a", "198.51.100.21/24", "e0/test")
    prefix = _in(node)
    assert sorted(complete("ipmpadm delete-ipmp ", prefix=prefix)) == ["ipmp0", "ipmp1"]
    assert sorted(complete("ipmpadm offline ", prefix=prefix)) == ["e0", "e1", "e2"]
    assert sorted(complete("ipmpadm remove-ipmp -i e", prefix=prefix)) == ["e0", "e1", "e2"]
    # data addresses by object name and by address; the test address is not one of them
    assert sorted(complete("ipmpadm delete-addr ", prefix=prefix)) == [
        "198.51.100.10", "2001:db8::10", "ipmp0/v4", "ipmp0/v6"]
    assert complete("ipmpadm delete-addr 2001:db8::", prefix=prefix) == ["::10"]
    assert sorted(complete("ipmpadm show-if ", prefix=prefix)) == [
        "e0", "e1", "e2", "ipmp0", "ipmp1"]
    assert complete("ipmp-ocf ipmp monitor group=ipmp1", prefix=prefix) == ["ipmp1"]
    # an administrator without root completes too: the names are read-only requests
    as_nobody = [*prefix, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    assert sorted(complete("ipmpadm offline ", prefix=as_nobody)) == ["e0", "e1", "e2"]
    node.adm("delete-ipmp", "ipmp1")
    assert complete("ipmpadm delete-ipmp ", prefix=prefix) == ["ipmp0"]


def test_without_a_daemon_the_names_are_empty_quick_and_silent(lab: Lab) -> None:
    prefix = _in(lab.node)
    started = time.monotonic()
    proc = lab.run(lab.node, f"{VENV_BIN}/ipmpadm", "complete-names", "groups", "members",
                   "addresses", check=False)
    elapsed = time.monotonic() - started
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert elapsed < NO_DAEMON_BOUND_S, elapsed
    assert complete("ipmpadm delete-ipmp ", prefix=prefix) == []
    # nothing was started: the namespace still has no daemon
    ping = lab.run(lab.node, f"{VENV_BIN}/python", "-c",
                   "from ipmp_core.control_client import ControlClient as C, "
                   "DaemonUnreachable as U\ntry:\n    C().call('ping')\nexcept U:\n"
                   "    raise SystemExit(7)\n", check=False)
    assert ping.returncode == 7, ping.stderr
