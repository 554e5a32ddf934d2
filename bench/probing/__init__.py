"""Probe-detection benchmarks: detection time, false failures, and the cost of probing.

Three parts, each in its own throw-away lab (``tests.support.lab.Lab``: a node namespace whose
NICs hang off a bridge in a switch namespace, and a router namespace, 198.51.100.1, that
answers ICMP echo). ipmpd runs in the node namespace, started by this script through
``Lab.spawn`` (so the lab kills it by PID) with ``IPMP_STATE_DIR`` in a temporary
directory, and is configured with ``ipmpadm`` exactly as an operator would::

    ipmpadm create-ipmp -i e0 -i e1 -i e2 ipmp0
    ipmpadm set-ipmp -p fdt=1000 ipmp0
    ipmpadm create-addr -T test -a 198.51.100.21/24 e0      (one test address per member)
    ipmpadm create-addr -a 198.51.100.10/24 ipmp0           (a data address)
    ipmpadm create-route -g 198.51.100.1 ipmp0              (the router: the probe target)

(a) Detection time as a fraction of the FDT (lab ``bpdet``, one group of 3 probing
    members). For each FDT (default 1 s and 10 s), ``--trials`` trials: wait a random
    1..3 probe intervals (so that the failure falls at a random phase of the members'
    probe schedules), drop the probe path of one member with its link up
    (``Lab.drop_icmp``: an nftables drop of ICMP from that NIC's port in the switch), and
    measure until the daemon declares the member failed. The drop moment is
    ``time.monotonic()`` right after ``nft`` returned (the rule is committed by then). The
    failure moment is the daemon's own: ``bench/ipmp_events.py`` runs in the node
    namespace (real-time priority), subscribed to the daemon's event stream, and stamps
    each event with ``time.monotonic()`` the moment it reads it; the first "member-state"
    event of that member with state "failed" ends the trial (CLOCK_MONOTONIC is the same
    in every namespace). As a cross-check the event's own wall-clock stamp (``time``, set
    by the daemon when it published the event) is compared with ``time.time()`` taken
    right after the drop. Then the drop is lifted and the trial waits for the member's
    "ok" event (repair: 10 answered probes) before the next one; members take turns.
    Target: every trial <= 1.0 x FDT.
    What to expect: the probe interval is FDT/7 and each probe leaves at a random point
    in the second half of its interval; the 5th consecutive lost probe is declared lost
    one RTT estimate after it was sent, so in theory detection falls between about
    3.5 and 6 probe intervals (0.50..0.86 x FDT) after the drop, plus the daemon's
    reaction time.
(b) False failures during a clean run (lab ``bpclean``): ``--clean-minutes`` at FDT 1 s
    with one group of 4 probing members and nothing wrong. Counted: "member-state" events
    with state "failed" (event stream), log lines "IP interface failure detected", and,
    as early warnings, lost probes (probe events), FDT back-offs ("Cannot meet requested
    failure detection time"), targets marked dead and group-wide target suspicion.
    Target: zero member failures.
(c) CPU time and memory while probing (lab ``bpcpu``, 16 NICs): 4 groups x 4 members at
    FDT 1 s, every member with its own test address. Group g lives in 198.51.100.64g/26
    (test addresses .64g+21 .. .64g+24, a data address .64g+10) and probes the router's
    address 198.51.100.64g+1 in that subnet (the router namespace gets one address per
    subnet; group 0 declares the default route through it, groups 1..3 a route to a
    203.0.113.0/24 sub-prefix), so the 4 groups are independent, as on 4 VLANs.
    Once all 16 members probe "ok" and a 15 s warm-up has passed, nothing talks to the
    daemon for ``--cpu-minutes``: CPU share of one core = (utime + stime delta of
    /proc/PID/stat of the ipmpd process, all its threads) / wall time; memory = VmRSS of
    /proc/PID/status sampled every second (maximum reported; VmHWM, the peak since
    start, too). The probe rate is checked at the router (its /proc/net/snmp InEchos).
    No event subscriber is attached (the daemon publishes per-probe events only while
    someone listens). Targets: <= 2 % of one core and <= 60 MB (10^6 bytes) resident.
    Baseline, measured in the same run for the same duration in a fresh lab ``bpbase``
    with the same addresses and ARP sysctls: ``bench/baseline_prober.py``, a minimal
    prober (standard library only, one raw ICMP socket per member bound to the member and
    its test address, one echo request to the router per member every FDT/7, a blocking
    select loop, replies read and discarded). The ratio ipmpd / baseline says what the
    daemon's bookkeeping (validation, RTT estimates, target management, the engine, the
    asyncio loop) costs on top of just putting the same probes on the wire. Then, for
    1 minute in the same lab, a reference: one iputils ``ping`` (C) per member at the same
    rate. This kernel has no IRQ time accounting, so the softirq work of each probe's
    round trip through the lab (veth, bridge, the router namespace) is charged to whoever
    sent it; the ping row shows that floor, which every prober here pays.

Results are printed as tables with MET/MISSED and written to the ``probing`` section of
docs/performance.md (between ``<!-- probing:begin -->`` and ``<!-- probing:end -->``; each
part has its own sub-markers, so ``--only`` replaces only the parts it ran). A miss is
reported, not fatal: this is a measurement, and the exit status is 0 unless the run
itself broke.

Modules: shared (the lab, the daemon and its event stream every part uses), detection,
clean, cpu (each part: its run, its tables and its section text), __main__ (arguments,
the report, the docs section).

Run as root from the checkout (about 30 minutes with the defaults):
    /opt/clearview-ipmp/venv/bin/python -m bench.probing [--only detection|clean|cpu]
        [--trials 20] [--fdt 1000,10000] [--clean-minutes 10] [--cpu-minutes 5] [--quick]
        [--output docs/performance.md]
"""

