"""Probe-based failure detection on the real kernel: ICMP from test addresses."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ipmp_core.net.icmp_packets import ProbeKind
from tests.support.node import Node

pytestmark = pytest.mark.netns

V4 = "198.51.100.10"
V4B = "198.51.100.11"
V6 = "2001:db8:1::10"
ROUTER = "198.51.100.1"
FDT = 1000  # ms: probe interval 143 ms, so the tests stay short
TEST = {"e0": "198.51.100.21", "e1": "198.51.100.22", "e2": "198.51.100.23"}


def probing_group(node: Node, *members: str, route: bool = True, data: tuple[str, ...] = (
        f"{V4}/24", f"{V4B}/24")) -> None:
    args = [x for m in members for x in ("-i", m)]
    node.adm("create-ipmp", *args, "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    for m in members:
        node.adm("create-addr", "-T", "test", "-a", f"{TEST[m]}/24", m)
    for addr in data:
        node.adm("create-addr", "-a", addr, "ipmp0")
    if route:  # a default route through the router makes it the probe target
        node.adm("create-route", "-g", ROUTER, "ipmp0")


def probe_states(node: Node) -> dict[str, tuple[str, str]]:
    rows = node.stat("-i", "-P", "-o", "interface,probe,state").split()
    return {r.split(":")[0]: tuple(r.split(":")[1:]) for r in rows}


# Waits for one answered probe per member named in argv, from the daemon's event stream.
_ANSWERED = ("import sys\nfrom ipmp_core.control_client import ControlClient\n"
             "want = set(sys.argv[1:])\n"
             "for ev in ControlClient().subscribe():\n"
             "    if ev.get('type') == 'probe' and ev.get('status') == 'acked':\n"
             "        want.discard(ev.get('interface'))\n"
             "    if not want:\n"
             "        break\n")


def wait_probing(node: Node, *members: str) -> None:
    """PROBE ok (targets exist, as ipmpstat shows it) and one answer on each member: the
    first answer ends the 40 s quiet period, so losses count from then on."""
    node.wait_for(lambda: all(probe_states(node)[m] == ("ok", "ok") for m in members),
                  "probing to be ok on every member")
    res = node.exec(sys.executable, "-c", _ANSWERED, *members)
    assert res.returncode == 0, res.stderr


def test_dropped_probe_path_fails_member_with_link_up(node: Node) -> None:
    lab = node.lab
    probing_group(node, "e0", "e1")
    wait_probing(node, "e0", "e1")
    targets = node.stat("-t", "-P", "-o", "interface,mode,testaddr,targets")
    assert f"e0:routes:{TEST['e0']}:{ROUTER}" in targets.splitlines()
    assert node.stat("-g", "-P", "-o", "group,fdt").strip() == "ipmp0:1.00s"
    on_e0 = [a for a, m in node.inbound().items() if m == "e0"]
    assert on_e0
    lab.drop_icmp("e0")
    start = time.monotonic()
    node.wait_for(lambda: probe_states(node)["e0"] == ("failed", "failed"), "probe failure")
    took = time.monotonic() - start
    assert took < 3 * FDT / 1000  # generous: the benchmark measures it precisely
    assert "e0:failed:failed" in node.stat("-i", "-P", "-o", "interface,probe,state")
    assert lab.carrier("e0")  # the link stayed up
    assert all(node.inbound()[a] == "e1" for a in on_e0)
    assert all(lab.client_ping(a) for a in on_e0)
    lab.undrop_icmp("e0")
    start = time.monotonic()
    node.wait_for(lambda: probe_states(node)["e0"] == ("ok", "ok"), "repair")
    took = time.monotonic() - start
    assert took >= 0.5 * FDT / 1000  # ten answered probes take more than a few
    node.wait_for(lambda: "e0" in node.inbound().values(), "failback")
    assert "IP interface repair detected on e0 of group ipmp0" in node.log()


def test_test_address_is_never_a_source_for_applications(node: Node) -> None:
    probing_group(node, "e0", "e1")
    route = node.lab.run(node.ns, "ip", "route", "get", "198.51.100.200").stdout
    assert TEST["e0"] not in route and TEST["e1"] not in route
    info = node.lab.run(node.ns, "ip", "-o", "addr", "show", "dev", "e0").stdout
    assert f"{TEST['e0']}/24" in info and "deprecated" in info


def test_only_router_dies_the_group_fails_and_the_router_is_kept(node: Node) -> None:
    """in.mpathd takes no host targets while it has routers (incoming_mcast_reply()) and
    keeps the routers on a group failure (only hosts are flushed): the only router
    dying fails the group until the router answers again."""
    lab = node.lab
    lab.sysctl(lab.client, "net.ipv4.icmp_echo_ignore_broadcasts", "0")
    probing_group(node, "e0", "e1")
    wait_probing(node, "e0", "e1")
    lab.sysctl(lab.router, "net.ipv4.icmp_echo_ignore_all", "1")  # the router dies
    node.wait_for(lambda: node.group_state() == "failed", "the group failure",
                  timeout=6 * FDT / 1000)
    assert "All IP interfaces in group ipmp0 are now unusable" in node.log()
    targets = node.stat("-t", "-P", "-o", "interface,mode,targets").splitlines()
    assert f"e0:routes:{ROUTER}" in targets
    lab.sysctl(lab.router, "net.ipv4.icmp_echo_ignore_all", "0")
    node.wait_for(lambda: node.group_state() == "ok", "the group repair", timeout=20)


def test_slow_target_backs_off_fdt_and_recovers(node: Node, tmp_path: Path) -> None:
    lab = node.lab
    delay = tmp_path / "delay"
    delay.write_text("0")
    lab.sysctl(lab.router, "net.ipv4.icmp_echo_ignore_all", "1")
    responder = Path(__file__).with_name("slow_responder.py")
    kinds = tmp_path / "kinds"
    lab.spawn(lab.router, [sys.executable, str(responder), "--delay-file", str(delay),
                           "--seconds", "120", "--kinds-file", str(kinds)])
    probing_group(node, "e0", "e1")
    wait_probing(node, "e0", "e1")
    rtt_kind = str(int(ProbeKind.RTT))
    assert rtt_kind not in kinds.read_text().split()  # none at the configured FDT
    delay.write_text("400")  # crtt far above the 143 ms interval
    node.wait_for(lambda: "Cannot meet requested failure detection time of 1000 ms"
                  in node.log(), "the FDT backoff", timeout=15)
    fdt = node.stat("-g", "-P", "-o", "fdt").strip()
    assert float(fdt.rstrip("s")) > 1.0
    assert probe_states(node) == {"e0": ("ok", "ok"), "e1": ("ok", "ok")}
    # in.mpathd's PROBE_RTT probes go out between the failure-detection ones while raised
    node.wait_for(lambda: rtt_kind in kinds.read_text().split(), "PROBE_RTT probes",
                  timeout=10)
    delay.write_text("0")
    # PROBE_RTT answers bring the FDT back once MIN_SETTLING_TIME (60 s) has passed since
    # the last raise
    node.wait_for(lambda: "Improved failure detection time" in node.log(),
                  "the FDT to improve", timeout=100)
    assert probe_states(node)["e0"] == ("ok", "ok")


def _forge(node: Node, src: str, dst: str, ident: int, seqs: range) -> None:
    """Send echo replies with scapy from the client namespace (tests only)."""
    code = (
        "import socket, time\n"
        "from scapy.all import IP, ICMP, Raw, send\n"
        "from ipmp_core.net.icmp_packets import ProbeKind, build_echo\n"
        "now = time.monotonic_ns()\n"
        f"pkts = [IP(src={src!r}, dst={dst!r})/ICMP(type=0, id={ident}, seq=s)"
        "/Raw(build_echo(socket.AF_INET, 0, s, ProbeKind.UNICAST, now)[8:]) for s in "
        f"range({seqs.start}, {seqs.stop})]\n"
        "send(pkts, verbose=0, inter=0.002)\n"
    )
    res = subprocess.run(["ip", "netns", "exec", node.lab.client, sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_forged_replies_never_repair_a_failed_member(node: Node) -> None:
    lab = node.lab
    probing_group(node, "e0", "e1")
    wait_probing(node, "e0", "e1")
    lab.drop_icmp("e0")
    node.wait_for(lambda: probe_states(node)["e0"][1] == "failed", "e0 to fail")
    pid = json.loads(node.run_py("import json; from ipmp_core.control_client import ControlClient "
                                 "as C; print(json.dumps(C().call('ping')))").stdout)["pid"]
    from ipmp_core.net.icmp_packets import probe_ident

    ident = probe_ident(pid, lab.ifindex("e0"))
    # the right identifier, but from a host that is not the target
    _forge(node, lab.client_addr4.split("/")[0], TEST["e0"], ident, range(0, 400))
    # from the target's address, but with a wrong identifier
    _forge(node, ROUTER, TEST["e0"], (ident + 1) & 0xFFFF, range(0, 400))
    time.sleep(1.0)
    assert probe_states(node)["e0"] == ("failed", "failed")
    node.adm("dump")
    node.wait_for(lambda: "ignored replies" in node.log(), "the statistics dump")


def test_all_paths_dropped_fails_group_then_repairs(node: Node) -> None:
    lab = node.lab
    probing_group(node, "e0", "e1")
    wait_probing(node, "e0", "e1")
    lab.drop_icmp("e0")
    lab.drop_icmp("e1")
    node.wait_for(lambda: node.group_state() == "failed", "group failure", timeout=10)
    assert set(node.inbound().values()) == {""}
    lab.undrop_icmp("e0")
    lab.undrop_icmp("e1")
    node.wait_for(lambda: node.group_state() == "ok", "group repair", timeout=20)
    assert lab.client_ping(V4)


def test_ipv6_only_group_probes_with_link_local_test_addresses(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    node.adm("create-addr", "-a", f"{V6}/64", "ipmp0")
    wait_probing(node, "e0", "e1")
    rows = node.stat("-t", "-P", "-o", "interface,mode,testaddr").splitlines()
    e0 = next(r for r in rows if r.startswith("e0:"))
    assert "multicast" in e0 and "fe80" in e0
    lab.drop_icmp("e0")  # neighbour discovery still flows, echo does not
    node.wait_for(lambda: probe_states(node)["e0"] == ("failed", "failed"), "IPv6 failure")
    assert node.inbound()[V6] == "e1"
    assert lab.client_ping(V6)


def test_group_mixing_probing_and_link_only_members(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    node.adm("create-addr", "-T", "test", "-a", f"{TEST['e0']}/24", "e0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-route", "-g", ROUTER, "ipmp0")
    node.wait_for(lambda: probe_states(node)["e0"] == ("ok", "ok"), "e0 probing")
    assert probe_states(node)["e1"] == ("disabled", "ok")
    lab.drop_icmp("e0")
    node.wait_for(lambda: probe_states(node)["e0"] == ("failed", "failed"), "e0 failure")
    assert probe_states(node)["e1"] == ("disabled", "ok")
    assert node.inbound()[V4] == "e1"
    lab.pull_cable("e1")  # the link-only member still fails by link
    node.wait_for(lambda: node.group_state() == "failed", "group failure")


def test_probe_events_stream_for_ipmpstat_p(node: Node) -> None:
    probing_group(node, "e0", "e1")
    wait_probing(node, "e0", "e1")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", node.ns, sys.executable, "-m", "ipmp_core.cli.ipmpstat",
         "-p", "-n"], env=node.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        time.sleep(1.5)
    finally:
        node.lab._signal(proc, 2)
        out, err = proc.communicate(timeout=10)
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["TIME", "INTERFACE", "PROBE", "NETRTT"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) >= 5, out + err
    assert {r[1] for r in rows} == {"e0", "e1"}
    assert all(r[-1] == ROUTER or ROUTER in r for r in rows)
    assert all(r[0].endswith("s") and r[3].endswith("ms") for r in rows)


def test_anonymous_group_tracks_ungrouped_interface(node: Node) -> None:
    import os
    import signal

    lab = node.lab
    probing_group(node, "e0", "e1")
    (node.state_dir / "defaults").write_text("TRACK_INTERFACES_ONLY_WITH_GROUPS=no\n"
                                             f"FAILURE_DETECTION_TIME={FDT}\n")
    assert node.daemon is not None
    os.kill(node.daemon.pid, signal.SIGHUP)
    node.wait_for(lambda: "SIGHUP: rereading" in node.log(), "SIGHUP")
    node.adm("create-addr", "-T", "test", "-a", f"{TEST['e2']}/24", "e2")
    node.wait_for(lambda: "e2::ok:ok" in node.stat("-i", "-P", "-o",
                                                   "interface,group,probe,state"),
                  "e2 probing in the anonymous group")
    # ipmpstat -g: e2 in the anonymous group's row (empty name), not in ipmp0's
    assert node.stat("-g", "-P", "-o", "group,interfaces").splitlines() == [
        "ipmp0:e0 e1", ":e2"]
    lab.drop_icmp("e2")
    node.wait_for(lambda: "e2::failed:failed" in node.stat(
        "-i", "-P", "-o", "interface,group,probe,state"), "e2 failure")
    assert "IP interface failure detected on e2" in node.log()
    assert probe_states(node)["e0"] == ("ok", "ok")


# Kernel STP's smallest forward delay (centiseconds): a port that comes up listens and
# then learns for this long each before it forwards, as on a switch without portfast.
STP_FORWARD_DELAY_CS = 200


def _switch_ports_forwarding(node: Node) -> bool:
    lab = node.lab
    ports = lab.run(lab.switch, "bridge", "link").stdout.splitlines()
    return bool(ports) and all("state forwarding" in p for p in ports)


def test_cables_plugged_back_into_a_learning_switch_keep_the_fdt(node: Node) -> None:
    """Both cables pulled, the group fails; plugged back into ports that run spanning
    tree: the first probes wait in the ARP queue until the ports forward and are
    answered seconds late. They are no round-trip time (in.mpathd samples none until
    the repair's NUM_PROBE_REPAIRS answers), so the FDT stays the configured 3 s
    instead of the "cannot meet" back-off to about 21 s."""
    lab = node.lab
    fdt = 3000
    lab.run(lab.switch, "ip", "link", "set", "br0", "type", "bridge", "stp_state", "1",
            "forward_delay", str(STP_FORWARD_DELAY_CS))
    probing_group(node, "e0", "e1")
    node.adm("set-ipmp", "-p", f"fdt={fdt}", "ipmp0")
    node.wait_for(lambda: _switch_ports_forwarding(node), "the switch ports to forward",
                  timeout=15)
    wait_probing(node, "e0", "e1")
    assert node.stat("-g", "-P", "-o", "group,fdt").strip() == "ipmp0:3.00s"
    lab.pull_cable("e0")
    lab.pull_cable("e1")
    node.wait_for(lambda: node.group_state() == "failed", "group failure", timeout=10)
    lab.plug_cable("e0")
    lab.plug_cable("e1")
    node.wait_for(lambda: _switch_ports_forwarding(node), "the switch ports to forward",
                  timeout=15)
    # The late answers come within a second of forwarding; then ten more per member.
    deadline = time.monotonic() + 2 * fdt / 1000 + 1
    while time.monotonic() < deadline:
        assert node.stat("-g", "-P", "-o", "group,fdt").strip() == "ipmp0:3.00s", \
            node.log()
        time.sleep(0.2)
    node.wait_for(lambda: probe_states(node)["e0"] == ("ok", "ok"), "probing on e0")
    assert node.group_state() == "ok"
    assert "Cannot meet requested failure detection time" not in node.log()
