"""The node daemon's life cycle, control channel and commands, on the real kernel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.lab import Lab
from tests.support.node import Node

pytestmark = pytest.mark.netns

V4 = "198.51.100.10"
V4B = "198.51.100.11"
V6 = "2001:db8:1::10"


def setup_group(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("add-ipmp", "-s", "-i", "e2", "ipmp0")
    for addr in (f"{V4}/24", f"{V4B}/24", f"{V6}/64"):
        node.adm("create-addr", "-a", addr, "ipmp0")


def kernel_addresses(node: Node) -> dict[str, tuple[str, int]]:
    """address -> (interface, ifindex) for every global address in the node."""
    out = node.lab.run(node.ns, "ip", "-j", "addr", "show").stdout
    return {
        info["local"]: (link["ifname"], link["ifindex"])
        for link in json.loads(out)
        for info in link.get("addr_info", [])
        if info.get("scope") == "global"
    }


def test_sigkill_and_restart_resumes_without_touching_placed_addresses(node: Node) -> None:
    lab = node.lab
    setup_group(node)
    lab.pull_cable("e0")  # make the state non-trivial: the standby is active
    node.wait_for(lambda: node.iface("e2")["active"], "the standby to take over")
    time.sleep(1.0)  # let the first announcement burst of that move finish (3 x 200 ms)
    before_kernel = kernel_addresses(node)
    before_view = node.inbound()
    routes_before = lab.run(node.ns, "ip", "route", "show", "proto", "207").stdout
    assert before_view[V4] and before_view[V6]

    monitor_log = node.state_dir / "monitor.txt"
    with open(monitor_log, "w") as out:
        monitor = lab.spawn(node.ns, ["ip", "-o", "monitor", "address"], stdout=out)
        sniff_log = node.state_dir / "arp.txt"
        with open(sniff_log, "w") as sniff_out:
            sniffer = lab.spawn(lab.client, ["tcpdump", "-n", "-l", "-i", "eth0",
                                             "arp or icmp6"], stdout=sniff_out,
                                stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # let both watchers attach
            node.kill(signal.SIGKILL)
            node.start()
            node.wait_for(lambda: node.inbound() == before_view, "the view to be rebuilt")
            time.sleep(1.0)  # anything spurious would show up within this time
            lab.stop(sniffer)
        lab.stop(monitor)

    assert kernel_addresses(node) == before_kernel
    assert lab.run(node.ns, "ip", "route", "show", "proto", "207").stdout == routes_before
    changes = [line for line in monitor_log.read_text().splitlines()
               if V4 in line or V4B in line or V6 in line]
    assert changes == [], f"data addresses were touched: {changes}"
    garps = [line for line in sniff_log.read_text().splitlines()
             if f"tell {V4}" in line or f"tell {V4B}" in line
             or f"advertisement, tgt is {V6}" in line]
    assert garps == [], f"re-announced after restart: {garps}"
    log = node.log()
    assert "resuming 1 group(s)" in log
    assert node.iface("e0")["state"] == "failed" and node.iface("e2")["active"]
    lab.plug_cable("e0")  # and the restarted daemon still reacts
    # e0 probes IPv6 from its link-local (the group has an IPv6 address): after its link
    # failure it is repaired by NUM_PROBE_REPAIRS answers at the default FDT's 1.4 s
    # interval, not by its link (in.mpathd's phyint_repaired()).
    node.wait_for(lambda: not node.iface("e2")["active"], "failback after restart",
                  timeout=30.0)


def test_sigterm_leaves_the_network_as_configured(node: Node) -> None:
    lab = node.lab
    setup_group(node)
    before = kernel_addresses(node)
    node.kill(signal.SIGTERM)
    assert node.daemon is not None and node.daemon.returncode == 0
    assert kernel_addresses(node) == before
    assert "ipmpd exiting; the network stays as configured" in node.log()
    assert lab.client_ping(V4)


def test_configuration_is_persisted(node: Node) -> None:
    setup_group(node)
    node.adm("set-ipmp", "-p", "failback=no", "-p", "fdt=2000", "ipmp0")
    saved = json.loads(node.state_path.read_text())
    group = saved["groups"][0]
    assert group["name"] == "ipmp0" and group["failback"] is False and group["fdt_ms"] == 2000
    assert [m["name"] for m in group["members"]] == ["e0", "e1", "e2"]
    assert [m["standby"] for m in group["members"]] == [False, False, True]
    assert group["data_addresses"] == [f"{V4}/24", f"{V4B}/24", f"{V6}/64"]


def test_two_daemons_in_two_namespaces_do_not_interfere(
    node: Node, make_lab, tmp_path: Path
) -> None:
    other_lab: Lab = make_lab(nics=2)
    other = Node(other_lab, tmp_path / "other")
    other.start()
    try:
        for n in (node, other):
            n.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
            n.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
        assert node.snapshot()["groups"][0]["name"] == "ipmp0"
        node.lab.pull_cable("e0")
        node.wait_for(lambda: node.inbound() == {V4: "e1"}, "move in the first node")
        assert other.inbound() == {V4: "e0"}
        assert other.group_state() == "ok"
        assert other.daemon is not None
        assert node.state_path != other.state_path
        assert other_lab.client_ping(V4)
    finally:
        if other.daemon is not None:
            other_lab.stop(other.daemon)


def test_second_daemon_in_same_namespace_refuses_to_start(node: Node) -> None:
    res = node.exec(*_daemon_argv(node))
    assert res.returncode == 1
    assert "another daemon is already running" in res.stderr
    assert node.alive()


def _daemon_argv(node: Node) -> list[str]:
    import sys

    return [sys.executable, "-m", "ipmp_core.cli.ipmpd", "--log-file",
            str(node.state_dir / "second.log")]


def test_ipmpadm_starts_the_daemon_when_needed(lab: Lab, tmp_path: Path) -> None:
    node = Node(lab, tmp_path / "auto")
    assert not node.alive()
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    res = node.run_py("import json; from ipmp_core.control_client import ControlClient as C; "
                      "print(C().call('ping')['pid'])")
    pid = int(res.stdout)
    try:
        assert node.group_state() == "ok"
        assert node.log_path.exists() and "ipmpd started" in node.log()
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create-ipmp", "-i", "nosuch", "ipmp1"), "no such interface: nosuch"),
        (("add-ipmp", "-i", "e0", "ipmp0"), "interface e0 is already in group ipmp0"),
        (("add-ipmp", "-i", "e2", "nosuch"), "no such group: nosuch"),
        (("create-ipmp", "-i", "e2", "ipmp0"), "group ipmp0 already exists"),
        (("create-addr", "-a", "198.51.100.10", "ipmp0"), "needs a prefix length"),
        (("create-addr", "-a", "198.51.100.300/24", "ipmp0"), "is not valid"),
        (("create-addr", "-T", "test", "-a", f"{V4}/24", "e0"),
         "test address can never double as a data address"),
        (("offline", "e7"), "no such interface: e7"),
        (("offline", "e2"), "interface e2 is not in any group"),
        (("set-ipmp", "-p", "failback=maybe", "ipmp0"), "is not a boolean"),
        (("set-ipmp", "-p", "colour=red", "ipmp0"), "unknown group property 'colour'"),
        (("set-ifprop", "-p", "standby=on", "e9"), "no such interface: e9"),
        (("delete-addr", "203.0.113.99"), "no test address 203.0.113.99"),
        (("remove-ipmp", "-i", "e2", "ipmp0"), "interface e2 is not in group ipmp0"),
        (("delete-ipmp", "nosuch"), "no such group: nosuch"),
    ],
)
def test_ipmpadm_errors_are_one_clear_line(node: Node, args: tuple[str, ...],
                                           message: str) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    before = node.adm("show-config").stdout
    res = node.adm(*args, check=False)
    assert res.returncode == 1, res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipmpadm: "), res.stderr
    assert message in lines[0]
    assert "Traceback" not in res.stderr
    assert node.adm("show-config").stdout == before  # nothing half-done


def test_data_address_cannot_equal_a_test_address(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-T", "test", "-a", "198.51.100.21/24", "e0")
    res = node.adm("create-addr", "-a", "198.51.100.21/24", "ipmp0", check=False)
    assert res.returncode == 1
    assert "can never double as a test address" in res.stderr
    # the test address is on e0, deprecated (never chosen as a source) and does not move
    info = node.lab.run(node.ns, "ip", "-o", "addr", "show", "dev", "e0").stdout
    assert "198.51.100.21/24" in info and "deprecated" in info
    node.lab.pull_cable("e0")
    node.wait_for(lambda: node.iface("e0")["state"] == "failed", "e0 to fail")
    assert node.holders("198.51.100.21") == ["e0"]


def test_queries_are_open_to_all_but_changes_need_root(node: Node) -> None:
    setup_group(node)
    out = node.stat("-g", "-P", "-o", "group,state", user="nobody")
    assert out.strip() == "ipmp0:ok"
    res = node.adm("offline", "e0", check=False, user="nobody")
    assert res.returncode == 1
    assert "permission denied" in res.stderr
    # The daemon itself checks the peer's credentials, whatever the client does.
    code = ("from ipmp_core.control_client import ControlClient, ControlError\n"
            "try:\n    ControlClient().call('offline', interface='e0')\n"
            "except ControlError as exc:\n    print(exc.code)\n")
    res = node.exec(*_py(code), user="nobody")
    assert res.stdout.strip() == "permission"
    assert node.iface("e0")["state"] != "offline"


def _py(code: str) -> list[str]:
    import sys

    return [sys.executable, "-c", code]


def test_unreachable_daemon_is_one_line(node: Node) -> None:
    node.adm("shutdown")
    assert node.daemon is not None
    node.daemon.wait(timeout=10)
    res = node.adm("show-config", check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == "ipmpadm: the IPMP daemon is not running"
    res = node.exec(*_py("from ipmp_core.cli.ipmpstat import main; raise SystemExit(main(['-g']))"))
    assert res.returncode == 1 and "not running" in res.stderr and "Traceback" not in res.stderr


def test_sighup_rereads_defaults_and_sigusr1_dumps_state(node: Node) -> None:
    setup_group(node)
    (node.state_dir / "defaults").write_text("ANNOUNCE_COUNT=1\nFAILBACK=perhaps\n")
    assert node.daemon is not None
    os.kill(node.daemon.pid, signal.SIGHUP)
    node.wait_for(lambda: "SIGHUP: rereading" in node.log(), "SIGHUP to be handled")
    assert "ignoring 'FAILBACK=perhaps'" in node.log()
    os.kill(node.daemon.pid, signal.SIGUSR1)
    node.wait_for(lambda: "group ipmp0: state ok" in node.log(), "the SIGUSR1 dump")
    assert f"address {V4}/24 (group ipmp0): up on e0" in node.log()


def test_delete_group_restores_interfaces(node: Node) -> None:
    lab = node.lab
    sysctl = ["sysctl", "-n", "net.ipv4.conf.e0.arp_ignore", "net.ipv4.conf.all.arp_ignore"]
    before = lab.run(node.ns, *sysctl).stdout
    setup_group(node)
    assert lab.run(node.ns, *sysctl).stdout != before
    node.adm("delete-ipmp", "ipmp0")
    assert lab.run(node.ns, *sysctl).stdout == before
    assert kernel_addresses(node) == {}
    assert lab.run(node.ns, "ip", "route", "show", "proto", "207").stdout == ""
    assert node.snapshot()["groups"] == []


def test_member_nic_deleted_and_recreated_rejoins(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    lab.delete_nic("e0")
    node.wait_for(lambda: node.inbound() == {V4: "e1"}, "the address to leave e0")
    assert node.iface("e0")["present"] is False
    assert lab.client_ping(V4)
    lab.recreate_nic("e0", mac="02:cf:00:00:00:e0")
    node.wait_for(lambda: node.iface("e0")["state"] == "ok", "e0 to rejoin")
    arp_ignore = lab.run(node.ns, "sysctl", "-n", "net.ipv4.conf.e0.arp_ignore").stdout
    assert arp_ignore.strip() == "1"


def test_event_stream_reports_failures_and_moves(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    code = ("import json, sys\nfrom ipmp_core.control_client import ControlClient\n"
            "seen = set()\n"
            "for ev in ControlClient().subscribe():\n"
            "    print(json.dumps(ev), flush=True)\n"
            "    seen.add(ev.get('type'))\n"
            "    if {'address-moved', 'group-state'} <= seen:\n        break\n")
    out_path = node.state_dir / "events.txt"
    with open(out_path, "w") as out:
        sub = lab.spawn(node.ns, _py(code), stdout=out)
        time.sleep(0.5)  # subscribed before the failure
        lab.pull_cable("e0")
        sub.wait(timeout=10)
    events = [json.loads(line) for line in out_path.read_text().splitlines()]
    kinds = [(e["type"], e.get("interface") or e.get("group")) for e in events]
    assert ("member-state", "e0") in kinds
    state = next(e for e in events if e["type"] == "group-state")
    assert (state["state"], state["previous"]) == ("degraded", "ok")
    moved = next(e for e in events if e["type"] == "address-moved")
    assert (moved["address"], moved["from"], moved["to"]) == (f"{V4}/24", "e0", "e1")


def test_address_removed_behind_our_back_is_restored(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-addr", "-T", "test", "-a", "198.51.100.21/24", "e0")
    lab.run(node.ns, "ip", "addr", "del", f"{V4}/24", "dev", "e0")
    node.wait_for(lambda: node.holders(V4) == ["e0"], "the data address to be restored")
    assert f"Data address {V4}/24 of group ipmp0 was removed from e0 by someone else" in \
        node.log()
    lab.run(node.ns, "ip", "addr", "flush", "dev", "e0")
    node.wait_for(lambda: node.holders(V4) == ["e0"] and node.holders("198.51.100.21")
                  == ["e0"], "both addresses to be restored after a flush")
    assert lab.client_ping(V4)
    # our own moves are not "restored": after a failover the old member stays clean
    lab.pull_cable("e0")
    node.wait_for(lambda: node.holders(V4) == ["e1"], "the move")
    time.sleep(0.5)
    assert node.holders(V4) == ["e1"]


def test_network_managers_on_members_are_reported(lab: Lab, tmp_path: Path) -> None:
    run = tmp_path / "run"
    links = run / "systemd" / "netif" / "links"
    links.mkdir(parents=True)
    (links / str(lab.ifindex("e1"))).write_text("ADMIN_STATE=configured\nOPER_STATE=routable\n")
    (run / "NetworkManager" / "devices").mkdir(parents=True)
    (run / "NetworkManager" / "devices" / str(lab.ifindex("e0"))).write_text("")
    node = Node(lab, tmp_path / "state")
    node.env["IPMP_RUN_DIR"] = str(run)
    node.start()
    try:
        res = node.adm("create-ipmp", "-i", "e0", "-i", "e1", "-i", "e2", "ipmp0")
        warnings = res.stderr.strip().splitlines()
        assert warnings == [
            "ipmpadm: warning: e0 is managed by NetworkManager, which may remove the group's "
            "addresses or change its routes: exclude it from that manager",
            "ipmpadm: warning: e1 is managed by systemd-networkd, which may remove the "
            "group's addresses or change its routes: exclude it from that manager",
        ]
        assert "e1 is managed by systemd-networkd" in node.log()
        res = node.exec(sys.executable, "-m", "agents.cli", "ipmp", "validate-all",
                        "group=ipmp0", "interfaces=e0 e2")
        assert res.returncode == 0 and "e0 is managed by NetworkManager" not in res.stderr
        node.env["OCF_CHECK_LEVEL"] = "10"  # level 10 looks at this host
        res = node.exec(sys.executable, "-m", "agents.cli", "ipmp", "validate-all",
                        "group=ipmp0", "interfaces=e0 e2")
        assert res.returncode == 0 and "e0 is managed by NetworkManager" in res.stderr
    finally:
        assert node.daemon is not None
        lab.stop(node.daemon)


TCP_SERVER = """
import socket, sys, time
socks = []
for port in (7777, 7778):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16); socks.append(s)
time.sleep(float(sys.argv[1]))
"""
TCP_CLIENT = """
import socket, sys
s = socket.socket(); s.settimeout(0.5)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("open")
except OSError:
    print("blocked")
