"""Part (c): ipmpd's CPU time and memory while probing 16 members, against a minimal
prober and iputils ping, read from /proc; its table and section text."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import PYTHON, BenchError, LineSource
from bench.probing.shared import (
    BASELINE,
    CPU_FDT_MS,
    CPU_GROUPS,
    CPU_MEMBERS,
    HELPER_READY_S,
    PING_MINUTES,
    PROBES_PER_FDT,
    SAMPLE_S,
    TARGET_CPU_PERCENT,
    TARGET_RSS_MB,
    WARMUP_S,
    WARNING_PATTERNS,
    Daemon,
    clk_tck,
    cpu_ticks,
    say,
)
from bench.report import (
    mark,
    markdown_table,
)
from tests.support.lab import Lab

# ---------------------------------------------------------------------------- /proc


def status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {key} in /proc/{pid}/status")


def in_echos(lab: Lab) -> int:
    """Echo requests the router has received (its namespace's /proc/net/snmp)."""
    assert lab.router is not None
    lines = lab.run(lab.router, "cat", "/proc/net/snmp").stdout.splitlines()
    icmp = [line.split()[1:] for line in lines if line.startswith("Icmp:")]
    if len(icmp) < 2:
        raise BenchError("no Icmp counters in the router's /proc/net/snmp")
    return int(dict(zip(icmp[0], icmp[1], strict=True))["InEchos"])


@dataclass
class CpuSample:
    name: str
    seconds: float
    utime_s: float
    stime_s: float
    rss_max_kb: int
    hwm_kb: int
    probes: int  # echo requests the router received in the window

    @property
    def cpu_percent(self) -> float:
        return 100.0 * (self.utime_s + self.stime_s) / self.seconds

    @property
    def probes_per_s(self) -> float:
        return self.probes / self.seconds

    @property
    def us_per_probe(self) -> float:
        return 1e6 * (self.utime_s + self.stime_s) / self.probes if self.probes else math.nan

    @property
    def rss_mb(self) -> float:
        return self.rss_max_kb * 1024 / 1e6

    @property
    def hwm_mb(self) -> float:
        return self.hwm_kb * 1024 / 1e6


def measure_cpu(
    name: str, procs: Sequence[subprocess.Popen[Any]], lab: Lab, seconds: float
) -> CpuSample:
    """Watch ``procs`` for ``seconds`` without talking to them: CPU ticks and VmRSS (summed
    over the processes), probe rate at the router."""
    pids = [p.pid for p in procs]

    def ticks() -> tuple[int, int]:
        both = [cpu_ticks(pid) for pid in pids]
        return sum(u for u, _ in both), sum(s for _, s in both)

    def rss() -> int:
        return sum(status_kb(pid, "VmRSS") for pid in pids)

    echos0 = in_echos(lab)
    u0, s0 = ticks()
    t0 = time.monotonic()
    rss_max = rss()
    end = t0 + seconds
    for _ in range(int(seconds / SAMPLE_S) + 10):
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(SAMPLE_S, end - now))
        if any(p.poll() is not None for p in procs):
            raise BenchError(f"{name} exited during the CPU window")
        rss_max = max(rss_max, rss())
    u1, s1 = ticks()
    t1 = time.monotonic()
    echos1 = in_echos(lab)
    tck = clk_tck()
    return CpuSample(
        name=name,
        seconds=t1 - t0,
        utime_s=(u1 - u0) / tck,
        stime_s=(s1 - s0) / tck,
        rss_max_kb=rss_max,
        hwm_kb=sum(status_kb(pid, "VmHWM") for pid in pids),
        probes=echos1 - echos0,
    )


# ---------------------------------------------------------------------------- (c) CPU


def cpu_layout() -> list[tuple[str, str, str, str, list[tuple[str, str]]]]:
    """Per group: (name, router address, data address, declared route destination,
    [(member, test address)]); group g lives in 198.51.100.64g/26."""
    groups = []
    for g in range(CPU_GROUPS):
        base = 64 * g
        router = f"198.51.100.{base + 1}"
        data = f"198.51.100.{base + 10}/26"
        route = "default" if g == 0 else f"203.0.113.{64 * (g - 1)}/26"
        members = [
            (f"e{g * CPU_MEMBERS + m}", f"198.51.100.{base + 21 + m}/26")
            for m in range(CPU_MEMBERS)
        ]
        groups.append((f"ipmp{g}", router, data, route, members))
    return groups


