"""The measurements: the address-move watcher, single adds, the restart under a pinging
control client, and the run of both labs."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import PYTHON, BenchError, BenchNode, LineSource, wait_until
from bench.scale.sections import restart_text
from bench.scale.shared import (
    CYCLES,
    GROUP,
    MOVE_S,
    PAUSE_S,
    PING_AFTER_S,
    PING_INTERVAL_S,
    PREFIX_BASE,
    PREFIX_OURS,
    READY_S,
    RESTART_S,
    SETTLE_S,
    SINGLES,
    SNAPSHOT_EVERY,
    WATCH,
    Results,
    add_lines,
    addresses,
    count_on,
    del_lines,
    extra_addresses,
    ip_batch,
    rss_mb,
)
from tests.support.lab import Lab


class Watch:
    """bench/addr_watch.py in a lab's node namespace."""

    def __init__(self, lab: Lab) -> None:
        self.proc = lab.spawn(lab.node, [PYTHON, WATCH], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=None)
        self.lines = LineSource(self.proc, "addr_watch")
        self.lines.expect("READY", READY_S)

    def arm(self, trigger: str, src: str, dst: str, count: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"MOVE {trigger} {src} {dst} {count}\n".encode())
        self.proc.stdin.flush()

    def result(self) -> float:
        return self.parts()[0]

    def parts(self) -> tuple[float, float]:
        """(ms from the trigger to the end of the move, ms to its first address)."""
        line = self.lines.wait_for(lambda s: s.startswith(("DONE", "TIMEOUT")), MOVE_S)
        if line == "TIMEOUT":
            raise BenchError("the addresses did not all move within 60 s")
        _done, total, first = line.split()
        return float(total), float(first)

    def close(self) -> None:
        self.lines.close()
        if self.proc.stdin is not None:
            self.proc.stdin.close()


# The restart's control-socket client, run in the node namespace: pings every interval
# and asks for a snapshot every SNAPSHOT_EVERY pings, until it has had answers for
# PING_AFTER_S after the daemon said it had started (ping's "starting" false), then prints
# what it saw as JSON. A snapshot waits until the state file is loaded (by design), so its
# time is counted from the first one answered; one without the group is counted too.
PINGER = r"""
import json, sys, time
from ipmp_core.control_client import ControlClient, DaemonUnreachable
interval, after, limit, every, group = (float(sys.argv[1]), float(sys.argv[2]),
                                        float(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
client = ControlClient(timeout=5.0)
print("READY", flush=True)
t0 = time.monotonic()
listen = first = ready = snap_first = None
worst = worst_at = snap_worst = 0.0
answers = failures = snaps = snaps_missing = n = 0
while time.monotonic() - t0 < limit:
    started = time.monotonic()
    try:
        result = client.call("ping")
    except DaemonUnreachable as exc:
        if "no answer" in exc.message:  # it was listening: a request left unanswered
            failures += 1
            worst = max(worst, time.monotonic() - started)
        time.sleep(interval)
        continue
    took = time.monotonic() - started
    if listen is None:
        listen = started - t0
    answers += 1
    if took > worst:
        worst, worst_at = took, started - t0
    if first is None:
        first = time.monotonic() - t0
    if ready is None and not (isinstance(result, dict) and result.get("starting")):
        ready = time.monotonic() - t0
    n += 1
    if n % every == 0:
        started = time.monotonic()
        try:
            snap = client.call("snapshot")
        except DaemonUnreachable:
            failures += 1
        else:
            snaps += 1
            if not any(g["name"] == group for g in snap["groups"]):
                snaps_missing += 1
            if snap_first is None:
                snap_first = time.monotonic() - t0
            else:
                snap_worst = max(snap_worst, time.monotonic() - started)
    if ready is not None and time.monotonic() - t0 > ready + after:
        break
    time.sleep(interval)
print(json.dumps({"listen_s": listen, "first_answer_s": first, "ready_s": ready,
                  "worst_answer_ms": worst * 1000.0, "worst_at_s": worst_at,
                  "answers": answers, "failures": failures, "snapshots": snaps,
                  "snapshots_missing_group": snaps_missing, "first_snapshot_s": snap_first,
                  "worst_snapshot_ms": snap_worst * 1000.0}), flush=True)
"""


def single_adds(daemon: BenchNode, addrs: list[str]) -> list[float]:
    """Each address in its own add-address request (one client process); ms each."""
    code = (
        "import json, sys, time\n"
        "from ipmp_core.control_client import ControlClient\n"
        "c = ControlClient(timeout=30)\n"
        "out = []\n"
        "for a in json.loads(sys.argv[1]):\n"
        "    t = time.perf_counter()\n"
        f"    c.call('add-address', group={GROUP!r}, address=a)\n"
        "    out.append((time.perf_counter() - t) * 1000)\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run(["ip", "netns", "exec", daemon.lab.node, PYTHON, "-c", code,
                          json.dumps(addrs)], env=daemon.env, capture_output=True,
                         text=True, timeout=120, check=False)
    if res.returncode != 0:
        raise BenchError(f"single adds failed: {res.stderr.strip()[-300:]}")
    return list(json.loads(res.stdout))


