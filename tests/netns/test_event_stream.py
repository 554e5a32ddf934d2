"""The control channel's event stream on the real kernel, as in.mpathd publishes its
sysevents: probe events with the four times, ipmpstat -p's RTT from them, an event
version on every event, and signatures that let a consumer tell what it missed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ipmp_core.constants import EVENT_VERSION
from ipmp_core.engine.signatures import SIG_COUNTER_BITS
from tests.netns.test_probe_detection import ROUTER, probing_group, wait_probing
from tests.support.node import Node

pytestmark = pytest.mark.netns

READER = Path(__file__).with_name("stream_reader.py")
# How long the probe test listens: with an FDT of 1 s each member probes ~7 times a
# second, so this gives dozens of probes even on a busy machine.
LISTEN_S = 3.0


def spawn_reader(node: Node, seconds: float, most: int = 100_000) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", node.ns, sys.executable, str(READER), str(seconds), str(most)],
        env=node.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def read_stream(proc: subprocess.Popen[str], timeout: float) -> tuple[dict[str, Any],
                                                                     list[dict[str, Any]]]:
    """The subscribe reply and the events a reader printed."""
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(line) for line in out.splitlines() if line]
    assert lines and "reply" in lines[0], out + err
    return lines[0]["reply"], lines[1:]


def test_probe_events_carry_the_four_times_and_ipmpstat_p_rtt_includes_processing(
        node: Node) -> None:
    """probe_state_event(): start <= sent <= ack received <= ack processed for an acked
    probe, no answer times for a sent one; ipmpstat -p prints NETRTT = ackrecv - sent
    and RTT = ackproc - start (ipmpstat.c), so RTT includes the daemon's processing
    (replies are read in batches, after the kernel stamped them)."""
    probing_group(node, "e0", "e1")
    wait_probing(node, "e0", "e1")
    reader = spawn_reader(node, LISTEN_S)
    stat = subprocess.Popen(
        ["ip", "netns", "exec", node.ns, sys.executable, "-m", "ipmp_core.cli.ipmpstat",
         "-p", "-n", "-P", "-o", "interface,probe,netrtt,rtt,target"],
        env=node.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        reply, events = read_stream(reader, LISTEN_S + 10)
    finally:
        node.lab._signal(stat, 2)
        out, err = stat.communicate(timeout=10)
    assert reply["result"]["version"] == EVENT_VERSION
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["version"] == EVENT_VERSION for e in events)
    probes = [e for e in events if e["type"] == "probe"]
    sent = [e for e in probes if e["status"] == "sent"]
    acked = [e for e in probes if e["status"] == "acked"]
    assert len(sent) >= 5 and len(acked) >= 5, events
    for e in sent:
        assert e["start_ns"] <= e["sent_ns"] and e["ackrecv_ns"] is None, e
        assert e["ackproc_ns"] is None and e["target"] == ROUTER
    for e in acked:
        assert e["start_ns"] <= e["sent_ns"] <= e["ackrecv_ns"] <= e["ackproc_ns"], e
    network = sum(e["ackrecv_ns"] - e["sent_ns"] for e in acked)
    seen = sum(e["ackproc_ns"] - e["start_ns"] for e in acked)
    assert seen > network  # the daemon's processing counts in RTT, not in NETRTT

    rows = {}
    for line in out.splitlines():
        interface, probe, netrtt, rtt, target = line.split(":")
        rows[(interface, int(probe))] = (netrtt, rtt, target)
    matched = 0
    for e in acked:
        row = rows.get((e["interface"], e["probe"]))
        if row is None:  # ipmpstat subscribed a little later than the reader
            continue
        matched += 1
        assert row == (f"{(e['ackrecv_ns'] - e['sent_ns']) / 1e6:.2f}ms",
                       f"{(e['ackproc_ns'] - e['start_ns']) / 1e6:.2f}ms", ROUTER), (row, e)
    assert matched >= 3, (out, err, acked)
    assert "warning" not in err, err


def group_signature(reply: dict[str, Any]) -> int:
    return reply["result"]["group_signatures"]["ipmp0"]


def test_a_consumer_that_was_away_tells_what_it_missed_from_the_signatures(
        node: Node) -> None:
    """A consumer that reconnects (dropped, or restarted) compares the signatures of the
    new stream's reply with the last it saw, as a libipmp consumer compares pg_sig:
    the group's moved on while it was away; a daemon restart starts a new generation
    of the group list's (gensig). While connected, the signed events of a group count
    up by one, so a gap would show."""
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", "198.51.100.10/24", "ipmp0")
    node.wait_for(lambda: node.group_state() == "ok", "the group to be ok")
    before, _ = read_stream(spawn_reader(node, 0.5), 15)
    last_seen = group_signature(before)

    node.lab.pull_cable("e1")  # nobody listens: member-state and group-state go unseen
    node.wait_for(lambda: node.group_state() == "degraded", "e1's failure")
    reader = spawn_reader(node, 8.0)
    time.sleep(1.0)  # subscribed before the repair
    node.lab.plug_cable("e1")
    node.wait_for(lambda: node.group_state() == "ok", "e1's repair")
    after, events = read_stream(reader, 15)
    missed = group_signature(after) - last_seen
    assert missed >= 2, (before, after)  # e1's state and the group's state, at least
    assert events and events[0]["seq"] == 1  # a new stream counts from 1 again
    signed = [e["group_signature"] for e in events
              if e.get("group") == "ipmp0" and "group_signature" in e]
    assert signed == list(range(group_signature(after) + 1,
                                group_signature(after) + 1 + len(signed))), events
    assert len(signed) >= 2  # e1 repaired, the group ok again

    node.adm("shutdown")
    node.wait_for(lambda: node.daemon is not None and node.daemon.poll() is not None,
                  "the daemon to stop")
    node.start()
    restarted, _ = read_stream(spawn_reader(node, 0.5), 15)
    # A new generation (random: the same one comes back once in 65,536 restarts).
    generation = after["result"]["grouplist_signature"] >> SIG_COUNTER_BITS
    assert restarted["result"]["grouplist_signature"] >> SIG_COUNTER_BITS != generation
