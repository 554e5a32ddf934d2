"""The OCF agents on the real kernel: ipmp-ocf, ocf-tester, crm_resource --validate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lab import Lab

pytestmark = pytest.mark.netns

# The agents are installed into a private OCF root for this module (never into the
# system's /usr/lib/ocf); crm_resource, which only looks there, sees it through a bind
# mount in a private mount namespace (tests/support/ocf_overlay.sh).
OCF_ROOT = Path(tempfile.mkdtemp(prefix="cv-ocf-netns-", dir="/tmp"))
AGENT_DIR = OCF_ROOT / "resource.d" / "clearview"
OVERLAY = Path(__file__).resolve().parent.parent / "support" / "ocf_overlay.sh"
GROUP = ["group=ipmp0", "interfaces=e0 e1"]
PROBING = [*GROUP, "test_addresses=e0=198.51.100.21/24 e1=198.51.100.22/24",
           "gateway=198.51.100.1", "failure_detection_time=1000"]
VIP = "198.51.100.50"


@pytest.fixture(scope="module", autouse=True)
def installed_agents() -> Iterator[None]:
    """ipmp-ocf install into the private OCF root, world-traversable (ocf-tester runs
    meta-data as nobody); removed afterwards."""
    try:
        res = subprocess.run([sys.executable, "-m", "agents.cli", "install", "--ocf-root",
                              str(OCF_ROOT)], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        for d in (OCF_ROOT, AGENT_DIR.parent, AGENT_DIR):
            d.chmod(0o755)
        yield
    finally:
        shutil.rmtree(OCF_ROOT, ignore_errors=True)


class Ocf:
    """ipmp-ocf inside the lab's node namespace, with the daemon's state kept apart."""

    def __init__(self, lab: Lab, state: Path) -> None:
        self.lab = lab
        self.env = {**os.environ, "IPMP_STATE_DIR": str(state)}
        self.state = state

    def __call__(self, agent: str, action: str, *params: str,
                 **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.lab.node, sys.executable, "-m", "agents.cli", agent,
             action, *params], env={**self.env, **env}, capture_output=True, text=True,
            timeout=120)

    def code(self, agent: str, action: str, *params: str, **env: str) -> int:
        return self(agent, action, *params, **env).returncode

    def snapshot(self) -> dict:
        res = subprocess.run(
            ["ip", "netns", "exec", self.lab.node, sys.executable, "-c",
             "import json; from ipmp_core.control_client import ControlClient as C; "
             "print(json.dumps(C().snapshot()))"], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def daemon_log(self) -> str:
        """What the daemon the agent started has logged (next to its state file)."""
        return "".join(p.read_text(errors="replace") for p in sorted(self.state.glob("*.log")))

    def stop_daemon(self) -> None:
        """Stop a daemon the agent started (by the PID it reports), if one still runs."""
        res = subprocess.run(
            ["ip", "netns", "exec", self.lab.node, sys.executable, "-c",
             "from ipmp_core.control_client import ControlClient as C; "
             "print(C().call('ping')['pid'])"],
            capture_output=True, text=True, timeout=30)
        if res.returncode == 0:
            pid = int(res.stdout)
            os.kill(pid, 15)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)


@pytest.fixture
def ocf(lab: Lab, tmp_path: Path):  # noqa: ANN201
    runner = Ocf(lab, tmp_path / "state")
    yield runner
    runner.stop_daemon()


def exit_reason(res: subprocess.CompletedProcess[str]) -> str:
    return res.stderr.strip().splitlines()[-1]


def kernel_state(lab: Lab) -> tuple[str, str]:
    addrs = lab.run(lab.node, "ip", "-4", "-o", "addr", "show").stdout
    sysctls = lab.run(lab.node, "sysctl", "net.ipv4.conf.e0.arp_ignore",
                      "net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.e1.arp_announce").stdout
    return addrs, sysctls


def test_group_life_cycle_and_monitor_codes(ocf: Ocf) -> None:
    lab = ocf.lab
    before = kernel_state(lab)
    params = [*PROBING, "data_addresses=198.51.100.10/24"]
    assert ocf.code("ipmp", "monitor", *params) == 7  # not running: a probe says so
    assert ocf.code("ipmp", "start", *params) == 0
    assert ocf.code("ipmp", "start", *params) == 0  # idempotent
    assert ocf.code("ipmp", "monitor", *params) == 0
    assert lab.client_ping("198.51.100.10")
    lab.pull_cable("e0")
    time.sleep(0.3)
    res = ocf("ipmp", "monitor", *params)
    assert res.returncode == 190
    assert exit_reason(res) == "ipmp monitor: OCF_DEGRADED (190): group ipmp0 degraded: " \
        "e0 unusable"
    assert ocf.code("ipmp", "monitor", *params, "degraded_ok=true") == 0
    assert lab.client_ping("198.51.100.10")  # moved inside the group
    lab.pull_cable("e1")
    time.sleep(0.3)
    # No usable member: a fact about the network (the node attribute says 0), not a
    # failure of the resource: still configured, so degraded with the reason.
    res = ocf("ipmp", "monitor", *params)
    assert res.returncode == 190
    assert exit_reason(res) == "ipmp monitor: OCF_DEGRADED (190): group ipmp0 failed: " \
        "no usable interface (e0 link down, e1 link down)"
    # A start while nothing works succeeds too: the group is configured.
    assert ocf.code("ipmp", "stop", *params) == 0
    res = ocf("ipmp", "start", *params)
    assert res.returncode == 0, res.stderr
    assert ocf.snapshot()["groups"][0]["state"] == "failed"
    lab.plug_cable("e0")
    lab.plug_cable("e1")
    assert ocf.code("ipmp", "stop", *params) == 0
    assert ocf.code("ipmp", "stop", *params) == 0  # stop of a stopped resource
    assert ocf.code("ipmp", "monitor", *params) == 7
    assert kernel_state(lab) == before  # everything it added is gone


def test_reload_applies_changes_without_moving_addresses(ocf: Ocf) -> None:
    params = [*PROBING, "data_addresses=198.51.100.10/24 198.51.100.11/24"]
    assert ocf.code("ipmp", "start", *params) == 0
    where = {a["address"]: a["inbound"] for a in ocf.snapshot()["addresses"]}
    changed = [p for p in params if not p.startswith("failure_detection_time")]
    changed += ["failure_detection_time=2000", "failback=false", "targets=198.51.100.1"]
    assert ocf.code("ipmp", "reload-agent", *changed) == 0
    snap = ocf.snapshot()
    assert {a["address"]: a["inbound"] for a in snap["addresses"]} == where
    assert snap["groups"][0]["fdt_ms"] == 2000 and snap["groups"][0]["failback"] is False, \
        ocf.daemon_log()
    assert ocf.code("ipmp", "stop", *params) == 0


def fake_attrd_updater(directory: Path) -> Path:
    """An attrd_updater that records when it ran and with what (monotonic time)."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "attrd_updater"
    log = directory / "attrd.log"
    script.write_text(f"#!{sys.executable}\nimport sys, time\n"
                      f"line = str(time.monotonic()) + ' ' + ' '.join(sys.argv[1:])\n"
                      f"open({str(log)!r}, 'a').write(line + '\\n')\n")
    script.chmod(0o755)
    return log