def restart(daemon: BenchNode) -> dict[str, float]:
    """Stop ipmpd, start it again under a pinging client; what the client saw."""
    lab = daemon.lab
    if daemon.daemon is not None:
        lab.stop(daemon.daemon)
    pinger = lab.spawn(lab.node, [PYTHON, "-c", PINGER, str(PING_INTERVAL_S),
                                  str(PING_AFTER_S), str(RESTART_S), str(SNAPSHOT_EVERY),
                                  GROUP],
                       env=daemon.env, stdout=subprocess.PIPE, stderr=None)
    lines = LineSource(pinger, "control-socket pinger")
    lines.expect("READY", READY_S)
    daemon.spawn()
    seen = json.loads(lines.readline(RESTART_S + 5))
    lines.close()
    if seen["ready_s"] is None or seen["first_snapshot_s"] is None:
        raise BenchError(f"ipmpd did not start after the restart: {seen}")
    return {k: float(v) for k, v in seen.items()}


def run_benchmark(count: int) -> Results:
    res = Results(count)
    addrs = addresses(count)
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as state_dir,
        Lab(prefix=PREFIX_OURS, nics=2, with_client=False) as ours,
        Lab(prefix=PREFIX_BASE, nics=2, with_client=False) as base,
    ):
        daemon = BenchNode(ours, state_dir)
        daemon.tool_timeout_s = 120.0
        try:
            daemon.start()
            daemon.adm("create-ipmp", "-i", "e0", GROUP)
            daemon.adm("add-ipmp", "-s", "-i", "e1", GROUP)
            started = time.perf_counter()
            daemon.adm("create-addr", *[x for a in addrs for x in ("-a", a)], GROUP)
            res.create_ms = (time.perf_counter() - started) * 1000.0
            wait_until("every address on e0", lambda: count_on(ours, "e0") == count,
                       SETTLE_S)
            for nic in base.nics:  # as ipmpd sets it on its members (MEMBER_SYSCTLS)
                base.sysctl(base.node, f"net.ipv4.conf.{nic}.promote_secondaries", 1)
            res.create_base_ms = ip_batch(base, add_lines(addrs, "e0"))
            print(f"create {count}: ipmpd {res.create_ms:.0f} ms "
                  f"({res.per_address_ms:.2f} ms/address), ip -batch "
                  f"{res.create_base_ms:.0f} ms", flush=True)
            extra = extra_addresses(SINGLES)
            res.single_ms = single_adds(daemon, extra)
            daemon.adm("delete-addr", extra[0].split("/")[0])  # back to ``count`` below
            for a in extra[1:]:
                daemon.adm("delete-addr", a.split("/")[0])
            print(f"single add-address at {count}: median "
                  f"{statistics.median(res.single_ms):.1f} ms", flush=True)
            res.rss.append(rss_mb(daemon.pid))

            watch = Watch(ours)
            try:
                for cycle in range(CYCLES):
                    time.sleep(PAUSE_S)
                    watch.arm("down:e0", "e0", "e1", count)
                    ours.pull_cable("e0")
                    res.failover_ms.append(watch.result())
                    res.failover_base_ms.append(ip_batch(
                        base, add_lines(addrs, "e1") + del_lines(addrs, "e0")))
                    time.sleep(PAUSE_S)
                    watch.arm("up:e0", "e1", "e0", count)
                    ours.plug_cable("e0")
                    # From the repair (the daemon's first move) on: e0 probes (the group
                    # has IPv6 data addresses), so it is repaired by 10 answered probes
                    # after its link-up, as in.mpathd does; that wait is reported apart.
                    total, repaired = watch.parts()
                    res.failback_ms.append(total - repaired)
                    res.failback_repair_ms.append(repaired)
                    res.failback_base_ms.append(ip_batch(
                        base, add_lines(addrs, "e0") + del_lines(addrs, "e1")))
                    print(f"cycle {cycle + 1}: failover ipmpd {res.failover_ms[-1]:.0f} ms, "
                          f"ip -batch {res.failover_base_ms[-1]:.0f} ms; failback ipmpd "
                          f"{res.failback_ms[-1]:.0f} ms, ip -batch "
                          f"{res.failback_base_ms[-1]:.0f} ms", flush=True)
                    res.rss.append(rss_mb(daemon.pid))
            finally:
                watch.close()
            res.restart = restart(daemon)
            wait_until("every address on e0 after the restart",
                       lambda: count_on(ours, "e0") == count, SETTLE_S)
            res.rss.append(rss_mb(daemon.pid))
            print(f"restart: {restart_text(res.restart)}", flush=True)
        except BaseException:
            print("ipmpd log (last lines):\n" + daemon.log_tail(), file=sys.stderr)
            raise
        finally:
            daemon.shutdown()
    return res
