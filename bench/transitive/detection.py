"""Part (a): detection time / FDT for both kinds of member of a transitive group: the one
probing the router from the data address, and a transitive one (see the package
docstring)."""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.common import BenchError, wait_until
from bench.probing.detection import DetectionResult, Trial, detection_rows, fmt_ratio
from bench.probing.shared import (
    GROUP,
    PROBES_PER_FDT,
    PROBING_OK_S,
    TARGET_DETECTION_FDT,
    Daemon,
    EventStream,
    probing_lab,
    say,
)
from bench.report import mark, markdown_table

DETECTION_NICS = 3
DATA = "data address"  # the member that probes the router from the group's data address
TRANSITIVE = "transitive"
KINDS = (DATA, TRANSITIVE)


@dataclass
class KindResult(DetectionResult):
    kind: str = DATA


def members_by_kind(daemon: Daemon) -> dict[str, list[str]]:
    """ipmpstat -t's view: MODE ``transitive``, or a member probing a router/host."""
    found: dict[str, list[str]] = {DATA: [], TRANSITIVE: []}
    for row in daemon.stat("-t", "-P", "-o", "interface,mode").splitlines():
        member, _, mode = row.partition(":")
        if mode == TRANSITIVE:
            found[TRANSITIVE].append(member)
        elif mode in ("routes", "multicast"):
            found[DATA].append(member)
    return found


def settle(daemon: Daemon, stream: EventStream, nics: Sequence[str], fdt: float) -> None:
    """Every member probing ok, and each with a probe answered from now on."""
    daemon.wait_probing_ok(nics, timeout=max(PROBING_OK_S, 6 * fdt))
    stream.wait_answered(nics, timeout=max(PROBING_OK_S, 6 * fdt))


def one_trial(daemon: Daemon, stream: EventStream, nic: str, kind: str, fdt: float,
              delay: float) -> Trial:
    lab = daemon.lab
    stream.sleep(delay)
    mark_idx = len(stream.events)
    t_start = time.monotonic()
    if kind == DATA:
        lab.drop_icmp(nic)
    else:
        lab.drop_port(nic)
    t_drop = time.monotonic()
    wall_drop = time.time()
    failed = stream.wait_state(nic, "failed", 3 * fdt + 5.0, after=t_start)
    t_undrop = time.monotonic()
    lab.undrop_icmp(nic)  # lifts either drop
    detect = daemon_s = None
    lost = 0
    repaired = None
    if failed is not None:
        detect = failed.t - t_drop
        if isinstance(failed.data.get("time"), (int, float)):
            daemon_s = float(failed.data["time"]) - wall_drop
        lost = sum(1 for ev in stream.events[mark_idx:]
                   if ev.data.get("type") == "probe" and ev.data.get("interface") == nic
                   and ev.data.get("status") == "lost" and ev.t <= failed.t)
        repaired = stream.wait_state(nic, "ok", 4 * fdt + 20.0, after=t_undrop)
    return Trial(nic=nic, delay_s=delay, nft_ms=(t_drop - t_start) * 1000.0,
                 detect_s=detect, daemon_s=daemon_s, lost_before=lost,
                 repair_s=None if repaired is None else repaired.t - t_undrop)


