"""ipmpd: the node daemon, a thin asyncio shell around the engine (one per namespace).

Netlink notifications and control requests become engine calls; the actions the engine
returns become netlink requests, announcements, log lines and published events, executed
in order under one lock so that the kernel sees them in the engine's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import select
import signal
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from ipmp_core import errors, interference
from ipmp_core.constants import (
    CONTROL_MAX_LINE,
    CONTROL_SOCKET_NAME,
)
from ipmp_core.defaults import DEFAULTS_FILE, Defaults, load_defaults
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
    PurgeMulticast,
    SetRoutes,
    SetTestAddresses,
    UnbindAddress,
    UnplumbMember,
)
from ipmp_core.engine.core import Engine
from ipmp_core.engine.probe import ProbeKind, SendProbe
from ipmp_core.errors import EngineError
from ipmp_core.mcast_follow import MulticastFollower
from ipmp_core.net import icmp
from ipmp_core.net.announce import Announcer
from ipmp_core.net.dad import owner_of_test_address
from ipmp_core.net.netlink import (
    GLOBAL_SYSCTLS,
    AddrEvent,
    LinkGone,
    LinkInfo,
    Netlink,
    RoutesChanged,
)
from ipmp_core.net.nftsets import MemberSets
from ipmp_core.net.routes import route_specs
from ipmp_core.persist import StateFile

log = logging.getLogger("ipmpd")

# Key under which the daemon keeps the namespace-wide sysctls it replaced.
GLOBAL_KEY = "*"
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


# Actions carried out at once, even outside the lock (timers and replies): they touch
# no netlink state, so they cannot interleave badly with a batch being executed.
_IMMEDIATE = (SendProbe, Log, Publish)


def now_ms() -> float:
    return time.monotonic() * 1000.0


def _mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", "")) if mac else b"\0" * 6


class Daemon:
    def __init__(
        self,
        state: StateFile,
        *,
        defaults_path: str | None = DEFAULTS_FILE,
        control_address: str = CONTROL_SOCKET_NAME,
    ) -> None:
        self.state = state
        self.defaults_path = defaults_path
        self.defaults: Defaults = load_defaults(defaults_path)
        self.control_address = control_address
        self.engine = Engine()
        self.netlink = Netlink()
        self.announcer = Announcer()
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.saved_sysctls: dict[str, dict[str, str]] = {}
        self.installed_routes: dict[str, dict[str, dict[str, Any]]] = {}
        self.bursts: dict[str, asyncio.Task[None]] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None  # engine ms the timer is set for
        self.last_tick = -math.inf
        self.server: asyncio.AbstractServer | None = None
        self.sockets: dict[tuple[str, int], icmp.ProbeSocket] = {}
        # The probe sockets are read when the timer fires, not as each reply comes in
        # (see TICK_BATCH_DIVISOR): one epoll set says which have something.
        self.probe_poll = select.epoll()
        self.probe_fds: dict[int, tuple[str, int]] = {}
        self.routers_pending = False
        self.socket_errors: set[tuple[str, int]] = set()
        self.dad_failed: set[str] = set()
        # Static test addresses refused by duplicate address detection: (member, address,
        # why) to drop from the configuration, and the messages of this request.
        self.test_conflicts: list[tuple[str, Any, str]] = []
        self.test_refused: list[str] = []
        self.own_removals: set[tuple[str, str]] = set()
        self.member_sets = MemberSets()
        self.multicast = MulticastFollower(self.engine, self.lock, self.stopping)
        self.dhcp: dict[str, Any] = {}  # member -> DhcpSession of its test address
        self.dhcp_data: dict[tuple[str, int], Any] = {}  # (group, slot) -> DhcpSession

    # ------------------------------------------------------------------ life cycle
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # Binding the abstract socket is also the "one daemon per namespace" lock.
        self.server = await asyncio.start_unix_server(
            self._client, path=self.control_address, limit=CONTROL_MAX_LINE
        )
        for note in self.defaults.notes:
            log.warning(note)
        await self.netlink.open()
        for sig, handler in (
            (signal.SIGTERM, self.stopping.set),
            (signal.SIGINT, self.stopping.set),
            (signal.SIGHUP, self._reload),
            (signal.SIGUSR1, self._dump),
        ):
            loop.add_signal_handler(sig, handler)
        await self._start()
        log.info("ipmpd started (pid %d, state %s)", os.getpid(), self.state.path)
        events = asyncio.create_task(self._watch_kernel())
        self.multicast.start()
        await self.stopping.wait()
        log.info("ipmpd exiting; the network stays as configured")
        events.cancel()
        self.multicast.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await events
        for task in self.bursts.values():
            task.cancel()
        self.server.close()
        for key in list(self.sockets):
            self._close_socket(key)
        self.probe_poll.close()
        for session in [*self.dhcp.values(), *self.dhcp_data.values()]:
            # no release: a restarted daemon resumes them
            with contextlib.suppress(Exception):
                await session.stop()
        self.netlink.close()
        self.announcer.close()

    async def _start(self) -> None:
        now = now_ms()
        async with self.lock:
            for link in await self.netlink.links():
                self.engine.link_observed(link.name, now, ifindex=link.ifindex, mac=link.mac,
                                          carrier=link.carrier, admin_up=link.admin_up)
            addresses = await self.netlink.addresses()
            hints = {a.address: self.netlink.names.get(a.ifindex, "") for a in addresses}
            for a in addresses:
                self.engine.address_observed(self.netlink.names.get(a.ifindex, ""), a.address,
                                             True, now)
            for family, gateways in (await self.netlink.gateways()).items():
                self.engine.routers_observed(family, gateways, now)
            try:
                persisted = self.state.load()
            except (OSError, ValueError) as exc:
                log.error("cannot read %s: %s; starting with no groups", self.state.path, exc)
                persisted = {}
            self.saved_sysctls = persisted.get("saved_sysctls", {})
            self.engine.track_all = not self.defaults.track_only_groups
            self.engine.default_fdt = self.defaults.fdt_ms
            actions = self.engine.load(persisted, now, hints)
            if persisted.get("groups"):
                log.info("resuming %d group(s) from %s", len(persisted["groups"]),
                         self.state.path)
            await self._execute(actions)
            self._schedule()

    def _reload(self) -> None:
        self.defaults = load_defaults(self.defaults_path)
        for note in self.defaults.notes:
            log.warning(note)
        log.info("re-read %s", self.defaults_path)
        self.engine.default_fdt = self.defaults.fdt_ms
        track_all = not self.defaults.track_only_groups
        if track_all != self.engine.track_all:
            actions = self.engine.set_track_all(track_all, now_ms())
            asyncio.ensure_future(self._locked(actions))

    def _dump(self) -> None:
        snap = self.engine.snapshot()
        for g in snap.groups:
            log.info("group %s: state %s, active %s, inactive %s, unusable %s", g.name,
                     g.state, " ".join(g.active) or "-", " ".join(g.inactive) or "-",
                     " ".join(g.unusable) or "-")
        for i in snap.interfaces:
            log.info("interface %s (group %s): state %s link %s active %s", i.name, i.group,
                     i.state, i.link, "yes" if i.active else "no")
        for a in snap.addresses:
            log.info("address %s/%d (group %s): %s on %s", a.address, a.prefixlen, a.group,
                     a.state, a.inbound or "-")
        for group in self.engine.groups.values():
            log.info("group %s: failure detection time %d ms (configured %d ms)", group.name,
                     group.fdt_current, group.fdt_ms)
            for family, targets in group.targets.items():
                for t in targets.targets:
                    log.info("group %s target %s (%s, inet%s): %s", group.name, t.address,
                             t.kind, "6" if family == 6 else "", t.state)
        for member in self.engine.members.values():
            for family, fp in member.prober.families.items():
                acked = sum(1 for r in fp.records if r.status.value == "acked")
                lost = sum(1 for r in fp.records if r.status.value == "lost")
                log.info("probes %s inet%s from %s: %d answered, %d lost of the last %d; "
                         "ignored replies %s", member.name, "6" if family == 6 else "",
                         fp.source, acked, lost, len(fp.records), dict(fp.ignored) or "none")
                for target, est in fp.rtt.items():
                    log.info("probes %s -> %s: rtt avg %.2f ms dev %.2f ms crtt %.2f ms",
                             member.name, target, est.average, est.deviation, est.crtt)

    # ------------------------------------------------------------------ kernel events
    async def _watch_kernel(self) -> None:
        async for event in self.netlink.stream():
            try:
                await self._kernel_event(event)
            except Exception:  # a bad event must not stop failure detection
                log.exception("error while handling %s", event)

    async def _kernel_event(self, event: LinkInfo | LinkGone | AddrEvent | RoutesChanged
                            ) -> None:
        if isinstance(event, RoutesChanged):
            if not self.routers_pending:  # coalesce a burst of route changes into one dump
                self.routers_pending = True
                asyncio.get_running_loop().call_soon(
                    lambda: asyncio.ensure_future(self._refresh_routers()))
            return
        async with self.lock:
            now = now_ms()
            if isinstance(event, AddrEvent):
                ifname = self.netlink.names.get(event.ifindex, "")
                if not event.added:
                    await self._restore_if_ours(ifname, event.address)
                actions = self.engine.address_observed(ifname, event.address, event.added, now)
            elif isinstance(event, LinkInfo):
                actions = self.engine.link_observed(
                    event.name, now, ifindex=event.ifindex, mac=event.mac,
                    carrier=event.carrier, admin_up=event.admin_up,
                )
                if event.carrier is False:
                    actions += self._recheck_carriers(event.name, now)
            else:
                actions = self.engine.link_removed(event.name, now)
            await self._execute(actions)
            self._schedule()

    def _recheck_carriers(self, name: str, now: float) -> list[Action]:
        """One member lost carrier: read the others' carrier flags now. The kernel
        notifies carrier changes of most devices (physical NICs among them) in batches
        at most once a second, so a second NIC of the same failed switch would otherwise
        be reported up to a second later. Triggered by an event: no polling."""
        member = self.engine.members.get(name)
        if member is None:
            return []
        out: list[Action] = []
        for other_name in self.engine.groups[member.group].members:
            other = self.engine.members[other_name]
            if other_name == name or not other.link_up:
                continue
            try:
                with open(f"/sys/class/net/{other_name}/carrier", encoding="ascii") as fh:
                    carrier = fh.read().strip() == "1"
            except OSError:  # admin down reads EINVAL: its own event will say so
                continue
            if not carrier:
                seen = self.engine.observed.get(other_name)
                if seen is not None:
                    out += self.engine.link_observed(other_name, now, ifindex=seen.ifindex,
                                                     mac=seen.mac, carrier=False,
                                                     admin_up=seen.admin_up)
        return out

    async def _refresh_routers(self) -> None:
        self.routers_pending = False
        gateways = await self.netlink.gateways()
        async with self.lock:
            now = now_ms()
            for family, found in gateways.items():
                await self._execute(self.engine.routers_observed(family, found, now))
            self._schedule()

    def _schedule(self) -> None:
        """Set the timer for the engine's next deadline, batched (TICK_BATCH_DIVISOR)."""
        wake = self.engine.next_wake(self.last_tick)
        if wake is None:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = self.timer_at = None
            return
        if self.timer is not None:
            if wake == self.timer_at:
                return
            self.timer.cancel()
        self.timer_at = wake
        delay = max(0.0, (wake - now_ms()) / 1000.0)
        self.timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        """Replies that came in since the last wake-up, then timers (mostly probes to
        send): handled at once; anything that needs netlink is queued behind the lock,
        in order."""
        self.timer = self.timer_at = None
        self.last_tick = now_ms()
        self._run_now_or_queue(self._read_replies())
        self._run_now_or_queue(self.engine.tick(now_ms()))
        self._schedule()

    def _run_now_or_queue(self, actions: list[Action]) -> None:
        if not actions:
            return
        if all(isinstance(a, _IMMEDIATE) for a in actions):
            for action in actions:
                self._apply_now(action)
            return
        # Probes go out now even when the rest must wait for the lock (a reconfiguration
        # may hold it for a while): a probe that waited would be judged by a deadline
        # that ran while it sat in the queue. Nothing else in a timer's batch is needed
        # by a probe (test addresses are never changed by a timer).
        rest: list[Action] = []
        for action in actions:
            if isinstance(action, SendProbe):
                self._send_probe(action)
            else:
                rest.append(action)
        asyncio.ensure_future(self._locked(rest))

    # ------------------------------------------------------------------ actions
    async def _execute(self, actions: list[Action]) -> None:
        """Carry out a batch in order, except that a moved address is announced and
        taken off its old member only after the whole batch (the routes included) is in
        place: a neighbour that hears the announcement must find replies leaving through
        a live member, not through the route of the failed one."""
        self.engine.probing.events = bool(self.subscribers)
        config_changed = False
        finish: list[BindAddress] = []
        for action in actions:
            try:
                if isinstance(action, ConfigChanged):
                    config_changed = True
                elif isinstance(action, BindAddress):
                    if await self._bind(action):
                        finish.append(action)
                else:
                    await self._apply(action)
            except Exception:
                log.exception("error while carrying out %s", action)
        for action in finish:
            try:
                await self._finish_bind(action)
            except Exception:
                log.exception("error while finishing %s", action)
        if self.test_conflicts:
            await self._drop_refused_tests()
        if config_changed:
            self._save()
            await self.member_sets.sync({
                name: list(g.members) for name, g in self.engine.groups.items() if name
            })
        self._close_stale_sockets()

    async def _apply(self, action: Action) -> None:
        if isinstance(action, _IMMEDIATE):
            self._apply_now(action)
        elif isinstance(action, UnbindAddress):
            self._cancel_burst(str(action.address.ip))
            await self._remove_address(action.member, action.address)
        elif isinstance(action, SetRoutes):
            await self._routes(action)
        elif isinstance(action, PlumbMember):
            note = interference.warning(action.member)
            if note:
                log.warning("%s", note)
            saved = await self.netlink.plumb(action.member)
            # Keep the oldest values: those are what the interface had before we came.
            self._keep_saved(action.member, saved)
            self._keep_saved(GLOBAL_KEY, self.netlink.set_sysctls(GLOBAL_SYSCTLS))
            self._save()
        elif isinstance(action, UnplumbMember):
            self.netlink.unplumb(self.saved_sysctls.pop(action.member, {}))
            if not any(m.present for m in self.engine.members.values()):
                self.netlink.unplumb(self.saved_sysctls.pop(GLOBAL_KEY, {}))
            self._save()
        elif isinstance(action, SetTestAddresses):
            for addr in action.remove:
                await self._remove_address(action.member, addr)
            for addr in action.add:
                await self._add_test_address(action.member, addr)
        elif isinstance(action, DhcpTest):
            await self._dhcp_test(action)
        elif isinstance(action, DhcpData):
            await self._dhcp_data_session(action)
        elif isinstance(action, PurgeMulticast):
            self.multicast.move_later(action.group, action.family, action.member)
        elif isinstance(action, Nominate):
            self.multicast.join_group_multicast(action)
            if action.member == action.previous:
                return
            if action.previous is not None and action.member is not None:
                self.multicast.move_later(action.group, action.family, action.previous)
            log.info("IP interface %s of group %s now receives %s multicast/broadcast "
                     "(previously %s)", action.member or "(none)", action.group,
                     "IPv4" if action.family == "inet" else "IPv6", action.previous or "none")

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
            owner = await owner_of_test_address(ifname, _mac_bytes(member.mac), addr.ip)
            if owner is not None:
                self.test_conflicts.append((ifname, addr, f"answered by {owner}"))
                return
        await self.netlink.add_address(ifname, addr, deprecated=True,
                                       dad=check and addr.version == 6)
        if check and addr.version == 6 and \
                not await self.netlink.wait_dad(ifname, addr, DAD_TIMEOUT_S):
            await self._remove_address(ifname, addr)
            self.test_conflicts.append((ifname, addr, "IPv6 DAD failed"))

    async def _drop_refused_tests(self) -> None:
        """Take the test addresses duplicate address detection refused out of the
        configuration (their members fall back to the other detectors), and keep the
        messages for the request that caused them."""
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
            await self._execute([a for a in actions if not (
                isinstance(a, SetTestAddresses) and a.remove == (addr,) and not a.add)])

    # ------------------------------------------------------------------ probes
    def _send_probe(self, probe: SendProbe) -> None:
        member = self.engine.members.get(probe.member)
        if member is None or not member.present:
            return
        key = (probe.member, probe.family)
        sock = self.sockets.get(key)
        if sock is not None and (sock.source != probe.source or sock.ifindex != member.ifindex):
            self._close_socket(key)
            sock = None
        if sock is None:
            family = socket.AF_INET if probe.family == 4 else socket.AF_INET6
            try:
                sock = icmp.ProbeSocket(family, probe.member, member.ifindex, probe.source)
            except OSError as exc:
                # e.g. an IPv6 link-local still in DAD: the next probe tries again.
                level = logging.DEBUG if key in self.socket_errors else logging.WARNING
                self.socket_errors.add(key)
                log.log(level, "cannot probe from %s on %s: %s", probe.source, probe.member,
                        exc.strerror or exc)
                return
            self.socket_errors.discard(key)
            self.sockets[key] = sock
            self.probe_fds[sock.fileno()] = key
            self.probe_poll.register(sock.fileno(), select.EPOLLIN)
        kind = icmp.ProbeKind.MULTICAST if probe.kind is ProbeKind.MULTICAST \
            else icmp.ProbeKind.UNICAST
        sent_ns = sock.send(probe.dest, probe.seq, kind)
        if kind is icmp.ProbeKind.UNICAST:
            self.engine.probe_sent(probe.member, probe.family, probe.seq, sent_ns / 1e6)

    def _read_replies(self) -> list[Action]:
        """Every probe reply waiting in the sockets, given to the engine in the order
        the kernel received them, with the kernel's receive times."""
        replies: list[tuple[int, str, int, icmp.Reply]] = []
        # One datagram per readable socket per round, then ask epoll again: a socket
        # rarely holds more than one reply, and reading it until it is empty cost a
        # second system call for each.
        for _ in range(icmp.MAX_DRAIN):
            ready = self.probe_poll.poll(0)
            if not ready:
                break
            for fd, _ in ready:
                key = self.probe_fds.get(fd)
                sock = self.sockets.get(key) if key is not None else None
                if sock is not None:
                    replies += [(r.recv_ns, key[0], key[1], r) for r in sock.receive(1)]
        if len(replies) > 1:
            replies.sort(key=lambda item: item[0])
        actions: list[Action] = []
        for recv_ns, member, family, reply in replies:
            actions += self.engine.probe_reply(
                member, family, reply.seq, reply.source, recv_ns / 1e6,
                netrtt_ms=(recv_ns - reply.sent_ns) / 1e6,
            )
        return actions

    def _apply_now(self, action: Action) -> None:
        """The actions that need no netlink (_IMMEDIATE): also run outside the lock."""
        if isinstance(action, SendProbe):
            self._send_probe(action)
        elif isinstance(action, Log):
            log.log(_LEVELS.get(action.level, logging.INFO), "%s", action.message)
        elif isinstance(action, Publish):
            self._publish(action.event)

    async def _locked(self, actions: list[Action]) -> None:
        async with self.lock:
            await self._execute(actions)
            self._schedule()

    def _close_socket(self, key: tuple[str, int]) -> None:
        sock = self.sockets.pop(key, None)
        if sock is not None:
            fd = sock.fileno()
            self.probe_fds.pop(fd, None)
            with contextlib.suppress(OSError, ValueError):
                self.probe_poll.unregister(fd)
            sock.close()

    def _close_stale_sockets(self) -> None:
        for key in list(self.sockets):
            member = self.engine.members.get(key[0])
            fp = member.prober.families.get(key[1]) if member else None
            if fp is None or not fp.enabled or not member.present:
                self._close_socket(key)

    # ------------------------------------------------------------------ foreign changes
    async def _remove_address(self, name: str, addr: Any) -> bool:
        """Every removal the daemon makes itself is noted, so that the notification it
        causes is not mistaken for someone else's doing."""
        self.own_removals.add((name, str(addr.ip)))
        return await self.netlink.remove_address(name, addr)

    async def _restore_if_ours(self, ifname: str, address: str) -> None:
        """A data or test address disappeared without us: put it back (NetworkManager,
        systemd-networkd, a DHCP client or an operator's `ip addr flush`)."""
        if (ifname, address) in self.own_removals:
            self.own_removals.discard((ifname, address))
            return
        member = self.engine.members.get(ifname)
        if member is None or not member.present:
            return
        found = self.engine.find_address(address)
        if found is not None and found[2] == ifname:
            group, addr, _ = found
            log.warning("Data address %s of group %s was removed from %s by someone else; "
                        "restoring it", addr, group, ifname)
            await self.netlink.add_address(ifname, addr, deprecated=addr in
                                           self.engine.groups[group].deprecated)
            await self._resync_routes(group)
            self._announce(ifname, addr)
            return
        for test in member.test_addresses:
            if str(test.ip) == address:
                log.warning("Test address %s of %s was removed by someone else; restoring it",
                            test, ifname)
                await self.netlink.add_address(ifname, test, deprecated=True)

    async def _dhcp_test(self, action: DhcpTest) -> None:
        """A DHCP test address: a DR-safe session per member (it survives the NIC being
        deleted and re-created) whose leases the engine installs as test addresses."""
        from ipmp_core.net import dhcp  # pyroute2's DHCP client: only when used

        old = self.dhcp.pop(action.member, None)
        if old is not None:
            await old.stop(release=True)
        if not action.enabled:
            return
        member = action.member

        def on_lease(lease: Any) -> None:
            address = str(lease.address) if lease is not None else None
            asyncio.ensure_future(self._locked_call(
                lambda now: self.engine.dhcp_test_lease(member, address, now)))

        session = dhcp.DhcpSession(
            member, client_id=dhcp.client_id_for_member(action.group or "anonymous", member),
            on_lease=on_lease)
        self.dhcp[member] = session
        await session.start()
        log.info("DHCP started for the test address of %s", member)

    async def _dhcp_data_session(self, action: DhcpData) -> None:
        """A DHCP data address: the client id belongs to the group (RFC 4361 IAID+DUID),
        so whichever member holds the address renews the same lease."""
        from ipmp_core.net import dhcp

        key = (action.group, action.slot)
        old = self.dhcp_data.pop(key, None)
        if old is not None:
            await old.stop(release=True)
        if not action.enabled:
            return
        group = self.engine.groups.get(action.group)
        ifname = action.member or (group.members[0] if group and group.members else None)
        if ifname is None:
            log.warning("DHCP data address of group %s: no member to ask through",
                        action.group)
            return

        def on_lease(lease: Any) -> None:
            address = str(lease.address) if lease is not None else None
            asyncio.ensure_future(self._locked_call(
                lambda now: self.engine.dhcp_data_lease(action.group, action.slot, address,
                                                        now)))

        session = dhcp.DhcpSession(ifname, client_id=dhcp.client_id_for_group(
            action.group, action.slot), on_lease=on_lease)
        self.dhcp_data[key] = session
        self.engine.dhcp_session_member(action.group, action.slot, ifname)
        await session.start()
        log.info("DHCP started for data address %d of group %s through %s", action.slot,
                 action.group, ifname)

    def _follow_dhcp(self, action: BindAddress) -> None:
        """A DHCP data address moved: its renewals go out through the new member."""
        group = self.engine.groups.get(action.group)
        owner = group.owners.get(action.address, "") if group else ""
        if not owner.startswith("dhcp:"):
            return
        slot = int(owner.split(":", 1)[1])
        session = self.dhcp_data.get((action.group, slot))
        if session is not None and session.ifname != action.member:
            session.move(action.member)
            self.engine.dhcp_session_member(action.group, slot, action.member)
            log.info("DHCP data address %s of group %s now renews through %s",
                     action.address, action.group, action.member)

    async def _locked_call(self, call: Callable[[float], list[Action]]) -> None:
        async with self.lock:
            await self._execute(call(now_ms()))
            self._schedule()

    async def _resync_routes(self, group_name: str) -> None:
        """The kernel drops routes whose preferred source disappeared: install the
        group's routes again from scratch."""
        group = self.engine.groups.get(group_name)
        if group is None:
            return
        self.installed_routes.pop(group_name, None)
        active = [m for m in group.members if self.engine.members[m].active]
        await self._routes(SetRoutes(group_name, self.engine.route_plan(group, active)))

    def _keep_saved(self, key: str, saved: dict[str, str]) -> None:
        self.saved_sysctls[key] = {**saved, **self.saved_sysctls.get(key, {})}

    async def _bind(self, action: BindAddress) -> bool:
        """Make before break: the address goes on the new member first."""
        group = self.engine.groups.get(action.group)
        deprecated = group is not None and action.address in group.deprecated
        return await self.netlink.add_address(action.member, action.address,
                                              dad=action.dad and action.address.version == 6,
                                              deprecated=deprecated)

    async def _finish_bind(self, action: BindAddress) -> None:
        addr = action.address
        self._follow_dhcp(action)
        if action.dad and addr.version == 6:
            # Never announce a tentative address: wait for the kernel's verdict.
            if not await self.netlink.wait_dad(action.member, addr, DAD_TIMEOUT_S):
                self.dad_failed.add(str(addr.ip))
                await self._remove_address(action.member, addr)
                return
        if action.announce:
            self._announce(action.member, addr)
        if action.previous is not None:
            await self._remove_address(action.previous, addr)
        else:
            # A new address or a restart: make sure no other interface still has a copy.
            for holder in await self.netlink.holders(str(addr.ip)):
                if holder != action.member:
                    await self._remove_address(holder, addr)

    def _announce(self, member_name: str, addr: Any) -> None:
        member = self.engine.members.get(member_name)
        if member is None:
            return
        key = str(addr.ip)
        self._cancel_burst(key)
        mac = _mac_bytes(member.mac)
        send: Callable[[], Any] = lambda: self.announcer.announce(  # noqa: E731
            member.name, member.ifindex, mac, addr.ip
        )
        d = self.defaults
        if d.announce_count <= 0:
            return
        send()  # the first one at once: it is what ends the outage
        self.bursts[key] = asyncio.create_task(self._burst(send, d.announce_count,
                                                          d.announce_interval_ms,
                                                          d.announce_repeat_ms))

    async def _burst(self, send: Callable[[], Any], count: int, interval_ms: int,
                     repeat_ms: int) -> None:
        for _ in range(count - 1):
            await asyncio.sleep(interval_ms / 1000)
            send()
        if repeat_ms > 0:
            await asyncio.sleep(repeat_ms / 1000)
            for i in range(count):
                if i:
                    await asyncio.sleep(interval_ms / 1000)
                send()

    def _announce_now(self, args: dict[str, Any]) -> str:
        """Announce a data address again from the member holding it (an agent's
        arp_count_refresh, or its own count at start)."""
        found = self.engine.find_address(str(args["address"]))
        if found is None or found[2] is None:
            raise EngineError(errors.UNKNOWN_ADDRESS, f"{args['address']} is not bound")
        _group, addr, member_name = found
        member = self.engine.members[member_name]
        count = max(0, min(int(args.get("count", 1)), 20))
        interval = max(1, min(int(args.get("interval_ms", 200)), 10_000))
        mac = _mac_bytes(member.mac)

        def send() -> Any:
            return self.announcer.announce(member.name, member.ifindex, mac, addr.ip)

        if count:
            send()
            self.bursts[f"refresh {addr.ip}"] = asyncio.create_task(
                self._burst(send, count, interval, 0))
        return member_name

    def _cancel_burst(self, key: str) -> None:
        task = self.bursts.pop(key, None)
        if task is not None:
            task.cancel()

    async def _routes(self, action: SetRoutes) -> None:
        index = {name: m.ifindex for name, m in self.engine.members.items() if m.present}
        wanted = route_specs(action.plan, index)
        installed = self.installed_routes.get(action.group, {})
        for dst, spec in installed.items():
            if dst not in wanted:
                await self.netlink.delete_route(spec)
        for dst, spec in wanted.items():
            if installed.get(dst) != spec:
                await self.netlink.replace_route(spec)
        self.installed_routes[action.group] = wanted

    def _save(self) -> None:
        data = self.engine.config()
        data["saved_sysctls"] = self.saved_sysctls
        try:
            self.state.save(data)
        except OSError as exc:
            log.error("cannot save the configuration to %s: %s", self.state.path, exc)

    def _publish(self, event: dict[str, Any]) -> None:
        event = {"time": time.time(), **event}
        for queue in list(self.subscribers):
            queue.put_nowait(event)

    # ------------------------------------------------------------------ control channel
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line:
                return
            try:
                request = json.loads(line)
                op = str(request["op"])
                args = request.get("args") or {}
                if not isinstance(args, dict):
                    raise ValueError("args must be an object")
            except (ValueError, KeyError, TypeError) as exc:
                await _reply(writer, error=(errors.INVALID, f"malformed request: {exc}"))
                return
            if op == "subscribe":
                await self._stream_events(writer)
                return
            uid = _peer_uid(writer)
            await _reply(writer, **await self._request(op, args, uid))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _stream_events(self, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.subscribers.add(queue)
        self.engine.probing.events = True  # probe events only while someone listens
        try:
            await _reply(writer, result="subscribed")
            while not self.stopping.is_set():
                event = await queue.get()
                writer.write(json.dumps(event).encode() + b"\n")
                await writer.drain()
        finally:
            self.subscribers.discard(queue)
            self.engine.probing.events = bool(self.subscribers)

    async def _request(self, op: str, args: dict[str, Any], uid: int | None) -> dict[str, Any]:
        entry = self._ops().get(op)
        if entry is None:
            return {"error": (errors.INVALID, f"unknown request '{op}'")}
        handler, privileged = entry
        if privileged and uid != 0:
            return {"error": (errors.PERMISSION,
                              f"'{op}' changes the configuration and needs root")}
        async with self.lock:
            self.test_refused.clear()
            try:
                result, actions = handler(args, now_ms())
            except EngineError as exc:
                return {"error": (exc.code, exc.message)}
            except (KeyError, TypeError, ValueError) as exc:
                return {"error": (errors.INVALID, f"bad arguments for '{op}': {exc}")}
            await self._execute(actions)
            if op == "add-address" and self.dad_failed:
                failed, self.dad_failed = self.dad_failed, set()
                await self._execute(self.engine.remove_data_address(args["address"], now_ms()))
                self._schedule()
                return {"error": (errors.EXISTS, f"duplicate address detection failed for "
                                  f"{' '.join(sorted(failed))}: another host uses it")}
            self._schedule()
            if self.test_refused:
                return {"error": (errors.EXISTS, "; ".join(self.test_refused))}
        if op == "shutdown":
            self.stopping.set()
        return {"result": result}

    def _ops(self) -> dict[str, tuple[Callable[[dict[str, Any], float], Any], bool]]:
        e = self.engine
        d = self.defaults

        def act(fn: Callable[..., list[Action]]) -> Callable[..., Any]:
            return lambda a, now: (None, fn(a, now))

        return {
            "ping": (lambda a, now: ({"pid": os.getpid()}, []), False),
            "snapshot": (lambda a, now: (e.snapshot().to_dict(), []), False),
            "config": (lambda a, now: (e.config(), []), False),
            "shutdown": (lambda a, now: (None, []), True),
            "dump": (lambda a, now: (self._dump(), []), False),
            "create-group": (act(lambda a, now: e.create_group(
                a["group"], now,
                failback=a.get("failback", d.failback),
                fdt_ms=a.get("fdt_ms", d.fdt_ms))), True),
            "delete-group": (act(lambda a, now: e.delete_group(a["group"], now)), True),
            "add-member": (act(lambda a, now: e.add_member(
                a["group"], a["interface"], now, standby=bool(a.get("standby", False)))), True),
            "remove-member": (act(lambda a, now: e.remove_member(a["interface"], now)), True),
            "add-address": (act(lambda a, now: e.add_dhcp_data(a["group"], now)
                                if str(a["address"]).strip().lower() == "dhcp"
                                else e.add_data_address(
                a["group"], a["address"], now, owner=str(a.get("owner") or ""),
                dad=bool(a.get("dad")), deprecated=bool(a.get("deprecated")))), True),
            "announce": (lambda a, now: (self._announce_now(a), []), True),
            "remove-address": (act(lambda a, now: e.remove_data_address(
                a["address"], now)), True),
            "add-test-address": (act(lambda a, now: self._add_test(a["interface"],
                                                                   a["address"])), True),
            "remove-test-address": (act(lambda a, now: self._remove_test(
                a["address"], a.get("interface"))), True),
            "set-standby": (act(lambda a, now: e.set_standby(
                a["interface"], a["standby"], now)), True),
            "set-failback": (act(lambda a, now: e.set_failback(
                a["group"], a["failback"], now)), True),
            "set-fdt": (act(lambda a, now: e.set_fdt(a["group"], int(a["fdt_ms"]), now)), True),
            "add-route": (act(lambda a, now: e.add_route(
                a["group"], a.get("dst", "default"), a["gateway"], now)), True),
            "remove-route": (act(lambda a, now: e.remove_route(
                a["group"], a.get("dst", "default"), a["gateway"], now)), True),
            "set-linklocal-probes": (act(lambda a, now: e.set_linklocal_probes(
                a["group"], a["enabled"], now)), True),
            "set-multicast": (act(lambda a, now: e.set_multicast(
                a["group"], a.get("addresses") or [], now)), True),
            "set-targets": (act(lambda a, now: e.set_targets(
                a["group"], a.get("targets") or [], now)), True),
            "offline": (act(lambda a, now: e.offline(a["interface"], now)), True),
            "online": (act(lambda a, now: e.online(a["interface"], now)), True),
        }

    def _test_list(self, member: Any) -> list[str]:
        return [str(a) for a in member.test_addresses] + (["dhcp"] if member.dhcp_test else [])

    def _add_test(self, ifname: str, address: str) -> list[Action]:
        member = self.engine.members.get(ifname)
        current = self._test_list(member) if member else []
        return self.engine.set_test_addresses(ifname, [*current, address], now_ms())

    def _remove_test(self, address: str, interface: str | None = None) -> list[Action]:
        """Remove a test address; "dhcp" (with the interface), or the address DHCP leased,
        stops DHCP on that member."""
        from ipmp_core.config import parse_ip

        if address.strip().lower() == "dhcp":
            member = self.engine.members.get(interface or "")
            if member is None or not member.dhcp_test:
                raise EngineError(errors.UNKNOWN_ADDRESS,
                                  f"no DHCP test address on {interface or '(no interface)'}")
            keep = [a for a in self._test_list(member) if a != "dhcp"]
            return self.engine.set_test_addresses(member.name, keep, now_ms())
        ip = parse_ip(address)
        for member in self.engine.members.values():
            if member.dhcp_lease is not None and member.dhcp_lease.ip == ip:
                keep = [a for a in self._test_list(member) if a != "dhcp"]
                return self.engine.set_test_addresses(member.name, keep, now_ms())
            keep = [str(a) for a in member.test_addresses if a.ip != ip]
            if len(keep) != len(member.test_addresses):
                keep += ["dhcp"] if member.dhcp_test else []
                return self.engine.set_test_addresses(member.name, keep, now_ms())
        raise EngineError(errors.UNKNOWN_ADDRESS, f"no test address {ip}")


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


async def _reply(writer: asyncio.StreamWriter, *, result: Any = None,
                 error: tuple[str, str] | None = None) -> None:
    if error is not None:
        payload: dict[str, Any] = {"ok": False, "error": {"code": error[0], "message": error[1]}}
    else:
        payload = {"ok": True, "result": result}
    writer.write(json.dumps(payload).encode() + b"\n")
    await writer.drain()
