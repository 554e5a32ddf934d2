"""ipadm address objects in the engine: the names of data addresses (on their group, the
IPMP interface) and of static test addresses (on their member), and what `ipmpadm
show-addr` lists.

Rules of this module (docs/design.md, "ipadm compatibility"): a name is unique on its
interface (ipmgmtd's i_ipmgmt_lookupadd_amnode: EEXIST); an address created without one
gets the interface's next generated name, and a generated name seen (in the state file)
moves that count past it (ipmgmt_aobjmap_init); a request names an address either by its
address or by "INTERFACE/NAME".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from ipmp_core import aobjname, errors
from ipmp_core.engine.state import DhcpOwner
from ipmp_core.engine.tables import ANONYMOUS, Tables
from ipmp_core.errors import EngineError
from ipmp_core.values import IPInterface

# show-addr's STATE values (libipadm's ipadm_addr_info, the ones that apply here): up
# on a running interface; up, but its interface is not running (no active member for a
# data address, no link for a test address's member); administratively down (offline).
STATE_OK = "ok"
STATE_INACCESSIBLE = "inaccessible"
STATE_DOWN = "down"
STATE_DISABLED = "disabled"  # configured on an interface that is not there


def is_object_name(text: Any) -> bool:
    """"ipmp0/v4" is an object name; "198.51.100.10/24" or "2001:db8::1/64" is not."""
    if not isinstance(text, str) or aobjname.SEPARATOR not in text:
        return False
    try:
        ipaddress.ip_interface(text.strip())
    except ValueError:
        return True
    return False


def check_new(names: dict[Any, str], name: str | None, ifname: str,
              others: Iterable[str] = ()) -> None:
    """Refuse a name that is no name, or that its interface already has (``names``'
    values, or ``others``: a group's DHCP slots) before anything changes."""
    if name is None:
        return
    if not aobjname.is_stored_name(name):
        aobjname.check_user_name(name)
    if name in names.values() or name in others:
        raise EngineError(errors.EXISTS, f"address object {ifname}/{name} already exists")


def claim(names: dict[Any, str], next_name: int, addr: Any, name: str | None) -> int:
    """Record ``addr``'s name (the given one, else the next generated); returns the
    interface's next count."""
    if addr in names and name is None:
        return next_name  # kept (a test address list set again)
    if name is None:
        names[addr] = aobjname.generated_name(next_name)
        return next_name + 1
    names[addr] = name
    number = aobjname.generated_number(name)
    return next_name if number is None else aobjname.next_free(next_name, number)


def check_names_map(names: Any, addresses: list[IPInterface], ifname: str
                    ) -> dict[IPInterface, str]:
    """The names given with a list of addresses ({address text: name}), each checked
    and keyed by the parsed address; unknown addresses and duplicates are refused."""
    if names is None:
        return {}
    if not isinstance(names, dict):
        raise EngineError(errors.INVALID, "address object names must be an object")
    by_text = {str(a): a for a in addresses}
    out: dict[IPInterface, str] = {}
    for text, name in names.items():
        text = _canonical(text)
        if text not in by_text:
            raise EngineError(errors.INVALID, f"address object name for {text!s:.64}, "
                              "which is not one of the addresses")
        check_new(out, name, ifname)
        out[by_text[text]] = name
    return out


def _canonical(text: Any) -> str:
    try:
        return str(ipaddress.ip_interface(str(text).strip()))
    except ValueError:
        return str(text)


def find_data(tables: Tables, text: str) -> tuple[str, IPInterface] | None:
    """(group, address) of the data address named "GROUP/NAME"; None when unknown."""
    ifname, name = aobjname.split(text.strip())
    group = tables.groups.get(ifname) if ifname != ANONYMOUS else None
    return None if group is None else _named(group.name, group.names, name)


def find_test(tables: Tables, text: str) -> tuple[str, IPInterface] | None:
    """(member, address) of the test address named "MEMBER/NAME"; None when unknown."""
    ifname, name = aobjname.split(text.strip())
    member = tables.members.get(ifname)
    return None if member is None else _named(member.name, member.test_names, name)


def _named(ifname: str, names: dict[IPInterface, str], name: str
           ) -> tuple[str, IPInterface] | None:
    found = [addr for addr, given in names.items() if given == name]
    return (ifname, found[0]) if found else None


def address_objects(tables: Tables) -> list[dict[str, Any]]:
    """Every address object, as `ipmpadm show-addr` lists them: each group's data
    addresses, then its members' test addresses, in configured order."""
    rows: list[dict[str, Any]] = []
    for group in tables.groups.values():
        if group.name != ANONYMOUS:
            for addr, member in group.binding.items():
                owner = group.owners.get(addr, "")
                rows.append(_row(f"{group.name}/{group.names.get(addr, '?')}",
                                 "dhcp" if isinstance(owner, DhcpOwner) else "static",
                                 STATE_OK if member else STATE_INACCESSIBLE, addr,
                                 group.name, member or "", addr in group.deprecated,
                                 test=False))
            leased = {o.slot for o in group.owners.values() if isinstance(o, DhcpOwner)}
            for slot, name in group.dhcp_names.items():  # not leased yet: ADDR "?"
                if slot not in leased:
                    rows.append(_row(f"{group.name}/{name}", "dhcp", STATE_DOWN, None,
                                     group.name, "", False, test=False))
        for m in tables.members_of(group):
            if not m.present:
                state = STATE_DISABLED
            elif m.is_offline or not m.admin_up:
                state = STATE_DOWN
            else:  # up but not RUNNING (no link) is inaccessible (ipadm_addr_info)
                state = STATE_OK if m.link_up else STATE_INACCESSIBLE
            for addr in m.test_addresses:
                rows.append(_row(f"{m.name}/{m.test_names.get(addr, '?')}", "static",
                                 state, addr, m.name, m.name, True, test=True))
            if m.dhcp_test:  # ipadm shows "?" for a DHCP address not leased yet
                lease = m.dhcp_lease
                rows.append(_row(f"{m.name}/?", "dhcp", state, lease, m.name, m.name, True,
                                 test=True))
    return rows


def _row(aobj: str, kind: str, state: str, addr: IPInterface | None, ifname: str,
         inbound: str, deprecated: bool, *, test: bool) -> dict[str, Any]:
    # CURRENT as ipadm prints it (U up, u unnumbered, p private, t temporary, d
    # deprecated); a test address is deprecated (never a source for applications).
    up = state not in (STATE_DOWN, STATE_DISABLED)
    return {"addrobj": aobj, "type": kind, "state": state,
            "addr": str(addr) if addr is not None else "?", "interface": ifname,
            "inbound": inbound,
            "current": ("U" if up else "-") + "---" + ("d" if deprecated else "-"),
            "test": test}
