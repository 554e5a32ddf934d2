"""Two-node cluster failover: the outage a client sees when the node holding a floating
address loses its whole data network, ours against the classic Pacemaker stack and
against the cluster's own floor.

Modules: shared (settings, results), stacks, trials, sections (the report), __main__.

Method
------
Each implementation gets its own fresh two-node Pacemaker cluster
(``tests/support/cluster``: nodes n1, n2 in network namespaces, each with data NICs e0
and e1 on one switch, a client and a router on the same switch, the cluster link on a
separate bridge that is never touched; our agents from a private OCF root, never
installed over the system's). The clusters run one after the other, never at the same
time:

* **ours**: ``ocf:clearview:ipmp`` cloned (group ipmp0, interfaces e0 e1, per-node test
  addresses, failure_detection_time=2000, dampen 0 (the default), monitor every 2 s) and
  ``ocf:clearview:ipmp-address`` for the floating address, colocated with the clone,
  ordered after it, banned by a location rule where ``ipmp-ipmp0`` is < 1 or undefined
  (the configuration of tests/cluster/test_two_node.py and docs/pacemaker.md). ipmpd
  publishes the attribute itself when the usable count changes.
* **baseline**: what clusters use for the same job today: ``ocf:heartbeat:ethmonitor``
  cloned once for e0 and once for e1 (monitor every 2 s, repeat_count=1 so the first
  failed check counts, link_status_only=true, see below) and ``ocf:heartbeat:IPaddr2`` on
  e0 (``nic=e0``), banned by a location rule where ``ethmonitor-e0`` is < 1 or undefined.
  IPaddr2 can hold the address on one NIC only; the classic answer to a second NIC is a
  bond, which this kernel lacks, so e1 is monitored but cannot take over the address.
* **floor**: ``ocf:heartbeat:IPaddr2`` behind a location rule on an attribute the
  benchmark itself sets to 0 (no dampening) the instant it pulls the cables: what a
  perfectly event-driven daemon could achieve with this cluster.

All: ``resource-stickiness=1``, no fencing (the cluster link stays up). Each trial:

1. wait until the cluster is settled (every clone instance started on both nodes, the
   node attributes healthy on both nodes, the address started on one node, the client
   reaches it); call that node A, the other B;
2. start the harness's client watch (an ICMP echo to the address every 10 ms, an ARP
   request every 50 ms), wait 1 s plus a random 0..2 s (one monitor interval; the same
   seeded offsets for all implementations) so the pull does not sit at a fixed phase of
   the monitors restarted by the previous repair;
3. pull both of A's data cables (switch-side veth ports down: A's NICs lose carrier);
4. follow crm_mon until the address is started on B only and the client reaches it;
5. plug the cables back (the baseline: ``pcs resource cleanup``, as an operator would;
   ours and the floor need none), wait until settled again (the address stays on B:
   stickiness), stop the watch.

The outage of a trial is the longest time between two answered echoes from the pull to
the replug (10 ms resolution); the longest gap after the replug is reported as well (a
repair should cost nothing). The next trial fails whichever node then holds the address,
so the failed node alternates. Targets (issue 9): the median of ours at most twice the
floor's, and every trial of ours at most the baseline's median; the report says MET or
MISSED for each.

Second scenario, probe-detected (``--scenario probe``): both data paths of A go dark
while the links stay up (the switch drops every frame to and from A's data ports,
nftables in the switch namespace: the harness's ``darken``; ``light`` undoes it), so
only probes can see the failure. Same trial method (the drop replaces the pull, lifting
it the replug). Two stacks:

* **ours** as above, with ``targets`` = the router (the probe target);
* **ping**: ``ocf:pacemaker:ping`` cloned (host_list = the router, multiplier 1000,
  dampen 0, attempts=1, timeout=1, use_fping=0, monitor every 1 s; each node has a fixed
  address on e0 to ping from) and ``ocf:heartbeat:IPaddr2`` banned where ``pingd`` is
  < 1 or undefined. The values make ping find a dead path within our FDT (2 s): see
  PING_* below.

Target (issue 9): the median of ours at most the ping baseline's. For ours, each trial
also records when ipmpd declared the members and the group failed (its event stream in
A's namespace, ``bench/ipmp_events.py``), to show where the time goes. ``make bench``
and the default (``--scenario both``) run both scenarios; each writes its own section of
docs/performance.md.

Why link_status_only=true for ethmonitor: the failure here is a lost link, which
ethmonitor checks first in either mode (a NO-CARRIER interface fails at once); its other
mode additionally watches the RX counter for up to pktcnt_timeout seconds and then
arpings neighbours, which on this quiet lab network fails healthy idle NICs. Link-only is
the fastest, and here the only stable, ethmonitor configuration.

Run as root:  /opt/clearview-ipmp/venv/bin/python -m bench.cluster_failover [--trials 5]
              [--scenario cables|probe|both] [--only ours|baseline|floor|ping]
              [--output docs/performance.md]
"""

