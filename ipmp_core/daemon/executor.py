"""The executor: the engine's actions carried out in order, each type by its handler.

Two tables, built once (like teamd's ops tables): ``now_ops`` for the actions that touch
no netlink state (probes, log lines, events, node attributes), which may run at once
even outside the daemon's lock, and ``ops`` for the rest. Consecutive address changes of
one kind go to the kernel as one netlink batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ipmp_core import interference
from ipmp_core.daemon.bursts import Bursts, mac_bytes
from ipmp_core.daemon.clock import now_ms
from ipmp_core.daemon.dhcp_sessions import DhcpSessions
from ipmp_core.daemon.multicast import MulticastFollower
from ipmp_core.daemon.probes import ProbeIO
from ipmp_core.daemon.routes import Routes
from ipmp_core.daemon.state import GLOBAL_KEY, StateJournal
from ipmp_core.engine.actions import (
    Action,
    BindAddress,
    ConfigChanged,
    DhcpData,
    DhcpTest,
    Log,
    Nominate,
    PlumbMember,
    Publish,
    PublishAttribute,
    PurgeMulticast,
    SendProbe,
    SetRoutes,
    SetTestAddresses,
    UnbindAddress,
    UnplumbMember,
)
from ipmp_core.engine.engine import Engine
from ipmp_core.net.attrd import AttributePublisher
from ipmp_core.net.dad import owner_of_test_address
from ipmp_core.net.netlink import Netlink
from ipmp_core.net.nftsets import MemberSets
from ipmp_core.net.sysctl import GLOBAL_SYSCTLS

log = logging.getLogger("ipmpd")

# IPv6 duplicate address detection takes about 1-2 s with the kernel's defaults
# (dad_transmits 1, retrans_time 1 s); give up after this long.
DAD_TIMEOUT_S = 5.0

_LEVELS = {
    "err": logging.ERROR,
    "warning": logging.WARNING,
    "notice": logging.INFO,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


class Executor:
    """Owns the action handlers and the batching of a batch's address changes, and the
    outcomes a request reads back: addresses that failed DAD (``dad_failed``), test
    addresses refused (``test_refused``), and the removals the daemon made itself
    (``own_removals``, so that their notifications are not taken for someone else's)."""

    def __init__(self, engine: Engine, netlink: Netlink, *, journal: StateJournal,
                 probes: ProbeIO, bursts: Bursts, routes: Routes, dhcp: DhcpSessions,
                 multicast: MulticastFollower, attributes: AttributePublisher,
                 member_sets: MemberSets, subscribers: set[Any]) -> None:
        self.engine = engine
        self.netlink = netlink
        self.journal = journal
        self.probes = probes
        self.bursts = bursts
        self.routes = routes
        self.dhcp = dhcp
        self.multicast = multicast
        self.attributes = attributes
        self.member_sets = member_sets
        self.subscribers = subscribers  # event streams (ControlServer's Subscriber)
        self.own_removals: set[tuple[str, str]] = set()
        self.dad_failed: set[str] = set()
        # Static test addresses refused by duplicate address detection: (member, address,
        # why) to drop from the configuration, and the messages of this request.
        self.test_conflicts: list[tuple[str, Any, str]] = []
        self.test_refused: list[str] = []
        # Actions carried out at once, even outside the lock (timers and replies): they
        # touch no netlink state, so they cannot interleave badly with a batch being
        # executed. A node attribute goes out at once too: the cluster's reaction must
        # not wait for the local failover's netlink work.
        self.now_ops: dict[type, Callable[[Any], None]] = {
            SendProbe: probes.send,
            Log: self._log,
            Publish: self._publish,
            PublishAttribute: self._publish_attribute,
        }
        self.ops: dict[type, Callable[[Any], Awaitable[None]]] = {
            UnbindAddress: self._unbind,
            SetRoutes: routes.apply,
            PlumbMember: self._plumb,
            UnplumbMember: self._unplumb,
            SetTestAddresses: self._set_test_addresses,
            DhcpTest: dhcp.apply,
            DhcpData: dhcp.apply,
            PurgeMulticast: self._purge_multicast,
            Nominate: self._nominate,
        }

    def is_immediate(self, action: Action) -> bool:
        return type(action) in self.now_ops

    def apply_now(self, action: Action) -> None:
        """An action that needs no netlink (``now_ops``): also run outside the lock."""
        self.now_ops[type(action)](action)

    async def apply(self, action: Action) -> None:
        now = self.now_ops.get(type(action))
        if now is not None:
            now(action)
            return
        handler = self.ops.get(type(action))
        if handler is not None:
            await handler(action)

    async def execute(self, actions: list[Action]) -> None:
        """Carry out a batch in order, except that a moved address is announced and
        taken off its old member only after the whole batch (the routes included) is in
        place: a neighbour that hears the announcement must find replies leaving through
        a live member, not through the route of the failed one."""
        # policy: moves to the engine (announce last / make before break)
        self.engine.probing.events = bool(self.subscribers)
        self.journal.write_intent(actions)
        config_changed = False
        finish: list[BindAddress] = []
        # The cluster learns of the change first: handing a node attribute over never
        # waits, and the netlink work of the batch (unbinding, routes) can take tens of
        # milliseconds that the cluster's reaction need not wait for.
        for action in actions:
            if isinstance(action, PublishAttribute):
                self.apply_now(action)
        # Consecutive address changes of one kind go to the kernel as one netlink batch
        # (a failover of many addresses is one run of BindAddress).
        run: list[Action] = []

        async def flush() -> None:
            try:
                if run and isinstance(run[0], BindAddress):
                    binds = [a for a in run if isinstance(a, BindAddress)]
                    done = await self._bind_all(binds)
                    finish.extend(a for a, ok in zip(binds, done, strict=True) if ok)
                elif run:
                    await self._unbind_all([a for a in run if isinstance(a, UnbindAddress)])
            except Exception:
                log.exception("error while carrying out %d address changes", len(run))
            run.clear()

        for action in actions:
            if isinstance(action, PublishAttribute):
                continue  # handed over above
            if isinstance(action, (BindAddress, UnbindAddress)):
                if run and type(run[0]) is not type(action):
                    await flush()
                run.append(action)
                continue
            if run and self.is_immediate(action):
                # The engine interleaves a log line and an event with every move: they
                # touch no netlink state and must not split the batch into 1,000.
                self.apply_now(action)
                continue
            await flush()
            try:
                if isinstance(action, ConfigChanged):
                    config_changed = True
                else:
                    await self.apply(action)
            except Exception:
                log.exception("error while carrying out %s", action)
        await flush()
        await self._finish_binds(finish)
        if self.test_conflicts:
            await self._drop_refused_tests()
        if config_changed:
            self.journal.save_done()
            await self.member_sets.sync({
                name: list(g.members) for name, g in self.engine.groups.items() if name
            })
        self.probes.close_stale()

    # ------------------------------------------------------------------ immediate
    def _log(self, action: Log) -> None:
        log.log(_LEVELS.get(action.level, logging.INFO), "%s", action.message)

    def _publish(self, action: Publish) -> None:
        event = {"time": time.time(), **action.event}
        for queue in list(self.subscribers):
            queue.put_nowait(event)

    def _publish_attribute(self, action: PublishAttribute) -> None:
        self.attributes.publish(action.name, action.value, action.dampen_ms)

    # ------------------------------------------------------------------ members
    async def _plumb(self, action: PlumbMember) -> None:
        note = interference.warning(action.member)
        if note:
            log.warning("%s", note)
        saved = await self.netlink.plumb(action.member)
        self.journal.keep_saved(action.member, saved)
        self.journal.keep_saved(GLOBAL_KEY, self.netlink.set_sysctls(GLOBAL_SYSCTLS))
        self.journal.save()

    async def _unplumb(self, action: UnplumbMember) -> None:
        saved = self.journal.saved_sysctls
        self.netlink.unplumb(saved.pop(action.member, {}))
        # policy: moves to the engine (restore the global sysctls with the last member)
        if not any(m.present for m in self.engine.members.values()):
            self.netlink.unplumb(saved.pop(GLOBAL_KEY, {}))
        self.journal.save()

    async def _purge_multicast(self, action: PurgeMulticast) -> None:
        self.multicast.move_later(action.group, action.family, action.member)

    async def _nominate(self, action: Nominate) -> None:
        self.multicast.join_group_multicast(action)
        if action.member == action.previous:
            return
        if action.previous is not None and action.member is not None:
            self.multicast.move_later(action.group, action.family, action.previous)
        log.info("IP interface %s of group %s now receives %s multicast/broadcast "
                 "(previously %s)", action.member or "(none)", action.group,
                 "IPv4" if action.family == "inet" else "IPv6", action.previous or "none")

    # ------------------------------------------------------------------ data addresses
    async def _bind_all(self, actions: list[BindAddress]) -> list[bool]:
        """Make before break: the addresses go on their new members first (one netlink
        batch); whether each is there."""
        items = []
        for action in actions:
            group = self.engine.groups.get(action.group)
            items.append((action.member, action.address,
                          group is not None and action.address in group.deprecated,
                          action.dad and action.address.version == 6))
        return await self.netlink.add_addresses(items)

    async def _unbind(self, action: UnbindAddress) -> None:
        await self._unbind_all([action])

    async def _unbind_all(self, actions: list[UnbindAddress]) -> None:
        for action in actions:
            self.bursts.cancel(str(action.address.ip))
        await self.remove_addresses([(a.member, a.address) for a in actions])

    async def _finish_binds(self, actions: list[BindAddress]) -> None:
        """After the whole batch is in place: take the old copies away (one netlink
        batch), then announce each address from its new member. Removing first costs the
        neighbours nothing (Linux accepts a packet for any of its addresses on any
        interface), and the last of 1,000 moves is no longer held up by 1,000
        announcements."""
        removals: list[tuple[str, Any]] = []
        announce: list[BindAddress] = []
        for action in actions:
            try:
                copies, ready = await self._finish_bind(action)
            except Exception:
                log.exception("error while finishing %s", action)
                continue
            removals += copies
            if ready and action.announce:
                announce.append(action)
        await self.remove_addresses(removals)
        for action in announce:
            try:
                self.bursts.announce(action.member, action.address)
            except Exception:
                log.exception("error while announcing %s", action)

    async def _finish_bind(self, action: BindAddress) -> tuple[list[tuple[str, Any]], bool]:
        """The copies to remove (the previous member's, or any other interface's for a
        new address or a restart), and whether the address may be announced."""
        addr = action.address
        self.dhcp.follow(action)
        if action.dad and addr.version == 6:
            # Never announce a tentative address: wait for the kernel's verdict.
            # policy: moves to the engine (DAD rollback)
            if not await self.netlink.wait_dad(action.member, addr, DAD_TIMEOUT_S):
                self.dad_failed.add(str(addr.ip))
                return [(action.member, addr)], False
        # Announced only if the batch left it there (see _still_bound).
        ready = self._still_bound(action)
        if action.previous is not None:
            return [(action.previous, addr)], ready
        return [(holder, addr) for holder in await self.netlink.holders(str(addr.ip))
                if holder != action.member], ready

    def _still_bound(self, action: BindAddress) -> bool:
        """Whether the engine still has the address on the member the action put it on.
        A batch can move an address and take it down again (both cables of a node out:
        the second loss is read in the same batch); announcing it then would schedule a
        repeat burst that, seconds later and after a repair, claims for this node an
        address another node holds. A lookup in the group's bindings: a failover of
        1,000 addresses asks 1,000 times."""
        group = self.engine.groups.get(action.group)
        return group is not None and group.binding.get(action.address) == action.member

    async def remove_address(self, name: str, addr: Any) -> bool:
        """Every removal the daemon makes itself is noted, so that the notification it
        causes is not mistaken for someone else's doing."""
        self.own_removals.add((name, str(addr.ip)))
        return await self.netlink.remove_address(name, addr)

    async def remove_addresses(self, items: list[tuple[str, Any]]) -> None:
        """remove_address for many, in one netlink batch."""
        if not items:
            return
        for name, addr in items:
            self.own_removals.add((name, str(addr.ip)))
        await self.netlink.remove_addresses(items)

    # ------------------------------------------------------------------ test addresses
    async def _set_test_addresses(self, action: SetTestAddresses) -> None:
        for addr in action.remove:
            await self.remove_address(action.member, addr)
        for addr in action.add:
            await self._add_test_address(action.member, addr)

    async def _add_test_address(self, ifname: str, addr: Any) -> None:
        """A static test address goes on a member only when no other host uses it: a
        duplicate would answer the targets' replies on another port (false probe
        failures) and confuse every neighbour. IPv4: an ARP probe (net/dad.py); IPv6
        (link-local): the kernel's DAD. Checked when the address is new on a member
        whose link is up; one already there (a restart) or on a link that is down goes on
        unchecked. DHCP leases are the DHCP server's to keep unique."""
        member = self.engine.members.get(ifname)
        check = (member is not None and member.link_up and addr in member.test_addresses
                 and ifname not in await self.netlink.holders(str(addr.ip)))
        if check and addr.version == 4:
            owner = await owner_of_test_address(ifname, mac_bytes(member.mac), addr.ip)
            if owner is not None:
                self.test_conflicts.append((ifname, addr, f"answered by {owner}"))
                return
        await self.netlink.add_address(ifname, addr, deprecated=True,
                                       dad=check and addr.version == 6)
        if check and addr.version == 6 and \
                not await self.netlink.wait_dad(ifname, addr, DAD_TIMEOUT_S):
            await self.remove_address(ifname, addr)
            self.test_conflicts.append((ifname, addr, "IPv6 DAD failed"))

    async def _drop_refused_tests(self) -> None:
        """Take the test addresses duplicate address detection refused out of the
        configuration (their members fall back to the other detectors), and keep the
        messages for the request that caused them."""
        # policy: moves to the engine (DAD rollback of a test address, the "dhcp" entry)
        conflicts, self.test_conflicts = self.test_conflicts, []
        for ifname, addr, why in conflicts:
            # Short: the agent's exit reason quotes it, and Pacemaker keeps 128 characters.
            message = f"duplicate test address {addr.ip} on {ifname}: another host has it ({why})"
            log.error("%s; not configured", message)
            self.test_refused.append(message)
            member = self.engine.members.get(ifname)
            if member is None or addr not in member.test_addresses:
                continue
            keep = [str(a) for a in member.test_addresses if a != addr]
            actions = self.engine.set_test_addresses(
                ifname, keep + (["dhcp"] if member.dhcp_test else []), now_ms())
            # The address never went on: nothing to remove from the kernel.
            await self.execute([a for a in actions if not (
                isinstance(a, SetTestAddresses) and a.remove == (addr,) and not a.add)])
