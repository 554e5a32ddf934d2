"""The state file on the real daemon: all or nothing, kept aside when it cannot be
loaded, changes refused until the operator acts, and no address the kernel has that
neither the configuration nor ipmpstat knows after a SIGKILL at any point."""

from __future__ import annotations

import json
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.node import Node
from tests.support.state_variants import DATA, TEST_E0, TEST_E1, VARIANTS, base_bytes

pytestmark = pytest.mark.netns

# One process per variant asks everything the test needs (a Python start costs more than
# the questions): the snapshot, a privileged change, and ipmpstat -g's stderr.
_PROBE = """
import contextlib, io, json
from ipmp_core.control_client import ControlClient, ControlError
from ipmp_core.cli import ipmpstat
c = ControlClient()
out = {"snapshot": c.snapshot()}
try:
    c.call("add-address", group="ipmp0", address="198.51.100.77/24")
    out["change"] = None
except ControlError as exc:
    out["change"] = [exc.code, exc.message]
err = io.StringIO()
with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    out["ipmpstat_rc"] = ipmpstat.main(["-g"])
out["ipmpstat_err"] = err.getvalue()
print(json.dumps(out))
"""

KERNEL = [("e0", DATA), ("e0", TEST_E0), ("e1", TEST_E1)]


def kernel_has(node: Node) -> set[tuple[str, str]]:
    out = node.lab.run(node.ns, "ip", "-j", "addr", "show").stdout
    return {(link["ifname"], f"{info['local']}/{info['prefixlen']}")
            for link in json.loads(out) for info in link.get("addr_info", [])}


def kept_aside(node: Node) -> list[Path]:
    return sorted(node.state_dir.glob(f"{node.state_path.name}.invalid-*"))


# A daemon resuming 200 addresses on a machine shared with other test runs may take a
# few seconds to answer; a daemon that exits at start is noticed at once anyway.
START_TIMEOUT_S = 30.0


def start_checked(node: Node, errors: Path) -> None:
    with open(errors, "w") as err:
        node.start(stderr=err, timeout=START_TIMEOUT_S)


def test_every_corrupt_variant_is_kept_aside_and_changes_refused(node: Node,
                                                                 tmp_path: Path) -> None:
    """For each variant: ipmpd starts without a traceback, keeps the file aside
    byte-identical, says precisely what is wrong (log, snapshot, ipmpstat on stderr),
    refuses changes naming the kept file, and leaves the kernel's addresses alone."""
    lab = node.lab
    assert node.daemon is not None
    lab.stop(node.daemon)
    for ifname, addr in KERNEL:  # what a previous daemon had installed
        lab.run(node.ns, "ip", "addr", "add", addr, "dev", ifname)
    failures: list[str] = []
    for name, make, expected in VARIANTS:
        for old in [*kept_aside(node), node.state_path, node.log_path]:
            old.unlink(missing_ok=True)
        content = make()
        node.state_path.write_bytes(content)
        stderr = tmp_path / f"{name}.stderr"
        try:
            start_checked(node, stderr)
            res = node.run_py(_PROBE)
            assert res.returncode == 0, res.stderr
            seen: dict[str, Any] = json.loads(res.stdout)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
            continue
        finally:
            if node.daemon is not None and node.daemon.poll() is None:
                lab.stop(node.daemon)
        problems = []
        log, err = node.log(), stderr.read_text()
        if "Traceback" in log + err:
            problems.append(f"traceback:\n{(log + err)[-1500:]}")
        kept = kept_aside(node)
        if len(kept) != 1 or kept[0].read_bytes() != content:
            problems.append(f"not kept aside byte-identical: {kept}")
        shown = seen["snapshot"].get("state_error", "")
        if expected not in shown or (kept and str(kept[0]) not in shown):
            problems.append(f"snapshot's state_error: {shown!r}")
        if expected not in log:
            problems.append("the log does not say what is wrong")
        change = seen["change"]
        if change is None or change[0] != "state-refused" or not kept \
                or str(kept[0]) not in change[1]:
            problems.append(f"change not refused naming the kept file: {change}")
        if seen["ipmpstat_rc"] != 0 or expected not in seen["ipmpstat_err"]:
            problems.append(f"ipmpstat -g: {seen['ipmpstat_rc']} {seen['ipmpstat_err']!r}")
        missing = set(KERNEL) - kernel_has(node)
        if missing:
            problems.append(f"kernel addresses removed: {missing}")
        if problems:
            failures.append(f"{name}: " + "; ".join(problems))
    assert not failures, f"{len(failures)} of {len(VARIANTS)} variants:\n" + "\n".join(
        failures)


