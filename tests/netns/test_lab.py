"""The lab itself: the failures it simulates must look to the node like the real thing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from tests.support.lab import Lab, cleanup_stale
from tests.support.netns import list_namespaces

pytestmark = pytest.mark.netns


def wait_for(cond: Callable[[], bool], timeout: float = 2.0, step: float = 0.02) -> bool:
    """Poll ``cond`` until true or ``timeout`` s passed (bounded loop)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / step) + 2):
        if cond():
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(step)
    return bool(cond())


def links(lab: Lab, ns: str) -> dict[str, dict]:
    out = lab.run(ns, "ip", "-j", "-d", "link", "show").stdout
    return {link["ifname"]: link for link in json.loads(out)}


def node_neigh(lab: Lab, addr: str, nic: str) -> str | None:
    out = lab.run(lab.node, "ip", "-j", "neigh", "show", "to", addr, "dev", nic).stdout
    for entry in json.loads(out or "[]"):
        if entry.get("lladdr") and not {"FAILED", "INCOMPLETE"} & set(entry.get("state", [])):
            return str(entry["lladdr"])
    return None


def ping_from_node(lab: Lab, nic: str, addr: str) -> bool:
    res = lab.run(
        lab.node, "ping", "-n", "-q", "-c", "1", "-W", "0.5", "-I", nic, addr, check=False
    )
    return res.returncode == 0


