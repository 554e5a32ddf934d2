"""ipadm compatibility on the real kernel (docs/design.md, "ipadm compatibility"):
address objects created, listed and deleted by name with ipadm's syntax, show-if's
IPMP and IP interfaces, and the names kept across a daemon restart."""

from __future__ import annotations

import pytest
from test_dhcp_daemon import dhcp_node  # noqa: F401  (the fixture: a lab with dnsmasq)
from test_dhcp_session import Dnsmasq

from tests.support.node import Node

pytestmark = pytest.mark.netns

DATA = "198.51.100.10"
DATA_B = "198.51.100.12"
TEST_E0 = "198.51.100.21"


def rows(node: Node, *args: str) -> list[list[str]]:
    out = node.adm(*args).stdout
    return [line.split(":") for line in out.splitlines() if line]


def addr_objects(node: Node) -> dict[str, list[str]]:
    """ADDROBJ -> [TYPE, STATE, ADDR, INBOUND], from show-addr -p -o."""
    return {r[0]: r[1:] for r in rows(node, "show-addr", "-p", "-o",
                                      "addrobj,type,state,addr,inbound")}


def test_address_objects_are_created_shown_and_deleted_by_name(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0,e1", "ipmp0")  # ipadm's comma list
    node.adm("create-addr", "-T", "static", "-a", f"local={DATA}/24", "ipmp0/v4")
    node.adm("create-addr", "-a", f"{DATA_B}/24", "ipmp0")  # the old syntax: generated
    node.adm("create-addr", "-T", "static", "-a", f"{TEST_E0}/24", "e0/test")
    node.wait_for(lambda: addr_objects(node)["ipmp0/v4"][1] == "ok", "ipmp0/v4 up")
    objs = addr_objects(node)
    member = objs["ipmp0/v4"][3]
    assert objs["ipmp0/v4"][:3] == ["static", "ok", f"{DATA}/24"]
    assert member in ("e0", "e1") and node.holders(DATA) == [member]  # where the kernel has it
    assert objs["ipmp0/_a"][2] == f"{DATA_B}/24"
    assert objs["e0/test"][2] == f"{TEST_E0}/24" and node.holders(TEST_E0) == ["e0"]
    # the human output: ipadm's default columns, in its order
    human = node.adm("show-addr", "ipmp0/v4").stdout.splitlines()
    assert human[0].split() == ["ADDROBJ", "TYPE", "STATE", "ADDR"]
    assert human[1].split() == ["ipmp0/v4", "static", "ok", f"{DATA}/24"]
    # queries, open to every user as ipmpstat is
    assert node.adm("show-addr", "ipmp0/v4", user="nobody").stdout.splitlines() == human
    assert "ipmp0" in node.adm("show-if", user="nobody").stdout

    assert rows(node, "show-if", "-p", "-o", "ifname,class,state,active,over") == [
        ["ipmp0", "ipmp", "ok", "yes", "e0 e1"], ["e0", "ip", "ok", "yes", ""],
        ["e1", "ip", "ok", "yes", ""]]

    # names are checked, unique per interface, and refused with one line, exit 1
    for args, message in ((("create-addr", "-a", "198.51.100.13/24", "ipmp0/v4"),
                           "address object ipmp0/v4 already exists"),
                          (("create-addr", "-a", "198.51.100.13/24", "ipmp0/1x"),
                           "invalid address object name '1x'"),
                          (("delete-addr", "ipmp0/nosuch"),
                           "address object ipmp0/nosuch not found"),
                          (("show-addr", "-p"), "-p requires -o")):
        res = node.adm(*args, check=False)
        err = res.stderr.strip()
        assert res.returncode == 1 and err.startswith(f"ipmpadm: {message}"), res
        assert "\n" not in err and "Traceback" not in err

    node.adm("delete-addr", "ipmp0/v4")
    node.adm("delete-addr", "e0/test")
    node.wait_for(lambda: not node.holders(DATA) and not node.holders(TEST_E0),
                  "the deleted addresses to leave the kernel")
    assert sorted(addr_objects(node)) == ["ipmp0/_a"]


def test_address_object_names_survive_a_daemon_restart(node: Node) -> None:
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("create-addr", "-T", "static", "-a", f"{DATA}/24", "ipmp0/v4")
    node.adm("create-addr", "-T", "static", "-a", f"{TEST_E0}/24", "e0/test")
    node.adm("set-ifprop", "-p", "standby=off", "-m", "ip", "e1")  # ipadm's -m ip
    before = addr_objects(node)
    node.shutdown()
    node.daemon.wait(timeout=10)
    node.start()
    node.wait_for(lambda: addr_objects(node)["ipmp0/v4"][1] == "ok", "ipmp0/v4 up again")
    after = addr_objects(node)
    assert sorted(after) == ["e0/test", "ipmp0/v4"]
    assert [after[k][:3] for k in sorted(after)] == [before[k][:3] for k in sorted(before)]
    node.adm("delete-addr", "ipmp0/v4")  # the name still finds it
    assert sorted(addr_objects(node)) == ["e0/test"]


def test_a_dhcp_address_object_names_its_lease(
        dhcp_node: tuple[Node, Dnsmasq]) -> None:  # noqa: F811
    node, _server = dhcp_node
    node.adm("create-ipmp", "-i", "e0,e1", "ipmp0")
    node.adm("create-addr", "-T", "dhcp", "ipmp0/dhcp")

    def leased() -> list[str]:
        return addr_objects(node).get("ipmp0/dhcp", ["", "", "?", ""])

    node.wait_for(lambda: leased()[2].startswith("203.0.113."), "the lease of ipmp0/dhcp",
                  timeout=15)
    kind, state, addr, member = leased()
    assert (kind, state) == ("dhcp", "ok") and node.holders(addr.split("/")[0]) == [member]
    node.adm("delete-addr", "ipmp0/dhcp")
    assert addr_objects(node) == {} and '"dhcp_data": []' in node.adm("show-config").stdout
