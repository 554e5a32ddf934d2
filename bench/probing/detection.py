"""Part (a): how long after a member's probe path breaks (link still up) ipmpd declares
it failed, as a fraction of the FDT; its table and its section of docs/performance.md."""

from __future__ import annotations

import contextlib
import math
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.common import wait_until
from bench.probing.shared import (
    DETECTION_NICS,
    GROUP,
    PROBES_PER_FDT,
    PROBING_OK_S,
    TARGET_DETECTION_FDT,
    Daemon,
    EventStream,
    probing_lab,
    say,
)
from bench.report import (
    mark,
    markdown_table,
)
from tests.support.lab import Lab

# ---------------------------------------------------------------------------- (a) detection


@dataclass
class Trial:
    nic: str
    delay_s: float  # random wait before the drop
    nft_ms: float  # how long the nft command took (the drop took effect within it)
    detect_s: float | None  # drop (after nft returned) -> failed event read; None: timeout
    daemon_s: float | None  # the same from the daemon's wall-clock event stamp
    lost_before: int  # lost-probe events of that member between drop and failure
    repair_s: float | None  # undrop -> ok event


@dataclass
class DetectionResult:
    fdt_ms: int
    trials: list[Trial] = field(default_factory=list)
    fdt_shown: str = ""  # ipmpstat -g after the phase (the FDT in effect)
    notes: list[str] = field(default_factory=list)

    def ratios(self) -> list[float]:
        """Detection / FDT per trial; a timed-out trial counts as infinity."""
        fdt = self.fdt_ms / 1000.0
        return [t.detect_s / fdt if t.detect_s is not None else math.inf for t in self.trials]

    def upper_ratios(self) -> list[float]:
        """Detection / FDT counted from the START of the nft command: an upper bound."""
        fdt = self.fdt_ms / 1000.0
        return [
            (t.detect_s + t.nft_ms / 1000.0) / fdt if t.detect_s is not None else math.inf
            for t in self.trials
        ]

    def daemon_ratios(self) -> list[float]:
        fdt = self.fdt_ms / 1000.0
        return [t.daemon_s / fdt for t in self.trials if t.daemon_s is not None]

    @property
    def met(self) -> bool:
        return bool(self.trials) and all(r <= TARGET_DETECTION_FDT for r in self.ratios())