def add_router_addresses(lab: Lab) -> None:
    """One router address per /26 (198.51.100.1 already exists as a /24)."""
    assert lab.router is not None
    for _, router, _, _, _ in cpu_layout()[1:]:
        lab.run(lab.router, "ip", "addr", "add", f"{router}/26", "dev", "eth0")


@dataclass
class CpuResult:
    minutes: float
    ours: CpuSample | None = None
    base: CpuSample | None = None
    ping: CpuSample | None = None
    failures: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        if self.ours is None or self.base is None or self.base.cpu_percent <= 0:
            return math.nan
        return self.ours.cpu_percent / self.base.cpu_percent

    @property
    def cpu_ok(self) -> bool:
        return self.ours is not None and self.ours.cpu_percent <= TARGET_CPU_PERCENT

    @property
    def rss_ok(self) -> bool:
        return self.ours is not None and self.ours.rss_mb <= TARGET_RSS_MB


def check_targets(daemon: Daemon, transitive: bool) -> None:
    """Every member probes its group's router; with transitive probing, the member that
    carries the group's data address does, and the others probe that member."""
    rows = daemon.stat("-t", "-P", "-o", "interface,targets").splitlines()
    for name, router, _, _, members in cpu_layout():
        names = [m for m, _ in members]
        probing_router = [m for m in names if f"{m}:{router}" in rows]
        if not transitive and len(probing_router) == len(names):
            continue
        if transitive and len(probing_router) == 1 and all(
                f"{m}:<{probing_router[0]}>" in rows for m in names if m != probing_router[0]):
            continue
        raise BenchError(f"{name} does not probe as expected:\n" + "\n".join(rows))


def run_cpu_ours(minutes: float, transitive: bool = False) -> tuple[CpuSample, int, list[str]]:
    """ipmpd probing the 16 members; ``transitive``: no test addresses, transitive probing
    (per group one member probes the router from the data address, three probe it)."""
    notes: list[str] = []
    layout = cpu_layout()
    with (
        tempfile.TemporaryDirectory(prefix="bench-probing-") as state_dir,
        Lab(prefix="bpcpt" if transitive else "bpcpu", nics=CPU_GROUPS * CPU_MEMBERS,
            with_client=False, ipv6=False) as lab,
    ):
        add_router_addresses(lab)
        daemon = Daemon(lab, state_dir)
        try:
            daemon.start()
            for name, router, data, route, members in layout:
                daemon.adm("create-ipmp", *[a for m, _ in members for a in ("-i", m)], name)
                daemon.adm("set-ipmp", "-p", f"fdt={CPU_FDT_MS}", name)
                if transitive:
                    daemon.adm("set-ipmp", "-p", "transitive-probing=on", name)
                for member, addr in members if not transitive else []:
                    daemon.adm("create-addr", "-T", "test", "-a", addr, member)
                daemon.adm("create-addr", "-a", data, name)
                daemon.adm("create-route", "-g", router, "-d", route, name)
            daemon.wait_probing_ok(lab.nics)
            check_targets(daemon, transitive)
            log_before = daemon.log()
            kind = "transitive probing" if transitive else "test addresses"
            say(f"cpu: ipmpd ({kind}), {CPU_GROUPS} groups x {CPU_MEMBERS} members at FDT "
                f"{CPU_FDT_MS / 1000:g} s; warm-up {WARMUP_S:g} s, then {minutes:g} min")
            time.sleep(WARMUP_S)
            assert daemon.daemon is not None
            sample = measure_cpu("ipmpd (transitive)" if transitive else "ipmpd",
                                 [daemon.daemon], lab, minutes * 60)
            new_log = daemon.log()[len(log_before) :]
            failures = new_log.count("IP interface failure detected")
            for key, pattern in WARNING_PATTERNS.items():
                n = new_log.count(pattern)
                if n:
                    notes.append(f"ipmpd logged {n} x {key} during the CPU window")
            states = daemon.probe_states()
            bad = {k: v for k, v in states.items() if v != ("ok", "ok")}
            if bad:
                notes.append(f"members not ok after the CPU window: {bad}")
            fdts = daemon.group_fdts()
            if any(v != f"{CPU_FDT_MS / 1000:.2f}s" for v in fdts.values()):
                notes.append(f"FDT in effect after the window: {fdts}")
        except BaseException:
            print("ipmpd log (last lines):\n" + daemon.log_tail(), file=sys.stderr)
            raise
        finally:
            daemon.shutdown()
    return sample, failures, notes


