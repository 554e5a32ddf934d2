"""Data-address requests: static addresses, and those leased by DHCP for a group.

Each request checks its input (refusals raise EngineError and change nothing), records
the address in its group and lets the rules (engine/rules.py) place it. A DHCP data
address is an ordinary data address whose owner is a `DhcpOwner` (written "dhcp:SLOT";
the type and its one parser, `parse_owner`, are records of state.py).

Rules of this module: the member a DHCP data session asks through before its lease,
rolling back an address whose IPv6 DAD failed (`dad_failed`), restoring addresses
someone else removed (`removed_by_someone`), and the checks of the 'announce' and
'add-addresses' requests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from ipmp_core import errors
from ipmp_core.engine import address_objects, placement
from ipmp_core.engine.actions import (
    Action,
    Announce,
    AnnounceAgain,
    BindAddress,
    ConfigChanged,
    DhcpData,
    Log,
    Publish,
    RestoreAddress,
    ResyncRoutes,
    UnbindAddress,
)
from ipmp_core.engine.rules import Rules
from ipmp_core.engine.state import DhcpOwner, Group, Owner, parse_owner
from ipmp_core.engine.tables import DHCP_ENTRY, Tables, address_key
from ipmp_core.errors import EngineError
from ipmp_core.values import (
    IPInterface,
    clamped_int,
    parse_address,
    parse_data_address,
    parse_ip,
)

# Addresses in one add-addresses request: more than a large site has per group, and the
# request stays far below CONTROL_MAX_LINE.
MAX_BATCH_ADDRESSES = 4096
# An agent's refresh of its announcements ('announce' request): the defaults and the
# bounds of its count (a refresh, not a flood) and of the pause between two.
ANNOUNCE_AGAIN_COUNT = 1
ANNOUNCE_AGAIN_MAX_COUNT = 20
ANNOUNCE_AGAIN_INTERVAL_MS = 200
ANNOUNCE_AGAIN_MAX_INTERVAL_MS = 10_000


def any_member(group: Group) -> str | None:
    """The member a DHCP data session asks through before its address is bound, when no
    member is active: the first configured."""
    return group.members[0] if group.members else None


class AddressRequests:
    """Owns the requests on data addresses (add, remove, batches, DHCP data slots) and
    the checks around them (duplicate detection's member, stray copies)."""

    def __init__(self, tables: Tables, rules: Rules) -> None:
        self.tables = tables
        self.rules = rules

    # ------------------------------------------------------------------ static addresses
    def add_data_address(
        self, group_name: str, text: str, now: float, *, hint: str | None = None,
        owner: Owner = "", dad: bool = False, deprecated: bool = False,
        name: str | None = None,
    ) -> list[Action]:
        """Add a data address to a group. ``hint`` is the member that already carries it
        (the daemon restarting): the binding is kept there when that member is active.
        ``owner`` names who added it (a resource), so that one owner's reconfiguration
        never removes another's addresses. ``dad``: the kernel checks that nobody else
        uses it (IPv6 duplicate address detection) before it is announced. ``name``:
        its ipadm address object name on the group (``v4`` of ipmp0/v4), else the next
        generated one (address_objects.py)."""
        tables = self.tables
        group = tables.group(group_name)
        addr = parse_data_address(text)
        tables.check_not_test(addr.ip)
        wanted = address_key(addr)
        taken = tables.data_ips(batching=self.rules.deferred is not None)
        if wanted in taken:
            raise EngineError(
                errors.EXISTS, f"address {addr.ip} already belongs to group {taken[wanted]}"
            )
        slot = owner.slot if isinstance(owner := parse_owner(owner), DhcpOwner) else None
        address_objects.check_new(group.names, name, group.name,
                           [n for s, n in group.dhcp_names.items() if s != slot])
        active = tables.active_names(group)
        out: list[Action] = []
        if hint is not None and hint in active:
            group.binding[addr] = hint
            out.append(BindAddress(group.name, addr, hint, None, announce=False))
        else:
            member = placement.least_loaded(group.binding, active)
            group.binding[addr] = member
            if member is not None:
                out.append(BindAddress(group.name, addr, member, dad=dad))
            else:
                out.append(Log("warning", f"Address {addr} of group {group.name} stays down: "
                               "no active interface"))
                if hint:  # a restart found it in the kernel: down means off every member,
                    # as a running daemon takes it off when the last member fails
                    out.append(UnbindAddress(group.name, addr, hint))
        group.next_name = address_objects.claim(group.names, group.next_name, addr, name)
        if owner:
            group.owners[addr] = parse_owner(owner)
        if deprecated:
            # preferred_lft 0: reachable, but never the source the host picks for its own
            # connections (a floating address must not become the node's identity).
            group.deprecated.add(addr)
        tables.index_address(group, addr)
        out.append(Publish({"type": "address-added", "group": group.name, "address": str(addr),
                            "member": group.binding[addr]}))
        out.append(ConfigChanged())
        self.rules.refresh(group, now, out)
        return out

    def add_data_addresses(self, group_name: str, texts: list[str], now: float, *,
                           owner: Owner = "", deprecated: bool = False) -> list[Action]:
        """add_data_address for many, with one refresh of the group at the end; all or
        nothing (an error leaves the engine as it was, and raises)."""
        out: list[Action] = []
        done: list[str] = []
        with self.rules.refresh_once(now, out):
            try:
                for text in texts:
                    out += self.add_data_address(group_name, text, now, owner=owner,
                                                 deprecated=deprecated)
                    done.append(text)
            except Exception:
                for text in done:
                    self.remove_data_address(text, now)
                out.clear()
                raise
        return out

    def remove_data_address(self, text: str, now: float) -> list[Action]:
        """Remove a data address given as an address or as its object name."""
        if address_objects.is_object_name(text):
            found = address_objects.find_data(self.tables, text)
            if found is None:
                return self._remove_dhcp_slot(text, now)
            text = str(found[1])
        ip = parse_ip(text)
        for group in self.tables.groups.values():
            for addr in group.binding:
                if addr.ip == ip:
                    owner = group.owners.get(addr, "")
                    out = self.drop_address(group, addr)
                    if isinstance(owner, DhcpOwner):
                        slot = owner.slot
                        group.dhcp_slots.pop(slot, None)
                        group.dhcp_names.pop(slot, None)
                        out.append(DhcpData(group.name, slot, None, False))
                    out.append(ConfigChanged())
                    self.rules.refresh(group, now, out)
                    return out
        raise EngineError(errors.UNKNOWN_ADDRESS, f"no data address {ip} in any group")

    def _remove_dhcp_slot(self, text: str, now: float) -> list[Action]:
        """delete-addr GROUP/NAME of a DHCP address not leased yet: its session ends."""
        ifname, name = text.strip().split("/", 1)
        group = self.tables.groups.get(ifname)
        slots = [s for s, n in (group.dhcp_names if group else {}).items() if n == name]
        if group is None or not slots:
            raise EngineError(errors.UNKNOWN_ADDRESS, f"no data address object {text[:64]}")
        group.dhcp_slots.pop(slots[0], None)
        group.dhcp_names.pop(slots[0])
        out: list[Action] = [DhcpData(group.name, slots[0], None, False), ConfigChanged()]
        self.rules.refresh(group, now, out)
        return out

    def drop_address(self, group: Group, addr: IPInterface) -> list[Action]:
        """Take a data address out of its group (off its member, if bound)."""
        member = group.binding.pop(addr)
        self.tables.unindex_address(addr)
        group.owners.pop(addr, None)
        group.names.pop(addr, None)
        group.deprecated.discard(addr)
        out: list[Action] = []
        if member is not None:
            out.append(UnbindAddress(group.name, addr, member))
        out.append(Publish({"type": "address-removed", "group": group.name,
                            "address": str(addr)}))
        return out

    # ------------------------------------------------------------------ checks
    def duplicate_check_from(self, group_name: str, text: str) -> tuple[str, str] | None:
        """Where to run IPv4 duplicate address detection (an ARP probe, RFC 5227) before
        ``text`` is added to the group: (member, its MAC), or None when there is nothing
        to check (not IPv4, refused anyway, already ours) or nowhere to check from (no
        active member: the address stays down until one is, and is announced then)."""
        group = self.tables.groups.get(group_name)
        try:
            addr = parse_data_address(text)
        except EngineError:
            return None  # the request itself is refused with the precise reason
        if group is None or addr.version != 4 or str(addr.ip) in self.tables.local_addresses:
            return None
        for name in self.tables.active_names(group):
            member = self.tables.members[name]
            if member.present and member.mac:
                return name, member.mac
        return None

    def own_macs(self) -> set[str]:
        """Hardware addresses of the interfaces we see: an answer from one of them to our
        ARP probe is our own host, not a conflict."""
        return {seen.mac.lower() for seen in self.tables.observed.values() if seen.mac}

    def stray_copy(self, ifname: str, address: str) -> Log | None:
        """A data address showing up on an interface it is not bound to (added there by
        hand, or by another tool): two members answering for one address split its
        traffic. Said in the log; the daemon's own moves add the new copy only after the
        binding changed, so they never trigger this. One lookup per event: a failover of
        1,000 addresses brings 1,000 of them."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        found = self.tables.bound_ips.get((ip.version, int(ip)))
        if found is None:
            return None
        group_name, addr = found
        group = self.tables.groups.get(group_name)
        if group is None or addr not in group.binding:
            return None
        bound = group.binding[addr]
        if bound == ifname:
            return None
        where = f"bound to {bound}" if bound else "down (no active interface)"
        return Log("warning", f"Data address {addr.ip} of group {group.name} found on "
                   f"{ifname} although it is {where}; it was added there by "
                   f"someone else (remove it: ip addr del {addr} dev {ifname})")

    # ------------------------------------------------------------------ DHCP data
    def add_dhcp_data(self, group_name: str, now: float, slot: int | None = None,
                      name: str | None = None) -> list[Action]:
        """A data address leased by DHCP with a client id tied to the group (not to a
        NIC's MAC), so the lease survives failover; renewals follow the address. ``name``:
        its address object name, which the leased address takes (else a generated one)."""
        group = self.tables.group(group_name)
        address_objects.check_new(group.names, name, group.name, group.dhcp_names.values())
        if slot is None:
            slot = max(group.dhcp_slots, default=-1) + 1
        group.dhcp_slots[slot] = None
        group.next_name = address_objects.claim(group.dhcp_names, group.next_name, slot, name)
        member = placement.least_loaded(group.binding, self.tables.active_names(group)) \
            or any_member(group)
        self.tables.dhcp_members[(group.name, slot)] = member
        return [DhcpData(group.name, slot, member, True), ConfigChanged(),
                Log("notice", f"DHCP data address {slot} of group {group.name} requested")]

    def dhcp_data_lease(self, group_name: str, slot: int, address: str | None,
                        now: float) -> list[Action]:
        """The session of a DHCP data slot bound, renewed or lost its lease."""
        group = self.tables.groups.get(group_name)
        if group is None or slot not in group.dhcp_slots:
            return []
        new = parse_address(address, kind="data address") if address else None
        old = group.dhcp_slots[slot]
        if new == old and (new is None or new in group.binding):
            return []
        out: list[Action] = []
        if old is not None and old in group.binding and old != new:
            out += self.drop_address(group, old)
            out.append(Log("warning", f"DHCP lease of data address {old} of group "
                           f"{group.name} {'changed' if new else 'expired'}"))
        group.dhcp_slots[slot] = new
        if new is not None and new not in group.binding:
            # The member the session talks through keeps the address: the server answers
            # renewals there.
            holder = self.tables.dhcp_members.get((group.name, slot))
            out += self.add_data_address(group.name, str(new), now, owner=DhcpOwner(slot),
                                         hint=holder, name=group.dhcp_names.get(slot))
            out.append(Log("notice", f"DHCP data address {new} acquired for group "
                           f"{group.name}"))
        else:
            out.append(ConfigChanged())
            self.rules.refresh(group, now, out)
        return out

    # ------------------------------------------------------------------ DAD, restores
    def dad_failed(self, addresses: Iterable[str], now: float
                   ) -> tuple[list[Action], str]:
        """Data addresses whose IPv6 DAD failed (the executor saw it): removed again
        (another host uses them), and the refusal of the request that added them."""
        failed = sorted(addresses)
        out: list[Action] = []
        for text in failed:
            if self.tables.find_address(text) is not None:  # the rollback may be done
                out += self.remove_data_address(text, now)
        return out, (f"duplicate address detection failed for {' '.join(failed)}: another "
                     "host uses it")

    def removed_by_someone(self, ifname: str, address: str) -> list[Action]:
        """A data or test address of a present member disappeared without the daemon
        (NetworkManager, systemd-networkd, a DHCP client, an operator's `ip addr flush`):
        put it back."""
        tables = self.tables
        member = tables.members.get(ifname)
        if member is None or not member.present:
            return []
        found = tables.find_address(address)
        if found is not None and found[2] == ifname:
            group_name, addr, _ = found
            group = tables.groups[group_name]
            return [Log("warning", f"Data address {addr} of group {group_name} was removed "
                        f"from {ifname} by someone else; restoring it"),
                    RestoreAddress(ifname, addr, addr in group.deprecated),
                    # The kernel dropped the routes whose preferred source it was.
                    ResyncRoutes(group_name,
                                 self.rules.route_plan(group, tables.active_names(group))),
                    Announce(group_name, addr, ifname)]
        out: list[Action] = []
        for test in member.test_addresses:
            if str(test.ip) == address:
                out += [Log("warning", f"Test address {test} of {ifname} was removed by "
                            "someone else; restoring it"), RestoreAddress(ifname, test, True)]
        lease = member.dhcp_lease
        if lease is not None and str(lease.ip) == address:
            # The lease is still ours (the session renews it): the address goes back, or
            # the member would stay failed for ever with a test address it no longer has.
            out += [Log("warning", f"DHCP test address {lease} of {ifname} was removed by "
                        "someone else; restoring it"), RestoreAddress(ifname, lease, True)]
        return out

    # ------------------------------------------------------------------ request checks
    def announce_again(self, args: Mapping[str, Any]) -> AnnounceAgain:
        """The 'announce' request (an agent's arp_count_refresh, or its own count at
        start): its count and interval clamped, the address bound somewhere."""
        count = clamped_int(args.get("count", ANNOUNCE_AGAIN_COUNT), "count", 0,
                            ANNOUNCE_AGAIN_MAX_COUNT)
        interval = clamped_int(args.get("interval_ms", ANNOUNCE_AGAIN_INTERVAL_MS),
                               "interval_ms", 1, ANNOUNCE_AGAIN_MAX_INTERVAL_MS)
        found = self.tables.find_address(str(args["address"]))
        if found is None or found[2] is None:
            raise EngineError(errors.UNKNOWN_ADDRESS, f"{args['address']} is not bound")
        group, addr, member = found
        return AnnounceAgain(group, addr, member, count, interval)

    def add_data_address_list(self, args: Mapping[str, Any], now: float) -> list[Action]:
        """The 'add-addresses' request: many data addresses of one group, all or nothing
        (the engine refreshes the group once, the kernel gets one netlink batch and the
        configuration is written once)."""
        addresses = args["addresses"]
        if not isinstance(addresses, list) or not addresses:
            raise EngineError(errors.INVALID, "addresses must be a non-empty list")
        if len(addresses) > MAX_BATCH_ADDRESSES:
            raise EngineError(errors.INVALID,
                              f"at most {MAX_BATCH_ADDRESSES} addresses per request")
        if not all(isinstance(a, str) for a in addresses):
            raise EngineError(errors.INVALID, "every address must be a string")
        if any(a.strip().lower() == DHCP_ENTRY for a in addresses):
            raise EngineError(errors.INVALID, "DHCP data addresses are added one at a time")
        try:
            return self.add_data_addresses(
                str(args["group"]), addresses, now, owner=str(args.get("owner") or ""),
                deprecated=bool(args.get("deprecated")))
        except EngineError as exc:
            raise EngineError(exc.code, f"{exc.message} (none of the {len(addresses)} "
                              "addresses was added)") from None