def p95(values: Sequence[float]) -> float:
    """95th percentile, linear interpolation between closest ranks (numpy's default)."""
    data = sorted(values)
    if not data:
        return math.nan
    pos = 0.95 * (len(data) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    if math.isinf(data[hi]):
        return math.inf
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def detection_phase(
    lab: Lab, daemon: Daemon, stream: EventStream, fdt_ms: int, trials: int, rng: random.Random
) -> DetectionResult:
    nics = lab.nics
    result = DetectionResult(fdt_ms)
    fdt = fdt_ms / 1000.0
    interval = fdt / PROBES_PER_FDT
    daemon.adm("set-ipmp", "-p", f"fdt={fdt_ms}", GROUP)
    wait_until(
        f"ipmpstat showing FDT {fdt:.2f}s",
        lambda: daemon.group_fdts().get(GROUP) == f"{fdt:.2f}s",
        10.0,
    )
    stream.sleep(2 * interval)  # the next probes use the new interval
    daemon.wait_probing_ok(nics, timeout=max(PROBING_OK_S, 4 * fdt))
    stream.wait_answered(nics, timeout=max(PROBING_OK_S, 4 * fdt))
    stream.sleep(fdt)
    say(f"detection at FDT {fdt:g} s (probe interval {interval * 1000:.0f} ms), {trials} trials")
    for i in range(trials):
        nic = nics[i % len(nics)]
        delay = rng.uniform(1.0, 3.0) * interval
        stream.sleep(delay)
        mark_idx = len(stream.events)
        t_start = time.monotonic()
        lab.drop_icmp(nic)
        t_drop = time.monotonic()
        wall_drop = time.time()
        failed = stream.wait_state(nic, "failed", 3 * fdt + 5.0, after=t_start)
        t_undrop = time.monotonic()
        lab.undrop_icmp(nic)
        detect = daemon_s = None
        lost = 0
        if failed is not None:
            detect = failed.t - t_drop
            if isinstance(failed.data.get("time"), (int, float)):
                daemon_s = float(failed.data["time"]) - wall_drop
            lost = sum(
                1
                for ev in stream.events[mark_idx:]
                if ev.data.get("type") == "probe"
                and ev.data.get("interface") == nic
                and ev.data.get("status") == "lost"
                and ev.t <= failed.t
            )
        else:
            result.notes.append(
                f"trial {i + 1}: {nic} not declared failed within {3 * fdt + 5:g} s"
            )
        repaired = None
        if failed is not None:
            repaired = stream.wait_state(nic, "ok", 4 * fdt + 10.0, after=t_undrop)
            if repaired is None:
                result.notes.append(
                    f"trial {i + 1}: {nic} not repaired within {4 * fdt + 10:g} s of the undrop"
                )
        daemon.wait_probing_ok(nics, timeout=max(PROBING_OK_S, 6 * fdt))
        trial = Trial(
            nic=nic,
            delay_s=delay,
            nft_ms=(t_drop - t_start) * 1000.0,
            detect_s=detect,
            daemon_s=daemon_s,
            lost_before=lost,
            repair_s=None if repaired is None else repaired.t - t_undrop,
        )
        result.trials.append(trial)
        del stream.events[:-1000]
        took = (
            "TIMEOUT" if detect is None else f"{detect * 1000:7.1f} ms = {detect / fdt:.3f} x FDT"
        )
        say(
            f"  FDT {fdt:4g} s trial {i + 1:3}: {nic} detected in {took}"
            + (f" (daemon stamp {daemon_s * 1000:7.1f} ms)" if daemon_s is not None else "")
            + f", lost probes seen {lost}, nft {trial.nft_ms:.1f} ms"
            + ("" if trial.repair_s is None else f", repaired in {trial.repair_s:.2f} s")
        )
    result.fdt_shown = daemon.group_fdts().get(GROUP, "?")
    return result


def run_detection(fdts: Sequence[int], trials: int, rng: random.Random) -> list[DetectionResult]:
    results: list[DetectionResult] = []
    with probing_lab("bpdet", DETECTION_NICS, fdts[0]) as (lab, daemon, stack):
        budget = sum(trials * (6 * f / 1000 + 10) + 60 for f in fdts)
        stream = stack.enter_context(contextlib.closing(EventStream(lab, budget + 600)))
        for fdt_ms in fdts:
            results.append(detection_phase(lab, daemon, stream, fdt_ms, trials, rng))
        log = daemon.log()
        for res in results:
            if "Cannot meet requested failure detection time" in log:
                res.notes.append("the daemon backed off its FDT during the run (see log)")
    return results




def fmt_ratio(x: float) -> str:
    return "timeout" if math.isinf(x) else f"{x:.3f}"


def detection_rows(results: Sequence[DetectionResult]) -> list[list[str]]:
    rows = [[
        "FDT", "trials", "median x FDT", "p95 x FDT", "max x FDT", "min x FDT",
        "median ms", "max ms", "max (daemon stamp) x FDT", "median repair s", "target",
    ]]
    for r in results:
        ratios = r.ratios()
        finite = [x for x in ratios if not math.isinf(x)]
        daemon = r.daemon_ratios()
        repairs = [t.repair_s for t in r.trials if t.repair_s is not None]
        fdt = r.fdt_ms / 1000
        rows.append([
            f"{fdt:g} s",
            str(len(r.trials)),
            fmt_ratio(statistics.median(ratios)),
            fmt_ratio(p95(ratios)),
            fmt_ratio(max(ratios)),
            fmt_ratio(min(finite)) if finite else "-",
            f"{statistics.median(ratios) * fdt * 1000:.0f}" if finite else "-",
            "timeout" if math.isinf(max(ratios)) else f"{max(ratios) * fdt * 1000:.0f}",
            fmt_ratio(max(daemon)) if daemon else "-",
            f"{statistics.median(repairs):.2f}" if repairs else "-",
            mark(r.met),
        ])
    return rows


def detection_targets(results: Sequence[DetectionResult]) -> list[str]:
    return [
        f"FDT {r.fdt_ms / 1000:g} s: every trial <= {TARGET_DETECTION_FDT:g} x FDT "
        f"(max {fmt_ratio(max(r.ratios()))}; counted from the start of the nft command "
        f"instead, an upper bound: {fmt_ratio(max(r.upper_ratios()))}) -> {mark(r.met)}"
        for r in results
    ]


def md_detection(results: list[DetectionResult], stamp: str) -> list[str]:
    per_trial = [
        f"- FDT {r.fdt_ms / 1000:g} s: " + ", ".join(fmt_ratio(x) for x in r.ratios())
        for r in results
    ]
    nft = [t.nft_ms for r in results for t in r.trials]
    lost = sorted({t.lost_before for r in results for t in r.trials})
    notes = [f"- note (FDT {r.fdt_ms / 1000:g} s): {n}" for r in results for n in r.notes]
    shown = ", ".join(f"{r.fdt_ms / 1000:g} s -> {r.fdt_shown}" for r in results)
    return [
        "### (a) Detection time as a fraction of the FDT",
        "",
        f"{stamp}. One group of {DETECTION_NICS} probing members (e0..e{DETECTION_NICS - 1}), "
        "router target. Per trial: a random wait of 1..3 probe intervals, then the probe "
        "path of one member is dropped with its link up (nftables drop of ICMP from its "
        "switch port; members take turns); detection = from `time.monotonic()` right after "
        "`nft` returned to the moment the event helper in the node namespace read the "
        "daemon's `member-state` event with state `failed`. Then the drop is lifted and the "
        "trial waits for the member's repair (10 answered probes). *daemon stamp*: the same "
        "interval measured with the event's own wall-clock stamp, set by the daemon when it "
        "published the event (excludes the delivery to the helper). In theory detection "
        "lies between about 3.5 and 6 probe intervals, 0.50..0.86 x FDT, plus the "
        "daemon's reaction time.",
        "",
        *markdown_table(detection_rows(results)),
        "",
        f"The `nft` command took {statistics.median(nft):.1f} ms (median, max "
        f"{max(nft):.1f} ms); the rule is in force somewhere within that time, so a "
        "detection time may be understated by up to that much. Lost-probe events seen "
        f"between drop and failure per trial: {', '.join(map(str, lost))}. FDT shown by "
        f"`ipmpstat -g` after each phase: {shown}.",
        "",
        "Per-trial detection / FDT, in order:",
        "",
        *per_trial,
        *notes,
        "",
        "Targets:",
        "",
        *[f"- {line}" for line in detection_targets(results)],
    ]
