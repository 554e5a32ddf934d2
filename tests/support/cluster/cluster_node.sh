#!/bin/sh
# One Pacemaker cluster node: corosync + pacemakerd in the foreground, inside the network
# namespace it was started in and a private mount and UTS namespace. Started by the
# cluster harness, tests/support/cluster (never by hand in the root network namespace), as
#   setsid ip netns exec NETNS unshare --uts --mount --propagation private \
#       sh cluster_node.sh NODE_NAME NODE_DIR [OCF_RESOURCE_D]
# OCF_RESOURCE_D (optional): a private resource.d holding the clearview agents of this test
# session; the node (and only the node) sees it as /usr/lib/ocf/resource.d (ocf_overlay.sh).
# NODE_DIR holds corosync.conf and cib.xml (written by the harness); every directory the
# cluster writes to is bind-mounted from a per-node copy below NODE_DIR, /run and /dev/shm
# are private tmpfs, so several nodes share one machine without seeing each other's files.
# The harness stops the node by PID: SIGTERM to pacemakerd, then to corosync; this shell
# then returns from `wait` and exits, and its mount namespace goes away with it.
set -eu
N=$1
R=$2
OCF_PRIV=${3:-}

mkdir -p "$R/etc-corosync" "$R/lib-corosync" "$R/log-pacemaker" "$R/log-corosync" \
    "$R/lib-pacemaker/cib" "$R/lib-pacemaker/pengine" "$R/lib-pacemaker/blackbox" \
    "$R/lib-pacemaker/cores" "$R/lib-clearview-ipmp"
cp "$R/corosync.conf" "$R/etc-corosync/corosync.conf"
cp "$R/cib.xml" "$R/lib-pacemaker/cib/cib.xml"
chmod 600 "$R/lib-pacemaker/cib/cib.xml"
chown -R hacluster:haclient "$R/lib-pacemaker" "$R/log-pacemaker"
chmod 750 "$R/lib-pacemaker/cib" "$R/lib-pacemaker/pengine" "$R/lib-pacemaker/blackbox" \
    "$R/lib-pacemaker/cores"
chmod 770 "$R/log-pacemaker"

mount --bind "$R/etc-corosync" /etc/corosync
mount --bind "$R/lib-corosync" /var/lib/corosync
mount --bind "$R/lib-pacemaker" /var/lib/pacemaker
mount --bind "$R/log-pacemaker" /var/log/pacemaker
mount --bind "$R/log-corosync" /var/log/corosync
# The IPMP daemon's state directory (the harness creates the mount point): per node, so a
# state file of one node (or of an earlier run) is never read by another node's daemon.
mount --bind "$R/lib-clearview-ipmp" /var/lib/clearview-ipmp
if [ -n "$OCF_PRIV" ]; then
    sh "$(dirname "$0")/../ocf_overlay.sh" "$OCF_PRIV"
fi
# The node resolves its own name as a Debian host does (127.0.1.1 in /etc/hosts): pcs looks
# it up on every constraint command, and with the group's default route in place the
# query would otherwise go to the machine's DNS server through the lab's router and wait
# for the resolver's 5 s timeout.
{ cat /etc/hosts; echo "127.0.1.1 $N"; } >"$R/hosts"
mount --bind "$R/hosts" /etc/hosts
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/crm /run/resource-agents /run/lock
chown hacluster:haclient /run/crm
chmod 750 /run/crm
chmod 1755 /run/resource-agents
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
hostname "$N"

echo $$ >"$R/shell.pid"
corosync -f >"$R/corosync.out" 2>&1 </dev/null &
echo $! >"$R/corosync.pid"
i=0
until corosync-cfgtool -s >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -ge 100 ]; then
        echo "cluster_node.sh: corosync did not answer within 10 s" >&2
        break
    fi
    sleep 0.1
done
PCMK_logfile=/var/log/pacemaker/pacemaker.log pacemakerd -f >"$R/pacemakerd.out" 2>&1 \
    </dev/null &
echo $! >"$R/pacemakerd.pid"
wait
