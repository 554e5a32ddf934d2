"""ipmpstat -i PROBE/FLAGS, -t, -a and -p on the real kernel, as illumos' ipmpstat shows
them (in.mpathd's ifprobestate(), ifflags(), getgraddrinfo(); ipmpstat's
targinfo_output_cbfunc() and probe_output())."""

from __future__ import annotations

import sys

import pytest

from tests.support.node import Node

pytestmark = pytest.mark.netns

V4 = "198.51.100.10"
V6 = "2001:db8:1::10"
ROUTER = "198.51.100.1"
FDT = 1000  # ms
TEST = {"e0": "198.51.100.21", "e1": "198.51.100.22"}


def column(node: Node, mode: str, fields: str) -> dict[str, str]:
    """First field -> the rest, from ipmpstat -<mode> -P -o <fields> (no ':' in values)."""
    rows = node.stat(f"-{mode}", "-n", "-P", "-o", fields).splitlines()
    return {r.split(":", 1)[0]: r.split(":", 1)[1] for r in rows}


def test_pulled_link_shows_probe_failed_and_ok_once_targets_exist(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "ipmp0")
    for m, addr in TEST.items():
        node.adm("create-addr", "-T", "test", "-a", f"{addr}/24", m)
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-route", "-g", ROUTER, "ipmp0")
    node.wait_for(lambda: column(node, "i", "interface,probe,state") == {
        "e0": "ok:ok", "e1": "ok:ok"}, "PROBE ok with the router as target")
    lab.pull_cable("e0")
    node.wait_for(lambda: column(node, "i", "interface,link,probe,state")["e0"]
                  == "down:failed:failed", "e0: LINK down, PROBE failed, STATE failed")
    assert column(node, "i", "interface,probe,state")["e1"] == "ok:ok"
    lab.plug_cable("e0")
    node.wait_for(lambda: column(node, "i", "interface,probe,state")["e0"] == "ok:ok",
                  "e0 repaired by its probes", timeout=10)


def test_flags_m6_only_with_ipv6_and_failed_standby_not_inactive(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("add-ipmp", "-s", "-i", "e2", "ipmp0")
    node.wait_for(lambda: column(node, "i", "interface,flags") == {
        "e0": "--mb---", "e1": "-------", "e2": "is-----"}, "IPv4-only flags: no M")
    node.adm("create-addr", "-a", f"{V6}/64", "ipmp0")
    node.wait_for(lambda: column(node, "i", "interface,flags")["e0"] == "--mbM--",
                  "M once the group carries IPv6")
    lab.pull_cable("e2")
    node.wait_for(lambda: column(node, "i", "interface,flags,state")["e2"]
                  == "-s-----:failed", "a failed standby: -s-----, not is-----")


def test_t_prints_one_row_per_probing_family(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={FDT}", "-p", "linklocal=yes", "ipmp0")
    for m, addr in TEST.items():
        node.adm("create-addr", "-T", "test", "-a", f"{addr}/24", m)
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.adm("create-route", "-g", ROUTER, "ipmp0")

    def e0_rows() -> list[list[str]] | None:
        """e0's rows (':' inside a value read as '%'), once both have targets."""
        out = node.stat("-t", "-n", "-P", "-o", "interface,mode,testaddr,targets")
        rows = [r.replace("\\:", "%").split(":") for r in out.splitlines()
                if r.startswith("e0:")]
        return rows if len(rows) == 2 and all(r[3] for r in rows) else None

    rows = node.wait_for(e0_rows, "e0's IPv4 and IPv6 rows, each with targets")
    (v4,), (v6,) = ([r for r in rows if "." in r[2]], [r for r in rows if "%" in r[2]])
    assert v4[1:] == ["routes", TEST["e0"], ROUTER]
    assert v6[1] == "multicast" and v6[2].startswith("fe80%%")
    human = [line.split() for line in node.stat("-t", "-n").splitlines()[1:]]
    assert [line[0] for line in human].count("e0") == 2


def test_a_up_with_no_inbound_when_no_member_is_active(node: Node) -> None:
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    node.wait_for(lambda: column(node, "a", "address,state,inbound,outbound")[V4]
                  == "up:e0:e0", "the address up on e0")
    lab.pull_cable("e0")
    lab.pull_cable("e1")
    node.wait_for(lambda: node.group_state() == "failed", "group failure")
    assert column(node, "a", "address,state,inbound,outbound")[V4] == "up::"
    assert node.holders(V4) == []  # nowhere in the kernel: no member to carry it
    human = node.stat("-a", "-n").splitlines()[1].split()
    assert human == [V4, "up", "ipmp0", "--", "--"]


def test_p_refused_when_probe_based_failure_detection_is_disabled(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    res = node.exec(sys.executable, "-m", "ipmp_core.cli.ipmpstat", "-p")
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr == "ipmpstat: probe-based failure detection is disabled\n"
