"""The targets' verdicts, the tables and the scale section of docs/performance.md."""

from __future__ import annotations

import os
import platform
import statistics

from bench.report import (
    load_averages,
    mark,
    markdown_table,
    now_utc,
    text_table,
)
from bench.scale.shared import (
    TARGET_ANSWER_MS,
    TARGET_CREATE_MS,
    TARGET_FAILOVER_RATIO,
    TARGET_RESTART_S,
    TARGET_RSS_MB,
    Results,
)


def restart_text(seen: dict[str, float]) -> str:
    return (f"first answer (ping) after {seen['first_answer_s']:.2f} s, started (state "
            f"loaded, every address checked) after {seen['ready_s']:.2f} s, first snapshot "
            f"after {seen['first_snapshot_s']:.2f} s; {seen['answers']:.0f} pings answered "
            f"(slowest {seen['worst_answer_ms']:.0f} ms, sent at "
            f"{seen['worst_at_s']:.2f} s), {seen['failures']:.0f} unanswered; "
            f"{seen['snapshots']:.0f} snapshots (slowest after the first "
            f"{seen['worst_snapshot_ms']:.0f} ms), {seen['snapshots_missing_group']:.0f} "
            f"without the group")


def targets(r: Results) -> list[tuple[str, bool]]:
    restart_s = r.restart["ready_s"]
    answer_ms = max(r.restart["worst_answer_ms"], r.restart["worst_snapshot_ms"])
    return [
        (f"create <= {TARGET_CREATE_MS:.0f} ms per address at {r.addresses}: "
         f"{r.per_address_ms:.2f} ms", r.per_address_ms <= TARGET_CREATE_MS),
        (f"failover of {r.addresses} <= {TARGET_FAILOVER_RATIO:.0f}x ip -batch: "
         f"{r.failover_ratio:.2f}x (failback {r.failback_ratio:.2f}x)",
         r.failover_ratio <= TARGET_FAILOVER_RATIO),
        (f"restart with {r.addresses} <= {TARGET_RESTART_S:.0f} s: {restart_s:.2f} s",
         restart_s <= TARGET_RESTART_S),
        (f"control socket answering within {TARGET_ANSWER_MS:.0f} ms throughout the "
         f"restart: slowest ping {r.restart['worst_answer_ms']:.0f} ms, slowest snapshot "
         f"once loaded {r.restart['worst_snapshot_ms']:.0f} ms; "
         f"{r.restart['failures']:.0f} unanswered",
         answer_ms <= TARGET_ANSWER_MS and not r.restart["failures"]),
        (f"no snapshot without the group during the restart: "
         f"{r.restart['snapshots_missing_group']:.0f} of {r.restart['snapshots']:.0f}",
         not r.restart["snapshots_missing_group"]),
        (f"RSS <= {TARGET_RSS_MB:.0f} MB: {max(r.rss):.1f} MB", max(r.rss) <= TARGET_RSS_MB),
    ]


def table_rows(r: Results) -> list[list[str]]:
    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.0f}"

    return [
        ["", "ipmpd (ms)", "ip -batch (ms)", "ratio"],
        [f"create {r.addresses}", f"{r.create_ms:.0f}", f"{r.create_base_ms:.0f}",
         f"{r.create_ms / r.create_base_ms:.1f}"],
        [f"failover of {r.addresses} (median of {len(r.failover_ms)})", med(r.failover_ms),
         med(r.failover_base_ms), f"{r.failover_ratio:.2f}"],
        [f"failback of {r.addresses} (median of {len(r.failback_ms)})", med(r.failback_ms),
         med(r.failback_base_ms), f"{r.failback_ratio:.2f}"],
    ]


def print_report(r: Results) -> None:
    print()
    for line in text_table(table_rows(r)):
        print(line)
    print(f"single add-address at {r.addresses}: median "
          f"{statistics.median(r.single_ms):.1f} ms, max {max(r.single_ms):.1f} ms")
    print(f"failback: e0 repaired (first move) {statistics.median(r.failback_repair_ms):.0f}"
          " ms after its link-up (median; 10 answered probes, in.mpathd's repair rule)")
    print(f"restart: {restart_text(r.restart)}")
    print(f"RSS: {', '.join(f'{x:.1f}' for x in r.rss)} MB")
    print("\nTargets:")
    for text, ok in targets(r):
        print(f"  {mark(ok):6} {text}")