def run_cpu_base(minutes: float, ping_minutes: float) -> tuple[CpuSample, CpuSample | None]:
    """The baseline prober for ``minutes``, then (same lab) the ``ping`` reference."""
    layout = cpu_layout()
    with Lab(
        prefix="bpbase", nics=CPU_GROUPS * CPU_MEMBERS, with_client=False, ipv6=False
    ) as lab:
        add_router_addresses(lab)
        # The ARP sysctls ipmpd sets on its members, so that the wire behaves the same.
        keys = ["net.ipv4.conf.all.arp_ignore=1"]
        for nic in lab.nics:
            keys += [
                f"net.ipv4.conf.{nic}.arp_ignore=1",
                f"net.ipv4.conf.{nic}.arp_announce=2",
                f"net.ipv4.conf.{nic}.promote_secondaries=1",
            ]
        lab.sysctl(lab.node, *keys)
        args: list[str] = []
        pairs: list[tuple[str, str]] = []
        for _, router, _, _, members in layout:
            for member, addr in members:
                # As ipmpd adds test addresses: no prefix route, deprecated.
                lab.run(
                    lab.node, "ip", "addr", "add", addr, "dev", member, "noprefixroute",
                    "preferred_lft", "0", "valid_lft", "forever",
                )
                args += ["--member", f"{member}={addr.split('/')[0]}={router}"]
                pairs.append((member, router))
        interval_ms = CPU_FDT_MS / PROBES_PER_FDT
        proc = lab.spawn(
            lab.node,
            [PYTHON, BASELINE, "--interval-ms", f"{interval_ms:.3f}",
             "--seconds", f"{minutes * 60 + WARMUP_S + 60:.0f}", *args],
            stdout=subprocess.PIPE,
            stderr=None,
        )
        src = LineSource(proc, "baseline prober")
        try:
            src.expect("READY", HELPER_READY_S)
            say(f"cpu: baseline prober, {len(pairs)} members every {interval_ms:.0f} ms; "
                f"warm-up {WARMUP_S:g} s, then {minutes:g} min")
            time.sleep(WARMUP_S)
            sample = measure_cpu("baseline", [proc], lab, minutes * 60)
        finally:
            src.close()
            lab.stop(proc)
        ping = run_ping_reference(lab, pairs, interval_ms, ping_minutes)
    return sample, ping


def run_ping_reference(
    lab: Lab, pairs: Sequence[tuple[str, str]], interval_ms: float, minutes: float
) -> CpuSample | None:
    """One iputils ``ping`` per member (C, bound to the member with -I) at the same rate:
    what the same probes cost with next to no user-space work. On this kind of lab most of
    it is the kernel's network path (veth, bridge, the router namespace's stack), which
    runs in the sender's context and is charged to it."""
    ping = shutil.which("ping")
    if ping is None or minutes <= 0:
        return None
    procs = [
        lab.spawn(
            lab.node,
            [ping, "-q", "-n", "-I", member, "-i", f"{interval_ms / 1000:.3f}",
             "-w", f"{minutes * 60 + 60:.0f}", router],
        )
        for member, router in pairs
    ]
    try:
        say(f"cpu: reference, {len(procs)} x iputils ping every {interval_ms:.0f} ms; "
            f"{minutes:g} min")
        time.sleep(5.0)
        return measure_cpu("ping (C)", procs, lab, minutes * 60)
    finally:
        for proc in procs:
            lab.stop(proc)


def run_cpu(minutes: float) -> CpuResult:
    result = CpuResult(minutes)
    result.ours, result.failures, result.notes = run_cpu_ours(minutes)
    result.base, result.ping = run_cpu_base(minutes, min(PING_MINUTES, minutes))
    return result