def test_builds_topology_quickly(new_prefix: Callable[[], str]) -> None:
    start = time.monotonic()
    with Lab(prefix=new_prefix(), nics=3) as lab:
        elapsed = time.monotonic() - start
        assert elapsed < 3.0, f"lab took {elapsed:.2f} s to build"
        assert set(lab.namespaces) <= set(list_namespaces())
        assert lab.nics == ["e0", "e1", "e2"]
        assert (lab.router_addr4, lab.router_addr6) == ("198.51.100.1", "2001:db8:1::1")
        assert (lab.client_addr4, lab.client_addr6) == ("198.51.100.200", "2001:db8:1::200")

        node = links(lab, lab.node)
        for name in ["lo", *lab.nics]:
            assert "UP" in node[name]["flags"], name
        assert all(node[nic]["linkinfo"]["info_kind"] == "veth" for nic in lab.nics)

        sw = links(lab, lab.switch)
        for port in ["p0", "p1", "p2", "pr", "pc"]:
            assert sw[port]["master"] == "br0", port
            assert "UP" in sw[port]["flags"], port
        for ns in (lab.router, lab.client):
            assert ns is not None
            assert "UP" in links(lab, ns)["eth0"]["flags"]
        fwd = lab.run(lab.router, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()
        assert fwd == "1"
        # Node NICs keep their automatic IPv6 link-locals.
        out = lab.run(lab.node, "ip", "-6", "-o", "addr", "show", "dev", "e0").stdout
        assert "fe80::" in out
        ip_names = set(lab.namespaces)
    assert not ip_names & set(list_namespaces())


def test_client_pings_router_v4_and_v6(lab: Lab) -> None:
    assert lab.router_addr4 and lab.router_addr6
    assert lab.client_ping(lab.router_addr4)
    # No DAD on the client and router: IPv6 works at once, without a 2 s wait.
    assert lab.client_ping(lab.router_addr6)
    assert lab.client_neigh(lab.router_addr4) is not None
    assert lab.client_neigh(lab.router_addr6) is not None
    lab.neigh_flush_client()
    assert lab.client_neigh(lab.router_addr4) is None
    assert lab.client_neigh(lab.router_addr6) is None
    assert lab.client_neigh("198.51.100.77") is None


def test_pull_and_plug_cable(lab: Lab) -> None:
    assert lab.carrier("e0")
    lab.pull_cable("e0")
    assert wait_for(lambda: not lab.carrier("e0"))
    carrier = lab.run(lab.node, "cat", "/sys/class/net/e0/carrier").stdout.strip()
    assert carrier == "0"
    node = links(lab, lab.node)
    assert "UP" in node["e0"]["flags"]  # still admin up: only the carrier is gone
    assert "NO-CARRIER" in node["e0"]["flags"]
    assert lab.carrier("e1") and lab.carrier("e2")
    lab.plug_cable("e0")
    assert wait_for(lambda: lab.carrier("e0"))


def test_drop_icmp_breaks_probes_not_the_link(lab: Lab) -> None:
    assert lab.router_addr4 and lab.router_addr6
    lab.sysctl(lab.node, "net.ipv4.conf.all.arp_ignore", 1)
    for nic, last in (("e0", 11), ("e1", 12)):
        lab.run(lab.node, "ip", "addr", "add", f"198.51.100.{last}/24", "dev", nic)
        lab.run(lab.node, "ip", "addr", "add", f"2001:db8:1::{last}/64", "dev", nic, "nodad")
    assert ping_from_node(lab, "e0", lab.router_addr4)
    assert ping_from_node(lab, "e0", lab.router_addr6)

    lab.drop_icmp("e0")
    assert not ping_from_node(lab, "e0", lab.router_addr4)
    assert not ping_from_node(lab, "e0", lab.router_addr6)
    assert ping_from_node(lab, "e1", lab.router_addr4)
    assert ping_from_node(lab, "e1", lab.router_addr6)
    assert lab.carrier("e0")
    # Only ICMP is gone: ARP and (keep_nd) ND from e0 still resolve the router.
    lab.run(lab.node, "ip", "neigh", "flush", "dev", "e0")
    assert not ping_from_node(lab, "e0", lab.router_addr4)
    assert not ping_from_node(lab, "e0", lab.router_addr6)
    assert node_neigh(lab, lab.router_addr4, "e0") is not None
    assert node_neigh(lab, lab.router_addr6, "e0") is not None

    lab.drop_icmp("e0", keep_nd=False)  # idempotent, and now ND is dropped too
    assert not ping_from_node(lab, "e0", lab.router_addr4)

    lab.undrop_icmp("e0")
    assert ping_from_node(lab, "e0", lab.router_addr4)
    assert ping_from_node(lab, "e0", lab.router_addr6)
    lab.undrop_icmp("e0")  # no-op
    tables = lab.run(lab.switch, "nft", "list", "tables").stdout
    assert "cvdrop" not in tables


def test_delete_and_recreate_nic(lab: Lab) -> None:
    assert lab.router_addr4
    old_index = lab.ifindex("e1")
    lab.delete_nic("e1")
    assert "e1" not in links(lab, lab.node)
    assert "p1" not in links(lab, lab.switch)

    lab.recreate_nic("e1", mac="02:00:5e:00:53:01")
    assert lab.ifindex("e1") != old_index
    assert lab.mac("e1") == "02:00:5e:00:53:01"
    assert links(lab, lab.switch)["p1"]["master"] == "br0"
    assert wait_for(lambda: lab.carrier("e1"))
    # It is really on the bridge again.
    lab.run(lab.node, "ip", "addr", "add", "198.51.100.21/24", "dev", "e1")
    assert ping_from_node(lab, "e1", lab.router_addr4)

    lab.delete_nic("e1")
    lab.recreate_nic("e1")  # without a MAC: the kernel picks a random one
    assert lab.mac("e1") != "02:00:5e:00:53:01"


def test_set_mac(lab: Lab) -> None:
    lab.set_mac("e2", "02:00:5e:00:53:02")
    assert lab.mac("e2") == "02:00:5e:00:53:02"
    assert lab.carrier("e2")
    with pytest.raises(ValueError):
        lab.set_mac("e2", "not-a-mac")
    with pytest.raises(ValueError):
        lab.pull_cable("eth0")


def test_teardown_when_body_raises_kills_processes(new_prefix: Callable[[], str]) -> None:
    lab = Lab(prefix=new_prefix(), nics=2)
    with pytest.raises(RuntimeError, match="boom"), lab:
        names = list(lab.namespaces)
        proc = lab.spawn(lab.node, ["sleep", "60"])
        lab.drop_icmp("e1")
        assert set(names) <= set(list_namespaces())
        raise RuntimeError("boom")
    assert proc.poll() is not None
    assert not set(names) & set(list_namespaces())
    lab.close()  # idempotent


def test_stop_escalates_to_sigkill(lab: Lab) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    proc = lab.spawn(lab.node, [sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    start = time.monotonic()
    assert lab.stop(proc, timeout=0.5) == -9
    assert time.monotonic() - start < 4
    proc.stdout.close()


def test_spawned_process_runs_in_namespace(lab: Lab) -> None:
    proc = lab.spawn(lab.node, ["ip", "-o", "link", "show", "e0"], stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=10)
    assert b"e0@" in out


def test_labs_side_by_side_and_clash_refused(make_lab: Callable[..., Lab]) -> None:
    first = make_lab(nics=1, with_client=False)
    second = make_lab(nics=2, with_router=False, ipv6=False)
    assert first.router_addr4 == "198.51.100.1" and first.client_addr4 is None
    assert second.router is None and second.client_addr6 is None
    assert second.client_addr4 and not second.client_ping("198.51.100.1", timeout=0.5)

    clash = Lab(prefix=first.prefix, nics=1)
    with pytest.raises(RuntimeError, match="already exist"):
        clash.start()
    # The refused lab must not have deleted the namespaces of the one that owns the names.
    assert set(first.namespaces) <= set(list_namespaces())


def test_cleanup_stale(new_prefix: Callable[[], str]) -> None:
    prefix = new_prefix()
    names = [f"{prefix}-node", f"{prefix}-sw"]
    other = f"{prefix}x-node"  # shares the characters but not "{prefix}-"
    try:
        for ns in [*names, other]:
            subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
        assert sorted(cleanup_stale(prefix)) == sorted(names)
        present = set(list_namespaces())
        assert not set(names) & present
        assert other in present
    finally:
        for ns in [*names, other]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
