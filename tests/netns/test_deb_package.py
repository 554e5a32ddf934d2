"""The Debian package as an admin uses it: `make deb`'s build, lintian, `dpkg -i`, the
INSTALLED agent under ocf-tester and a group made by the INSTALLED ipmpadm in a lab,
the installed units under systemd-analyze verify, then `dpkg --purge` leaving nothing.

dpkg runs in an overlay of /usr, /etc, /var and /opt (tests/support/overlay_root.py):
the machine's own /opt/clearview-ipmp/venv, /usr/lib/ocf/resource.d/clearview and dpkg
database are never touched, even when the test fails half-way. Inside, what `make
install` left there is removed first, so the install meets a machine without
clearview-ipmp. Takes about two minutes (the build installs the venv with pip).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ipmp_core
from tests.support.lab import Lab
from tests.support.overlay_root import OverlayRoot

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]
PKG = "clearview-ipmp"
RUNTIME = "/opt/clearview-ipmp/runtime"
AGENTS = "/usr/lib/ocf/resource.d/clearview"
COMMANDS = ("ipmpd", "ipmpadm", "ipmpstat", "ipmp-ocf")
# Everything of clearview-ipmp an install may leave on a machine: none of it may stay
# after the purge.
FOOTPRINT = ("/opt/clearview-ipmp", AGENTS, "/etc/default/clearview-ipmp",
             "/var/lib/clearview-ipmp", "/lib/systemd/system/ipmpd@.service",
             "/lib/systemd/system/ipmpd@default.service.d",
             *(f"/usr/sbin/{c}" for c in COMMANDS),
             *(f"/usr/local/sbin/{c}" for c in COMMANDS))
TEST_TOOLS = ("pytest", "ruff", "scapy", "hypothesis", "pip", "setuptools")
BUILD_TIMEOUT_S = 600
DAEMON_EXIT_S = 10.0


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    res = subprocess.run(["bash", str(REPO / "packaging" / "build-deb.sh"), str(out)],
                         capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert res.returncode == 0, res.stderr[-3000:]
    version = ipmp_core.__version__  # the one version (setup.cfg reads it)
    # The package's changelog names the same version (lintian reads it).
    first = (REPO / "packaging" / "changelog").read_text().splitlines()[0]
    assert first.startswith(f"{PKG} ({version}) "), first
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    path = Path(res.stdout.strip().splitlines()[-1])
    assert path == out / f"{PKG}_{version}_{arch}.deb"
    return path


def test_lintian_finds_no_error(deb: Path) -> None:
    res = subprocess.run(["lintian", "--fail-on", "error", str(deb)], capture_output=True,
                         text=True, timeout=BUILD_TIMEOUT_S)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not [line for line in res.stdout.splitlines() if line.startswith("E:")]


def test_the_package_holds_the_product_and_no_test_tools(deb: Path) -> None:
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    for tool in TEST_TOOLS:
        assert f"/site-packages/{tool}/" not in listing, tool
    for name in ("ipmp_core", "agents", "ocf", "pyroute2", "lxml", "click"):
        assert f"{RUNTIME}/lib/python" in listing and f"/site-packages/{name}/" in listing
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends", "Recommends"],
                            capture_output=True, text=True, check=True).stdout
    assert "iproute2" in fields and "nftables" in fields and "python3" in fields
    assert "Recommends: pacemaker, resource-agents" in fields
    # Man pages and completion files of the checkout are all shipped where Debian
    # looks for them.
    for page in sorted((REPO / "man").glob("*.[1-8]")):
        section = page.suffix[1:]
        assert f"./usr/share/man/man{section}/{page.name}.gz\n" in listing + "\n", page
    # bash-completion's loader looks for a file named after the command
    for command in ("ipmpd", "ipmpadm", "ipmpstat", "ipmp-ocf"):
        assert f"./usr/share/bash-completion/completions/{command}" in listing, command
    conffiles = subprocess.run(["dpkg-deb", "-I", str(deb), "conffiles"],
                               capture_output=True, text=True, check=True).stdout
    assert conffiles.split() == ["/etc/default/clearview-ipmp"]


def _host_view() -> list[str]:
    """What the test suite runs from on this machine, which the package would replace:
    the names under /opt/clearview-ipmp (the package's venv would add runtime/), the
    agents' and the defaults file's contents. The same afterwards."""
    out = []
    if os.path.isdir("/opt/clearview-ipmp"):
        out += sorted(p.name for p in Path("/opt/clearview-ipmp").iterdir())
    files = [*Path(AGENTS).glob("*")] if os.path.isdir(AGENTS) else []
    for path in [*sorted(files), Path("/etc/default/clearview-ipmp")]:
        if path.is_file():
            out.append(f"{path}:{hashlib.sha256(path.read_bytes()).hexdigest()}")
    return out


@pytest.fixture
def sandbox() -> Iterator[OverlayRoot]:
    host_before = _host_view()
    with OverlayRoot() as root:
        # A machine without clearview-ipmp: what `make install` put here goes (inside).
        root.run("rm", "-rf", *FOOTPRINT, check=True)
        yield root
    assert _host_view() == host_before


def _in_node(root: OverlayRoot, lab: Lab, *argv: str,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "IPMP_STATE_DIR"}
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    return root.run("ip", "netns", "exec", lab.node, *argv, timeout=timeout, env=env)


def _daemon_pid(root: OverlayRoot, lab: Lab) -> int | None:
    res = _in_node(root, lab, f"{RUNTIME}/bin/python3", "-c",
                   "from ipmp_core.control_client import ControlClient as C; "
                   "print(C().call('ping')['pid'])")
    return int(res.stdout) if res.returncode == 0 else None


def _stop_daemon(root: OverlayRoot, lab: Lab) -> None:
    pid = _daemon_pid(root, lab)
    if pid is None:
        return
    os.kill(pid, 15)
    deadline = time.monotonic() + DAEMON_EXIT_S
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, 9)


def test_install_use_and_purge(deb: Path, sandbox: OverlayRoot, lab: Lab) -> None:
    root = sandbox
    try:
        root.run("dpkg", "-i", str(deb), check=True)
        owned = root.run("dpkg", "-L", PKG, check=True).stdout.split()
        _installed_as_a_debian_admin_expects(root, owned)
        _installed_agent_passes_ocf_tester(root, lab)
        _installed_commands_make_a_group(root, lab)
        _stop_daemon(root, lab)
        assert root.exists("/var/lib/clearview-ipmp/default.json") or \
            root.run("sh", "-c", "ls /var/lib/clearview-ipmp/*.json").returncode == 0
        root.run("dpkg", "--purge", PKG, check=True)
    finally:
        _stop_daemon(root, lab)
        if root.run("dpkg", "-s", PKG).returncode == 0:
            root.run("dpkg", "--purge", PKG)
    status = root.run("dpkg-query", "-W", "-f", "${Status}", PKG)
    assert status.returncode != 0 or "not-installed" in status.stdout, status.stdout
    left = root.run("sh", "-c", f"ls /var/lib/dpkg/info/{PKG}.* 2>/dev/null").stdout
    assert left == ""
    assert [p for p in FOOTPRINT if root.exists(p)] == []
    # Every file the package owned is gone; of its directories only those shared with
    # the rest of the system (/usr/sbin, ...) remain.
    remaining = [p for p in owned if root.exists(p)]
    assert all(root.run("test", "-d", p).returncode == 0 for p in remaining), remaining
    assert not any(p.startswith(("/opt/", AGENTS, "/lib/systemd/system/ipmpd"))
                   for p in remaining), remaining


def _installed_as_a_debian_admin_expects(root: OverlayRoot, owned: list[str]) -> None:
    for cmd in COMMANDS:
        assert f"/usr/sbin/{cmd}" in owned
    res = root.run("/usr/sbin/ipmpstat", "--help", check=True)
    assert "Usage: ipmpstat" in res.stdout
    for agent in ("ipmp", "ipmp-address"):
        head = root.run("head", "-1", f"{AGENTS}/{agent}", check=True).stdout
        assert head.startswith(f"#!{RUNTIME}/bin/python"), head
    for tool in TEST_TOOLS:
        probe = root.run(f"{RUNTIME}/bin/python3", "-c", f"import {tool}")
        assert probe.returncode != 0, f"{tool} is importable from the package's venv"
    # postinst compiled the byte code, the state directory is private to root.
    assert root.run("sh", "-c", f"ls -d {RUNTIME}/lib/python3*/site-packages/ipmp_core/"
                    "__pycache__").returncode == 0
    mode = root.run("stat", "-c", "%a", "/var/lib/clearview-ipmp", check=True).stdout.strip()
    assert mode == "700"
    for unit in ("ipmpd@default.service", "ipmpd@lab\\x2d1.service"):
        res = root.run("systemd-analyze", "verify", "--man=no", unit)
        ours = [line for line in (res.stdout + res.stderr).splitlines() if "ipmpd" in line]
        assert res.returncode == 0 and ours == [], res.stdout + res.stderr


def _installed_agent_passes_ocf_tester(root: OverlayRoot, lab: Lab) -> None:
    res = _in_node(root, lab, "sh", "-c",
                   "cd /usr/share/resource-agents && ocf-tester -n net -o group=ipmp0 "
                   f"-o 'interfaces=e0 e1' {AGENTS}/ipmp", timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "passed all tests" in res.stdout
    pid = _daemon_pid(root, lab)
    assert pid is not None  # ocf-tester's last action was a stop: the daemon stays
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[0].decode().startswith(f"{RUNTIME}/bin/python"), cmdline


def _installed_commands_make_a_group(root: OverlayRoot, lab: Lab) -> None:
    ok = _in_node(root, lab, "/usr/sbin/ipmpadm", "create-ipmp", "-i", "e2", "pkg0")
    assert ok.returncode == 0, ok.stderr
    ok = _in_node(root, lab, "/usr/sbin/ipmpadm", "create-addr", "-a", "198.51.100.10/24",
                  "pkg0")
    assert ok.returncode == 0, ok.stderr
    assert lab.client_ping("198.51.100.10", count=3)
    groups = _in_node(root, lab, "/usr/sbin/ipmpstat", "-g", "-P", "-o", "group")
    assert groups.returncode == 0, groups.stderr
    assert "pkg0" in groups.stdout.split()
