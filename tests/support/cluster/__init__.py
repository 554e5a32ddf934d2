"""Real Pacemaker clusters of one or two nodes on one machine, for the OCF agents' tests.

Topology (every box is a network namespace this module creates; nothing touches the
caller's namespace)::

      {p}-n1 ── hb0 203.0.113.21 ─┐                         ┌─ {p}-hb: br0 (cluster link,
      {p}-n2 ── hb0 203.0.113.22 ─┴─────────────────────────┘   corosync knet)
      {p}-n1 ── e0, e1 ─┐
      {p}-n2 ── e0, e1 ─┼── {p}-sw: br0 (data) ─┬─ {p}-r  eth0 198.51.100.1/24, 2001:db8:1::1/64
                        │                       └─ {p}-cl eth0 198.51.100.200/24, 2001:db8:1::200/64

Each node runs corosync and pacemakerd in the foreground (cluster_node.sh, beside this
package's modules) in its network namespace plus a private mount and UTS namespace:
per-node copies of /etc/corosync, /var/lib/{corosync,pacemaker,clearview-ipmp},
/var/log/{pacemaker,corosync}, private tmpfs /run and /dev/shm, hostname = node name.
Commands run inside a node through ``nsenter -t <node shell pid> -m -n -u`` (cluster IPC
is per network namespace).

Data NICs get fixed, unique MACs (``02:c1:00:00:NN:II``: node NN, NIC II) so that a reply's
MAC names the node that sent it. A cable pull sets the switch-side veth peer down, exactly
like tests.support.lab.

Modules: base (constants, commands, bounded waits), crm_mon (parsing its XML),
nodes (one node's daemons and commands), cluster (start, stop, pcs and waits),
datanet (cables, dark paths, what the client sees), watch (the client's background
prober).

API in short::

    with Cluster(nodes=2) as c:                  # 1 or 2 nodes: n1[, n2]; ~5 s to come up
        c.pcs("resource", "create", ...)         # pcs on the first running node (node=...)
        st = c.crm_mon()                         # ClusterState: online, dc, resources,
        st.started_on("vip"); st.attr("n1", "ipmp-ipmp0"); st.failures_of("net")
        c.wait_started("vip", on="n2")           # bounded waits; on timeout the error
        c.wait_attribute("n1", "a", pred, what)  # carries crm_mon and log tails of every node
        c.wait_for(predicate, "what", timeout)
        n1 = c.node("n1"); n1.run("ip", "-br", "addr"); n1.holders("198.51.100.50")
        c.pull_cable("n1", "e0"); c.plug_cable("n1", "e0")
        c.client_ping(addr); c.client_neigh(addr); c.arp_owners(addr)  # -> {"n1"}
        w = c.watch(addr); ...; result = w.stop()  # background pings + ARP rounds

Teardown (``close()``, the context manager, and atexit as a safety net) stops everything it
started by PID: pacemakerd (SIGTERM, then SIGKILL after a bounded wait), corosync, the IPMP
daemon the agents started inside a node (asked for its PID over its control socket), then
any process still inside one of this cluster's namespaces (they are ours: we created the
namespaces), then deletes the namespaces, the per-node directories and the daemon's state
file of each node's namespace.
"""

