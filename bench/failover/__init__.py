"""Failover benchmark: the outage a client sees when the NIC holding a data address dies.

Method
------
Two implementations are measured in the same run, each in its own throw-away lab
(``tests.support.lab.Lab``: a node namespace whose NICs hang off a bridge, plus a client
namespace on the same subnet). Both labs exist side by side and the trials alternate
(ipmpd, baseline, ipmpd, ...), so that changes in the machine's background load during a
run hit both alike:

* **ipmpd** (lab prefix ``bnf``): the daemon runs in the node namespace with one group
  whose members are all NICs of the lab (all active) and one data address,
  198.51.100.10/24. Built-in defaults (no /etc/default file).
* **baseline** (lab prefix ``bnb``): ``bench/baseline_mover.py`` in a fresh lab, no
  ipmpd: the address sits on e0; on carrier loss of e0 it is added to e1, deleted from
  e0, and one gratuitous ARP goes out of e1 through an AF_PACKET socket. On carrier
  return it moves back to e0 the same way. The least a failover can do.

In both labs a UDP echo server (``bench/udp_probe.py server``) is bound to the data
address in the node namespace, and the client namespace runs ``udp_probe.py client``,
which sends one numbered datagram every 1 ms and timestamps the echoes. Each trial:

1. find the NIC that holds the address (``ipmpstat -a -P -o address,inbound`` for ipmpd,
   checked against the kernel's own address list; always e0 for the baseline);
2. start the prober and wait until 100 consecutive echoes came back (so the client has a
   valid ARP entry for the address and the path is warm);
3. pull that NIC's cable (``Lab.pull_cable``: the switch-side veth goes down, the NIC
   loses carrier), telling the prober the moment;
4. the prober stops once echoes have flowed again, gap-free, for 300 ms and reports the
   longest interval between two consecutive echoes from 20 ms before the pull on: the
   outage the client saw (its resolution is the 1 ms probe interval; echoes are timed by
   the kernel's receive timestamps, so the prober's own scheduling delays stay out);
5. plug the cable back and wait until the binding has settled (ipmpd has seen the link
   come back and ``ipmpstat`` shows the same holder twice in a row; the baseline has
   moved the address back to e0).

The report gives median and maximum outage per implementation and the ratios
ipmpd/baseline, and checks the targets: median outage <= 50 ms and <= 1.5 x the
baseline's median. A miss is reported (MISSED) but still exits 0: this is a measurement.

Why the ipmpd lab has more NICs than two: ipmpd, like in.mpathd, distrusts a link that
came up more than twice within a minute (flap damping) and keeps it failed until it is
stable. Pulling and re-plugging the same two cables twenty times within a minute would
soon leave the group with no usable member. The address never moves back on repair
(one address, all members active: the placement rules only move addresses to even out
counts that differ by more than one), so each trial pulls whichever member holds the
address; with ceil(trials / 3) + 2 members every pulled member is a healthy one and there
is always a healthy member to fail over to. The damping is not in the measured path.

Modules: shared (constants, the trial and result records), trials (the link watcher, one
measured trial, ipmpd's and the baseline's bench, the alternating run), sections (the
verdict, the tables and the docs section), __main__ (arguments and the report).

Run as root:  /opt/clearview-ipmp/venv/bin/python -m bench.failover [--trials 20]
              [--quick] [--output docs/performance.md]
"""