def markdown_section(r: Results, command: str) -> str:
    load = load_averages()
    date = now_utc()
    return "\n".join([
        "## Scale: 1,000 data addresses",
        "",
        "What is measured: one group (e0 active, e1 standby) with "
        f"{r.addresses} data addresses (198 IPv4, the rest IPv6), all on e0, against "
        "`ip -batch` doing the same kernel work in a second lab in the same run. *Create*: "
        "one `ipmpadm create-addr -a A -a B ... ipmp0` (its interpreter start included) "
        "against one `ip -batch` adding them. *Failover*: from e0's carrier loss as the "
        "kernel notifies it to the notification that left every address on the other NIC "
        "and none on the old one (`bench/addr_watch.py`, raw rtnetlink in the node "
        "namespace), against one `ip -batch` that adds them to the other NIC and deletes "
        "them from the old one. *Failback*: the same, from the first address the daemon "
        "puts back on e0: e0 probes (the group has IPv6 data addresses), so after its "
        "link-up it is repaired by 10 answered probes first, as in.mpathd repairs it "
        "(median wait: "
        f"{statistics.median(r.failback_repair_ms) / 1000:.1f} s, not part of the ratio). "
        "*Restart*: SIGTERM (the addresses stay), then a "
        "new ipmpd while a client pings the control socket every 10 ms and asks for a "
        "snapshot every 10th ping: time from the spawn to the first ping that says the "
        "start-up is over (ping answers during it, saying `starting`), slowest ping (a "
        "request that found the socket not yet listening is not counted), slowest "
        "snapshot after the first (a snapshot waits until the state file is loaded, by "
        "design) and snapshots without the group. "
        "*RSS*: VmRSS of ipmpd after the creates, each cycle and the restart.",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {date}; kernel: {platform.release()}; {os.cpu_count()} CPUs, "
        f"load average after the run {load}.",
        "",
        *markdown_table(table_rows(r)),
        "",
        f"- single-form `add-address` at {r.addresses} addresses (one request each): "
        f"median {statistics.median(r.single_ms):.1f} ms, max {max(r.single_ms):.1f} ms",
        f"- restart: {restart_text(r.restart)}",
        f"- RSS (MB): {', '.join(f'{x:.1f}' for x in r.rss)}",
        "",
        "Targets:",
        "",
        *[f"- {mark(ok)}: {text}" for text, ok in targets(r)],
        "",
        "Where the time goes. *Failover*: the kernel's work is the same as `ip -batch`'s "
        "(the adds and deletions go as netlink batches of 64); on top come reading the "
        "link notification, the engine's re-placement of 1,000 addresses with a log line "
        "and an event each (~20 ms), the routes, and the two listeners the kernel notifies "
        "in the ipmpd lab (ipmpd and the timer). Only two moves each way per run (a NIC "
        "that comes up more than twice a minute is damped as flapping), so the ratios vary "
        "from run to run on a loaded machine. Each measured move starts 3 s after the "
        "previous one: ipmpd first reads "
        "the ~4,000 notifications of its own previous move (~0.5 s of CPU, pyroute2's "
        "decoding) before it hears the next link change. *Restart*: the start-up holds "
        "the lock while it dumps the kernel, re-reads and checks the state file (a trial "
        "load on a scratch engine), loads it and re-adds every address (each answered "
        "EEXIST: adopted where it is); changes wait for it, read-only requests do not: "
        "`ping` is answered at once, `snapshot` and `config` once the file is in the "
        "engine. The start-up returns to the event loop every few milliseconds (dumps "
        "read one datagram at a time, the file parsed in a thread, loads in steps of 100 "
        "addresses); its longest stretches, timed per event-loop callback, are ~20-40 ms "
        "(preparing the adoption's netlink batch, the route and address changes after "
        "it), and a snapshot of 1,000 addresses itself holds the loop ~25-40 ms "
        "(building the view ~16 ms, to_dict ~8 ms, JSON ~4 ms). The rest of a slow "
        "answer is the scheduling of the client and the daemon on 2 CPUs shared with "
        "other work. *Create*: one request; the "
        "single form costs a request, an engine refresh and a state-file write per "
        "address (line above).",
    ])
