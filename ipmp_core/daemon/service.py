"""ipmpd: the node daemon, a thin asyncio shell around the engine (one per namespace).

Netlink notifications and control requests become engine calls; the actions the engine
returns become netlink requests, announcements, log lines and published events, executed
in order under one lock so that the kernel sees them in the engine's order. This module
starts and stops the daemon, loads its state, answers signals and keeps the engine's
timer; the I/O is in the modules beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import os
import signal

from ipmp_core.constants import (
    CONTROL_SOCKET_NAME,
)
from ipmp_core.daemon.bursts import Bursts
from ipmp_core.daemon.clock import now_ms
from ipmp_core.daemon.control_server import ControlServer, Subscriber
from ipmp_core.daemon.dhcp_sessions import DhcpSessions, EngineCall
from ipmp_core.daemon.executor import Executor, wants_probe_events
from ipmp_core.daemon.kernel import KernelFollower
from ipmp_core.daemon.metrics import CountingAnnouncer, Metrics
from ipmp_core.daemon.metrics_text import metrics_dir_for
from ipmp_core.daemon.multicast import MulticastFollower
from ipmp_core.daemon.notify import Notifier
from ipmp_core.daemon.probes import ProbeIO
from ipmp_core.daemon.requests import Requests
from ipmp_core.daemon.routes import Routes
from ipmp_core.daemon.state import StateJournal, run_steps
from ipmp_core.daemon.transitive import TransitiveIO
from ipmp_core.defaults_file import DEFAULTS_FILE, Defaults, load_defaults
from ipmp_core.engine.actions import Action, PublishAttribute, SendProbe, SendTransitive
from ipmp_core.engine.engine import Engine
from ipmp_core.engine.state import target_lists
from ipmp_core.errors import EngineError
from ipmp_core.net.attrd import AttributePublisher
from ipmp_core.net.link_events import AddrEvent
from ipmp_core.net.netlink import Netlink
from ipmp_core.net.nftsets import MemberSets
from ipmp_core.persist import StateFile, netns_name

log = logging.getLogger("ipmpd")

# Addresses of the start-up's kernel dump fed to the engine between two returns to the
# event loop (each costs an observation; see LOAD_CHUNK for the load itself).
OBSERVE_CHUNK = 200
# Exit status of a daemon that stopped because it could no longer follow the kernel.
EXIT_DEAF = 1


class Daemon:
    """Owns the state the daemon's parts share (the engine, the netlink connection, the
    lock that orders every batch of actions, the defaults, the start-up and stop flags)
    and the engine's timer; builds the parts (executor, probe I/O, kernel follower,
    control requests, ...) and runs them from start to exit. ``engine`` and ``netlink``
    may be given (tests); else the daemon makes its own."""

    def __init__(
        self,
        state: StateFile,
        *,
        defaults_path: str | None = DEFAULTS_FILE,
        control_address: str = CONTROL_SOCKET_NAME,
        engine: Engine | None = None,
        netlink: Netlink | None = None,
        metrics_dir: str | None = None,
    ) -> None:
        self.defaults_path = defaults_path
        self.defaults: Defaults = load_defaults(defaults_path)
        self.control_address = control_address
        self.engine = engine if engine is not None else Engine()
        self.netlink = netlink if netlink is not None else Netlink()
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.subscribers: set[Subscriber] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None  # engine ms the timer is set for
        self.last_tick = -math.inf
        self.server: ControlServer | None = None
        self.exit_status = 0  # non-zero: the daemon stopped because of a failure
        # Set once the start-up has put the state file into the engine (or refused it):
        # until then read-only requests other than ping wait (see requests.Op).
        self.loaded = asyncio.Event()
        self.started = False  # _start is over (ping says so)
        self.journal = StateJournal(state, self.engine)
        self.probes = ProbeIO(self.engine)
        self.transitive = TransitiveIO(self.engine)
        # ``metrics_dir``: ipmpd --metrics-dir (metrics_dir_for: where else it comes from)
        self.metrics = Metrics(self.engine, metrics_dir_for(metrics_dir,
                                                            self.defaults.metrics_dir),
                               netns_name())
        self.bursts = Bursts(self.engine, CountingAnnouncer(self.metrics), self.defaults)
        self.attributes = AttributePublisher()
        self.multicast = MulticastFollower(self.engine, self.lock, self.stopping)
        self.executor = Executor(
            self.engine, self.netlink, journal=self.journal, probes=self.probes,
            bursts=self.bursts,
            routes=Routes(self.engine, self.netlink, lambda: self.kernel.routes_changed()),
            dhcp=DhcpSessions(self.engine, self.locked_call), multicast=self.multicast,
            attributes=self.attributes, member_sets=MemberSets(),
            subscribers=self.subscribers, transitive=self.transitive)
        self.kernel = KernelFollower(self.engine, self.netlink, self.lock, self.executor,
                                     schedule=self.schedule, stopping=self.stopping,
                                     on_deaf=self._stop_deaf)
        self.requests = Requests(self)
        self.notifier = Notifier.from_environ()  # systemd's Type=notify (none by hand)

    # ------------------------------------------------------------------ life cycle
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        signatures = self.engine.tables.signatures
        self.server = ControlServer(self.control_address, self.requests.handle,
                                    self.subscribers, self._subscribed,
                                    lambda: signatures.current(self.engine.groups))
        await self.server.start()
        for note in self.defaults.notes:
            log.warning(note)
        await self.netlink.open()
        for sig, handler in (
            (signal.SIGTERM, self.stopping.set),
            (signal.SIGINT, self.stopping.set),
            (signal.SIGHUP, self.refresh),
            (signal.SIGUSR1, self.dump),
        ):
            loop.add_signal_handler(sig, handler)
        await self._start()
        self.metrics.start(self.subscribers)
        log.info("ipmpd started (pid %d, state %s)", os.getpid(), self.journal.state.path)
        self.notifier.ready(f"{len(self.engine.groups)} group(s) adopted")
        events = asyncio.create_task(self.kernel.follow())
        events.add_done_callback(self.kernel.ended)
        self.multicast.start()
        await self.stopping.wait()
        self.notifier.stopping()
        log.info("ipmpd exiting; the network stays as configured")
        events.cancel()
        self.multicast.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await events
        self.bursts.cancel_all()
        self.metrics.close()
        self.server.close()
        self.probes.close()
        self.transitive.close()
        await self.executor.dhcp.stop_all()
        await self.attributes.flush()  # e.g. the deletion of a deleted group's attribute
        self.attributes.close()
        self.netlink.close()
        self.bursts.announcer.close()

    def _stop_deaf(self) -> None:
        self.exit_status = EXIT_DEAF
        self.stopping.set()

    async def _start(self) -> None:
        now = now_ms()
        async with self.lock:
            for link in await self.netlink.links():
                self.engine.link_observed(link.name, now, ifindex=link.ifindex, mac=link.mac,
                                          carrier=link.carrier, admin_up=link.admin_up)
            addresses = await self.netlink.addresses()
            for n, a in enumerate(addresses):
                if n and not n % OBSERVE_CHUNK:
                    await asyncio.sleep(0)  # the control socket is served meanwhile
                self.engine.address_observed(self.netlink.names.get(a.ifindex, ""), a.address,
                                             True, now, prefixlen=a.prefixlen)
            for family, gateways in (await self.netlink.gateways()).items():
                self.engine.routers_observed(family, gateways, now)
            self.engine.track_all = not self.defaults.track_only_groups
            self.engine.default_fdt = self.defaults.fdt_ms
            self.engine.default_failback = self.defaults.failback
            self.engine.default_transitive = self.defaults.transitive_probing
            await self._load_state(addresses, now, stepped=True)
            # ungrouped interfaces with an address of their own (TRANSITIVE_PROBING=yes)
            await self.executor.execute(self.engine.track_ungrouped(now))
            self.schedule()
            self.started = True

    async def _load_state(self, addresses: list[AddrEvent], now: float,
                          stepped: bool = False) -> None:
        """Apply the state file, all or nothing. Data addresses the kernel already has on
        a member are adopted there (``hints``: no move, no announcement), and addresses
        the journal says were being removed when the daemon died are removed now.
        ``stepped`` (the start-up only: no timer runs yet) loads in steps that let the
        event loop answer ping in between; once the engine holds the file, read-only
        requests are served (``loaded``)."""
        journal = self.journal
        hints = {a.address: self.netlink.names.get(a.ifindex, "") for a in addresses}
        persisted = await journal.read(hints)
        for key, saved in persisted.get("saved_sysctls", {}).items():
            journal.keep_saved(key, saved)
        journal.pending_removals = list(persisted.get("pending_removals", []))
        try:
            if stepped:
                actions = await run_steps(self.engine.load_steps(persisted, now, hints))
            else:
                actions = self.engine.load(persisted, now, hints)
        except EngineError as exc:  # check_config passed, so this is a bug: say it
            log.error("loading %s failed half-way: %s", journal.state.path, exc.message)
            actions = []
        self.loaded.set()
        if persisted.get("groups"):
            log.info("resuming %d group(s) from %s", len(persisted["groups"]),
                     journal.state.path)
        await self.executor.execute(actions)
        await self._settle_removals(addresses)

    async def _settle_removals(self, addresses: list[AddrEvent]) -> None:
        """The journal of a daemon killed during a change: an address it was removing
        that is still on that interface and that the configuration does not want is
        removed now (else it would stay in the kernel, unknown to config and ipmpstat)."""
        journal = self.journal
        if not journal.pending_removals:
            return
        present = {(self.netlink.names.get(a.ifindex, ""), a.address) for a in addresses}
        wanted = {str(a.ip) for g in self.engine.groups.values() for a in g.binding}
        wanted |= {str(a.ip) for m in self.engine.members.values()
                   for a in m.all_test_addresses}
        for entry in journal.pending_removals:
            addr = ipaddress.ip_interface(entry["address"])
            key = (entry["interface"], str(addr.ip))
            if key in present and key[1] not in wanted:
                log.warning("removing %s from %s: the daemon was stopped while removing it",
                            addr, key[0])
                await self.executor.remove_address(key[0], addr)
        journal.pending_removals = []
        journal.save()

    async def _retry_state(self) -> None:
        """SIGHUP while refusing changes: read the state file again (the operator may
        have put a corrected one in place)."""
        async with self.lock:
            if self.journal.refusal is None:
                return
            await self._load_state(await self.netlink.addresses(), now_ms())
            if self.journal.refusal is None:
                log.info("%s loaded: changes are accepted again", self.journal.state.path)
            self.schedule()

    def refresh(self) -> None:
        """SIGHUP and 'ipmpadm refresh' (Solaris: svcadm refresh sends in.mpathd SIGHUP):
        read the defaults file again and apply it."""
        if not self.started:  # the engine may be half-loaded (load_steps): after it
            asyncio.ensure_future(self._refresh_after_start())
            return
        # in.mpathd re-executes itself on SIGHUP, losing its probe histories; applying
        # the file in place keeps them (docs/design.md, "The defaults file and SIGHUP").
        log.info("SIGHUP: rereading %s", self.defaults_path)
        self.defaults = self.bursts.defaults = load_defaults(self.defaults_path)
        for note in self.defaults.notes:
            log.warning(note)
        if self.journal.refusal is not None:
            asyncio.ensure_future(self._retry_state())
        asyncio.ensure_future(self.locked_call(self._apply_defaults))

    def _apply_defaults(self, now: float) -> list[Action]:
        """The re-read file: for the groups that follow it, and the tracking of
        interfaces in no group."""
        d = self.defaults
        actions = self.engine.set_defaults(d.fdt_ms, d.failback, now,
                                           transitive_probing=d.transitive_probing)
        track_all = not d.track_only_groups
        if track_all != self.engine.track_all:
            actions += self.engine.set_track_all(track_all, now)
        return actions

    async def _refresh_after_start(self) -> None:
        async with self.lock:  # _start holds it until it is over
            pass
        if self.started:  # else the start-up failed: the daemon is stopping
            self.refresh()

    def dump(self) -> None:
        """SIGUSR1 and 'ipmpadm dump': the engine's view, written to the log."""
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
            for owner, targets in target_lists(group):  # the anonymous group's per member
                for t in targets.targets:
                    log.info("group %s target %s (%s, inet%s%s): %s", group.name, t.address,
                             t.kind, "6" if targets.family == 6 else "",
                             f", {owner}" if owner else "", t.state)
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
        for name, reasons in self.transitive.ignored().items():
            log.info("transitive probes %s: ignored frames %s", name, reasons)

    def _subscribed(self, anyone: bool) -> None:
        """Probe events are produced only while someone listens who wants them (the
        metrics do not: wants_probe_events); ``anyone``: whether any subscriber is left."""
        self.engine.probing.events = anyone and wants_probe_events(self.subscribers)

    # ------------------------------------------------------------------ timer
    def schedule(self) -> None:
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
        send), then the transitive requests just sent, answered and their answers read
        (TransitiveIO.flush): handled at once; anything that needs netlink is queued
        behind the lock, in order."""
        self.timer = self.timer_at = None
        self.last_tick = now_ms()
        self.run_now_or_queue(self.probes.read_replies())
        self.run_now_or_queue(self.transitive.read_replies())
        self.run_now_or_queue(self.engine.tick(now_ms()))
        self.run_now_or_queue(self.transitive.flush())
        self.schedule()

    def run_now_or_queue(self, actions: list[Action]) -> None:
        """A timer's or a reply's actions: those that need no netlink at once, the rest
        in order behind the lock."""
        if not actions:
            return
        executor = self.executor
        if all(executor.is_immediate(a) for a in actions):
            for action in actions:
                executor.apply_now(action)
            return
        # Probes go out now even when the rest must wait for the lock (a reconfiguration
        # may hold it for a while): a probe that waited would be judged by a deadline
        # that ran while it sat in the queue. Nothing else in a timer's batch is needed
        # by a probe (test addresses are never changed by a timer).
        rest: list[Action] = []
        for action in actions:
            if isinstance(action, SendProbe | SendTransitive | PublishAttribute):
                executor.apply_now(action)
            else:
                rest.append(action)
        asyncio.ensure_future(self.locked(rest))

    async def locked(self, actions: list[Action]) -> None:
        """Carry out a batch under the lock, then set the timer."""
        async with self.lock:
            await self.executor.execute(actions)
            self.schedule()

    async def locked_call(self, call: EngineCall) -> None:
        """An engine call made under the lock (a DHCP lease), its actions carried out."""
        async with self.lock:
            await self.executor.execute(call(now_ms()))
            self.schedule()
