"""The Prometheus textfile: its text passes promtool's lint, and its writes are atomic
(a new file renamed over the old one), at most one per FDT, and gone with the daemon."""

from __future__ import annotations

import asyncio
import math
import os
import random
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ipmp_core.daemon.metrics import Metrics
from ipmp_core.daemon.metrics_text import METRICS, PREFIX, Counters, metrics_dir_for, render
from ipmp_core.daemon.service import Daemon
from ipmp_core.engine.actions import ProbeKind, Publish, SendTransitive
from ipmp_core.engine.engine import Engine
from ipmp_core.engine.prober import FamilyProber, Prober
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
from ipmp_core.persist import StateFile
from tests.support.daemon_fakes import Calls, FakeNetlink
from tests.support.probe_sim import ROUTER, ProbeWorld
from tests.support.prometheus import parse, value
from tests.support.transitive_sim import TransitiveWorld

PROMTOOL_TIMEOUT_S = 30
FDT_MS = 200  # the stub group's FDT: the least time between two writes
BURST_S = 1.0  # how long the test keeps changing things
EVENT_EVERY_S = 0.01
HEARTBEAT_TEST_S = 0.2
ENGINE_FDT_MS = 1000  # the simulated groups': a probe every 143 ms
SLOW_RTT_MS = 300.0  # the router slowed down this much raises the FDT (PROBE_RTT probes)
SIM_LIMIT_MS = 20_000  # how long the simulation may take to get there


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


def _stub_engine(prober: Prober) -> SimpleNamespace:
    """One group of FDT_MS with one member, e1, whose probing is ``prober``."""
    return SimpleNamespace(groups={"g1": SimpleNamespace(fdt_current=FDT_MS)},
                           members={"e1": SimpleNamespace(group="g1", prober=prober)},
                           snapshot=_snapshot)


def test_writes_are_atomic_at_most_once_per_fdt_and_go_with_the_daemon(
        tmp_path: Path) -> None:
    metrics = _Recording(_stub_engine(Prober("e1")), tmp_path)  # e1 does not probe

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        metrics.start(set())
        end = loop.time() + BURST_S
        n = 0
        while loop.time() < end:
            n += 1
            metrics.put_nowait({"type": "address-moved", "group": 'g"1', "from": "e0",
                                "to": "e1", "address": "198.51.100.10"})
            await asyncio.sleep(EVENT_EVERY_S)
        await asyncio.sleep(2 * FDT_MS / 1000)
        assert metrics.path is not None
        assert f'{PREFIX}address_moves_total{{netns="default",group="g\\"1"}} {n}' \
            in metrics.path.read_text()
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


def test_probe_counters_in_the_file_are_at_most_one_refresh_old_while_a_member_probes(
        tmp_path: Path) -> None:
    """No event at all (no event client: no probe events): the engine's counters move
    and the file follows them, one write per counters refresh (here two FDTs), none
    more often: at FDT 1 s a write a second was a measurable share of the daemon's CPU."""
    family_prober = FamilyProber("e1", 4, "198.51.100.21", random.Random(1))
    metrics = _Recording(_stub_engine(Prober("e1", families={4: family_prober})), tmp_path)
    metrics.counters_refresh_s = refresh = 2 * FDT_MS / 1000
    target = "198.51.100.1"

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        metrics.start(set())
        end = loop.time() + BURST_S
        n = 0
        while loop.time() < end:
            n += 1
            now_ms = loop.time() * 1000
            family_prober.sent(n, target, now_ms)
            family_prober.expire(now_ms + FDT_MS, FDT_MS)  # unanswered: lost
            await asyncio.sleep(EVENT_EVERY_S)
        await asyncio.sleep(1.5 * refresh)  # the next write is due within one refresh
        assert metrics.path is not None
        samples = parse(metrics.path.read_text())
        labels = {"interface": "e1", "target": target}
        assert value(samples, f"{PREFIX}probes_sent_total", **labels) == n
        assert value(samples, f"{PREFIX}probes_lost_total", **labels) == n
        assert value(samples, f"{PREFIX}probes_acked_total", **labels) == 0
        metrics.close()

    asyncio.run(scenario())
    gaps = [b - a for a, b in zip(metrics.writes, metrics.writes[1:], strict=False)]
    assert min(gaps) >= refresh * 0.99, gaps
    # Every refresh while probing (the heartbeat is a minute): the first write, then one
    # per refresh of the burst and the wait after it (each write may slip a little on a
    # loaded machine, and the slips add up: at least one per refresh of the burst).
    most = 1 + (BURST_S + 1.5 * refresh) / refresh
    assert BURST_S / refresh <= len(metrics.writes) <= most, metrics.writes


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


