"""The section of docs/performance.md for the cables scenario: its method, results
and what they mean."""

from __future__ import annotations

import os
import platform

from bench.cluster_failover.sections import (
    outage_lines,
    section_parts,
    verdicts,
)
from bench.cluster_failover.shared import (
    ARP_INTERVAL,
    DAMPEN,
    ETH_REPEAT_COUNT,
    ETH_REPEAT_INTERVAL,
    FDT_MS,
    FLOOR_ATTR,
    MONITOR_INTERVAL,
    PING_INTERVAL,
    VIP,
    Result,
)


def markdown_section(res: dict[str, Result], command: str, seed: int) -> str:
    results = list(res.values())
    parts = section_parts(results)
    table, per_trial, notes, both = parts.table, parts.per_trial, parts.notes, parts.both
    versions, date, load = parts.versions, parts.date, parts.load
    ours = res["ours"]
    return "\n".join([
        "## Two-node cluster failover",
        "",
        "What is measured: the longest silence a client sees when the cluster node that "
        "holds a floating address loses its whole data network (both data cables pulled: "
        "the switch-side ports go down, the node's NICs lose carrier; the cluster link stays "
        "up, no fencing), until Pacemaker has started the address on the other node. "
        "Pacemaker and corosync run for real on two nodes in network namespaces "
        "(`tests/support/cluster/`; corosync token 1000 ms), each node with data NICs e0 "
        f"and e1 on one switch with the client. The client pings the address every "
        f"{PING_INTERVAL * 1000:g} ms and sends an ARP request every "
        f"{ARP_INTERVAL * 1000:g} ms; the outage of a trial is the longest time between two "
        "answered pings from the pull until the cables are plugged back (resolution "
        f"{PING_INTERVAL * 1000:g} ms). Then the cables are plugged back and the cluster "
        "settles (the address stays where it went: resource-stickiness=1; the baseline "
        "gets a `pcs resource cleanup` as an operator would run it, ours and the floor need "
        "none); the next trial fails the node that now holds the address, so the failed "
        "node alternates. Each pull comes 1 s plus a random 0..2 s "
        f"(seeded, {seed}; the same offsets for all) after the watch starts, so it does not "
        "sit at a fixed phase of the 2 s monitors. One fresh cluster per implementation, "
        "one after the other.",
        "",
        "- **ours**: `ocf:clearview:ipmp` cloned (group ipmp0, interfaces e0 e1, per-node "
        f"test addresses, failure_detection_time={FDT_MS}, dampen={DAMPEN} (the default), "
        f"monitor interval={MONITOR_INTERVAL}) and `ocf:clearview:ipmp-address` {VIP}/24 "
        "(defaults) colocated with the clone, ordered after it, location rule "
        "`-INFINITY: ipmp-ipmp0 lt 1 or not_defined ipmp-ipmp0`. ipmpd sets ipmp-ipmp0 "
        "itself when the usable count changes.",
        "- **baseline**: `ocf:heartbeat:ethmonitor` cloned for e0 and for e1 (monitor "
        f"interval={MONITOR_INTERVAL}, repeat_count={ETH_REPEAT_COUNT}, repeat_interval="
        f"{ETH_REPEAT_INTERVAL}: the first failed check counts, the lowest the agent "
        "accepts; link_status_only=true; attributes ethmonitor-e0, ethmonitor-e1, set "
        "without dampening) and `ocf:heartbeat:IPaddr2` ip="
        f"{VIP} cidr_netmask=24 nic=e0 (other parameters default), location rule "
        "`-INFINITY: ethmonitor-e0 lt 1 or not_defined ethmonitor-e0`. IPaddr2 holds the "
        "address on one NIC; the classic way to use a second NIC is a bond, which this "
        "kernel does not have, so the rule follows e0 and e1 is only monitored. "
        "link_status_only because the failure is a lost link, which ethmonitor checks "
        "first in either mode; its default mode would also watch the RX counter for up to "
        "5 s and arping neighbours, which fails healthy idle NICs on this quiet network.",
        f"- **floor**: `ocf:heartbeat:IPaddr2` as above behind the location rule "
        f"`-INFINITY: {FLOOR_ATTR} lt 1 or not_defined {FLOOR_ATTR}` on an attribute the "
        "benchmark itself sets to 0 (attrd_updater on the other node, no dampening) the "
        "instant it has pulled the cables: what a perfectly event-driven daemon could "
        "achieve with this cluster.",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {date}; kernel: {platform.release()}; {os.cpu_count()} CPUs, load average "
        f"after the run {load}; " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        *table,
        "",
        "Targets:",
        "",
        *verdicts(res),
        "",
        "Outages in seconds; the other times are seconds after the pull, as crm_mon "
        "(polled every ~0.1-0.3 s) first showed them. *Detected*: a failed monitor of the "
        "stack's clone on the failed node A, or A's attribute that the address's rule tests "
        "below 1 or gone, whichever came first; *stopped on A*: the address no longer "
        "started on A; *started on B*: the address started on the other node only. "
        "*Repair gap*: the longest gap after the cables were plugged back "
        f"(about {PING_INTERVAL * 1000:g} ms means nothing was lost). ARP rounds answered by "
        "both nodes: " + ", ".join(f"{k} {v}" for k, v in both.items()) + ". Failed "
        f"monitors of ours (other than 190): {sum(1 for t in ours.trials if t.failed_s)} "
        "trials.",
        "",
        *outage_lines(results, per_trial, notes),
        "Where the time goes (read from the Pacemaker and ipmpd logs and the per-trial times "
        "of development runs of this benchmark, same configuration):",
        "",
        "- **floor**: the attribute is in the CIB about 0.05 s after the pull; one "
        "transition stops IPaddr2 on A and starts it on B (0.15-0.23 s from the attribute "
        "to the start's end in the run of 2026-11-26 00:09).",
        "- **baseline**: the first ethmonitor monitor after the pull (0..2 s) finds e0 "
        "NO-CARRIER and sets ethmonitor-e0=0 without dampening; the monitor itself "
        "succeeds. One transition then stops IPaddr2 on A and starts it on B.",
        "- **ours**: no monitor is involved any more (no failed operation, no cleanup). "
        "ipmpd sees the first carrier loss through rtnetlink and reads the other member's "
        "carrier flag at once, the engine drops the group's count and the daemon runs "
        "attrd_updater at once (before the batch's netlink work): two attrd_updater runs "
        "follow each other (2 -> 1, then 1 -> 0, 16-28 ms apart in pacemaker.log of the "
        "run of 2026-11-26 00:09). From the attribute at 0 to the start's end on B "
        "0.216-0.228 s (median 0.224) against the floor's 0.148-0.228 s (median 0.160): "
        "the controller fetches the agent's meta-data before every start (8-16 ms from "
        "the request to the start's execution for both agents: the installed script "
        "prints the meta-data rendered at install time; it took 56-152 ms when the agent "
        "was loaded to render it), and our start takes 141-152 ms against IPaddr2's "
        "66-98 ms, 100 ms of it the ARP probe for a third party holding the address "
        "(dad_wait, docs/pacemaker.md; IPaddr2 sends its gratuitous ARP without such a "
        "check). Before 2026-11-26 the start took 205-512 ms: importing asyncio for the "
        "probe (30-40 ms) and binding and closing its packet socket, which each waited "
        "for an RCU grace period in the kernel (8-16 ms each); now asyncio is not "
        "imported there and the socket is closed off the start's path. "
        "(The probe-detected section has the same breakdown.)",
        "- **the lab's switch, an artifact removed** (2026-11-26): ipmpd learns of carrier "
        "loss from rtnetlink link events, and the kernel sends a carrier change at once "
        "only for a device it deems urgent (linkwatch_urgent_event, net/core/link_watch.c: "
        "an ifindex different from its iflink, e.g. a veth whose peer has another index); "
        "for the others, physical NICs included, linkwatch runs at most once a second "
        "host-wide. A real NIC whose cable is pulled is not delayed by this: no other link "
        "event comes first, so its carrier loss is processed at once, and ipmpd then reads "
        "the other member's carrier flag from sysfs (KernelFollower._recheck_carriers in "
        "ipmp_core/daemon/kernel.py) instead of "
        "waiting for its event. In this lab, though, pulling a cable sets the switch-side "
        "veth down in the same kernel, itself a link event, and n1's veths happened to "
        "have the same index as their peers (`e0@if3`): their carrier loss waited for the "
        "next linkwatch run, up to 1 s later (in the earlier runs ours on n1 reached "
        "1.38 s while ours on n2 stayed at 0.41-0.50 s). The harness now gives every "
        "node's NICs indices different from their switch ports' (NIC_INDEX_BASE in "
        "tests/support/cluster/base.py), so both nodes learn of a pull at once, as a real host "
        "does (in namespaces, 8 pulls each, from the pull to the NO-CARRIER event: equal "
        "indices 0.003-0.649 s, different indices 0.003-0.004 s). ethmonitor reads the "
        "carrier with `ip link` at each monitor and the floor's attribute is set by the "
        "benchmark itself: neither depended on it.",
        "- **ours, after the repair** (fixed): the failed node used to send the repeat "
        "of a move's announcement 5 s after the pull, after its cables were back, for an "
        "address the other node held (0.4-0.5 s of lost pings); ipmpd no longer announces "
        "an address that the same batch took down again.",
    ])