def detection_phase(daemon: Daemon, stream: EventStream, fdt_ms: int, trials: int,
                    rng: random.Random) -> list[KindResult]:
    nics = daemon.lab.nics
    fdt = fdt_ms / 1000.0
    interval = fdt / PROBES_PER_FDT
    results = {kind: KindResult(fdt_ms, kind=kind) for kind in KINDS}
    daemon.adm("set-ipmp", "-p", f"fdt={fdt_ms}", GROUP)
    wait_until(f"ipmpstat showing FDT {fdt:.2f}s",
               lambda: daemon.group_fdts().get(GROUP) == f"{fdt:.2f}s", 10.0)
    stream.sleep(2 * interval)  # the next probes use the new interval
    settle(daemon, stream, nics, fdt)
    say(f"detection at FDT {fdt:g} s (probe interval {interval * 1000:.0f} ms), "
        f"{trials} trials per kind")
    for i in range(2 * trials):
        kind = KINDS[i % 2]
        candidates = members_by_kind(daemon)[kind]
        if not candidates:
            raise BenchError(f"no {kind} member in ipmpstat -t:\n{daemon.stat('-t')}")
        nic = candidates[(i // 2) % len(candidates)]
        trial = one_trial(daemon, stream, nic, kind, fdt, rng.uniform(1.0, 3.0) * interval)
        result = results[kind]
        result.trials.append(trial)
        if trial.detect_s is None:
            result.notes.append(f"trial {len(result.trials)}: {nic} not declared failed "
                                f"within {3 * fdt + 5:g} s")
        elif trial.repair_s is None:
            result.notes.append(f"trial {len(result.trials)}: {nic} not repaired")
        del stream.events[:-1000]
        took = ("TIMEOUT" if trial.detect_s is None
                else f"{trial.detect_s * 1000:7.1f} ms = {trial.detect_s / fdt:.3f} x FDT")
        say(f"  FDT {fdt:4g} s {kind:>12} trial {len(result.trials):3}: {nic} detected in "
            f"{took}, lost probes seen {trial.lost_before}"
            + ("" if trial.repair_s is None else f", repaired in {trial.repair_s:.2f} s"))
        settle(daemon, stream, nics, fdt)
    shown = daemon.group_fdts().get(GROUP, "?")
    for result in results.values():
        result.fdt_shown = shown
    return list(results.values())


def run_detection(fdts: Sequence[int], trials: int, rng: random.Random) -> list[KindResult]:
    results: list[KindResult] = []
    with probing_lab("btdet", DETECTION_NICS, fdts[0], transitive=True) as (lab, daemon,
                                                                           stack):
        budget = sum(2 * trials * (8 * f / 1000 + 30) + 120 for f in fdts)
        stream = stack.enter_context(contextlib.closing(EventStream(lab, budget + 600)))
        for fdt_ms in fdts:
            results += detection_phase(daemon, stream, fdt_ms, trials, rng)
    return results


def kind_rows(results: Sequence[KindResult]) -> list[list[str]]:
    rows = detection_rows(results)
    return [["member"] + rows[0]] + [[r.kind] + row for r, row in zip(results, rows[1:],
                                                                         strict=True)]


def kind_targets(results: Sequence[KindResult]) -> list[str]:
    return [f"FDT {r.fdt_ms / 1000:g} s, {r.kind} member: every trial <= "
            f"{TARGET_DETECTION_FDT:g} x FDT (max {fmt_ratio(max(r.ratios()))}) -> "
            f"{mark(r.met)}" for r in results]


def md_detection(results: list[KindResult], stamp: str) -> list[str]:
    nft = [t.nft_ms for r in results for t in r.trials]
    return [
        "### (a) Detection time / FDT, both kinds of member",
        "",
        f"{stamp}. One group of {DETECTION_NICS} members, no test address, transitive "
        "probing on, one data address, router target. Trials alternate between the member "
        "that probes the router from the data address (its ICMP dropped at its switch "
        "port) and a transitive member (every frame from its port dropped); the link "
        "stays up. Detection = from right after `nft` returned to the event helper "
        "reading the member's `member-state` event `failed`; then the drop is lifted and "
        "the member's repair is awaited (repair = the `ok` event after the undrop).",
        "",
        *markdown_table(kind_rows(results)),
        "",
        f"The `nft` command took {statistics.median(nft):.1f} ms (median, max "
        f"{max(nft):.1f} ms).",
        "",
        "Per-trial detection / FDT, in order:",
        "",
        *[f"- FDT {r.fdt_ms / 1000:g} s, {r.kind}: "
          + ", ".join(fmt_ratio(x) for x in r.ratios()) for r in results],
        *[f"- note (FDT {r.fdt_ms / 1000:g} s, {r.kind}): {n}" for r in results
          for n in r.notes],
        "",
        "Targets:",
        "",
        *[f"- {line}" for line in kind_targets(results)],
    ]
