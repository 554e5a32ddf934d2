"""Scale benchmark: one group with 1,000 data addresses, against `ip -batch`.

Method
------
Two labs side by side (``tests.support.lab.Lab``, two NICs each), measured in the same run:

* **ipmpd** (lab prefix ``bns``): group ipmp0 of e0 (active) and e1 (standby), built-in
  defaults. All addresses live on e0, so a failover moves every one of them.
* **baseline** (lab prefix ``bnsb``): no daemon; ``ip -batch`` does the same kernel work
  (the addresses added with ``noprefixroute``, IPv6 ``nodad``, as ipmpd adds them).

The addresses: 198 IPv4 (198.51.100.2-199/24) and 802 IPv6 (2001:db8:1::1:0/64 on).

1. **create**: one ``ipmpadm create-addr -a A -a B ... ipmp0`` with the 1,000 addresses
   (wall time of the command, its interpreter start included) against one ``ip -batch``
   adding them; then, for information, 20 more added one request each at 1,000 (the
   single form, through the control client in one process).
2. **failover / failback** (``CYCLES`` times): ``bench/addr_watch.py`` listens to the
   kernel's notifications in the node namespace and times from e0's carrier loss
   (failover) or return (failback) to the notification that left every address on the
   other NIC and none on the old one: detection, the daemon's moves (one netlink batch)
   and the removal of the old copies. The baseline is the wall time of one ``ip -batch``
   that adds the addresses to the other NIC and deletes them from the old one.
3. **restart**: ipmpd is stopped (SIGTERM: the addresses stay) and started again while a
   client in the node namespace pings the control socket every 10 ms and asks for a
   snapshot every 10th ping: the time from the spawn to the first ping that says the
   start-up is over (ipmpd has re-read its state, checked every address; ping is answered
   before, with ``starting``), the slowest ping (each request's own time: one that found
   the socket not yet listening is not counted), the slowest snapshot after the first
   (a snapshot waits for the state file's load, by design), and any snapshot without
   the group.
4. **RSS**: VmRSS of ipmpd after the creates, the moves and the restart.

Targets (from the issue): create <= 5 ms per address at 1,000; failover of 1,000 <= 2x
``ip -batch``; restart with 1,000 <= 2 s with the control socket answering within 100 ms
throughout; RSS <= 60 MB. A miss is reported (MISSED) and still exits 0.

Modules: shared (constants, targets, the addresses and the results record), trials (the
address-move watcher, the restart's pinger, the run), sections (the targets' verdicts,
the tables and the docs section), __main__ (arguments and the report).

Run as root:  /opt/clearview-ipmp/venv/bin/python -m bench.scale [--addresses 1000]
              [--output docs/performance.md]
"""
