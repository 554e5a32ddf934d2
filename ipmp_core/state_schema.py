"""The state file's schema: the whole file is judged before anything of it is applied.

Why: a file that is applied part by part loses what was skipped at the next save (the
group runs without a member, its data address stays in the kernel unmanaged). So the
daemon reads the file with `parse_state`, which checks structure, strict types ("no" is
not a boolean, 1e400 is not an FDT), values (names, addresses, ranges) and the
cross-references between groups (an interface in one group only, an address in one
place only), and names the path to every bad value, e.g.
``groups[0].members[1].test_addresses[0]: '198.51.100.x/24' is not an address``.
What only the engine knows (an interface that exists under a group's name, ...) is then
checked by loading the file into a scratch engine (`Engine.check_config`).

Standard library only.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

from ipmp_core import aobjname
from ipmp_core.constants import DEFAULTED_SETTINGS, MAX_FDT_MS, MIN_FDT_MS
from ipmp_core.errors import EngineError
from ipmp_core.state_json import StateFileError, decode
from ipmp_core.values import check_name, parse_address, parse_ip, parse_network

# The format this daemon writes and the only one it reads. A file of another version was
# written by another release: reading it as ours could drop or misread what it holds.
STATE_VERSION = 1
# DHCP data slots are numbered from 0 upwards, one per requested address.
MAX_DHCP_SLOT = 65_535

TOP_KEYS = ("version", "groups", "anonymous", "saved_sysctls", "pending_removals",
            "load_error")
# "names" (address object names) is optional: files written before them load, and get
# generated names in the order of their addresses.
GROUP_KEYS = ("name", "failback", "fdt_ms", "members", "data_addresses", "owners",
              "deprecated", "routes", "targets", "linklocal_probes", "multicast", "dhcp_data",
              "attribute", "follows_defaults", "names", "dhcp_names", "transitive_probing")
ATTRIBUTE_KEYS = ("name", "multiplier", "dampen_ms")
MEMBER_KEYS = ("name", "standby", "offline", "test_addresses", "names")
ANONYMOUS_KEYS = ("name", "test_addresses", "names")
ROUTE_KEYS = ("dst", "gateway")
REMOVAL_KEYS = ("interface", "address")
LOAD_ERROR_KEYS = ("kept_aside", "message", "since")

DHCP = "dhcp"


def parse_state(raw: bytes) -> dict[str, Any]:
    """Decode and validate a whole state file; raises StateFileError naming each bad
    value. Never raises anything else, whatever the bytes."""
    data = decode(raw)
    problems = _Checker().check(data)
    if problems:
        raise StateFileError(problems)
    return data


def _show(value: Any) -> str:
    """A value as the error shows it: short, and with its JSON type when that is the
    problem."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _wrong(value: Any, expected: str) -> str:
    """"'no' is a string, not a boolean": the value, what it is, what belongs there."""
    if value is None:
        return f"null instead of {expected}"
    return f"{_show(value)} is {_kind(value)}, not {expected}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