def test_operator_acts_on_a_kept_aside_file(node: Node, tmp_path: Path) -> None:
    """The refusal survives a restart; SIGHUP with a corrected file in place loads it
    (the data address the kernel has is adopted where it is); `ipmpadm
    accept-empty-state` is the other way out."""
    lab = node.lab
    assert node.daemon is not None
    lab.stop(node.daemon)
    for ifname, addr in KERNEL:
        lab.run(node.ns, "ip", "addr", "add", addr, "dev", ifname)
    bad = base_bytes().replace(b'"failback": true', b'"failback": "no"')
    node.state_path.write_bytes(bad)
    start_checked(node, tmp_path / "1.stderr")
    (kept,) = kept_aside(node)
    res = node.adm("create-addr", "-a", "198.51.100.77/24", "ipmp0", check=False)
    assert res.returncode == 1 and str(kept) in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    res = node.exec(sys.executable, "-m", "ipmp_core.cli.ipmpstat", "-a")
    assert res.returncode == 0 and "groups[0].failback: 'no' is a string" in res.stderr
    # a restart does not forget it
    node.kill(signal.SIGKILL)
    start_checked(node, tmp_path / "2.stderr")
    assert str(kept) in node.snapshot()["state_error"]
    assert node.adm("online", "e0", check=False).returncode == 1
    # the operator corrects the file, puts it back and sends SIGHUP
    node.state_path.write_bytes(base_bytes())
    assert node.daemon is not None
    node.daemon.send_signal(signal.SIGHUP)
    node.wait_for(lambda: not node.snapshot().get("state_error"), "the corrected file")
    assert node.inbound() == {DATA.split("/")[0]: "e0"}  # adopted in place
    assert node.holders(DATA.split("/")[0]) == ["e0"]
    node.adm("create-addr", "-a", "198.51.100.77/24", "ipmp0")
    assert kept.read_bytes() == bad
    # the other way out: accept going on without the file
    node.kill(signal.SIGKILL)
    node.state_path.write_bytes(b"{")
    start_checked(node, tmp_path / "3.stderr")
    assert node.adm("delete-ipmp", "ipmp0", check=False).returncode == 1
    res = node.adm("accept-empty-state")
    assert res.returncode == 0
    assert not node.snapshot().get("state_error")
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp1")
    node.kill(signal.SIGKILL)
    start_checked(node, tmp_path / "4.stderr")
    assert [g["name"] for g in node.snapshot()["groups"]] == ["ipmp1"]
    assert len(kept_aside(node)) == 2
    for stderr in tmp_path.glob("*.stderr"):
        assert "Traceback" not in stderr.read_text()
    assert "Traceback" not in node.log()


# --------------------------------------------------------------------------- kill -9
BURST = [f"198.51.100.{i}/24" for i in range(10, 210)]  # 200 data addresses
KILLS = 20
# A burst is killed after a random time in this range (seconds): from the first few
# requests to a few dozen (a request takes tens of milliseconds; a whole burst of 200
# about 7 s, too long to run 20 times). Delete rounds remove a random half of what is
# configured, so the create rounds are killed with more and more addresses in place.
KILL_AFTER_S = (0.05, 2.0)
# Each burst creates (even rounds) or deletes (odd rounds) in one client process.
_BURST_CLIENT = """
import sys
from ipmp_core.control_client import ControlClient, ControlError
c = ControlClient()
op, addresses = sys.argv[1], sys.argv[2:]
for a in addresses:
    try:
        if op == "create":
            c.call("add-address", group="ipmp0", address=a)
        else:
            c.call("remove-address", address=a)
    except ControlError:
        break
"""


def _views(node: Node) -> tuple[set[str], set[str], set[str]]:
    """Data addresses of the burst's subnet in the kernel (on any member), in the state
    file and in ipmpstat -a (up)."""
    members = ("e0", "e1", "e2")
    kernel = {addr.split("/")[0] for ifname, addr in kernel_has(node)
              if ifname in members and addr in BURST}
    saved = json.loads(node.state_path.read_text())
    config = {a.split("/")[0] for g in saved["groups"] for a in g["data_addresses"]}
    shown = set(node.inbound())
    return kernel, config, shown


def test_kill_9_during_bursts_leaves_kernel_config_and_ipmpstat_equal(node: Node,
                                                                     tmp_path: Path) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    rng = random.Random(10)
    burst_log = tmp_path / "burst.txt"
    start = time.monotonic()
    for round_no in range(KILLS):
        kernel, config, _ = _views(node)
        if round_no % 2 == 0:
            op, todo = "create", [a for a in BURST if a.split("/")[0] not in config]
        else:
            configured = [a for a in BURST if a.split("/")[0] in config]
            op, todo = "delete", rng.sample(configured, len(configured) // 2)
        with open(burst_log, "w") as out:
            client = lab.spawn(node.ns, [sys.executable, "-c", _BURST_CLIENT, op, *todo],
                               env=node.env, stderr=out)
        time.sleep(rng.uniform(*KILL_AFTER_S))
        node.kill(signal.SIGKILL)
        client.wait(timeout=30)
        start_checked(node, tmp_path / f"start{round_no}.stderr")
        kernel, config, shown = _views(node)
        assert kernel == config == shown, (
            f"round {round_no} ({op}): in the kernel only {sorted(kernel - config)}, "
            f"configured only {sorted(config - kernel)}, ipmpstat differs "
            f"{sorted(shown ^ config)}\ndaemon log:\n{node.log()[-2000:]}")
        held = [addr for ifname, addr in kernel_has(node) if addr in BURST]
        assert len(held) == len(set(held)), f"an address on two members: {held}"
    assert "Traceback" not in node.log()
    assert time.monotonic() - start < 240, "the kill -9 rounds took too long"