def attrd_calls(log: Path) -> list[tuple[float, str]]:
    if not log.exists():
        return []
    return [(float(t), rest) for t, rest in
            (line.split(" ", 1) for line in log.read_text().splitlines())]


def wait_call(log: Path, text: str, since: float, timeout: float = 5.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, rest in attrd_calls(log):
            if t >= since and rest == text:
                return t - since
        time.sleep(0.01)
    raise AssertionError(f"no attrd_updater {text!r} within {timeout} s: {attrd_calls(log)}")


def test_the_daemon_publishes_the_attribute_the_moment_the_count_changes(
        ocf: Ocf, tmp_path: Path) -> None:
    lab = ocf.lab
    log = fake_attrd_updater(tmp_path / "bin")
    path = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    params = [*GROUP, "multiplier=10", "dampen=250ms"]
    assert ocf.code("ipmp", "start", *params, **path) == 0
    wait_call(log, "-n ipmp-ipmp0 -U 20 -d 250ms", 0)
    t = time.monotonic()
    lab.pull_cable("e0")
    lab.pull_cable("e1")
    took = wait_call(log, "-n ipmp-ipmp0 -U 0 -d 250ms", t)
    assert took < 0.5, f"the attribute reached attrd_updater {took:.3f} s after the pull"
    t = time.monotonic()
    lab.plug_cable("e0")
    assert wait_call(log, "-n ipmp-ipmp0 -U 10 -d 250ms", t) < 0.5
    # reload-agent of the attribute's settings: published at once under the new name
    t = time.monotonic()
    params2 = [*GROUP, "attribute=net-ok", "multiplier=1", "dampen=0"]
    assert ocf.code("ipmp", "reload-agent", *params2, **path) == 0
    wait_call(log, "-n ipmp-ipmp0 -D", t)
    wait_call(log, "-n net-ok -U 1 -d 0ms", t)
    # the monitor's safety net: the current value again
    t = time.monotonic()
    assert ocf.code("ipmp", "monitor", *params2, **path,
                    OCF_RESKEY_CRM_meta_interval="10000") == 190
    wait_call(log, "-n net-ok -U 1 -d 0ms", t)
    lab.plug_cable("e1")
    t = time.monotonic()
    assert ocf.code("ipmp", "stop", *params2, **path) == 0
    wait_call(log, "-n net-ok -D", t)


def test_a_killed_daemon_is_restarted_by_the_monitor_and_nothing_moves(ocf: Ocf) -> None:
    lab = ocf.lab
    params = [*GROUP, "data_addresses=198.51.100.10/24 198.51.100.11/24"]
    vip = [f"ip={VIP}", "group=ipmp0"]
    recurring = {"OCF_RESKEY_CRM_meta_interval": "10000"}
    assert ocf.code("ipmp", "start", *params) == 0
    assert ocf.code("ipmp-address", "start", *vip) == 0
    where = {a["address"]: a["inbound"] for a in ocf.snapshot()["addresses"]}
    old = _daemon_pid(lab)
    assert old is not None
    os.kill(old, 9)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{old}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    # A probe (interval 0) only says "not running here" and starts nothing.
    assert ocf.code("ipmp", "monitor", *params) == 7
    assert _daemon_pid(lab) is None
    # The recurring monitor of the address notices and brings the daemon back.
    res = ocf("ipmp-address", "monitor", *vip, **recurring)
    assert res.returncode == 190, res.stderr
    assert "the IPMP daemon is not running" in res.stderr and "restarted it" in res.stderr
    new = _daemon_pid(lab)
    assert new is not None and new != old
    assert {a["address"]: a["inbound"] for a in ocf.snapshot()["addresses"]} == where
    assert ocf.code("ipmp", "monitor", *params, **recurring) == 0
    assert ocf.code("ipmp-address", "monitor", *vip, **recurring) == 0
    assert lab.client_ping(VIP)
    assert ocf.code("ipmp-address", "stop", *vip) == 0
    assert ocf.code("ipmp", "stop", *params) == 0


def _daemon_pid(lab: Lab) -> int | None:
    res = subprocess.run(
        ["ip", "netns", "exec", lab.node, sys.executable, "-c",
         "from ipmp_core.control_client import ControlClient as C; "
             "print(C().call('ping')['pid'])"],
        capture_output=True, text=True, timeout=30)
    return int(res.stdout) if res.returncode == 0 else None


def test_per_node_values(ocf: Ocf) -> None:
    node = "n1"
    params = ["group=ipmp0", "interfaces=@n1 e0 e1; @n2 eth7 eth8",
              "test_addresses=@n1 e0=198.51.100.21/24; @n2 eth7=198.51.100.31/24"]
    assert ocf.code("ipmp", "start", *params, OCF_RESKEY_CRM_meta_on_node=node) == 0
    iface = {i["name"]: i for i in ocf.snapshot()["interfaces"]}
    assert set(iface) == {"e0", "e1"} and iface["e0"]["testaddrs"] == ["198.51.100.21"]
    res = ocf("ipmp", "start", *params, OCF_RESKEY_CRM_meta_on_node="n2")
    assert res.returncode == 5 and "no such interface: eth7 eth8" in res.stderr
    assert ocf.code("ipmp", "stop", *params, OCF_RESKEY_CRM_meta_on_node=node) == 0


def test_missing_interface_is_installed_error_in_start_never_in_monitor(ocf: Ocf) -> None:
    params = ["group=ipmp0", "interfaces=e0 nosuch0"]
    res = ocf("ipmp", "start", *params)
    assert res.returncode == 5 and "no such interface: nosuch0" in res.stderr
    assert ocf.code("ipmp", "validate-all", *params) == 0  # level 0: parameters only
    assert ocf.code("ipmp", "validate-all", *params, OCF_CHECK_LEVEL="10") == 5
    assert ocf.code("ipmp", "monitor", *params) == 7  # a probe: not running, never 5/6


def test_floating_address_follows_the_group_and_refuses_duplicates(ocf: Ocf) -> None:
    lab = ocf.lab
    assert ocf.code("ipmp", "start", *GROUP) == 0
    vip = [f"ip={VIP}", "group=ipmp0"]
    assert ocf.code("ipmp-address", "monitor", *vip) == 7
    assert ocf.code("ipmp-address", "start", *vip) == 0
    assert ocf.code("ipmp-address", "start", *vip) == 0
    assert lab.client_ping(VIP)
    holder = next(a["inbound"] for a in ocf.snapshot()["addresses"] if a["address"] == VIP)
    lab.pull_cable(holder)
    time.sleep(0.3)
    assert ocf.code("ipmp-address", "monitor", *vip) == 0  # a move never fails it
    assert lab.client_ping(VIP)
    # No usable member at all: degraded during failed_grace, then failed (without a
    # location rule the address must not stay on a node without network for ever).
    other = "e1" if holder == "e0" else "e0"
    lab.pull_cable(other)
    time.sleep(0.3)
    grace = [*vip, "failed_grace=1"]
    recurring = {"OCF_RESKEY_CRM_meta_interval": "1000", "HA_RSCTMP": str(ocf.state)}
    res = ocf("ipmp-address", "monitor", *grace, **recurring)
    assert res.returncode == 190, res.stderr
    assert "has no usable interface" in exit_reason(res)
    time.sleep(1.1)
    res = ocf("ipmp-address", "monitor", *grace, **recurring)
    assert res.returncode == 1 and "longer than failed_grace=1 s" in exit_reason(res)
    lab.plug_cable(other)
    time.sleep(0.3)
    assert ocf.code("ipmp-address", "monitor", *grace, **recurring) == 0  # clock reset
    lab.plug_cable(holder)
    assert ocf.code("ipmp-address", "stop", *vip) == 0
    assert ocf.code("ipmp-address", "stop", *vip) == 0
    assert ocf.code("ipmp-address", "monitor", *vip) == 7
    lab.plug_cable(holder)
    # another host already uses the address: start refuses, nothing is left behind
    lab.run(lab.client, "ip", "addr", "add", "198.51.100.60/24", "dev", "eth0")
    res = ocf("ipmp-address", "start", "ip=198.51.100.60", "group=ipmp0")
    assert res.returncode == 1 and "already in use on the network" in res.stderr
    assert all(a["address"] != "198.51.100.60" for a in ocf.snapshot()["addresses"])
    assert ocf.code("ipmp", "stop", *GROUP) == 0


def test_ipv6_floating_address_fails_duplicate_address_detection(ocf: Ocf) -> None:
    lab = ocf.lab
    assert ocf.code("ipmp", "start", *GROUP) == 0
    lab.run(lab.client, "ip", "-6", "addr", "add", "2001:db8:1::60/64", "dev", "eth0",
            "nodad")
    res = ocf("ipmp-address", "start", "ip=2001:db8:1::60", "group=ipmp0")
    assert res.returncode == 1 and "duplicate address detection failed" in res.stderr
    assert all(a["address"] != "2001:db8:1::60" for a in ocf.snapshot()["addresses"])
    assert ocf.code("ipmp-address", "start", "ip=2001:db8:1::61", "group=ipmp0") == 0
    assert lab.client_ping("2001:db8:1::61", count=3)  # one lost under load is no failure
    assert ocf.code("ipmp", "stop", *GROUP) == 0


def _ocf_tester(lab: Lab, name: str, agent: str, *params: str) -> subprocess.CompletedProcess:
    options = " ".join(f"-o '{p}'" for p in params)
    return subprocess.run(
        ["ip", "netns", "exec", lab.node, "sh", "-c",
         f"cd /usr/share/resource-agents && ocf-tester -n {name} {options} "
         f"{AGENT_DIR / agent}"], capture_output=True, text=True, timeout=600,
        env={**os.environ, "IPMP_STATE_DIR": "/tmp/ipmp-ocf-tester"})


def test_ocf_tester_passes_both_agents(lab: Lab) -> None:
    try:
        res = _ocf_tester(lab, "net", "ipmp", *GROUP)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "passed all tests" in res.stdout
        # the floating address needs its group: configure one outside the tester
        env = {**os.environ, "IPMP_STATE_DIR": "/tmp/ipmp-ocf-tester"}
        start = subprocess.run(["ip", "netns", "exec", lab.node, sys.executable, "-m",
                                "agents.cli", "ipmp", "start", *GROUP], env=env,
                               capture_output=True, text=True, timeout=60)
        assert start.returncode == 0, start.stderr
        res = _ocf_tester(lab, "vip", "ipmp-address", f"ip={VIP}", "group=ipmp0")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "passed all tests" in res.stdout
    finally:
        Ocf(lab, Path("/tmp/ipmp-ocf-tester")).stop_daemon()


BAD_IPMP = [
    ({}, 6, "group"),  # required parameters missing
    ({"group": "ipmp0"}, 6, "interfaces"),
    ({"group": "9bad", "interfaces": "e0"}, 6, "must start with a letter"),
    ({"group": "a" * 16, "interfaces": "e0"}, 6, "longer than 15"),
    ({"group": "ipmp0", "interfaces": "e0 bad/if"}, 6, "interface name"),
    ({"group": "ipmp0", "interfaces": "e0", "standby_interfaces": "e0"}, 6,
     "both active and standby"),
    ({"group": "e0", "interfaces": "e0"}, 6, "named like its member"),
    ({"group": "ipmp0", "interfaces": "e0", "test_addresses": "e0"}, 6,
     "INTERFACE=ADDRESS"),
    ({"group": "ipmp0", "interfaces": "e0", "test_addresses": "e0=198.51.100.21"}, 6,
     "prefix length"),
    ({"group": "ipmp0", "interfaces": "e0", "test_addresses": "e9=198.51.100.21/24"}, 6,
     "not a member"),
    ({"group": "ipmp0", "interfaces": "e0 e1",
      "test_addresses": "e0=198.51.100.21/24 e1=198.51.100.21/24"}, 6, "repeats"),
    ({"group": "ipmp0", "interfaces": "e0", "test_addresses": "e0=2001:db8::5/64"}, 6,
     "link-local"),
    ({"group": "ipmp0", "interfaces": "e0", "data_addresses": "198.51.100.300/24"}, 6,
     "not valid"),
    ({"group": "ipmp0", "interfaces": "e0", "data_addresses": "198.51.100.0/24"}, 6,
     "network or broadcast"),
    ({"group": "ipmp0", "interfaces": "e0", "test_addresses": "e0=198.51.100.21/24",
      "data_addresses": "198.51.100.21/24"}, 6, "never double as a test address"),
    ({"group": "ipmp0", "interfaces": "e0", "failure_detection_time": "soon"}, 6,
     "failure_detection_time"),
    ({"group": "ipmp0", "interfaces": "e0", "failure_detection_time": "-5"}, 6,
     "failure_detection_time"),
    ({"group": "ipmp0", "interfaces": "e0", "failback": "maybe"}, 6, "failback"),
    ({"group": "ipmp0", "interfaces": "e0", "targets": "198.51.100.1,nonsense"}, 6,
     "not an IP address"),
    ({"group": "ipmp0", "interfaces": "e0", "multiplier": "-1"}, 6, "multiplier"),
    ({"group": "ipmp0", "interfaces": "e0", "dampen": "later"}, 6, "duration"),
    ({"group": "ipmp0", "interfaces": "@n1 e0; @n1 e1"}, 6, "named twice"),
    ({"group": "ipmp0", "interfaces": "@n1 e0; e1; e2"}, 6, "more than one entry"),
    ({"group": "ipmp0", "interfaces": "@n1 e0; @n2 e1",
      "standby_interfaces": "@n2 e1"}, 6, "both active and standby"),
    ({"group": "ipmp0", "interfaces": "e0", "gateway": "gw.example"}, 6, "not an IP"),
]
BAD_ADDRESS = [
    ({"group": "ipmp0"}, 6, "ip"),
    ({"ip": VIP}, 6, "group"),
    ({"ip": "198.51.100.256", "group": "ipmp0"}, 6, "ip"),
    ({"ip": "224.0.0.5", "group": "ipmp0"}, 6, "cannot be a floating address"),
    ({"ip": VIP, "group": "ipmp0", "cidr_netmask": "33"}, 6, "too long for IPv4"),
    ({"ip": "198.51.100.255", "group": "ipmp0", "cidr_netmask": "24"}, 6, "broadcast"),
    ({"ip": VIP, "group": "ipmp0", "arp_count": "99"}, 6, "arp_count"),
    ({"ip": VIP, "group": "ipmp0", "preferred_lft": "1h"}, 6, "preferred_lft"),
]


def _crm_validate(lab: Lab, agent: str, params: dict[str, str]) -> subprocess.CompletedProcess:
    argv = ["crm_resource", "--validate", "--class", "ocf", "--provider", "clearview",
            "--agent", agent]
    for key, value in params.items():
        argv += ["--option", f"{key}={value}"]
    # crm_resource looks only in /usr/lib/ocf/resource.d: show it the private root there,
    # in a mount namespace of its own.
    script = f"sh {OVERLAY} {AGENT_DIR.parent} && exec \"$@\""
    return subprocess.run(["ip", "netns", "exec", lab.node, "unshare", "--mount",
                           "--propagation", "private", "sh", "-c", script, "sh", *argv],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("agent", "params", "code", "reason"),
                         [("ipmp", *case) for case in BAD_IPMP]
                         + [("ipmp-address", *case) for case in BAD_ADDRESS])
def test_crm_resource_validate_rejects_bad_parameters(lab: Lab, agent: str, params: dict,
                                                       code: int, reason: str) -> None:
    res = _crm_validate(lab, agent, params)
    out = res.stdout + res.stderr
    assert f"rc={code}" in out or f"exit code {code}" in out or res.returncode == code, out
    assert reason in out, out


def test_crm_resource_validate_accepts_good_parameters(lab: Lab) -> None:
    good = {"group": "ipmp0", "interfaces": "@n1 e0 e1; @n2 e2 e3",
            "test_addresses": "@n1 e0=198.51.100.21/24; @n2 e2=198.51.100.31/24",
            "data_addresses": "198.51.100.10/24 2001:db8:1::10/64",
            "failure_detection_time": "2000", "failback": "no", "dampen": "500ms"}
    res = _crm_validate(lab, "ipmp", good)
    assert res.returncode == 0, res.stdout + res.stderr
    res = _crm_validate(lab, "ipmp-address", {"ip": "2001:db8:1::50", "group": "ipmp0"})
    assert res.returncode == 0, res.stdout + res.stderr


def test_meta_data_runs_as_nobody_and_validates(tmp_path: Path) -> None:
    for agent in ("ipmp", "ipmp-address"):
        res = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                              "--clear-groups", str(AGENT_DIR / agent), "meta-data"],
                             capture_output=True, text=True, timeout=60, env={})
        assert res.returncode == 0, res.stderr
        xml = tmp_path / f"{agent}.xml"
        xml.write_text(res.stdout)
        dtd_copy = tmp_path / "ra-api-1.dtd"  # the DOCTYPE names it relative to the file
        dtd_copy.write_text(Path("/usr/share/resource-agents/ra-api-1.dtd").read_text())
        dtd = subprocess.run(["xmllint", "--noout", "--valid", str(xml)], capture_output=True,
                             text=True, cwd="/usr/share/resource-agents")
        assert dtd.returncode == 0, dtd.stderr
        from ocf import metadata

        assert metadata.validate(res.stdout, "rng") == []


def test_monitor_path_imports_nothing_heavy(lab: Lab) -> None:
    code = ("import sys\nfrom agents import ipmp, ipmp_address\n"
            "heavy = [m for m in ('click', 'lxml', 'pyroute2', 'scapy') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "", res.stdout + res.stderr