class _Checker:
    """Walks the file once, collecting "path: problem" lines and what each interface
    and address is used for (to report the second use of one with the first's path)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.interfaces: dict[str, str] = {}  # name -> path of its first use
        self.group_names: dict[str, str] = {}
        self.data_ips: dict[str, str] = {}
        self.test_ips: dict[str, str] = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}" if path else message)

    def check(self, data: Any) -> list[str]:
        if not self.obj(data, "", TOP_KEYS, required=("version",)):
            return self.errors
        version = data.get("version")
        if type(version) is not int:
            self.fail("version", _wrong(version, "an integer"))
            return self.errors  # nothing else can be read without knowing the format
        if version != STATE_VERSION:
            self.fail("version", f"version {version} is not supported (this ipmpd reads "
                      f"version {STATE_VERSION} only)")
            return self.errors
        for i, group in self.items(data, "groups", ""):
            self.group(group, f"groups[{i}]")
        for i, member in self.items(data, "anonymous", ""):
            path = f"anonymous[{i}]"
            if self.obj(member, path, ANONYMOUS_KEYS, required=("name",)):
                self.interface(member.get("name"), f"{path}.name")
                self.test_addresses(member, path)
                self.names(member, path, member.get("test_addresses"))
        self.sysctls(data)
        for i, entry in self.items(data, "pending_removals", ""):
            path = f"pending_removals[{i}]"
            if self.obj(entry, path, REMOVAL_KEYS, required=REMOVAL_KEYS):
                self.name("interface", entry["interface"], f"{path}.interface")
                self.address(entry["address"], f"{path}.address", "address")
        if "load_error" in data:
            self.load_error(data["load_error"])
        # a group may not be named like one of the interfaces the file uses
        for name, path in self.group_names.items():
            if name in self.interfaces:
                self.fail(path, f"group name '{name}' is also an interface in "
                          f"{self.interfaces[name]}")
        for ip, path in self.test_ips.items():
            if ip in self.data_ips:
                self.fail(path, f"test address {ip} is also a data address at "
                          f"{self.data_ips[ip]}")
        return self.errors

    # ------------------------------------------------------------------ structure
    def obj(self, value: Any, path: str, keys: tuple[str, ...],
            required: tuple[str, ...] = ()) -> bool:
        if not isinstance(value, dict):
            self.fail(path, _wrong(value, "an object"))
            return False
        for key in value:
            if key not in keys:
                self.fail(_join(path, key), f"unknown key (known: {', '.join(keys)})")
        ok = True
        for key in required:
            if key not in value:
                self.fail(_join(path, key), "missing")
                ok = False
        return ok

    def items(self, parent: dict[str, Any], key: str, path: str) -> list[tuple[int, Any]]:
        """The elements of an optional list (absent means empty)."""
        if key not in parent:
            return []
        value = parent[key]
        if not isinstance(value, list):
            self.fail(_join(path, key), _wrong(value, "a list"))
            return []
        return list(enumerate(value))

    def boolean(self, parent: dict[str, Any], key: str, path: str) -> None:
        if key in parent and type(parent[key]) is not bool:
            value = parent[key]
            self.fail(_join(path, key), _wrong(value, "a boolean (true or false)"))

    def string(self, value: Any, path: str) -> bool:
        if not isinstance(value, str):
            self.fail(path, _wrong(value, "a string"))
            return False
        return True

    def name(self, kind: str, value: Any, path: str) -> str | None:
        if not self.string(value, path):
            return None
        return self.engine_rule(lambda: check_name(kind, value), path)

    def engine_rule(self, rule: Callable[[], Any], path: str) -> Any:
        """Apply one of ipmp_core.values' rules (the ones ipmpadm's values meet)."""
        try:
            return rule()
        except EngineError as exc:
            self.fail(path, exc.message)
            return None

    def address(self, value: Any, path: str, kind: str) -> Any:
        return self.checked_address(value, path, ipaddress.ip_interface,
                                    lambda: parse_address(value, kind=kind))

    def ip(self, value: Any, path: str) -> Any:
        return self.checked_address(value, path, ipaddress.ip_address, lambda: parse_ip(value))

    def checked_address(self, value: Any, path: str, syntax: Callable[[str], Any],
                        rule: Callable[[], Any]) -> Any:
        """``value`` checked as a string, then by the address ``syntax`` (so that the
        message says "not an address"), then by the engine's own ``rule``."""
        if not self.string(value, path):
            return None
        try:
            syntax(value.strip())
        except ValueError:
            self.fail(path, f"{_show(value)} is not an address")
            return None
        return self.engine_rule(rule, path)

    def unique_address(self, value: Any, path: str, kind: str, seen: dict[str, str],
                       verb: str) -> Any:
        """A data or test address that may appear once in the whole file: ``seen`` maps
        each one to where it was first found."""
        parsed = self.address(value, path, kind)
        if parsed is None:
            return None
        ip = str(parsed.ip)
        if ip in seen:
            self.fail(path, f"{kind} {ip} is already {verb} at {seen[ip]}")
        else:
            seen[ip] = path
        return parsed

    def interface(self, value: Any, path: str) -> None:
        name = self.name("interface", value, path)
        if name is None:
            return
        if name in self.interfaces:
            self.fail(path, f"interface {name} is already used at {self.interfaces[name]}")
        else:
            self.interfaces[name] = path

    # ------------------------------------------------------------------ parts
    def group(self, g: Any, path: str) -> None:
        if not self.obj(g, path, GROUP_KEYS, required=("name",)):
            return
        name = self.name("group", g["name"], f"{path}.name")
        if name is not None:
            if name in self.group_names:
                self.fail(f"{path}.name", f"group {name} is already defined at "
                          f"{self.group_names[name].removesuffix('.name')}")
            else:
                self.group_names[name] = f"{path}.name"
        self.boolean(g, "failback", path)
        self.boolean(g, "linklocal_probes", path)
        self.boolean(g, "transitive_probing", path)  # absent (older files): the default
        if "attribute" in g:
            self.attribute(g["attribute"], f"{path}.attribute")
        if "fdt_ms" in g:
            fdt = g["fdt_ms"]
            if type(fdt) is not int:
                self.fail(f"{path}.fdt_ms", _wrong(fdt, "an integer"))
            elif not MIN_FDT_MS <= fdt <= MAX_FDT_MS:
                self.fail(f"{path}.fdt_ms", f"{fdt} is out of range ({MIN_FDT_MS} to "
                          f"{MAX_FDT_MS} ms)")
        for i, setting in self.items(g, "follows_defaults", path):
            if setting not in DEFAULTED_SETTINGS:
                self.fail(f"{path}.follows_defaults[{i}]",
                          _wrong(setting, " or ".join(map(repr, DEFAULTED_SETTINGS))))
        for i, member in self.items(g, "members", path):
            mpath = f"{path}.members[{i}]"
            if self.obj(member, mpath, MEMBER_KEYS, required=("name",)):
                self.interface(member["name"], f"{mpath}.name")
                self.boolean(member, "standby", mpath)
                self.boolean(member, "offline", mpath)
                self.test_addresses(member, mpath)
                self.names(member, mpath, member.get("test_addresses"))
        data: set[str] = set()
        for i, addr in self.items(g, "data_addresses", path):
            apath = f"{path}.data_addresses[{i}]"
            if self.unique_address(addr, apath, "data address", self.data_ips,
                                   "listed") is not None:
                data.add(addr)
        self.owners(g, path, data)
        self.names(g, path, list(data))
        for i, addr in self.items(g, "deprecated", path):
            if self.string(addr, f"{path}.deprecated[{i}]") and addr not in data:
                self.fail(f"{path}.deprecated[{i}]", f"{_show(addr)} is not one of the "
                          "group's data_addresses")
        seen_routes: set[tuple[str, str]] = set()
        for i, route in self.items(g, "routes", path):
            rpath = f"{path}.routes[{i}]"
            if not self.obj(route, rpath, ROUTE_KEYS, required=ROUTE_KEYS):
                continue
            dst = route["dst"]
            if self.string(dst, f"{rpath}.dst") and dst != "default":
                self.engine_rule(lambda d=dst: parse_network(d), f"{rpath}.dst")
            if self.ip(route["gateway"], f"{rpath}.gateway") is not None:
                key = (str(dst), str(route["gateway"]))
                if key in seen_routes:
                    self.fail(rpath, f"route {dst} via {route['gateway']} is listed twice")
                seen_routes.add(key)
        self.unique_ips(g, "targets", path, lambda ip: None)
        self.unique_ips(g, "multicast", path, lambda ip: None if ip.is_multicast
                        else f"{ip} is not a multicast address")
        slots: set[int] = set()
        for i, slot in self.items(g, "dhcp_data", path):
            spath = f"{path}.dhcp_data[{i}]"
            if type(slot) is not int:
                self.fail(spath, _wrong(slot, "an integer"))
            elif not 0 <= slot <= MAX_DHCP_SLOT:
                self.fail(spath, f"{slot} is out of range (0 to {MAX_DHCP_SLOT})")
            elif slot in slots:
                self.fail(spath, f"DHCP slot {slot} is listed twice")
            else:
                slots.add(slot)
        self.names(g, path, [str(s) for s in slots], key="dhcp_names")

    def test_addresses(self, member: dict[str, Any], path: str) -> None:
        dhcp = False
        for i, addr in self.items(member, "test_addresses", path):
            tpath = f"{path}.test_addresses[{i}]"
            if isinstance(addr, str) and addr.strip().lower() == DHCP:
                if dhcp:
                    self.fail(tpath, "dhcp is listed twice")
                dhcp = True
                continue
            self.unique_address(addr, tpath, "test address", self.test_ips, "used")

    def attribute(self, attr: Any, path: str) -> None:
        """The node attribute ipmpd publishes for the group (name, multiplier, dampening
        in ms), with the engine's own rule for the values."""
        if not self.obj(attr, path, ATTRIBUTE_KEYS, required=ATTRIBUTE_KEYS):
            return
        if not self.string(attr["name"], f"{path}.name"):
            return
        for key in ("multiplier", "dampen_ms"):
            if type(attr[key]) is not int:
                self.fail(f"{path}.{key}", _wrong(attr[key], "an integer"))
                return
        from ipmp_core.engine.groups import check_attribute

        self.engine_rule(lambda: check_attribute(attr["name"], attr["multiplier"],
                                                 attr["dampen_ms"]), path)

    def mapping(self, parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        """An optional object of the file (absent means empty)."""
        value = parent.get(key, {})
        if not isinstance(value, dict):
            self.fail(f"{path}.{key}", _wrong(value, "an object"))
            return {}
        return value

    def owners(self, g: dict[str, Any], path: str, data: set[str]) -> None:
        for addr, owner in self.mapping(g, "owners", path).items():
            opath = f"{path}.owners[{addr!r}]"
            if addr not in data:
                self.fail(opath, "not one of the group's data_addresses")
            self.string(owner, opath)

    def names(self, parent: dict[str, Any], path: str, addresses: Any,
              key: str = "names") -> None:
        """Address object names ({address: name}) of listed addresses: each a name
        ipadm allows or one it generates, once per interface."""
        names = self.mapping(parent, key, path)
        listed = {a for a in addresses if isinstance(a, str)} \
            if isinstance(addresses, list) else set()
        seen: set[str] = set()
        for addr, name in names.items():
            npath = f"{path}.{key}[{addr!r}]"
            if addr not in listed:
                self.fail(npath, "not one of the interface's addresses")
            if not self.string(name, npath):
                continue
            if not aobjname.is_stored_name(name):
                self.fail(npath, f"{_show(name)} is not an address object name")
            elif name in seen:
                self.fail(npath, f"address object name {_show(name)} is used twice")
            seen.add(name)

    def unique_ips(self, g: dict[str, Any], key: str, path: str,
                   rule: Callable[[Any], str | None]) -> None:
        seen: set[str] = set()
        for i, text in self.items(g, key, path):
            ipath = f"{path}.{key}[{i}]"
            ip = self.ip(text, ipath)
            if ip is None:
                continue
            problem = rule(ip)
            if problem:
                self.fail(ipath, problem)
            elif str(ip) in seen:
                self.fail(ipath, f"{ip} is listed twice")
            seen.add(str(ip))

    def sysctls(self, data: dict[str, Any]) -> None:
        saved = data.get("saved_sysctls", {})
        if not isinstance(saved, dict):
            self.fail("saved_sysctls", _wrong(saved, "an object"))
            return
        for key, values in saved.items():
            spath = f"saved_sysctls[{key!r}]"
            if not isinstance(values, dict):
                self.fail(spath, _wrong(values, "an object"))
                continue
            for name, value in values.items():
                if not name.startswith("net/") or ".." in name.split("/"):
                    self.fail(f"{spath}[{name!r}]", "not a network sysctl (net/...)")
                self.string(value, f"{spath}[{name!r}]")

    def load_error(self, value: Any) -> None:
        if not self.obj(value, "load_error", LOAD_ERROR_KEYS, required=LOAD_ERROR_KEYS):
            return
        for key in LOAD_ERROR_KEYS:
            self.string(value[key], f"load_error.{key}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
