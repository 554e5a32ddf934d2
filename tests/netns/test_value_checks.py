"""Bad values through ipmpadm on the real kernel (issue 10, point 6): each refused with
exit status 1, one clear line, no traceback, and the kernel left as it was."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.node import Node

pytestmark = pytest.mark.netns

DATA = "198.51.100.10/24"
ROUTER = "198.51.100.1"

BAD = [
    # (ipmpadm arguments, words of the one-line error)
    (["create-addr", "-a", "198.51.100.50/0", "ipmp0"], "prefix /0"),
    (["create-addr", "-a", "2001:db8::50/0", "ipmp0"], "prefix /0"),
    (["create-addr", "-a", "255.255.255.255/32", "ipmp0"], "limited broadcast"),
    (["create-addr", "-a", "fe80::10%e0/64", "ipmp0"], "zone index"),
    (["create-addr", "-a", "fe80::10/64", "ipmp0"], "link-local"),
    (["create-addr", "-a", "224.0.0.5/24", "ipmp0"], "multicast"),
    (["create-addr", "-a", "127.0.0.5/8", "ipmp0"], "loopback"),
    (["create-addr", "-a", "0.0.0.0/24", "ipmp0"], "unspecified"),
    (["create-addr", "-a", f"{ROUTER}/24", "ipmp0"], "already in use on the network"),
    (["create-addr", "-T", "test", "-a", "2001:db8::21/64", "e0"], "must be link-local"),
    (["create-addr", "-T", "test", "-a", "198.51.100.21/24", "e0"], "given twice"),
    (["set-ipmp", "-p", "fdt=0", "ipmp0"], "failure detection time"),
    (["set-ipmp", "-p", "fdt=-1", "ipmp0"], "failure detection time"),
    (["set-ipmp", "-p", "fdt=99", "ipmp0"], "failure detection time"),
    (["set-ipmp", "-p", f"fdt={2**64}", "ipmp0"], "failure detection time"),
    (["set-ipmp", "-p", "fdt=1e400", "ipmp0"], "failure detection time"),
    (["set-ipmp", "-p", "targets=224.0.0.1", "ipmp0"], "multicast"),
    (["set-ipmp", "-p", "targets=0.0.0.0", "ipmp0"], "unspecified"),
    (["set-ipmp", "-p", "targets=255.255.255.255", "ipmp0"], "limited broadcast"),
    (["set-ipmp", "-p", "targets=198.51.100.10", "ipmp0"], "own addresses"),
    (["set-ipmp", "-p", "targets=" + ",".join(f"198.51.100.{i}" for i in range(100, 200)),
      "ipmp0"], "at most 5"),
    (["create-route", "-g", "203.0.113.1", "ipmp0"], "not on-link"),
    (["create-route", "-g", "198.51.100.10", "ipmp0"], "own addresses"),
]


def kernel(node: Node) -> tuple[object, object, object]:
    lab = node.lab
    return (json.loads(lab.run(node.ns, "ip", "-j", "addr", "show").stdout),
            lab.run(node.ns, "ip", "-4", "route", "show", "table", "all").stdout,
            lab.run(node.ns, "ip", "-6", "route", "show", "table", "all").stdout)


def _without_lifetimes(state: tuple[object, object, object]) -> tuple[object, ...]:
    addrs = [{**link, "addr_info": [{k: v for k, v in a.items()
                                     if k not in ("valid_life_time", "preferred_life_time")}
                                    for a in link.get("addr_info", [])]}
             for link in state[0]]  # type: ignore[attr-defined]
    return (addrs, *state[1:])


def test_bad_values_through_ipmpadm_are_refused_and_change_nothing(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-T", "test", "-a", "198.51.100.21/24", "e0")
    node.adm("create-addr", "-a", DATA, "ipmp0")
    node.wait_for(lambda: node.inbound().get("198.51.100.10"), "the data address bound")
    # The kernel's own IPv6 DAD on the link-locals must be over before the picture is
    # taken: its end changes flags and local routes, whatever the requests do.
    node.wait_for(lambda: '"tentative"' not in node.lab.run(node.ns, "ip", "-j", "addr",
                                                             "show").stdout,
                  "the link-locals' DAD done")
    config = node.snapshot()
    before = _without_lifetimes(kernel(node))
    for args, words in BAD:
        res = node.adm(*args, check=False)
        where = f"ipmpadm {' '.join(args)[:80]}"
        assert res.returncode == 1, f"{where}: exit {res.returncode}, {res.stderr}"
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ipmpadm: "), f"{where}: {res.stderr}"
        assert words in lines[0], f"{where}: {lines[0]}"
        assert "Traceback" not in res.stderr + res.stdout
    time.sleep(0.2)  # anything a refused request did would have reached the kernel by now
    assert _without_lifetimes(kernel(node)) == before
    assert node.snapshot() == config
    assert "Traceback" not in node.log()


def test_router_address_as_a_data_address_is_refused_by_arp_probe(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    res = node.adm("create-addr", "-a", f"{ROUTER}/24", "ipmp0", check=False)
    assert res.returncode == 1
    assert f"{ROUTER} is already in use on the network (answered by" in res.stderr
    assert node.holders(ROUTER) == []
    assert node.lab.client_ping(ROUTER)  # the router keeps its address
    node.adm("create-addr", "-a", DATA, "ipmp0")  # a free address still goes in
    assert node.holders("198.51.100.10")


def test_a_batch_holding_the_routers_address_is_refused_whole(node: Node) -> None:
    """The batch form probes all its IPv4 addresses at once (one ARP probe's time) and,
    all or nothing, adds none when one is somebody else's."""
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    batch = [f"198.51.100.{i}/24" for i in range(100, 140)]
    argv = [w for a in [*batch[:20], f"{ROUTER}/24", *batch[20:]] for w in ("-a", a)]
    started = time.monotonic()
    res = node.adm("create-addr", *argv, "ipmp0", check=False)
    took = time.monotonic() - started
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"{ROUTER} is already in use on the network (answered by" in res.stderr
    assert node.snapshot()["addresses"] == []
    assert node.holders(ROUTER) == [] and node.holders("198.51.100.100") == []
    assert node.lab.client_ping(ROUTER)
    # 41 addresses probed one after the other would take 41 x 0.4 s
    assert took < 8.0, f"the batch's probe took {took:.1f} s"
    res = node.adm("create-addr", *[w for a in batch for w in ("-a", a)], "ipmp0")
    node.wait_for(lambda: all(node.inbound().get(a.split("/")[0]) for a in batch),
                  "the free batch bound")


def test_data_address_added_by_hand_to_a_second_member_is_logged(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-a", DATA, "ipmp0")
    bound = node.wait_for(lambda: node.inbound().get("198.51.100.10"), "the address bound")
    other = "e1" if bound == "e0" else "e0"
    node.lab.run(node.ns, "ip", "addr", "add", DATA, "dev", other)
    node.wait_for(lambda: f"Data address 198.51.100.10 of group ipmp0 found on {other}"
                  in node.log(), "the stray copy to be logged")
