"""The systemd units: `systemd-analyze verify` has nothing to say about them (it works
without a running systemd), and their settings match what the daemon does.

verify also checks that ExecStart's program exists: the unit names the package's
/usr/sbin/ipmpd, so the copy verified here names this venv's ipmpd instead (the only
change); tests/netns/test_deb_package.py verifies the installed units as they are."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.systemd_unit import HOST_DROPIN, TEMPLATE, UNITS, bounding_set, settings

PACKAGE_IPMPD = "/usr/sbin/ipmpd"
# verify answers in well under a second; bounded all the same.
VERIFY_TIMEOUT_S = 60


def verify(units_dir: Path, unit: str) -> list[str]:
    """`systemd-analyze verify` of ``unit`` found in ``units_dir`` (searched before the
    system's directories): its complaints about our units (lines naming ipmpd or our
    directory; other units of this machine it reads on the way are not ours to judge)."""
    res = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", unit], capture_output=True, text=True,
        timeout=VERIFY_TIMEOUT_S,
        env={"SYSTEMD_UNIT_PATH": f"{units_dir}:", "PATH": "/usr/bin:/bin"})
    lines = (res.stdout + res.stderr).splitlines()
    ours = [line for line in lines if "ipmpd" in line or str(units_dir) in line]
    if res.returncode != 0:
        ours.append(f"exit status {res.returncode}")
    return ours


def unit_copy(tmp_path: Path, edit: str = "") -> Path:
    directory = tmp_path / "units"
    shutil.copytree(UNITS, directory)
    ipmpd = Path(sys.executable).parent / "ipmpd"
    assert ipmpd.exists(), ipmpd
    text = TEMPLATE.read_text()
    assert f"ExecStart={PACKAGE_IPMPD}\n" in text
    (directory / TEMPLATE.name).write_text(
        text.replace(f"ExecStart={PACKAGE_IPMPD}", f"ExecStart={ipmpd}") + edit)
    return directory


@pytest.mark.parametrize("unit", ["ipmpd@default.service", "ipmpd@lab\\x2d1.service"])
def test_systemd_analyze_verify_has_nothing_to_say(tmp_path: Path, unit: str) -> None:
    assert verify(unit_copy(tmp_path), unit) == []


def test_the_verify_check_sees_a_bad_setting(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key and a relative path are reported."""
    directory = unit_copy(tmp_path, edit="RestartSecs=1\n")
    (directory / "ipmpd@default.service.d" / "host-namespace.conf").write_text(
        "[Service]\nNetworkNamespacePath=relative\n")
    complaints = "\n".join(verify(directory, "ipmpd@default.service"))
    assert "RestartSecs" in complaints
    assert "not absolute" in complaints


def test_the_unit_is_a_notify_service_restarted_on_failure_in_its_namespace() -> None:
    service = settings(TEMPLATE)["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "on-failure"
    assert service["ExecStart"] == PACKAGE_IPMPD  # no --log-file: the journal has it
    assert service["NetworkNamespacePath"] == "/run/netns/%I"
    assert not any(k.startswith("Standard") for k in service)  # output to the journal
    assert settings(HOST_DROPIN)["Service"]["NetworkNamespacePath"] == ""


def test_capabilities_and_system_calls_are_what_the_daemon_uses() -> None:
    """NET_ADMIN and NET_RAW, plus SYS_PTRACE for pidfd_getfd, which the multicast mover
    calls (and which @system-service lacks: systemd puts it in @debug)."""
    service = settings(TEMPLATE)["Service"]
    assert service["CapabilityBoundingSet"].split() == ["CAP_NET_ADMIN", "CAP_NET_RAW",
                                                        "CAP_SYS_PTRACE"]
    assert "AmbientCapabilities" not in service  # root: ipmpd refuses anything else
    mover = (UNITS.parent / "ipmp_core" / "net" / "mcast.py").read_text()
    assert "pidfd_getfd" in mover
    filters = service["SystemCallFilter"].split()
    assert filters == ["@system-service", "pidfd_getfd"]
    group = subprocess.run(["systemd-analyze", "syscall-filter", "@system-service"],
                           capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S).stdout
    assert not re.search(r"^\s+pidfd_getfd$", group, re.M)
    families = set(service["RestrictAddressFamilies"].split())
    assert families == {"AF_UNIX", "AF_NETLINK", "AF_INET", "AF_INET6", "AF_PACKET"}
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp",
                   "ProtectKernelTunables"):
        assert service[option] == "yes", option
    assert service["ProtectSystem"] == "strict"
    assert service["StateDirectory"] == "clearview-ipmp"  # /var/lib/clearview-ipmp


BORROW = """
import os, socket, sys
from ipmp_core.net.mcast import pidfd_getfd
pidfd = os.pidfd_open(int(sys.argv[1]))
try:
    fd = pidfd_getfd(pidfd, int(sys.argv[2]))
except OSError as exc:
    print(exc.errno)
else:
    print(socket.socket(fileno=fd).family.name)
"""


@pytest.mark.parametrize("without_ptrace", [False, True], ids=["unit", "no-sys-ptrace"])
def test_the_units_capabilities_let_the_multicast_mover_borrow_a_socket(
        without_ptrace: bool) -> None:
    """pidfd_getfd on a root application's socket, run with the unit's bounding set: it
    works, and fails with EPERM once CAP_SYS_PTRACE is taken away (why it is there)."""
    import errno
    import os

    bounding = bounding_set()
    if without_ptrace:
        bounding = bounding.replace(",+sys_ptrace", "")
    app = subprocess.Popen([sys.executable, "-c", "import socket, sys, time; "
                            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                            "print(s.fileno(), flush=True); time.sleep(60)"],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout is not None
        fd = app.stdout.readline().strip()
        res = subprocess.run(
            ["setpriv", "--inh-caps=-all", f"--bounding-set={bounding}", "--no-new-privs",
             sys.executable, "-c", BORROW, str(app.pid), fd],
            capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S,
            cwd=str(UNITS.parent), env={**os.environ, "PYTHONPATH": str(UNITS.parent)})
    finally:
        app.kill()
        app.wait()
    assert res.returncode == 0, res.stderr
    expected = str(errno.EPERM) if without_ptrace else "AF_INET"
    assert res.stdout.strip() == expected
