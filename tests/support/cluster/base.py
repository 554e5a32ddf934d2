"""What every part of the cluster harness shares: addresses, paths, bounded waits, the
clean environment for cluster tools, the error type, commands and polling."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tests.support.netns import LabCommandError, run_cmd

HERE = Path(__file__).resolve().parent
HERE = Path(__file__).resolve().parent
NODE_SCRIPT = HERE / "cluster_node.sh"
PROBE_SCRIPT = HERE / "client_probe.py"

# Addresses: documentation ranges only.
CLUSTER_NET = "203.0.113"  # .21, .22: the nodes' cluster-link addresses
ROUTER_ADDR4 = "198.51.100.1"
ROUTER_ADDR6 = "2001:db8:1::1"
CLIENT_ADDR4 = "198.51.100.200"
CLIENT_ADDR6 = "2001:db8:1::200"

# The directory the IPMP daemon keeps its per-namespace state in (ipmp_core.constants);
# every node bind-mounts its own copy over it, the mount point must exist.
IPMP_STATE_DIR = Path("/var/lib/clearview-ipmp")

# The system's OCF agents directory: the tests read it, never write it (the nodes see a
# private copy with this session's agents, see tests/support/ocf_overlay.sh).
SYSTEM_RESOURCE_D = Path("/usr/lib/ocf/resource.d")

# Bounded waits (seconds).
START_TIMEOUT = 60.0  # all nodes online, DC elected (seen: ~5 s)
DEFAULT_TIMEOUT = 30.0  # a resource action, a constraint taking effect
PACEMAKER_STOP_TIMEOUT = 60.0  # pacemakerd's graceful shutdown, incl. stopping resources
COROSYNC_STOP_TIMEOUT = 10.0
KILL_GRACE = 3.0
CMD_TIMEOUT = 120.0
POLL = 0.2
# Interface indices of the data NICs (in each node) and of their switch ports (in the one
# switch namespace): always different from each other. The kernel treats a carrier change
# as urgent only on a device whose ifindex differs from its iflink (linkwatch_urgent_event,
# net/core/link_watch.c); left to chance, a node NIC can get the same index as its peer
# (e.g. ``e0@if3`` with ifindex 3), and its carrier loss is then rate-limited to one
# linkwatch run per second host-wide - up to 1 s late, because pulling the cable (setting
# the switch port down) runs linkwatch for that port in the same kernel. A real host's NIC
# sees no such second event, so every node's NICs must report carrier at once, alike.
NIC_INDEX_BASE = 1000  # node NIC eN: 1000 + N (per node namespace)
PORT_INDEX_BASE = 2000  # switch port of node K's eN: 2000 + 16 K + N (shared switch namespace)
PORT_INDEX_STRIDE = 16  # more than any node's data NIC count

CIB_SEED = """\
<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" \
admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" \
value="false"/>
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"""

# A clean environment for cluster tools: pcs is a Python program of the system's
# interpreter and must not see the test venv's variables.
TOOL_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/root",
}

_serial = itertools.count()

T = TypeVar("T")


class ClusterError(AssertionError):
    """A cluster command failed or a wait timed out (an AssertionError: tests fail on it)."""


# Every cluster of this process has a namespace prefix starting with this.
PREFIX_BASE = f"cvc{os.getpid() % 100_000}x"


def default_prefix() -> str:
    """A namespace prefix no other cluster of this or any concurrent run uses."""
    return f"{PREFIX_BASE}{next(_serial)}"


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = CMD_TIMEOUT,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The lab's run_cmd, failing with a ClusterError that shows both outputs."""
    try:
        return run_cmd(argv, check=check, timeout=timeout, input=input, env=env)
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"timed out after {timeout} s: {' '.join(argv)}") from exc
    except LabCommandError as exc:
        raise ClusterError(
            f"command failed (rc {exc.returncode}): {' '.join(argv)}\n"
            f"stdout:\n{exc.stdout.strip()}\nstderr:\n{exc.stderr.strip()}"
        ) from None


def ip_batch(ns: str, cmds: Iterable[str]) -> None:
    """Run ``ip`` commands in ``ns`` in one call."""
    run(["ip", "-n", ns, "-batch", "-"], input="".join(f"{c}\n" for c in cmds))


def wait_for(
    predicate: Callable[[], T],
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    poll: float = POLL,
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail with an
    AssertionError naming ``what`` (plus ``diagnostics()``) after ``timeout`` seconds.

    An exception the predicate raises counts as "not yet"; the last one is reported."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    value: Any = None
    while True:
        try:
            value = predicate()
            last_exc = None
        except (ClusterError, OSError, ValueError, KeyError, ET.ParseError) as exc:
            value, last_exc = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            break
        time.sleep(poll)
    msg = f"timed out after {timeout:g} s waiting for {what}"
    if last_exc is not None:
        msg += f"\nlast error: {last_exc}"
    elif value is not None:
        msg += f"\nlast value: {value!r}"
    if diagnostics is not None:
        try:
            msg += "\n" + diagnostics()
        except Exception as exc:  # noqa: BLE001 - diagnostics must not hide the timeout
            msg += f"\n(diagnostics failed: {exc})"
    raise ClusterError(msg)




def tree_snapshot(root: Path) -> dict[str, str]:
    """Every entry below ``root`` (not following symlinks): relative path -> type, mode and
    content digest (files) or target (symlinks). Equal snapshots = nothing was changed."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                out[rel] = f"dir {st.st_mode:o}"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[rel] = f"file {st.st_mode:o} {digest}"
    return out
