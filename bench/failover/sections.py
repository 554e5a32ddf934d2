"""The verdict against the targets, the tables and the failover section of
docs/performance.md."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass

from bench.failover.shared import DATA_ADDR, TARGET_MEDIAN_MS, TARGET_RATIO, Result, fmt_ms
from bench.report import (
    load_averages,
    mark,
    markdown_table,
    now_utc,
    ratio,
    text_table,
)


@dataclass
class Verdict:
    median_ok: bool
    ratio_ok: bool
    ratio_median: float
    ratio_max: float

    @property
    def met(self) -> bool:
        return self.median_ok and self.ratio_ok


def judge(ours: Result, base: Result) -> Verdict:
    ratio_median = ratio(ours.median, base.median)
    ratio_max = ratio(ours.maximum, base.maximum)
    return Verdict(
        median_ok=ours.median <= TARGET_MEDIAN_MS,
        ratio_ok=ratio_median <= TARGET_RATIO,
        ratio_median=ratio_median,
        ratio_max=ratio_max,
    )


def table_rows(ours: Result, base: Result, v: Verdict) -> list[list[str]]:
    return [
        [
            "implementation",
            "trials",
            "median ms",
            "max ms",
            "median ratio",
            "max ratio",
            "median reaction ms",
            "lost after GARP",
            "median noise ms",
        ],
        [
            "ipmpd",
            str(len(ours.trials)),
            f"{ours.median:.1f}",
            f"{ours.maximum:.1f}",
            f"{v.ratio_median:.2f}",
            f"{v.ratio_max:.2f}",
            fmt_ms(ours.announce_median),
            ours.lost_after_announce,
            f"{ours.jitter_median:.1f}",
        ],
        [
            "baseline",
            str(len(base.trials)),
            f"{base.median:.1f}",
            f"{base.maximum:.1f}",
            "1.00",
            "1.00",
            fmt_ms(base.announce_median),
            base.lost_after_announce,
            f"{base.jitter_median:.1f}",
        ],
    ]


def target_lines(ours: Result, base: Result, v: Verdict) -> list[str]:
    limit = TARGET_RATIO * base.median
    return [
        f"median outage <= {TARGET_MEDIAN_MS:.0f} ms: {ours.median:.1f} ms -> {mark(v.median_ok)}",
        f"median outage <= {TARGET_RATIO} x baseline median ({limit:.1f} ms): "
        f"{ours.median:.1f} ms -> {mark(v.ratio_ok)}",
        f"overall: {mark(v.met)}",
    ]


def print_report(ours: Result, base: Result, v: Verdict) -> None:
    print()
    for line in text_table(table_rows(ours, base, v)):
        print(line)
    print("(ratios: ipmpd / baseline; reaction: carrier loss in the node -> first gratuitous")
    print(" ARP at the client; lost after GARP: probes sent after it arrived that got no echo,")
    print(" total/trials; noise: longest echo gap in the steady phase before the pull)")
    print()
    for line in target_lines(ours, base, v):
        print(line)


def markdown_section(ours: Result, base: Result, v: Verdict, command: str) -> str:
    table = markdown_table(table_rows(ours, base, v))
    targets = [f"- {line}" for line in target_lines(ours, base, v)]
    per_trial = [f"- {r.name}: " + ", ".join(f"{g:.1f}" for g in r.gaps) for r in (ours, base)]
    nics = ours.nics
    notes = [
        f"- note, {r.name} trial {i + 1}: {t.note}"
        for r in (ours, base)
        for i, t in enumerate(r.trials)
        if t.note
    ]
    load = load_averages()
    date = now_utc()
    return "\n".join(
        [
            "## Failover outage",
            "",
            "What is measured: the longest silence a client sees when the NIC that holds a "
            "data address loses its link. A client namespace sends one numbered UDP datagram "
            "every 1 ms to the data address; an echo server bound to that address in the node "
            "namespace sends each one back. The outage of a trial is the longest interval "
            "between two consecutive echoes from 20 ms before the cable pull until echoes have "
            "flowed again gap-free for 300 ms (resolution: the 1 ms probe interval). Before "
            "each pull, 100 consecutive echoes must have come back (the client's ARP entry is "
            "valid, the path warm). A pull sets the switch-side veth peer down, so the node's "
            "NIC loses carrier, like an unplugged cable. Both labs exist side by side and "
            "the trials alternate (ipmpd, baseline, ipmpd, ...), so that both see the same "
            "machine load.",
            "",
            f"- **ipmpd**: one group of {nics} active members (e0..e{nics - 1}) with one data "
            f"address ({DATA_ADDR}), built-in defaults. Each trial pulls the member that "
            "`ipmpstat -a` says holds the address, then plugs it back and waits until the "
            "binding is stable. More than two members because ipmpd, like in.mpathd, "
            "distrusts a link that came up more than twice in a minute (flap damping); with "
            "all members active the address stays where it failed over to, so successive "
            "trials pull different, healthy members.",
            "- **baseline**: `bench/baseline_mover.py` in a node namespace without ipmpd, the "
            "least a failover can do: on carrier loss of e0 one netlink request adds the "
            "address to e1, one deletes it from e0, and one gratuitous ARP goes out of e1 "
            "through an AF_PACKET socket; on carrier return it moves back to e0.",
            "",
            f"Command: `{command}`",
            "",
            f"Date: {date}; kernel: {platform.release()}; "
            f"{len(ours.trials)} trials per implementation; {os.cpu_count()} CPUs, "
            f"load average after the run {load}.",
            "",
            *table,
            "",
            "Ratios are ipmpd / baseline. *Reaction*: from the moment the node's NIC lost "
            "carrier (an rtnetlink listener in the node namespace, `udp_probe.py linkwatch`) "
            "to the first gratuitous ARP for the address at the client (kernel receive "
            "timestamp): the implementation's own reaction time, free of the 1 ms probe grid. "
            "The `ip link set ... down` that pulls the cable takes "
            f"{statistics.median([ours.pull_median, base.pull_median]):.1f} ms (median) "
            "before the carrier actually drops; that is not part of any number here. *Noise*: "
            "the longest echo gap in the steady phase before the pull, i.e. the scheduling "
            "jitter of this machine (echoes are timed by kernel receive timestamps, but the "
            "sender and the echo server still wait for a CPU); outages within a few "
            "noise-widths of each other are indistinguishable. *Lost after GARP*: probes the "
            "client sent after the gratuitous ARP reached it that never got an echo, summed "
            "over the trials (total/trials): non-zero means the return path was not ready "
            "when the address was announced.",
            "",
            "Per-trial outage (ms), in order:",
            "",
            *per_trial,
            *notes,
            "",
            "Targets:",
            "",
            *targets,
        ]
    )
