"""A restart with many data addresses: the control socket answers ping while the
start-up is still under way, and a snapshot never shows a half-started daemon (an agent's
monitor that saw "no group" would fail its resource and Pacemaker would recover it)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from test_events import data_addresses

from tests.support.node import Node

pytestmark = pytest.mark.netns

# Enough addresses that the start-up (state file, dumps, load, adoption) lasts a few
# hundred milliseconds, during which the watcher below gets many requests in.
MANY = 1000
# The watcher's bounds: it gives up after WATCH_S, and stops AFTER_S after the daemon
# said its start-up was over.
WATCH_S = 30.0
AFTER_S = 1.0
# Seconds the daemon may take to answer as started (a loaded test machine).
START_S = 30.0

# Run in the node namespace before the daemon is started: one thread pings, one asks for
# snapshots, both as fast as they are answered (pings 5 ms apart), until the daemon has
# said it started AFTER_S ago. Prints what it saw as JSON.
WATCHER = r"""
import json, sys, threading, time
from ipmp_core.control_client import ControlClient, DaemonUnreachable
group, count, limit, after = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
client = ControlClient(timeout=10.0)
seen = {"ping_starting": 0, "ping_started": 0, "ping_first_answer": None,
        "snapshots": 0, "snapshot_first_answer": None, "snapshots_bad": [], "errors": []}
started_at = []
t0 = time.monotonic()

def done():
    now = time.monotonic()
    return now - t0 > limit or (started_at and now - started_at[0] > after)

def pinger():
    while not done():
        try:
            r = client.call("ping")
        except DaemonUnreachable:
            time.sleep(0.005)
            continue
        if seen["ping_first_answer"] is None:
            seen["ping_first_answer"] = time.monotonic() - t0
        if r.get("starting"):
            seen["ping_starting"] += 1
        else:
            seen["ping_started"] += 1
            if not started_at:
                started_at.append(time.monotonic())
        time.sleep(0.005)

def snapshots():
    while not done():
        try:
            snap = client.call("snapshot")
        except DaemonUnreachable:
            time.sleep(0.005)
            continue
        except Exception as exc:
            seen["errors"].append(repr(exc))
            continue
        seen["snapshots"] += 1
        if seen["snapshot_first_answer"] is None:
            seen["snapshot_first_answer"] = time.monotonic() - t0
        groups = [g["name"] for g in snap["groups"]]
        ours = [a for a in snap["addresses"] if a["group"] == group]
        if group not in groups or len(ours) != count:
            seen["snapshots_bad"].append({"groups": groups, "addresses": len(ours)})

print("READY", flush=True)
threads = [threading.Thread(target=pinger), threading.Thread(target=snapshots)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(seen), flush=True)
"""


def test_restart_answers_ping_at_once_and_never_shows_a_half_started_daemon(
        node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    addresses = data_addresses(MANY)
    node.adm("create-addr", *[x for a in addresses for x in ("-a", a)], "ipmp0")
    before = node.inbound()
    assert len(before) == MANY
    node.kill(signal.SIGTERM)  # the addresses stay in the kernel

    watcher = node.lab.spawn(node.ns, [sys.executable, "-c", WATCHER, "ipmp0", str(MANY),
                                       str(WATCH_S), str(AFTER_S)],
                             env=node.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert watcher.stdout is not None
    assert watcher.stdout.readline().strip() == b"READY"
    node.start(timeout=START_S)
    out, err = watcher.communicate(timeout=WATCH_S + 10)
    seen = json.loads(out.splitlines()[-1])

    assert seen["ping_started"] > 0, seen  # it did start, and said so
    # Ping is answered while the start-up holds the lock (the old daemon answered
    # nothing until the start-up was over).
    assert seen["ping_starting"] > 0, seen
    # ... and before the state file was loaded: the first snapshot (which waits for
    # that) came later.
    assert seen["snapshots"] > 0, seen
    assert seen["ping_first_answer"] < seen["snapshot_first_answer"], seen
    # Every snapshot showed the whole group: none was answered before the state file
    # was in the engine.
    assert seen["snapshots_bad"] == [], seen["snapshots_bad"][:3]
    assert seen["errors"] == [], seen["errors"][:3]
    # And the start-up adopted every address where it was.
    assert node.inbound() == before
    assert "Traceback" not in node.log()