# --------------------------------------------------------------------------- the engine's
class _Client:
    """An event stream, as the control server keeps one: it wants every event."""

    def put_nowait(self, event: dict[str, Any]) -> None:
        return None


def test_a_daemon_with_metrics_and_no_event_client_builds_no_probe_events(
        tmp_path: Path) -> None:
    """The metrics are an event subscriber (state changes, address moves), but they
    want no probe events: only an event client turns them on, and its leaving turns
    them off again."""
    calls: Calls = []
    daemon = Daemon(StateFile(tmp_path / "state.json"), defaults_path=None,
                    netlink=FakeNetlink(calls),  # type: ignore[arg-type]
                    metrics_dir=str(tmp_path))
    client = _Client()  # an ipmpstat -p stream

    async def scenario() -> None:
        daemon.metrics.start(daemon.subscribers)
        assert daemon.metrics.enabled and daemon.subscribers == {daemon.metrics}
        await daemon.executor.execute([])  # every batch sets the flag
        assert daemon.engine.probing.events is False
        daemon.subscribers.add(client)  # as the control server adds a stream ...
        daemon._subscribed(True)  # ... and says so
        assert daemon.engine.probing.events is True
        await daemon.executor.execute([])
        assert daemon.engine.probing.events is True
        daemon.subscribers.discard(client)
        daemon._subscribed(bool(daemon.subscribers))  # the metrics are still there
        assert daemon.engine.probing.events is False
        await daemon.executor.execute([])
        assert daemon.engine.probing.events is False
        daemon.metrics.close()

    try:
        asyncio.run(scenario())
    finally:
        daemon.probes.close()


def _oracle(w: ProbeWorld) -> dict[str, dict[tuple[str, str], float]]:
    """What the probe events say (the engine publishes them in these tests, as it
    does for an event client), per (interface, target) as the file labels them:
    failure-detection probes sent (the simulation's record of them: a "sent" event
    comes from the daemon once a probe left), acked and lost (0 until the first), the
    last answered probe's network RTT and the target's RTT average."""
    out: dict[str, dict[tuple[str, str], float]] = {
        k: {} for k in ("sent", "acked", "lost", "rtt", "rttavg")}
    for _, probe in w.sent:
        if probe.kind is ProbeKind.UNICAST:
            key = (probe.member, probe.dest)
            out["sent"][key] = out["sent"].get(key, 0) + 1
    for probe_t in getattr(w, "transitive", []):
        assert isinstance(probe_t[1], SendTransitive)
        key = (probe_t[1].member, f"<{probe_t[1].target}>")
        out["sent"][key] = out["sent"].get(key, 0) + 1
    for action in w.actions:
        if not isinstance(action, Publish) or action.event.get("type") != "probe":
            continue
        e = action.event
        key = (e["interface"], e["target"])
        if e["status"] in ("acked", "lost"):
            out[e["status"]][key] = out[e["status"]].get(key, 0) + 1
        if e["status"] == "acked":
            out["rtt"][key] = (e["ackrecv_ns"] - e["sent_ns"]) / 1e9
        if e["rttavg_ms"] is not None:
            out["rttavg"][key] = e["rttavg_ms"] / 1000
    for key in out["sent"]:  # a counter is there from its first probe on, 0 or more
        for k in ("acked", "lost"):
            out[k].setdefault(key, 0)
    return out