def cpu_rows(r: CpuResult) -> list[list[str]]:
    rows = [["implementation", "window", "probes/s (router)", "CPU % of one core",
             "user s", "sys s", "CPU us/probe", "max VmRSS MB", "VmHWM MB", "CPU ratio"]]
    for s in (r.ours, r.base, r.ping):
        if s is None:
            continue
        rows.append([
            s.name,
            f"{s.seconds / 60:.1f} min",
            f"{s.probes_per_s:.1f}",
            f"{s.cpu_percent:.2f}",
            f"{s.utime_s:.2f}",
            f"{s.stime_s:.2f}",
            f"{s.us_per_probe:.0f}",
            f"{s.rss_mb:.1f}",
            f"{s.hwm_mb:.1f}",
            f"{r.ratio:.2f}" if s is r.ours else "1.00" if s is r.base else "-",
        ])
    return rows


def cpu_targets(r: CpuResult) -> list[str]:
    assert r.ours is not None
    lines = [
        f"ipmpd CPU <= {TARGET_CPU_PERCENT:g} % of one core: {r.ours.cpu_percent:.2f} % "
        f"-> {mark(r.cpu_ok)}",
        f"ipmpd resident memory <= {TARGET_RSS_MB:g} MB: max VmRSS {r.ours.rss_mb:.1f} MB "
        f"-> {mark(r.rss_ok)}",
        f"ipmpd / baseline CPU: {r.ratio:.2f} (informational)",
    ]
    if r.base is not None:
        extra = r.ours.cpu_percent - r.base.cpu_percent
        per_probe = r.ours.us_per_probe - r.base.us_per_probe
        lines.append(
            f"ipmpd's CPU above the baseline's: {extra:.2f} % of one core "
            f"({per_probe:.0f} us per probe)"
        )
    if r.ping is not None:
        lines.append(
            f"floor in this lab: {CPU_GROUPS * CPU_MEMBERS} iputils pings "
            f"sending the same probes use {r.ping.cpu_percent:.2f} % "
            f"({r.ping.us_per_probe:.0f} us per probe: the lab's kernel network path, charged "
            "to the sender, plus ping's own work)"
        )
    lines.append(f"member failures during the window: {r.failures}")
    return lines


def md_cpu(r: CpuResult, stamp: str) -> list[str]:
    assert r.ours is not None
    return [
        "### (c) CPU time and memory while probing",
        "",
        f"{stamp}. {CPU_GROUPS} groups x {CPU_MEMBERS} members (16 NICs) at FDT "
        f"{CPU_FDT_MS / 1000:g} s, each group in its own /26 of 198.51.100.0/24 probing "
        "the router's address there; no event subscriber attached. After all members "
        f"probe `ok` and a {WARMUP_S:g} s warm-up, nothing talks to the daemon for "
        f"{r.minutes:g} min: CPU = utime + stime delta of /proc/PID/stat over wall time "
        "(share of one core), memory = VmRSS of /proc/PID/status sampled every second "
        "(max), VmHWM = peak since start; probes/s = echo requests received by the router. "
        "Baseline: `bench/baseline_prober.py` (standard library, one raw ICMP socket per "
        "member bound to the member and its test address, one echo per member every "
        "FDT/7, blocking select loop, replies read and discarded), same addresses, same "
        "duration, run right after ipmpd in a fresh lab. Reference: one iputils `ping` "
        f"(C) per member at the same rate, for {PING_MINUTES:g} min in the baseline's lab "
        "(VmRSS summed over the 16 processes). MB = 10^6 bytes.",
        "",
        "How to read the CPU figures: this kernel has no IRQ time accounting "
        "(CONFIG_IRQ_TIME_ACCOUNTING is off), so the softirq work a probe triggers in the "
        "sender's context (veth transmit, the bridge with br_netfilter, the router "
        "namespace's ICMP stack, the way back) is charged to the process that sent it. The "
        "`ping` row shows that floor: it is paid by any prober in this lab, so a target "
        "of 2 % of one core at 112 probes/s leaves little for user space. Only "
        "utime + stime together are exact (scheduler runtime); the split between them is "
        "sampled at the tick.",
        "",
        *markdown_table(cpu_rows(r)),
        "",
        *[f"- note: {n}" for n in r.notes],
        "",
        "Targets:",
        "",
        *[f"- {line}" for line in cpu_targets(r)],
    ]
