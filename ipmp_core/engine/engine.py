"""The sans-I/O IPMP engine's façade: observations and requests in, actions out.

- The daemon calls one method per netlink observation, probe reply, control request or
  timer (`tick`, at `next_wake`), and carries out the actions it gets back in order.
- The engine never reads a clock: every call takes ``now`` (milliseconds on a monotonic
  clock of the caller's choosing). Tests drive it with a fake clock.
- Requests that are refused raise EngineError and change nothing.

Where things are: the records and lookups in tables.py; every rule in rules.py (and the
files its header names); the requests in groups.py, members.py and addresses.py;
what netlink says in observations.py; probing in probing.py; the order of each call's
actions in batch.py (the class decorator below); what ipmpstat and the state file see
in views.py.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Generator, Iterable, Iterator, Mapping
from typing import Any

from ipmp_core.constants import (
    DEFAULT_TRANSITIVE_PROBING,
    TICK_BATCH_DIVISOR,
    TICK_BATCH_MAX_MS,
)
from ipmp_core.engine import address_objects, views
from ipmp_core.engine.actions import Action, AnnounceAgain, Log, RoutePlan
from ipmp_core.engine.addresses import AddressRequests
from ipmp_core.engine.batch import order_batch, ordered_batches
from ipmp_core.engine.groups import GroupRequests, with_transitive_probing
from ipmp_core.engine.loading import Loader, run_steps
from ipmp_core.engine.member_links import MemberLinks
from ipmp_core.engine.members import MemberRequests
from ipmp_core.engine.observations import Observations
from ipmp_core.engine.prober import TRANSITIVE
from ipmp_core.engine.probing import Probing
from ipmp_core.engine.rules import Rules
from ipmp_core.engine.state import FROM_DEFAULTS, FromDefaults, Group, Member, Owner
from ipmp_core.engine.tables import LinkObservation, Tables
from ipmp_core.engine.ungrouped import UngroupedTracking
from ipmp_core.model import Snapshot
from ipmp_core.values import IPInterface


def _table_setting(name: str) -> property:
    """An engine-wide setting kept in the tables, exposed on the façade."""
    return property(lambda self: getattr(self.tables, name),
                    lambda self, value: setattr(self.tables, name, value))


@ordered_batches  # each call's actions in their final order (engine/batch.py)
class Engine:
    """Owns the engine's parts (tables, probing, rules, requests) and is the only way in:
    each public method takes one observation or request and returns the actions."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.tables = Tables()
        self.probing = Probing(self.tables, rng)
        self.rules = Rules(self.tables, self.probing)
        self._member_requests = MemberRequests(self.tables, self.rules)
        self._member_links = MemberLinks(self.tables, self.rules, self.probing)
        self._address_requests = AddressRequests(self.tables, self.rules)
        self._group_requests = GroupRequests(self.tables, self.rules, self.probing,
                                             self._member_requests, self._address_requests)
        self._loader = Loader(self._group_requests)
        self._ungrouped = UngroupedTracking(self.tables, self._member_requests)
        self._observations = Observations(self.tables, self.rules, self.probing,
                                          self._member_links, self._address_requests,
                                          self._ungrouped)
        # Why the daemon refuses changes (its state file could not be loaded), shown by
        # ipmpstat; empty when it does not.
        self.state_error = ""

    # ------------------------------------------------------------------ the records
    @property
    def groups(self) -> dict[str, Group]:
        return self.tables.groups

    @property
    def members(self) -> dict[str, Member]:
        return self.tables.members

    @property
    def observed(self) -> dict[str, LinkObservation]:
        return self.tables.observed

    @property
    def local_addresses(self) -> set[str]:
        return self.tables.local_addresses

    @property
    def linklocals(self) -> dict[str, str]:
        return self.tables.linklocals

    # Settings that live in the tables, read and written by the daemon and the tests.
    track_all = _table_setting("track_all")
    default_fdt = _table_setting("default_fdt")
    default_failback = _table_setting("default_failback")
    default_transitive = _table_setting("default_transitive")

    # ------------------------------------------------------------------ observations
    def link_observed(self, name: str, now: float, *, ifindex: int, mac: str,
                      carrier: bool | None, admin_up: bool) -> list[Action]:
        """Netlink reported an interface (RTM_NEWLINK or a dump at start)."""
        return self._observations.link_observed(name, now, ifindex=ifindex, mac=mac,
                                                carrier=carrier, admin_up=admin_up)

    def link_removed(self, name: str, now: float) -> list[Action]:
        """Netlink reported RTM_DELLINK: the NIC is gone (hot removal, DR)."""
        return self._observations.link_removed(name, now)

    def address_observed(self, ifname: str, address: str, added: bool,
                         now: float, prefixlen: int | None = None) -> list[Action]:
        """Netlink RTM_NEWADDR/RTM_DELADDR (engine/observations.py)."""
        return self._observations.address_observed(ifname, address, added, now, prefixlen)

    def routers_observed(self, family: int, routers: list[tuple[str, str]],
                         now: float) -> list[Action]:
        """The routing table's next hops [(gateway, interface)] for ``family``."""
        return self._observations.routers_observed(family, routers, now)

    def probe_reply(self, member_name: str, family: int, seq: int, source: str, now: float,
                    processed_at: float | None = None) -> list[Action]:
        """An ICMP echo reply to one of ``member_name``'s probes (identifier already
        checked by the socket), received at ``now`` (the kernel's stamp) and processed
        at ``processed_at`` (the probe event's two answer times; default ``now``)."""
        member = self.tables.members.get(member_name)
        if member is None:
            return []
        out: list[Action] = []
        if self.probing.reply(member, family, seq, source, now, processed_at, out):
            self.rules.refresh(self.tables.group_of(member), now, out)
        return out

    def probe_sent(self, member_name: str, family: int, seq: int, sent_at: float
                   ) -> list[Action]:
        """When probe ``seq`` really left (ms, engine clock). A probe waits behind the lock
        when its batch also holds netlink work; its round trip and loss deadline count
        from the send, as in.mpathd stamps a probe as it sends it. Returns its "sent"
        event (only while someone listens)."""
        member = self.tables.members.get(member_name)
        out: list[Action] = []
        if member is not None:
            self.probing.sent_at(member, family, seq, sent_at, out)
        return out

    def transitive_sent(self, member: str, seq: int, sent_at: float) -> list[Action]:
        """When transitive probe ``seq`` of ``member`` really left (ms, engine clock), as
        probe_sent; returns its "sent" event (only while someone listens)."""
        return self.probe_sent(member, TRANSITIVE, seq, sent_at)

    def transitive_reply(self, member: str, target: str, seq: int, now: float,
                         processed_at: float | None = None) -> list[Action]:
        """A validated answer from member ``target`` to ``member``'s transitive probe
        ``seq``, received at ``now`` (the kernel's stamp), processed at
        ``processed_at`` (default ``now``). Judged as probe_reply judges an echo reply
        (its records are a FamilyProber of family TRANSITIVE): an answer from another
        member than the one probed, a duplicate or an unknown ``seq`` is counted in
        the records' ``ignored`` and changes nothing."""
        return self.probe_reply(member, TRANSITIVE, seq, target, now, processed_at)

    # ------------------------------------------------------------------ time
    def tick(self, now: float) -> list[Action]:
        out: list[Action] = []
        detectors_due = self.tables.detector_deadline()
        run_detectors = detectors_due is not None and detectors_due <= now
        if run_detectors:
            self.tables.forget_detector_deadline()
        for group in self.tables.groups.values():
            due = self.probing.deadline(group)
            changed = self.probing.tick(group, now, out) if due is not None and due <= now \
                else False
            if run_detectors:
                for name in group.members:
                    for detector in self.tables.members[name].detectors:
                        deadline = detector.next_deadline()
                        if deadline is not None and deadline <= now:
                            out.extend(Log("notice", line) for line in detector.tick(now))
                            changed = True
            if changed:
                self.rules.refresh(group, now, out)
        return out

    def next_deadline(self) -> float | None:
        """When tick() is next needed (ms, engine clock), if ever."""
        best = self.tables.detector_deadline()
        for group in self.tables.groups.values():
            due = self.probing.deadline(group)
            if due is not None and (best is None or due < best):
                best = due
        return best

    def next_wake(self, last_wake: float) -> float | None:
        """When the daemon should next wake up (read replies, then tick): the next
        deadline, but never sooner than TICK_BATCH_DIVISOR allows after the last wake-up
        (see constants.py for why that keeps in.mpathd's results)."""
        deadline = self.next_deadline()
        if deadline is None:
            return None
        shortest = min((g.user_probe_interval for g in self.tables.groups.values()),
                       default=TICK_BATCH_MAX_MS * TICK_BATCH_DIVISOR)
        return max(deadline, last_wake + min(TICK_BATCH_MAX_MS, shortest / TICK_BATCH_DIVISOR))

    # ------------------------------------------------------------------ group requests
    def create_group(self, name: str, now: float, *,
                     failback: bool | str | FromDefaults = FROM_DEFAULTS,
                     fdt_ms: int | FromDefaults = FROM_DEFAULTS,
                     transitive_probing: bool | str | FromDefaults = FROM_DEFAULTS,
                     attribute: str | None = None, multiplier: int = 1,
                     dampen_ms: int = 0) -> list[Action]:
        return self._group_requests.create_group(name, now, failback=failback, fdt_ms=fdt_ms,
                                         attribute=attribute, multiplier=multiplier,
                                         dampen_ms=dampen_ms,
                                         transitive_probing=transitive_probing)

    def delete_group(self, name: str, now: float) -> list[Action]:
        return self._group_requests.delete_group(name, now)

    def set_attribute(self, name: str, attribute: str | None, now: float, *,
                      multiplier: int = 1, dampen_ms: int = 0) -> list[Action]:
        return self._group_requests.set_attribute(name, attribute, now, multiplier=multiplier,
                                          dampen_ms=dampen_ms)

    def republish_attribute(self, name: str) -> list[Action]:
        return self._group_requests.republish_attribute(name)

    def set_failback(self, name: str, value: bool | str | FromDefaults,
                     now: float) -> list[Action]:
        return self._group_requests.set_failback(name, value, now)

    def set_fdt(self, name: str, fdt_ms: int | FromDefaults, now: float) -> list[Action]:
        return self._group_requests.set_fdt(name, fdt_ms, now)

    def set_defaults(self, fdt_ms: int, failback: bool, now: float, *,
                     transitive_probing: bool = DEFAULT_TRANSITIVE_PROBING) -> list[Action]:
        out = self._group_requests.set_defaults(fdt_ms, failback, now,
                                                transitive_probing=transitive_probing)
        return out + self._ungrouped.update_all(now)

    def track_ungrouped(self, now: float) -> list[Action]:
        """The interfaces in no group tracked for their own addresses, all of them
        again: the daemon's start-up, once the defaults and the state file are in."""
        return self._ungrouped.update_all(now)

    def set_transitive_probing(self, name: str, value: bool | str | FromDefaults,
                               now: float) -> list[Action]:
        return self._group_requests.set_transitive_probing(name, value, now)

    def add_route(self, name: str, dst: str, gateway: str, now: float) -> list[Action]:
        return self._group_requests.add_route(name, dst, gateway, now)

    def remove_route(self, name: str, dst: str, gateway: str, now: float) -> list[Action]:
        return self._group_requests.remove_route(name, dst, gateway, now)

    def set_linklocal_probes(self, name: str, value: bool | str, now: float) -> list[Action]:
        return self._group_requests.set_linklocal_probes(name, value, now)

    def set_multicast(self, name: str, addresses: Iterable[str], now: float) -> list[Action]:
        return self._group_requests.set_multicast(name, addresses, now)

    def set_targets(self, name: str, targets: Iterable[str], now: float) -> list[Action]:
        return self._group_requests.set_targets(name, targets, now)

    # ------------------------------------------------------------------ member requests
    def add_member(self, group_name: str, ifname: str, now: float, *, standby: bool = False,
                   offline: bool = False, require_present: bool = True) -> list[Action]:
        return self._member_requests.add_member(group_name, ifname, now, standby=standby,
                                        offline=offline, require_present=require_present)

    def remove_member(self, ifname: str, now: float) -> list[Action]:
        out = self._member_requests.remove_member(ifname, now)
        return out + self._ungrouped.update(ifname, now)  # tracked for its own address?

    def set_standby(self, ifname: str, value: bool | str, now: float) -> list[Action]:
        return self._member_requests.set_standby(ifname, value, now)

    def offline(self, ifname: str, now: float) -> list[Action]:
        return self._member_requests.offline(ifname, now)

    def online(self, ifname: str, now: float) -> list[Action]:
        return self._member_requests.online(ifname, now)

    def set_test_addresses(self, ifname: str, addresses: Iterable[str],
                           now: float, names: Mapping[str, str] | None = None
                           ) -> list[Action]:
        return self._member_requests.set_test_addresses(ifname, addresses, now, names)

    def dhcp_test_lease(self, ifname: str, address: str | None, now: float) -> list[Action]:
        return self._member_requests.dhcp_test_lease(ifname, address, now)

    def add_test_address(self, ifname: str, address: str, now: float,
                         name: str | None = None) -> list[Action]:
        return self._member_requests.add_test_address(ifname, address, now, name)

    def remove_test_address(self, address: str, interface: str | None, now: float
                            ) -> list[Action]:
        return self._member_requests.remove_test_address(address, interface, now)

    def set_track_all(self, value: bool, now: float) -> list[Action]:
        out = self._member_requests.set_track_all(value, now)
        return out + self._ungrouped.update_all(now)

    # ------------------------------------------------------------------ address requests
    def add_data_address(self, group_name: str, text: str, now: float, *,
                         hint: str | None = None, owner: Owner = "", dad: bool = False,
                         deprecated: bool = False, name: str | None = None) -> list[Action]:
        return self._address_requests.add_data_address(group_name, text, now, hint=hint,
                                                owner=owner, dad=dad, deprecated=deprecated,
                                                name=name)

    def add_data_addresses(self, group_name: str, texts: list[str], now: float, *,
                           owner: Owner = "", deprecated: bool = False) -> list[Action]:
        return self._address_requests.add_data_addresses(group_name, texts, now, owner=owner,
                                                  deprecated=deprecated)

    def remove_data_address(self, text: str, now: float) -> list[Action]:
        return self._address_requests.remove_data_address(text, now)

    def duplicate_check_from(self, group_name: str, text: str) -> tuple[str, str] | None:
        return self._address_requests.duplicate_check_from(group_name, text)

    def own_macs(self) -> set[str]:
        return self._address_requests.own_macs()

    def add_dhcp_data(self, group_name: str, now: float, slot: int | None = None,
                      name: str | None = None) -> list[Action]:
        return self._address_requests.add_dhcp_data(group_name, now, slot, name)

    def dhcp_data_lease(self, group_name: str, slot: int, address: str | None,
                        now: float) -> list[Action]:
        return self._address_requests.dhcp_data_lease(group_name, slot, address, now)

    def find_address(self, text: str) -> tuple[str, IPInterface, str | None] | None:
        return self.tables.find_address(text)

    def add_data_address_list(self, args: Mapping[str, Any], now: float) -> list[Action]:
        return self._address_requests.add_data_address_list(args, now)

    def announce_again(self, args: Mapping[str, Any]) -> AnnounceAgain:
        return self._address_requests.announce_again(args)

    # --- what the executor saw (the rules: addresses.py and members.py)
    def dad_failed(self, addresses: Iterable[str], now: float) -> tuple[list[Action], str]:
        """IPv6 DAD failed for these data addresses: the rollback, and the refusal of
        the request that added them."""
        actions, refusal = self._address_requests.dad_failed(addresses, now)
        return order_batch(self.tables, actions), refusal

    def placed_addresses(self) -> list[tuple[str, str]]:
        return self.tables.placed_addresses()

    def removed_by_someone(self, ifname: str, address: str) -> list[Action]:
        """Someone else removed ``address`` from ``ifname``: put back what is ours."""
        return self._address_requests.removed_by_someone(ifname, address)

    def refuse_test_address(self, ifname: str, addr: IPInterface, why: str, now: float
                            ) -> tuple[list[Action], str]:
        """Duplicate address detection refused a static test address."""
        actions, message = self._member_requests.refuse_test_address(ifname, addr, why, now)
        return order_batch(self.tables, actions), message

    @contextlib.contextmanager
    def refresh_once(self, now: float, out: list[Action]) -> Iterator[None]:
        """See Rules.refresh_once: one refresh per group touched within."""
        with self.rules.refresh_once(now, out):
            yield

    # ------------------------------------------------------------------ views
    def route_plan(self, group: Group, active: list[str]) -> tuple[RoutePlan, ...]:
        return self.rules.route_plan(group, active)

    def snapshot(self) -> Snapshot:
        return views.snapshot(self.tables, self.rules, self.state_error)

    def address_objects(self) -> list[dict[str, Any]]:
        """Every address object, as `ipmpadm show-addr` lists them."""
        return address_objects.address_objects(self.tables)

    def config(self) -> dict[str, Any]:
        """The desired configuration, as persisted and as `load` reads it back."""
        return with_transitive_probing(views.config_dump(self.tables), self.tables)

    # ------------------------------------------------------------------ start-up
    def load(self, config: dict[str, Any], now: float,
             hints: dict[str, str] | None = None) -> list[Action]:
        """Rebuild groups from a persisted configuration, all or nothing: the daemon
        validated it (ipmp_core.state_schema) and tried it on a scratch engine first
        (`check_config`), so an EngineError here propagates instead of skipping a group
        whose loss the next save would make permanent. ``hints`` maps a data address
        (without prefix) to the member the kernel already has it on: it is adopted
        there. Anonymous members are the exception: their interface may have gone."""
        return run_steps(self.load_steps(config, now, hints))

    def load_steps(self, config: dict[str, Any], now: float,
                   hints: dict[str, str] | None = None) -> Generator[None, None, list[Action]]:
        """`load` in steps: it yields after every LOAD_CHUNK data addresses so that the
        daemon can serve its event loop in between (1,000 addresses take ~0.1 s), and
        returns the actions. Between two steps the engine is half-loaded: nobody else
        may use it until the generator has returned (the daemon holds its lock, and its
        read-only requests wait for the end of the load)."""
        return (yield from self._loader.load_steps(config, now, hints))

    def check_config(self, config: dict[str, Any], hints: dict[str, str] | None = None
                     ) -> None:
        """Raise EngineError if `load` would refuse any part of ``config``: it is loaded
        into a scratch engine that sees the same interfaces, so the real load takes all
        of it or is never started."""
        run_steps(self.check_steps(config, hints))

    def check_steps(self, config: dict[str, Any], hints: dict[str, str] | None = None
                    ) -> Generator[None, None, None]:
        """`check_config` in steps (as `load_steps`; the scratch engine is nobody else's,
        so this engine stays usable in between). ``hints`` as for `load`: they change
        where addresses go, never whether they are accepted, and with them the scratch
        load does the same work as the real one (without, each address looks for the
        least-loaded member: quadratic)."""
        scratch = Engine()
        scratch.tables.observed.update(
            (name, LinkObservation(o.ifindex, o.mac, o.carrier, o.admin_up))
            for name, o in self.tables.observed.items())
        scratch.tables.linklocals.update(self.tables.linklocals)
        scratch.tables.local_addresses.update(self.tables.local_addresses)
        scratch.default_fdt = self.default_fdt
        scratch.default_failback = self.default_failback
        yield from scratch.load_steps(config, 0.0, hints)