"""


def test_firewall_rules_follow_the_group_members(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    elements = lab.run(node.ns, "nft", "list", "set", "inet", "clearview_ipmp",
                       "ipmp0_members").stdout
    assert '"e0"' in elements and '"e1"' in elements and '"e2"' not in elements
    # an operator's rule, written once against the group
    lab.run(node.ns, "nft", "add chain inet clearview_ipmp input "
            "{ type filter hook input priority 0; }")
    lab.run(node.ns, "nft", "add rule inet clearview_ipmp input iifname @ipmp0_members "
            "tcp dport 7777 drop")
    lab.spawn(node.ns, [sys.executable, "-c", TCP_SERVER, "60"])
    time.sleep(0.5)

    def probe(port: int) -> str:
        res = lab.run(lab.client, sys.executable, "-c", TCP_CLIENT, V4, str(port))
        return res.stdout.strip()

    assert (probe(7777), probe(7778)) == ("blocked", "open")
    lab.pull_cable("e0")  # the address moves to e1: the rule still holds there
    node.wait_for(lambda: node.inbound() == {V4: "e1"}, "the move")
    assert (probe(7777), probe(7778)) == ("blocked", "open")
    node.adm("add-ipmp", "-i", "e2", "ipmp0")
    node.adm("remove-ipmp", "-i", "e0", "ipmp0")
    elements = lab.run(node.ns, "nft", "list", "set", "inet", "clearview_ipmp",
                       "ipmp0_members").stdout
    assert '"e2"' in elements and '"e0"' not in elements
    node.adm("delete-ipmp", "ipmp0")  # the set is used by the rule: emptied, not deleted
    elements = lab.run(node.ns, "nft", "list", "set", "inet", "clearview_ipmp",
                       "ipmp0_members").stdout
    assert '"e1"' not in elements and '"e2"' not in elements


def _member_sets(node: Node) -> dict[str, list[str]]:
    out = node.lab.run(node.ns, "nft", "-j", "list", "sets", "inet").stdout
    sets = [o["set"] for o in json.loads(out)["nftables"] if "set" in o]
    return {s["name"]: sorted(s.get("elem", [])) for s in sets if s["table"] == "clearview_ipmp"}


def test_groups_differing_only_in_dash_and_underscore_keep_their_own_sets(node: Node) -> None:
    """ipmp-0 and ipmp_0 once shared the set ipmp_0_members: whichever synced last won,
    and the other group's rules silently covered the wrong interfaces."""
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "ipmp-0")
    node.adm("create-ipmp", "-i", "e1", "-i", "e2", "ipmp_0")
    node.wait_for(lambda: _member_sets(node) == {"ipmp-0_members": ["e0"],
                                                  "ipmp_0_members": ["e1", "e2"]},
                  "a set per group")
    # an operator's rule names the set after its group, in nft's own syntax
    lab.run(node.ns, "nft", "add chain inet clearview_ipmp input "
            "{ type filter hook input priority 0; }")
    lab.run(node.ns, "nft", "add rule inet clearview_ipmp input iifname @ipmp-0_members "
            "tcp dport 7777 drop")
    node.adm("remove-ipmp", "-i", "e0", "ipmp-0")
    node.adm("add-ipmp", "-i", "e0", "ipmp_0")
    node.wait_for(lambda: _member_sets(node) == {"ipmp-0_members": [],
                                                  "ipmp_0_members": ["e0", "e1", "e2"]},
                  "e0 to move to ipmp_0's set")
