"""Tunables of clearview-ipmp, each next to the reason for its value.

Modelled on in.mpathd's mpd_defs.h: no bare numbers elsewhere in the engine.
Times are in milliseconds unless the name says otherwise.
"""

from __future__ import annotations

# --- failure detection time (/etc/default/mpathd FAILURE_DETECTION_TIME) ---------------
# in.mpathd's default: ten seconds is long enough that a busy switch does not cause false
# failures and short enough that applications' TCP retransmissions survive a failover.
DEFAULT_FDT_MS = 10_000
# in.mpathd refuses anything lower: below 100 ms the probe interval (FDT/7) drops under the
# scheduling jitter of an ordinary host and every probe looks late.
MIN_FDT_MS = 100
# Requests refuse more than an hour: a failure found an hour late has stopped being
# failure detection (the adaptive backoff may still raise the FDT beyond it).
MAX_FDT_MS = 3_600_000

# --- address rules (ipmp_core/values.py) -------------------------------------------------
# The shortest prefix a data or test address may have, per family. An address brings its
# subnet's on-link route: a /0 replaces the default route (and a /1 half of it), sending
# every destination to the LAN. No real IPv4 LAN is wider than a /8 (the largest block
# ever assigned); an IPv6 /16 is wider than any site's allocation.
MIN_ADDRESS_PREFIX = {4: 8, 6: 16}

# --- link-based detection ---------------------------------------------------------------
# A link that came up more than this many times within LINK_FLAP_WINDOW_MS is flapping:
# in.mpathd does not repair an interface without test addresses on a flapping link until
# it is stable again (phyint_repaired()), so that addresses do not bounce back and forth
# with a bad cable or a rebooting switch. An interface that probes waits for its probes.
LINK_UP_PERMIN = 2
LINK_FLAP_WINDOW_MS = 60_000

# --- transitive probing -------------------------------------------------------------------
# Off, as Solaris 11's config/transitive-probing (false): a group without test addresses
# keeps link-based detection only, as it had before the setting existed.
DEFAULT_TRANSITIVE_PROBING = False

# --- failback -----------------------------------------------------------------------------
# in.mpathd's default FAILBACK=yes: a repaired interface takes its share of addresses back.
DEFAULT_FAILBACK = True

# --- minimum redundancy ---------------------------------------------------------------
# if_mpadm -d refuses to offline an interface unless at least this many other usable
# interfaces remain in the group (in.mpathd's "minimum redundancy" error).
MIN_REDUNDANCY = 1

# --- announcements after a move -------------------------------------------------------
# Peers: bonding sends 1 gratuitous ARP, IPaddr2 5 (200 ms apart), keepalived 5 and a
# second burst 5 s later. One frame can be lost on a congested port or arrive before a
# switch re-learns the port, so we send a short burst of 3 (the first one immediately,
# which is what ends the outage) and repeat the burst 5 s later, like keepalived, for
# neighbours that were busy or switches that flushed their tables in between.
DEFAULT_ANNOUNCE_COUNT = 3
DEFAULT_ANNOUNCE_INTERVAL_MS = 200
DEFAULT_ANNOUNCE_REPEAT_MS = 5_000
# Upper bounds for the configurable values: a burst must end well before the next failure
# could be detected (MIN_FDT_MS) is not required, but an unbounded burst is a flood.
MAX_ANNOUNCE_COUNT = 20
MAX_ANNOUNCE_INTERVAL_MS = 10_000
# A repeat burst later than this cannot help a switch or neighbour that missed the first:
# by then every ARP cache has re-resolved (Linux' base_reachable_time is 30 s).
MAX_ANNOUNCE_REPEAT_MS = 600_000

# --- names ----------------------------------------------------------------------------
# Linux interface names are at most IFNAMSIZ - 1 = 15 bytes; a group is named like one
# (Solaris: the IPMP interface's name) so that operators can use it in the same places.
MAX_IFNAME_LEN = 15

