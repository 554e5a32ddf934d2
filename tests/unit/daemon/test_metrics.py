"""The Prometheus textfile: its text passes promtool's lint, and its writes are atomic
(a new file renamed over the old one), at most one per FDT, and gone with the daemon."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ipmp_core.daemon.metrics import Metrics
from ipmp_core.daemon.metrics_text import METRICS, PREFIX, Counters, metrics_dir_for, render
from ipmp_core.model import (
    AddressView,
    AddrState,
    GroupState,
    GroupView,
    IfFlags,
    IfState,
    InterfaceView,
    LinkState,
    ProbeState,
    Snapshot,
)

PROMTOOL_TIMEOUT_S = 30
FDT_MS = 200  # the stub group's FDT: the least time between two writes
BURST_S = 1.0  # how long the test keeps changing things
EVENT_EVERY_S = 0.01
HEARTBEAT_TEST_S = 0.2


def _snapshot() -> Snapshot:
    flags = IfFlags(inactive=False, standby=False, mcast4=True, bcast4=True, mcast6=False)
    return Snapshot(
        groups=[GroupView(name='g"1', state=GroupState.DEGRADED, fdt_ms=10000,
                          failback=True, active=["e1"], unusable=["e0"])],
        interfaces=[
            InterfaceView(name="e0", group='g"1', active=False, flags=flags,
                          link=LinkState.DOWN, probe=ProbeState.FAILED, state=IfState.FAILED),
            InterfaceView(name="e1", group='g"1', active=True, flags=flags,
                          link=LinkState.UP, probe=ProbeState.OK, state=IfState.OK)],
        addresses=[AddressView(address="198.51.100.10", prefixlen=24, state=AddrState.UP,
                               group='g"1', inbound="e1")])


def _counters() -> Counters:
    key = ("e1", "198.51.100.1")
    return Counters(probes_sent={key: 5}, probes_acked={key: 4}, probes_lost={key: 1},
                    rtt_last_s={key: 0.00042}, rtt_avg_s={key: 0.0005},
                    address_moves={'g"1': 1}, announcements={"e1": 3})


def test_text_passes_promtool_lint(tmp_path: Path) -> None:
    text = render(_snapshot(), _counters(), {"e0": 'g"1', "e1": 'g"1'}, "default")
    promtool = shutil.which("promtool")
    assert promtool, "promtool not installed (scripts/install-deps.sh: prometheus)"
    res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=PROMTOOL_TIMEOUT_S)
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr
    assert 'group="g\\"1"' in text  # label values escaped
    assert f'{PREFIX}group_state{{netns="default",group="g\\"1",state="degraded"}} 1' in text
    assert f'{PREFIX}probes_lost_total{{netns="default",group="g\\"1",interface="e1",' \
           f'target="198.51.100.1"}} 1' in text
    # Every metric written is declared, with HELP and TYPE first.
    declared = {f"{PREFIX}{name}" for name in METRICS}
    for line in text.splitlines():
        if not line.startswith("#"):
            assert line.split("{")[0] in declared


def test_lint_can_fail() -> None:
    # A counter without _total is what promtool's lint reports: the check above bites.
    bad = "# HELP x_moves Moves.\n# TYPE x_moves counter\nx_moves 1\n"
    promtool = shutil.which("promtool") or "promtool"
    res = subprocess.run([promtool, "check", "metrics"], input=bad, capture_output=True,
                         text=True, timeout=PROMTOOL_TIMEOUT_S)
    assert "_total" in res.stdout + res.stderr


def test_directory_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPMP_METRICS_DIR", raising=False)
    assert metrics_dir_for(None, "/srv/prom") == Path("/srv/prom")
    assert metrics_dir_for("/opt/x", "/srv/prom") == Path("/opt/x")
    assert metrics_dir_for(None, "") is None
    monkeypatch.setenv("IPMP_METRICS_DIR", "/run/t")
    assert metrics_dir_for(None, "/srv/prom") == Path("/run/t")
    assert metrics_dir_for("", "/srv/prom") is None


class _Recording(Metrics):
    """Notes when each write happens and the file's inode after it."""

    def __init__(self, engine: Any, directory: Path) -> None:
        super().__init__(engine, directory, "default")
        self.writes: list[float] = []
        self.inodes: list[int] = []

    def write(self) -> None:
        self.writes.append(asyncio.get_running_loop().time())
        super().write()
        assert self.path is not None
        self.inodes.append(os.stat(self.path).st_ino)


def test_writes_are_atomic_at_most_once_per_fdt_and_go_with_the_daemon(
        tmp_path: Path) -> None:
    engine = SimpleNamespace(groups={"g1": SimpleNamespace(fdt_current=FDT_MS)},
                             members={"e1": SimpleNamespace(group="g1")},
                             snapshot=_snapshot)
    metrics = _Recording(engine, tmp_path)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        metrics.start(set())
        end = loop.time() + BURST_S
        n = 0
        while loop.time() < end:
            n += 1
            metrics.put_nowait({"type": "probe", "status": "sent", "interface": "e1",
                                "target": "198.51.100.1"})
            await asyncio.sleep(EVENT_EVERY_S)
        await asyncio.sleep(2 * FDT_MS / 1000)
        assert metrics.path is not None
        assert f'interface="e1",target="198.51.100.1"}} {n}' in metrics.path.read_text()
        metrics.close()

    asyncio.run(scenario())
    interval = FDT_MS / 1000
    assert 2 <= len(metrics.writes) <= 1 + math.ceil(BURST_S / interval) + 1
    gaps = [b - a for a, b in zip(metrics.writes, metrics.writes[1:], strict=False)]
    assert min(gaps) >= interval * 0.99, gaps
    # A new file each time, renamed into place: in place, the inode would stay (a
    # freed inode may come back later, so consecutive writes are compared).
    assert all(a != b for a, b in zip(metrics.inodes, metrics.inodes[1:], strict=False))
    assert list(tmp_path.iterdir()) == []  # no temporary left; the file went with close()


def test_a_quiet_daemon_still_rewrites_its_file(tmp_path: Path) -> None:
    """No change for a while: the file is written again anyway (its mtime shows the
    daemon is alive), once per heartbeat."""
    engine = SimpleNamespace(groups={}, members={}, snapshot=_snapshot)
    metrics = _Recording(engine, tmp_path)
    metrics.heartbeat_s = HEARTBEAT_TEST_S

    async def scenario() -> None:
        metrics.start(set())
        await asyncio.sleep(HEARTBEAT_TEST_S * 3.5)
        metrics.close()

    asyncio.run(scenario())
    # At start, then one per heartbeat: 3 more in 3.5 heartbeats (the last may slip
    # past the end on a loaded machine, as each write delays the next heartbeat).
    assert 3 <= len(metrics.writes) <= 4, metrics.writes
