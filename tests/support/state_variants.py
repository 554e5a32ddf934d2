"""Corrupt state files, one per way a file goes wrong, with the error each must give.

Shared by the unit test (the schema and the engine's check) and the netns test (the
daemon: starts, keeps the file aside, refuses changes). Every variant starts from
BASE, the file a daemon writes for one group of e0, e1 and standby e2 with a data
address and a test address on e0 and e1, and breaks one thing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

DATA = "198.51.100.10/24"
TEST_E0 = "198.51.100.20/24"
TEST_E1 = "198.51.100.21/24"

BASE: dict[str, Any] = {
    "version": 1,
    "groups": [{
        "name": "ipmp0", "failback": True, "fdt_ms": 10000,
        "members": [
            {"name": "e0", "standby": False, "offline": False, "test_addresses": [TEST_E0]},
            {"name": "e1", "standby": False, "offline": False, "test_addresses": [TEST_E1]},
            {"name": "e2", "standby": True, "offline": False, "test_addresses": []},
        ],
        "data_addresses": [DATA], "owners": {}, "deprecated": [], "routes": [],
        "targets": [], "linklocal_probes": False, "multicast": [], "dhcp_data": [],
    }],
    "anonymous": [],
    "saved_sysctls": {},
}


def base_bytes() -> bytes:
    return (json.dumps(BASE, indent=2, sort_keys=True) + "\n").encode()


def _edit(change: Callable[[dict[str, Any]], Any]) -> Callable[[], bytes]:
    def make() -> bytes:
        data = copy.deepcopy(BASE)
        change(data)
        return json.dumps(data).encode()
    return make


def _raw(text: str | bytes) -> Callable[[], bytes]:
    return lambda: text if isinstance(text, bytes) else text.encode()


def _set(path: str, value: Any) -> Callable[[], bytes]:
    """BASE with the value at a dotted path (list indexes as numbers) replaced."""
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
    return _edit(change)


def _second_group(data: dict[str, Any]) -> None:
    data["groups"].append({"name": "ipmp1", "members": [{"name": "e1"}]})


# (id, the file's bytes, what the error must say: path and problem)
VARIANTS: list[tuple[str, Callable[[], bytes], str]] = [
    ("truncated", lambda: base_bytes()[: len(base_bytes()) // 2], "not valid JSON"),
    ("empty", _raw(b""), "the file is empty"),
    ("not-utf8", _raw(b"\xff\xfe{}"), "not UTF-8 text"),
    ("list-not-object", _raw("[]"), "[] is a list, not an object"),
    ("string-not-object", _raw('"ipmp0"'), "'ipmp0' is a string, not an object"),
    ("no-version", _edit(lambda d: d.pop("version")), "version: missing"),
    ("version-string", _set("version", "1"), "version: '1' is a string, not an integer"),
    ("version-99", _set("version", 99), "version: version 99 is not supported"),
    ("groups-object", _set("groups", {"ipmp0": {}}), "groups: {\"ipmp0\": {}} is an object, "
     "not a list"),
    ("group-string", _set("groups.0", "ipmp0"), "groups[0]: 'ipmp0' is a string, not an "
     "object"),
    ("attribute-bad-name", _set("groups.0.attribute",
                                {"name": "1pingd", "multiplier": 1, "dampen_ms": 0}),
     "groups[0].attribute: '1pingd' is not a node attribute name"),
    ("attribute-multiplier-string", _set("groups.0.attribute",
                                         {"name": "ipmp-ipmp0", "multiplier": "100",
                                          "dampen_ms": 0}),
     "groups[0].attribute.multiplier: '100' is a string, not an integer"),
    ("failback-no", _set("groups.0.failback", "no"), "groups[0].failback: 'no' is a string, "
     "not a boolean"),
    ("standby-yes", _set("groups.0.members.2.standby", "yes"),
     "groups[0].members[2].standby: 'yes' is a string, not a boolean"),
    ("fdt-negative", _set("groups.0.fdt_ms", -1), "groups[0].fdt_ms: -1 is out of range"),
    ("fdt-huge", _set("groups.0.fdt_ms", 2**64), "groups[0].fdt_ms: 18446744073709551616 is "
     "out of range"),
    ("fdt-1e400", _raw(base_bytes().replace(b'"fdt_ms": 10000', b'"fdt_ms": 1e400')),
     "groups[0].fdt_ms: Infinity is a number, not an integer"),
    ("fdt-nan", _raw(base_bytes().replace(b'"fdt_ms": 10000', b'"fdt_ms": NaN')),
     "NaN is not a number JSON allows"),
    ("fdt-null", _set("groups.0.fdt_ms", None), "groups[0].fdt_ms: null instead of an "
     "integer"),
    ("members-null", _set("groups.0.members", None), "groups[0].members: null instead of a "
     "list"),
    ("bad-test-address", _set("groups.0.members.1.test_addresses.0", "198.51.100.x/24"),
     "groups[0].members[1].test_addresses[0]: '198.51.100.x/24' is not an address"),
    ("test-address-no-prefix", _set("groups.0.members.1.test_addresses.0", "198.51.100.21"),
     "groups[0].members[1].test_addresses[0]: test address '198.51.100.21' needs a prefix"),
    ("bad-data-address", _set("groups.0.data_addresses.0", "198.51.100.300/24"),
     "groups[0].data_addresses[0]: '198.51.100.300/24' is not an address"),
    ("data-address-number", _set("groups.0.data_addresses.0", 42),
     "groups[0].data_addresses[0]: 42 is an integer, not a string"),
    ("bad-interface-name", _set("groups.0.members.1.name", "e1;reboot"),
     "groups[0].members[1].name: interface name 'e1;reboot' must start with a letter"),
    ("duplicate-member", _set("groups.0.members.2.name", "e1"),
     "groups[0].members[2].name: interface e1 is already used at groups[0].members[1].name"),
    ("member-in-two-groups", _edit(_second_group),
     "groups[1].members[0].name: interface e1 is already used at groups[0].members[1].name"),
    ("test-equals-data", _set("groups.0.members.1.test_addresses.0", DATA),
     "groups[0].members[1].test_addresses[0]: test address 198.51.100.10 is also a data "
     "address at groups[0].data_addresses[0]"),
    ("same-test-address-twice", _set("groups.0.members.1.test_addresses.0", TEST_E0),
     "groups[0].members[1].test_addresses[0]: test address 198.51.100.20 is already used at "
     "groups[0].members[0].test_addresses[0]"),
    ("unknown-key", _set("groups.0.failbak", False), "groups[0].failbak: unknown key"),
    ("duplicate-json-key", _raw(base_bytes().replace(b'"version": 1', b'"version": 1, '
                                                     b'"version": 2')),
     "key 'version' appears twice in one object"),
    ("deeply-nested", _raw("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ("huge-integer", _raw(base_bytes().replace(b'"fdt_ms": 10000', b'"fdt_ms": '
                                               + b"9" * 5000)), "not valid JSON"),
    ("owner-of-unknown-address", _set("groups.0.owners", {"198.51.100.99/24": "rsc"}),
     "groups[0].owners['198.51.100.99/24']: not one of the group's data_addresses"),
    ("route-gateway-name", _set("groups.0.routes", [{"dst": "default", "gateway": "router"}]),
     "groups[0].routes[0].gateway: 'router' is not an address"),
    ("multicast-unicast", _set("groups.0.multicast", ["198.51.100.5"]),
     "groups[0].multicast[0]: 198.51.100.5 is not a multicast address"),
    ("dhcp-slot-string", _set("groups.0.dhcp_data", ["0"]),
     "groups[0].dhcp_data[0]: '0' is a string, not an integer"),
    # Only the engine knows these: checked by loading into a scratch engine.
    ("group-named-lo", _set("groups.0.name", "lo"),
     "groups[0] (group lo): lo is an interface; a group needs its own name"),
    ("ipv6-target-global", _set("groups.0.targets", ["2001:db8::1"]),
     "groups[0] (group ipmp0): IPv6 probe target 2001:db8::1 must be a link-local"),
]