# --- the control channel --------------------------------------------------------------
# An abstract Unix socket: abstract names are scoped by network namespace, so each
# namespace's daemon gets its own channel with nothing on disk to clean up.
CONTROL_SOCKET_NAME = "\0clearview-ipmp/ipmpd"
# The daemon always runs as root (it changes addresses, routes and sysctls), so a client
# talks only to a server whose peer credentials say uid 0: anyone can bind an abstract
# name first, and a non-root process answering there is an impostor, never the daemon.
CONTROL_SERVER_UID = 0
# Longest reply line a client accepts; a snapshot of 1,000 addresses is ~250 kB.
CONTROL_MAX_LINE = 4 * 1024 * 1024
# Longest request line the daemon reads: the largest request, a batch of 1,000 addresses,
# is ~60 kB. A longer line is answered with an error and the connection closed; the
# daemon buffers at most about twice this per connection, so connections x this bounds
# what idle clients can make it hold.
CONTROL_MAX_REQUEST = 256 * 1024
# How long a client waits for the daemon to answer one request.
CONTROL_TIMEOUT_S = 10.0
# A client sends its request line as soon as it is connected, and reads its reply at
# once: a connection with no complete request (or an unread reply) after this long is
# stuck or hostile and is closed, so that idle connections cannot pile up. Well below
# CONTROL_TIMEOUT_S, far above what a request takes even on a loaded host.
CONTROL_IDLE_TIMEOUT_S = 5.0
# Connections of one non-root user, and of all non-root users together, held at once;
# the next one is answered "busy" and closed. Unprivileged clients only read (ipmpstat,
# a few at a time); the caps keep their file descriptors far below the usual service
# limit of 1024 open files. Root's connections (ipmpadm, the resource agents) are never
# refused for the count: they must get through while an attacker holds all the others.
CONTROL_MAX_CONNECTIONS_PER_USER = 32
CONTROL_MAX_USER_CONNECTIONS = 128
# Connections the kernel queues for the daemon before it accepts them: a burst of
# clients waits there (clients retry while it is full) and costs the daemon no file
# descriptor. asyncio also accepts up to this many in one go before serving (or closing)
# any of them, so it must stay far below the usual limit of 1024 open files minus the
# connections users may hold: more would run the daemon out of descriptors, and asyncio
# then stops accepting for a second.
CONTROL_BACKLOG = 128
# Events queued for one subscriber that does not keep up: a failover of 1,000 addresses
# publishes about that many at once, so a reader that keeps up is never dropped, and the
# events are shared by all queues, so this bounds the daemon's memory (~1 kB an event).
# A subscriber that falls further behind is disconnected, with a log line.
CONTROL_SUBSCRIBER_QUEUE = 2048
# The version every published event carries (in.mpathd's IPMP_EVENT_CUR_VERSION, which
# post_event() adds to each sysevent). Raised when a field changes meaning or goes away,
# never for a new field; the unversioned events before it count as version 1. A consumer
# that meets another version drops the event, as ipmpstat -p does.
EVENT_VERSION = 2
# Per-connection trouble (refused connections, malformed requests, dropped subscribers)
# is logged at most once per this many seconds per kind, with a count of the rest: a
# flood of connections must not become a flood of log lines.
CONTROL_LOG_INTERVAL_S = 10.0
# How long ipmpadm waits for a daemon it started to answer.
DAEMON_START_TIMEOUT_S = 10.0

# --- persistence ----------------------------------------------------------------------
DEFAULT_STATE_DIR = "/var/lib/clearview-ipmp"

