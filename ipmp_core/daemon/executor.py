"""The executor: the engine's actions carried out in order, each type by its handler.

Two tables, built once (like teamd's ops tables): ``now_ops`` for the actions that touch
no netlink state (probes, log lines, events, node attributes), which may run at once
even outside the daemon's lock, and ``ops`` for the rest. Both dispatch on the exact
type (RemoveOldCopy, a subclass of UnbindAddress, has its own entry). Consecutive
address changes of one kind go to the kernel as one netlink batch.

The executor decides nothing: the order of a batch (make before break, announce last)
is the engine's (engine/batch.py). It keeps only I/O facts: its own removals, the
kernel's holders of an address, and which addresses of the batch could not be placed
(``unplaced``: their bind or DAD failed), whose follow-ups it skips.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ipmp_core import interference
from ipmp_core.daemon.bursts import Bursts, mac_bytes
from ipmp_core.daemon.clock import now_ms
from ipmp_core.daemon.dhcp_sessions import DhcpSessions
from ipmp_core.daemon.logsinks import GROUP_ATTR, INTERFACE_ATTR, NOTICE
from ipmp_core.daemon.multicast import MulticastFollower
from ipmp_core.daemon.probes import ProbeIO
from ipmp_core.daemon.routes import Routes
from ipmp_core.daemon.state import GLOBAL_KEY, StateJournal
from ipmp_core.daemon.transitive import TransitiveIO
from ipmp_core.engine.actions import (
    Action,
    Announce,
    AnnounceAgain,
    AwaitDad,
    BindAddress,
    ClearStrayCopies,
    ConfigChanged,
    DhcpData,
    DhcpTest,
    FollowDhcp,
    Log,
    Nominate,
    PlumbMember,
    Publish,
    PublishAttribute,
    PurgeMulticast,
    RemoveOldCopy,
    RestoreAddress,
    ResyncRoutes,
    SendProbe,
    SendTransitive,
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
    "notice": NOTICE,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


def wants_probe_events(subscribers: Iterable[Any]) -> bool:
    """Whether the engine should build an event per probe sent, answered and lost: only
    for a subscriber that reads them (an event stream: ipmpstat -p, an agent). One that
    does not says ``wants_probe_events = False`` (the metrics, which read the engine's
    counters), so that it costs the probing path nothing."""
    return any(getattr(s, "wants_probe_events", True) for s in subscribers)


class Executor:
    """Owns the action handlers and the batching of a batch's address changes, and the
    outcomes a request reads back: addresses that failed DAD (``dad_failed``), test
    addresses refused (``test_refused``), and the removals the daemon made itself
    (``own_removals``, so that their notifications are not taken for someone else's)."""

    def __init__(self, engine: Engine, netlink: Netlink, *, journal: StateJournal,
                 probes: ProbeIO, bursts: Bursts, routes: Routes, dhcp: DhcpSessions,
                 multicast: MulticastFollower, attributes: AttributePublisher,
                 member_sets: MemberSets, subscribers: set[Any],
                 transitive: TransitiveIO | None = None) -> None:
        self.engine = engine
        self.netlink = netlink
        self.journal = journal
        self.probes = probes
        self.transitive = transitive if transitive is not None else TransitiveIO(engine)
        self.bursts = bursts
        self.routes = routes
        self.dhcp = dhcp
        self.multicast = multicast
        self.attributes = attributes
        self.member_sets = member_sets
        self.subscribers = subscribers  # event streams (ControlServer's Subscriber)
        self.own_removals: set[tuple[str, str]] = set()
        self.dad_failed: set[str] = set()
        # Addresses of the batch being executed that did not go on their new member (the
        # bind or its DAD failed): the batch's tail neither removes their old copy nor
        # announces them.
        self.unplaced: set[str] = set()
        # Static test addresses refused by duplicate address detection: (member, address,
        # why) to drop from the configuration, and the messages of this request.
        self.test_conflicts: list[tuple[str, Any, str]] = []
        self.test_refused: list[str] = []
        # Actions carried out at once, even outside the lock (timers and replies): they
        # touch no netlink state, so they cannot interleave badly with a batch being
        # executed. A node attribute goes out at once too: the cluster's reaction must
        # not wait for the local failover's netlink work.
        self.now_ops: dict[type, Callable[[Any], None]] = {
            SendProbe: self._send_probe,
            SendTransitive: self._send_transitive,
            Log: self._log,
            Publish: self._publish,
            PublishAttribute: self._publish_attribute,
        }
        self.ops: dict[type, Callable[[Any], Awaitable[None]]] = {
            UnbindAddress: self._unbind,
            RemoveOldCopy: self._unbind,
            ClearStrayCopies: self._clear_stray,
            FollowDhcp: self._follow_dhcp,
            AwaitDad: self._await_dad,
            Announce: self._announce,
            AnnounceAgain: self._announce_again,
            RestoreAddress: self._restore,
            ResyncRoutes: routes.resync,
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
        """Carry out a batch in the engine's order (the old copies of moved addresses
        and the announcements come last: engine/batch.py)."""
        self.engine.probing.events = wants_probe_events(self.subscribers)
        self.journal.write_intent(actions)
        config_changed = False
        self.unplaced = set()
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
                    # str() of an IPv6 address costs microseconds: only for failures
                    for bind, ok in zip(binds, done, strict=True):
                        if not ok:
                            self.unplaced.add(str(bind.address.ip))
                        elif self.unplaced:
                            self.unplaced.discard(str(bind.address.ip))
                elif run and isinstance(run[0], ClearStrayCopies):
                    await self._clear_strays([a for a in run
                                              if isinstance(a, ClearStrayCopies)])
                elif run:
                    # make before break: an old copy stays when the new one is not there
                    unbinds = [a for a in run if isinstance(a, UnbindAddress)
                               and not self._unplaced(a)]
                    if type(run[0]) is RemoveOldCopy:  # its burst goes on from the new member
                        await self.remove_addresses([(a.member, a.address) for a in unbinds])
                    else:
                        await self._unbind_all(unbinds)
            except Exception:
                log.exception("error while carrying out %d address changes", len(run))
            run.clear()

        for action in actions:
            if isinstance(action, PublishAttribute):
                continue  # handed over above
            if isinstance(action, (BindAddress, UnbindAddress, ClearStrayCopies)):
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
        # After the announcements: the memberships of the old nominees are read for the
        # moves the batch asked for (Nominate, PurgeMulticast), once.
        self.multicast.after_batch()
        if self.test_conflicts:
            await self._drop_refused_tests()
        if config_changed:
            self.journal.save_done()
            await self.member_sets.sync({
                name: list(g.members) for name, g in self.engine.groups.items() if name
            })
        self.probes.close_stale()
        self.transitive.sync()

    # ------------------------------------------------------------------ immediate
    def _log(self, action: Log) -> None:
        log.log(_LEVELS.get(action.level, logging.INFO), "%s", action.message,
                extra={GROUP_ATTR: action.group, INTERFACE_ATTR: action.interface})

    def _send_probe(self, action: SendProbe) -> None:
        for published in self.probes.send(action):  # its "sent" event, if anyone listens
            self.apply_now(published)

    def _send_transitive(self, action: SendTransitive) -> None:
        for published in self.transitive.send(action):  # its "sent" event, if anyone listens
            self.apply_now(published)

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
        if action.last:
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
        if not self._unplaced(action):  # an old copy stays when the new one is not there
            await self._unbind_all([action])

    async def _unbind_all(self, actions: list[UnbindAddress]) -> None:
        for action in actions:
            self.bursts.cancel(str(action.address.ip))
        await self.remove_addresses([(a.member, a.address) for a in actions])

    def _unplaced(self, action: Announce | FollowDhcp | UnbindAddress) -> bool:
        """Whether the action follows up an address this batch could not place (a
        RemoveOldCopy, an announcement, a DHCP session's move): then it is skipped."""
        return bool(self.unplaced) and type(action) is not UnbindAddress \
            and str(action.address.ip) in self.unplaced

    async def _clear_stray(self, action: ClearStrayCopies) -> None:
        await self._clear_strays([action])

    async def _clear_strays(self, actions: list[ClearStrayCopies]) -> None:
        """Copies of new addresses on other interfaces than theirs (the kernel's
        holders), off in one netlink batch."""
        removals: list[tuple[str, Any]] = []
        for action in actions:
            if self.unplaced and str(action.address.ip) in self.unplaced:
                continue
            removals += [(holder, action.address)
                         for holder in await self.netlink.holders(str(action.address.ip))
                         if holder != action.member]
        await self.remove_addresses(removals)

    async def _follow_dhcp(self, action: FollowDhcp) -> None:
        if not self._unplaced(action):
            self.dhcp.follow(action)

    async def _await_dad(self, action: AwaitDad) -> None:
        """Never announce a tentative address: wait for the kernel's verdict; a failure
        is reported (the request's rollback removes the address: Engine.dad_failed). An
        address whose bind failed is not there to wait for."""
        if self.unplaced and str(action.address.ip) in self.unplaced:
            return
        if not await self.netlink.wait_dad(action.member, action.address, DAD_TIMEOUT_S):
            self.dad_failed.add(str(action.address.ip))
            self.unplaced.add(str(action.address.ip))

    async def _announce(self, action: Announce) -> None:
        if not self._unplaced(action):
            self.bursts.announce(action.member, action.address)

    async def _announce_again(self, action: AnnounceAgain) -> None:
        self.bursts.announce_again(action)

    async def _restore(self, action: RestoreAddress) -> None:
        """Someone else removed an address of ours: it goes back, unchecked."""
        await self.netlink.add_address(action.member, action.address,
                                       deprecated=action.deprecated)

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
        conflicts, self.test_conflicts = self.test_conflicts, []
        for ifname, addr, why in conflicts:
            actions, message = self.engine.refuse_test_address(ifname, addr, why, now_ms())
            self.test_refused.append(message)
            await self.execute(actions)
