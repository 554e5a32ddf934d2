"""Probing without test addresses (transitive probing): detection time, false failures and
CPU, against classic probing with test addresses in the same run.

Each part builds its own throw-away lab (``tests.support.lab.Lab``, IPv4 only: veth NICs
on a bridge in a switch namespace, a router namespace at 198.51.100.1 answering ICMP
echo) and configures ipmpd with ipmpadm as an operator would, with no test address::

    ipmpadm create-ipmp -i e0 -i e1 -i e2 ipmp0
    ipmpadm set-ipmp -p fdt=1000 ipmp0
    ipmpadm set-ipmp -p transitive-probing=on ipmp0
    ipmpadm create-addr -a 198.51.100.10/24 ipmp0           (one data address)
    ipmpadm create-route -g 198.51.100.1 ipmp0              (the router: the probe target)

The member that carries the data address probes the router from it (ICMP); the other
members send transitive probes (layer 2) to that member.

(a) Detection time as a fraction of the FDT, for both member kinds (lab ``btdet``, one
    group of 3 members), at each FDT (default 1 s and 10 s), ``--trials`` trials per
    kind, kinds alternating. A trial picks a member of its kind from ``ipmpstat -t``
    (MODE ``transitive``, or the member probing the router), waits a random 1..3 probe
    intervals, then breaks its path with the link up: for the data-address member an
    nftables drop of ICMP from its switch port (``Lab.drop_icmp``: its probes to the
    router go unanswered, its transitive answers still flow), for a transitive member a
    drop of every frame from its port (``Lab.drop_port``). Detection is timed as in
    bench/probing part (a): from ``time.monotonic()`` right after ``nft`` returned to the
    moment the event helper in the node namespace read the member's ``member-state``
    event with state ``failed``. Then the drop is lifted, the trial waits for the repair
    and for every member to have a probe answered again. Target: every trial <= 1.0 x FDT.
(b) False failures during a clean run (lab ``bptclean``): ``--clean-minutes`` at FDT 1 s,
    one group of 4 members (one probes the router, three are transitive), nothing wrong;
    counted as in bench/probing part (b). Target: zero member failures.
(c) CPU at 16 members (labs ``bpcpt`` and ``bpcpu``): bench/probing part (c)'s 4 groups
    x 4 members at FDT 1 s, measured the same way for ``--cpu-minutes`` each, with
    transitive probing (no test address) and with a test address on every member, in
    ``--cpu-pairs`` pairs of windows (each its own daemon and lab) whose order
    alternates, so that a drift of the machine's load weighs on both kinds alike.
    Target: transitive probing's mean CPU <= classic probing's, both measured in this
    run; every pair's ratio is shown.

Results are printed and written to the ``transitive`` section of docs/performance.md
(each part between its own markers, so ``--only`` replaces only what it ran). A miss is
reported, not fatal: the exit status is 0 unless the run itself broke.

Run as root from the checkout (about 35 minutes with the defaults):
    /opt/clearview-ipmp/venv/bin/python -m bench.transitive [--only detection|clean|cpu]
        [--trials 10] [--fdt 1000,10000] [--clean-minutes 10] [--cpu-minutes 5] [--quick]
        [--output docs/performance.md]
"""