# --- probe-based detection (in.mpathd's mpd_defs.h) ------------------------------------
# An interface fails after this many consecutive lost probes...
NUM_PROBE_FAILS = 5
# ...and is repaired after this many consecutive answered ones (twice as many: a false
# repair moves addresses onto a dead path, which is worse than a late one).
NUM_PROBE_REPAIRS = 10
# Probe interval = FDT / (NUM_PROBE_FAILS + 2): five lost probes are noticed within the FDT
# even when the failure happens just after a probe went out and the last loss is only
# known once its RTT estimate has passed.
PROBE_INTERVAL_DIVISOR = NUM_PROBE_FAILS + 2
# Each probe goes out at a random point in the second half of its interval so that the
# probes of many hosts do not synchronise on a shared target.
MIN_RANDOM_FACTOR = 0.5
MAX_RANDOM_FACTOR = 1.0
# At most this many probe targets per address family and group.
MAX_PROBE_TARGETS = 5
# in.mpathd's MIN_PROBE_TARGETS: when the last active router target is gone, up to this
# many slow or dead ones are probed again (target_activate_all()); and a target is only
# judged "exceptionally slow" with at least MIN_PROBE_TARGETS + 1 active targets, enough
# others to compare it with (check_exception_target()).
MIN_PROBE_TARGETS = 3
# in.mpathd's EXCEPTION_FACTOR: a target whose crtt exceeds the probe interval is the
# exception (dropped, rather than the FDT raised) when every other active target answers
# within interval / EXCEPTION_FACTOR.
EXCEPTION_FACTOR = 2
# in.mpathd's MIN_RECOVERY_TIME: a dead router target becomes "slow" after this long, a
# slow one "unused" (probed again when there is room) after this long again: a router
# that stopped answering is retried after two minutes, not hammered.
MIN_RECOVERY_TIME = 60_000
# in.mpathd's MIN_SETTLING_TIME: after the FDT was raised it is not lowered for this long
# (no FDT flapping with a target whose RTT hovers around the interval).
MIN_SETTLING_TIME = 60_000
# in.mpathd's NEXT_FDT_MULTIPLE: the FDT is raised or lowered by this factor.
NEXT_FDT_MULTIPLE = 2
# A probe whose round trip alone would push its target's crtt above the probe interval
# is held back (in.mpathd's MAXDEFERREDRTT): one spike (an ARP resolution, a busy host)
# must not raise the FDT. When this many such probes are followed by yet another, the
# link really slowed down and they all count.
MAX_DEFERRED_RTT = 1
# in.mpathd's LOWER_FDT_TRIGGER: a raised FDT is halved when a target's crtt falls below
# interval / this and every active target of the group is that fast: small improvements
# are ignored, so the FDT does not flap with small crtt changes.
LOWER_FDT_TRIGGER = 4
# PROBE_RTT probes (in.mpathd's, sent while the FDT is raised, between failure-detection
# probes) remembered per interface and family to recognise their replies: an answer to an
# older one is no longer worth a sample (it could only raise the estimate, which RTT
# probes never do).
RTT_PROBES_KEPT = 4
# Losses are ignored for this long after a family's prober is created (in.mpathd's
# FAILURE_DETECTION_QP, set once in phyint_inst_create(), not on a link-up): a switch port
# may still be in spanning-tree learning. The first reply ends it early.
PROBE_QUIET_PERIOD_MS = 40_000
# Probe records kept per interface and family: enough to see a repair across all targets.
PROBE_STATS_COUNT = NUM_PROBE_REPAIRS * MAX_PROBE_TARGETS + 2
# A member without a test address is reported (once) after this long: an administrator
# may add the member first and its test address a moment later.
TESTADDR_CONF_MS = 20_000
# ICMP sequence numbers are 16 bits.
SEQ_MODULO = 1 << 16
# An unanswered probe is lost after its target's crtt, but never sooner than this: on a
# LAN the estimate is a fraction of a millisecond, and a reply read a few milliseconds
# late by a busy host (scheduling jitter) must not count as a loss.
LOSS_TIMEOUT_FLOOR_MS = 10.0
# The daemon wakes up at most once per this fraction of the shortest probe interval of
# any group (and never less often than needed): probes that fall due in between go out
# together, and the replies that arrived meanwhile are read in the same wake-up. Replies
# carry the kernel's receive stamp, so their RTTs stay exact and a probe counts as lost
# exactly as if the daemon had woken at its deadline (the engine expires overdue probes
# before it takes a later reply). What batching delays is a send and a verdict, by at
# most half an interval (FDT/14): a delayed send still falls before the next slot's
# earliest random send point (MIN_RANDOM_FACTOR), so no probe is skipped, and detection
# stays well inside the FDT. Without batching a pure-Python daemon woke twice per probe
# (send, reply): at 4 x 4 members and FDT 1 s that was most of its CPU (see
# docs/performance.md, probing-cpu).
TICK_BATCH_DIVISOR = 2
# ... and never longer than this (a long FDT gains nothing from longer batches).
TICK_BATCH_MAX_MS = 100.0
# Data addresses the engine loads between two returns to the daemon's event loop at
# start-up (Engine.load_steps): one costs ~0.1 ms of parsing and placing, so a chunk holds
# the loop ~10 ms and the control socket keeps answering (issue 10: within 100 ms
# throughout a restart with 1,000 addresses) while the whole load costs no more.
LOAD_CHUNK = 100

# --- applications' multicast memberships ----------------------------------------------
# An application can join a group on any member at any moment (Linux has no IPMP
# interface to steer it to), so the daemon looks for such memberships this often. Reading
# /proc/net/igmp and igmp6 costs well under a millisecond; the sockets are only searched
# when a membership is found somewhere else than on the nominee. Five seconds keeps
# duplicated datagrams short-lived without measurable cost.
MCAST_SWEEP_S = 5.0
# A membership no socket of this namespace holds (a kernel user such as a VXLAN device, or
# a process the daemon may not borrow sockets from) is not searched for again for this
# long: each search walks /proc/*/fd.
MCAST_UNMOVABLE_RETRY_S = 60.0

# The group settings the defaults file provides (FAILBACK, FAILURE_DETECTION_TIME,
# TRANSITIVE_PROBING), by their names in the state file: a group follows the file for
# those it did not set.
DEFAULTED_SETTINGS = ("failback", "fdt_ms", "transitive_probing")

# Where ipmpd writes its Prometheus textfile unless told otherwise: the directory
# Debian's prometheus-node-exporter reads (its --collector.textfile.directory default).
DEFAULT_METRICS_DIR = "/var/lib/prometheus/node-exporter"
