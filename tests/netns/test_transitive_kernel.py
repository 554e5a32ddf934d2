"""Transitive probing end to end on the real kernel (Solaris 11's probe-based failure
detection without test addresses): two NICs, one data address, no test address.

The member carrying the data address probes the router from it; the standby member
proves its path with transitive probes to it over layer 2. A standby whose switch port
drops everything (its link up) fails within the FDT; the carrier's dead uplink moves the
data address; forged or replayed answers never repair a failed member; a group of one
member probes from its data address and fails as a group, as in.mpathd's does."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from test_probe_detection import probe_states, wait_probing
from test_transitive_socket import sniff_replies

from ipmp_core.net.transitive_frames import FRAME_LEN, PROOF_LEN
from tests.support.node import Node

pytestmark = pytest.mark.netns

V4 = "198.51.100.10"
ROUTER = "198.51.100.1"
FDT = 1000  # ms: probe interval 143 ms, so the tests stay short
# The forged answers cover the sequence numbers of the probes after the last genuine
# answer seen: at FDT 1 s, 7 probes a second, 150 outlast the failure and the forging.
FORGED_SEQS = 150
# Seconds between two rounds of forged answers: each probe finds its answer within this,
# and the flood stays light enough for 2 shared cores.
FORGE_ROUND_S = 0.02


def transitive_group(node: Node, *members: str, standby: str | None = None) -> None:
    """Members without test addresses, one data address, a route through the router
    (the target), transitive probing on."""
    node.adm("create-ipmp", *[x for m in members for x in ("-i", m)], "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    node.adm("set-ipmp", "-p", "transitive-probing=on", "ipmp0")
    if standby is not None:
        node.adm("set-ifprop", "-p", "standby=on", "-m", "ip", standby)
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-route", "-g", ROUTER, "ipmp0")


# Prints the daemon's time of the first member-state event saying argv[1] failed.
_FAILED_AT = ("import sys\nfrom ipmp_core.control_client import ControlClient\n"
              "for ev in ControlClient().subscribe():\n"
              "    if ev.get('type') == 'member-state' and ev.get('interface') == sys.argv[1]"
              " and ev.get('state') == 'failed':\n"
              "        print(ev['time'], flush=True)\n"
              "        break\n")
# Detection must take at most the FDT (in.mpathd's promise, NUM_PROBE_FAILS losses at
# FDT / (NUM_PROBE_FAILS + 2) apart); this much more is the scheduling delay of 2 cores
# shared with other test runs, between the drop, the probes and the event's time stamp.
SCHEDULING_SLACK_S = 0.25
# Lets the event subscription start before anything is dropped.
SUBSCRIBE_S = 0.5


def failure_time(node: Node, nic: str, cause: Callable[[], None]) -> float:
    """Seconds from ``cause()`` to the daemon's event saying ``nic`` failed (both on
    the wall clock of this one machine)."""
    reader = node.lab.spawn(node.ns, [sys.executable, "-c", _FAILED_AT, nic], env=node.env,
                            stdout=subprocess.PIPE)
    time.sleep(SUBSCRIBE_S)
    caused_at = time.time()
    cause()
    out, _ = reader.communicate(timeout=10 * FDT / 1000)
    assert out.strip(), f"no failure event for {nic}"
    return float(out) - caused_at


def probe_rows(node: Node) -> list[str]:
    return node.stat("-t", "-P", "-o", "interface,mode,testaddr,targets").splitlines()


def test_standby_whose_port_drops_everything_fails_within_the_fdt(node: Node) -> None:
    lab = node.lab
    transitive_group(node, "e0", "e1", standby="e1")
    wait_probing(node, "e0", "e1")
    assert node.inbound()[V4] == "e0"
    rows = probe_rows(node)
    # ipmpstat(8): a transitive member shows MODE transitive, its own name as TESTADDR
    # and the member it probes as TARGETS; the carrier probes from its data address.
    assert "e1:transitive:<e1>:<e0>" in rows, rows
    assert f"e0:routes:{V4}:{ROUTER}" in rows, rows
    took = failure_time(node, "e1", lambda: lab.drop_port("e1"))
    assert took <= FDT / 1000 + SCHEDULING_SLACK_S, took
    assert probe_states(node)["e1"] == ("failed", "failed")
    assert lab.carrier("e1")  # the link stayed up: only the probes saw it
    assert probe_states(node)["e0"] == ("ok", "ok")
    assert node.inbound()[V4] == "e0"
    assert "IP interface failure detected on e1 of group ipmp0" in node.log()
    lab.undrop_icmp("e1")
    node.wait_for(lambda: probe_states(node)["e1"] == ("ok", "ok"), "the repair", timeout=10)
    assert "IP interface repair detected on e1 of group ipmp0" in node.log()


def test_carriers_dead_uplink_moves_the_data_address(node: Node) -> None:
    lab = node.lab
    transitive_group(node, "e0", "e1", standby="e1")
    wait_probing(node, "e0", "e1")
    assert node.inbound()[V4] == "e0"
    # the router unreachable through e0's port only
    took = failure_time(node, "e0", lambda: lab.drop_icmp("e0"))
    assert took <= FDT / 1000 + SCHEDULING_SLACK_S, took
    node.wait_for(lambda: node.inbound()[V4] == "e1", "the data address to move")
    assert probe_states(node)["e0"][1] == "failed"
    assert lab.client_ping(V4)
    # the new carrier probes the router from the data address; e0 now probes it
    node.wait_for(lambda: f"e1:routes:{V4}:{ROUTER}" in probe_rows(node),
                  "e1 to probe from the data address")
    node.wait_for(lambda: "e0:transitive:<e0>:<e1>" in probe_rows(node),
                  "e0 to probe e1 transitively")
    assert probe_states(node)["e1"] == ("ok", "ok")
    lab.undrop_icmp("e0")
    node.wait_for(lambda: probe_states(node)["e0"] == ("ok", "ok"), "e0's repair", timeout=10)


def captured_answers(node: Node, nic: str, seconds: float) -> list[bytes]:
    """Genuine answers to ``nic``'s transitive probes, as they arrived on it."""
    return sniff_replies(node.lab, nic, lambda: time.sleep(seconds), most=256)