def _file_says(engine: Engine, tmp_path: Path) -> dict[str, dict[tuple[str, str], float]]:
    """The probe samples of the text the metrics would write now (fed no event)."""
    samples = parse(Metrics(engine, tmp_path, "default").text())
    names = {"sent": "probes_sent_total", "acked": "probes_acked_total",
             "lost": "probes_lost_total", "rtt": "probe_rtt_seconds",
             "rttavg": "probe_rtt_average_seconds"}
    out: dict[str, dict[tuple[str, str], float]] = {k: {} for k in names}
    for (name, labels), v in samples.items():
        for k, metric in names.items():
            if name == f"{PREFIX}{metric}":
                d = dict(labels)
                out[k][(d["interface"], d["target"])] = v
    return out


def _same(file: dict[str, dict[tuple[str, str], float]],
          events: dict[str, dict[tuple[str, str], float]]) -> None:
    for k in ("sent", "acked", "lost"):
        assert file[k] == events[k], k
    for k in ("rtt", "rttavg"):
        assert file[k].keys() == events[k].keys(), k
        for key, v in events[k].items():
            assert file[k][key] == pytest.approx(v, rel=1e-6, abs=1e-9), (k, key)


def test_the_files_probe_counters_follow_the_engines_probe_records(tmp_path: Path) -> None:
    """Answers, losses (a dropped path), a raised FDT with its PROBE_RTT probes (not
    counted: no failure-detection probes, no probe events) and a repair: the file says
    what the probe events said, read from the engine's counters alone."""
    w = ProbeWorld("e0", "e1")
    w.engine.probing.events = True  # the oracle: every probe's events
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.probing_group("ipmp0", "e0", "e1", fdt=ENGINE_FDT_MS)
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    w.run(10 * ENGINE_FDT_MS)
    w.dropped.add("e0")
    w.run(3 * ENGINE_FDT_MS)
    w.dropped.discard("e0")
    group = w.engine.groups["ipmp0"]
    w.rtt[ROUTER] = SLOW_RTT_MS
    w.run_until(lambda: group.fdt_current > ENGINE_FDT_MS, limit_ms=SIM_LIMIT_MS)
    w.run(3 * group.fdt_current)
    w.rtt[ROUTER] = 1.0
    w.run(10 * ENGINE_FDT_MS)
    events = _oracle(w)
    assert any(p.kind is ProbeKind.RTT for _, p in w.sent)  # they were there, uncounted
    assert events["lost"].get(("e0", ROUTER), 0) > 0 and events["acked"]
    _same(_file_says(w.engine, tmp_path), events)


def test_transitive_probes_are_counted_per_member_they_probe(tmp_path: Path) -> None:
    """A member without a test address probes another member: the file names that
    target ``<member>``, as the probe events and ipmpstat -t do."""
    w = TransitiveWorld("e0", "e1")
    w.engine.probing.events = True
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.record(w.engine.create_group("ipmp0", w.now, fdt_ms=ENGINE_FDT_MS))
    w.engine.groups["ipmp0"].transitive_probing = True
    for m in ("e0", "e1"):
        w.record(w.engine.add_member("ipmp0", m, w.now))
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    w.run(10 * ENGINE_FDT_MS)
    w.deaf.add("e1")  # e1's frames to e0 go unanswered (e0 keeps the data address)
    w.run(3 * ENGINE_FDT_MS)
    events = _oracle(w)
    assert events["acked"].get(("e1", "<e0>"), 0) > 0
    assert events["lost"].get(("e1", "<e0>"), 0) > 0
    assert events["acked"].get(("e0", ROUTER), 0) > 0  # from the data address
    _same(_file_says(w.engine, tmp_path), events)