def inject_for(node: Node, frames: list[bytes], seconds: float) -> None:
    """Send ``frames`` over and over with scapy from the client namespace for
    ``seconds``: every probe sent meanwhile finds its forged answer at once."""
    lab = node.lab
    code = ("import sys, time\nfrom scapy.all import Ether, conf\n"
            "frames = [bytes(Ether(bytes.fromhex(h))) for h in sys.argv[2:]]\n"
            "sock = conf.L2socket(iface='eth0')\n"
            "end = time.monotonic() + float(sys.argv[1])\n"
            "while time.monotonic() < end:\n"
            "    for f in frames:\n"
            "        sock.send(f)\n"
            f"    time.sleep({FORGE_ROUND_S})\n")
    res = lab.run(lab.client or "", sys.executable, "-c", code, str(seconds),
                  *(f.hex() for f in frames), check=False, timeout=seconds + 30)
    assert res.returncode == 0, res.stderr


def test_forged_and_replayed_answers_never_repair_a_failed_member(node: Node) -> None:
    lab = node.lab
    transitive_group(node, "e0", "e1", standby="e1")
    wait_probing(node, "e0", "e1")
    genuine = captured_answers(node, "e1", seconds=1.0)
    assert genuine, "no answer to e1's transitive probes was seen"
    lab.drop_port("e1")
    node.wait_for(lambda: probe_states(node)["e1"][1] == "failed", "e1 to fail",
                  timeout=3 * FDT / 1000)
    # The answers to come, as an attacker who saw the earlier ones would make them: the
    # next seqs, any proof (the real ones exist only in the daemon until e0 sends them).
    last = max(struct.unpack_from("!I", frame, 22)[0] for frame in genuine)
    template = genuine[-1]
    forged = [template[:22] + struct.pack("!I", (last + n) & 0xFFFF_FFFF)
              + template[26:FRAME_LEN - PROOF_LEN] + os.urandom(PROOF_LEN)
              for n in range(FORGED_SEQS)]
    # from the client namespace through the switch, all the while a repair would take
    inject_for(node, genuine + forged, seconds=5 * FDT / 1000)
    assert probe_states(node)["e1"] == ("failed", "failed")
    node.adm("dump")
    node.wait_for(lambda: "transitive probes e1: ignored frames" in node.log(),
                  "the statistics dump")
    line = next(x for x in node.log().splitlines() if "transitive probes e1: ignored" in x)
    assert "not-genuine" in line and "not-outstanding" in line, line


def test_one_member_group_probes_from_its_data_address_and_fails_as_a_group(
        node: Node) -> None:
    """in.mpathd's single-interface group: nobody to probe transitively; the member
    probes the targets from its data address, and its failure is the group's."""
    lab = node.lab
    transitive_group(node, "e0")
    wait_probing(node, "e0")
    assert probe_rows(node) == [f"e0:routes:{V4}:{ROUTER}"]
    lab.drop_icmp("e0")
    node.wait_for(lambda: node.group_state() == "failed", "the group failure",
                  timeout=3 * FDT / 1000)
    assert probe_states(node)["e0"][1] == "failed"
    assert "All IP interfaces in group ipmp0 are now unusable" in node.log()
    lab.undrop_icmp("e0")
    node.wait_for(lambda: node.group_state() == "ok", "the group repair", timeout=20)
    assert lab.client_ping(V4)
