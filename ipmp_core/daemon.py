"""ipmpd: the node daemon, a thin asyncio shell around the engine (one per namespace).

Netlink notifications and control requests become engine calls; the actions the engine
returns become netlink requests, announcements, log lines and published events, executed
in order under one lock so that the kernel sees them in the engine's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import os
import select
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from ipmp_core import errors, interference
from ipmp_core.constants import (
    CONTROL_SOCKET_NAME,
)
from ipmp_core.defaults_file import DEFAULTS_FILE, Defaults, load_defaults
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
from ipmp_core.net.attrd import AttributePublisher
from ipmp_core.net.dad import owner_of_test_address
from ipmp_core.net.netlink import (
    AddrEvent,
    EventsLost,
    LinkGone,
    LinkInfo,
    Netlink,
    RoutesChanged,
)
from ipmp_core.net.nftsets import MemberSets
from ipmp_core.net.routes import route_specs
from ipmp_core.net.sysctl import GLOBAL_SYSCTLS
from ipmp_core.persist import StateFile
from ipmp_core.server import ControlServer, Subscriber
from ipmp_core.state_schema import StateFileError

log = logging.getLogger("ipmpd")

# Key under which the daemon keeps the namespace-wide sysctls it replaced.
GLOBAL_KEY = "*"
# Requests answered while the state file could not be loaded (all others that need root
# are refused): stopping the daemon, and the operator's decision to start empty.
_WHILE_REFUSING = frozenset({"shutdown", "accept-empty-state"})
# Requests that only read the engine: answered without the lock (engine calls are
# synchronous, so between two of them its view is whole), so that a start-up or a long
# reconfiguration holding the lock never leaves ipmpstat, ping or a monitor waiting.
# All but ping first wait until the state file is loaded: a monitor that saw "no group"
# during a restart would fail its resource.
_READ_ONLY = frozenset({"ping", "snapshot", "config"})
# Addresses of the start-up's kernel dump fed to the engine between two returns to the
# event loop (each costs an observation; see LOAD_CHUNK for the load itself).
OBSERVE_CHUNK = 200
# IPv6 duplicate address detection takes about 1-2 s with the kernel's defaults
# (dad_transmits 1, retrans_time 1 s); give up after this long.
DAD_TIMEOUT_S = 5.0
# The kernel event reader is restarted when it dies; one that dies this many times within
# EVENT_RESTART_WINDOW_S is broken, not unlucky: the daemon then exits non-zero so that
# its supervisor (Pacemaker, systemd) restarts it whole. A daemon that does not hear the
# kernel must never keep running: it would keep addresses on dead links.
EVENT_RESTARTS_MAX = 5
EVENT_RESTART_WINDOW_S = 60.0
# Pause before a restart: a dump that fails at once is not retried in a tight loop.
EVENT_RESTART_DELAY_S = 0.5
# Exit status of a daemon that stopped because it could no longer follow the kernel.
EXIT_DEAF = 1
# The routers are read again this long after the daemon changed its own routes, not at
# once: the dump (every route of the namespace, a local one per address) would compete
# with the moves of the failover that changed them (a failover of 1,000 addresses took
# ~100 ms longer).
OWN_ROUTES_REFRESH_DELAY_S = 1.0
# Addresses in one add-addresses request: more than a large site has per group, and the
# request stays far below CONTROL_MAX_LINE.
MAX_BATCH_ADDRESSES = 4096

_LEVELS = {
    "err": logging.ERROR,
    "warning": logging.WARNING,
    "notice": logging.INFO,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


# Actions carried out at once, even outside the lock (timers and replies): they touch
# no netlink state, so they cannot interleave badly with a batch being executed. A node
# attribute goes out at once too: the cluster's reaction must not wait for the local
# failover's netlink work.
_IMMEDIATE = (SendProbe, Log, Publish, PublishAttribute)


def now_ms() -> float:
    return time.monotonic() * 1000.0


async def _run_steps(steps: Generator[None, None, Any]) -> Any:
    """Run a stepped engine call (Engine.load_steps, check_steps), returning to the
    event loop between its steps; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await asyncio.sleep(0)


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
        self.attributes = AttributePublisher()
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.subscribers: set[Subscriber] = set()
        self.saved_sysctls: dict[str, dict[str, str]] = {}
        self.installed_routes: dict[str, dict[str, dict[str, Any]]] = {}
        self.bursts: dict[str, asyncio.Task[None]] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None  # engine ms the timer is set for
        self.last_tick = -math.inf
        self.server: ControlServer | None = None
        self.sockets: dict[tuple[str, int], icmp.ProbeSocket] = {}
        # The probe sockets are read when the timer fires, not as each reply comes in
        # (see TICK_BATCH_DIVISOR): one epoll set says which have something.
        self.probe_poll = select.epoll()
        self.probe_fds: dict[int, tuple[str, int]] = {}
        self.routers_pending = False
        self.routers_task: asyncio.Future[None] | None = None
        self.own_routes_timer: asyncio.TimerHandle | None = None
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
        # Set while the state file could not be loaded: {"kept_aside", "message",
        # "since"}; privileged requests are refused until the operator acts.
        self.refusal: dict[str, str] | None = None
        # The journal: addresses a configuration change is about to remove from the
        # kernel ({"interface", "address"}), written with the new configuration before
        # the kernel is touched (see _write_intent).
        self.pending_removals: list[dict[str, str]] = []
        self.intent_saved: dict[str, Any] | None = None
        self.exit_status = 0  # non-zero: the daemon stopped because of a failure
        # Set once the start-up has put the state file into the engine (or refused it):
        # until then read-only requests other than ping wait (see _READ_ONLY).
        self.loaded = asyncio.Event()
        self.started = False  # _start is over (ping says so)

    # ------------------------------------------------------------------ life cycle
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = ControlServer(self.control_address, self._request, self.subscribers,
                                    self._subscribed)
        await self.server.start()
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
        events = asyncio.create_task(self._follow_kernel())
        events.add_done_callback(self._follower_ended)
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
        await self.attributes.flush()  # e.g. the deletion of a deleted group's attribute
        self.attributes.close()
        self.netlink.close()
        self.announcer.close()

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
                                             True, now)
            for family, gateways in (await self.netlink.gateways()).items():
                self.engine.routers_observed(family, gateways, now)
            self.engine.track_all = not self.defaults.track_only_groups
            self.engine.default_fdt = self.defaults.fdt_ms
            await self._load_state(addresses, now, stepped=True)
            self._schedule()
            self.started = True

    async def _load_state(self, addresses: list[AddrEvent], now: float,
                          stepped: bool = False) -> None:
        """Apply the state file, all or nothing. Data addresses the kernel already has on
        a member are adopted there (``hints``: no move, no announcement), and addresses
        the journal says were being removed when the daemon died are removed now.
        ``stepped`` (the start-up only: no timer runs yet) loads in steps that let the
        event loop answer ping in between; once the engine holds the file, read-only
        requests are served (``loaded``)."""
        hints = {a.address: self.netlink.names.get(a.ifindex, "") for a in addresses}
        persisted = await self._read_state(hints)
        for key, saved in persisted.get("saved_sysctls", {}).items():
            self._keep_saved(key, saved)
        self.pending_removals = list(persisted.get("pending_removals", []))
        try:
            if stepped:
                actions = await _run_steps(self.engine.load_steps(persisted, now, hints))
            else:
                actions = self.engine.load(persisted, now, hints)
        except EngineError as exc:  # check_config passed, so this is a bug: say it
            log.error("loading %s failed half-way: %s", self.state.path, exc.message)
            actions = []
        self.loaded.set()
        if persisted.get("groups"):
            log.info("resuming %d group(s) from %s", len(persisted["groups"]),
                     self.state.path)
        await self._execute(actions)
        await self._settle_removals(addresses)

    async def _read_state(self, hints: dict[str, str]) -> dict[str, Any]:
        """The state file if all of it can be applied, else {}: a file that cannot is
        kept aside (renamed, never overwritten) and changes are refused until the
        operator acts (docs/operations.md), so that nothing of it is half-applied and
        the next save cannot make a loss permanent. The trial load runs in steps (on a
        scratch engine: nothing else sees it), with the real load's ``hints``."""
        path = self.state.path
        try:
            # Parsing and validating 1,000 addresses takes ~40 ms of pure Python that
            # touches nothing of the daemon's: in a thread, the event loop runs meanwhile
            # (the interpreter switches threads every few milliseconds).
            persisted = await asyncio.to_thread(self.state.load)
            await _run_steps(self.engine.check_steps(persisted, hints))
        except (StateFileError, EngineError) as exc:
            problem = exc.message
        except (KeyError, TypeError, ValueError) as exc:  # a gap in the schema: still refuse
            problem = f"cannot be applied ({type(exc).__name__}: {exc})"
        except OSError as exc:  # unreadable: left where it is, and never written over
            self._refuse(f"cannot read it: {exc.strerror or exc}", None)
            return {}
        else:
            block = persisted.get("load_error")
            if block is None:
                self.refusal = None
                self.engine.state_error = ""
                return persisted
            self.refusal = dict(block)
            self.engine.state_error = self._refusal_text()
            log.error("%s", self.engine.state_error)
            return persisted
        kept: str | None = None
        try:
            kept = str(self.state.keep_aside())
        except OSError as exc:
            log.error("cannot keep %s aside: %s", path, exc.strerror or exc)
        self._refuse(problem, kept)
        return {}

    def _refuse(self, problem: str, kept: str | None) -> None:
        self.refusal = {"kept_aside": kept or "", "message": problem,
                        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.engine.state_error = self._refusal_text()
        log.error("%s", self.engine.state_error)
        self._save()  # a restart must refuse too: the refusal is in the new file

    def _refusal_text(self) -> str:
        r = self.refusal or {}
        path = self.state.path
        where = (f"it was kept aside as {r['kept_aside']}" if r.get("kept_aside")
                 else "it was left in place")
        return (f"the state file {path} could not be loaded: {r.get('message')}; {where}. "
                f"ipmpd started with no groups and refuses changes until the operator "
                f"acts: put a corrected file at {path} and send ipmpd SIGHUP (or restart "
                f"it), or run 'ipmpadm accept-empty-state' to go on without it")

    async def _settle_removals(self, addresses: list[AddrEvent]) -> None:
        """The journal of a daemon killed during a change: an address it was removing
        that is still on that interface and that the configuration does not want is
        removed now (else it would stay in the kernel, unknown to config and ipmpstat)."""
        if not self.pending_removals:
            return
        present = {(self.netlink.names.get(a.ifindex, ""), a.address) for a in addresses}
        wanted = {str(a.ip) for g in self.engine.groups.values() for a in g.binding}
        wanted |= {str(a.ip) for m in self.engine.members.values()
                   for a in m.all_test_addresses}
        for entry in self.pending_removals:
            addr = ipaddress.ip_interface(entry["address"])
            key = (entry["interface"], str(addr.ip))
            if key in present and key[1] not in wanted:
                log.warning("removing %s from %s: the daemon was stopped while removing it",
                            addr, key[0])
                await self._remove_address(key[0], addr)
        self.pending_removals = []
        self._save()

    async def _retry_state(self) -> None:
        """SIGHUP while refusing changes: read the state file again (the operator may
        have put a corrected one in place)."""
        async with self.lock:
            if self.refusal is None:
                return
            await self._load_state(await self.netlink.addresses(), now_ms())
            if self.refusal is None:
                log.info("%s loaded: changes are accepted again", self.state.path)
            self._schedule()

    def _accept_empty(self) -> str:
        """The operator's decision: go on with what the daemon runs now (no groups),
        leaving the kept-aside file where it is."""
        if self.refusal is None:
            raise EngineError(errors.INVALID, "the state file was loaded: nothing to accept")
        kept = self.refusal.get("kept_aside") or str(self.state.path)
        if not self.refusal.get("kept_aside"):
            raise EngineError(errors.INVALID, f"{kept} could not be read and is still in "
                              "place: move it away first, then send ipmpd SIGHUP")
        self.refusal = None
        self.engine.state_error = ""
        self._save()
        log.warning("the operator accepted starting without the state file kept aside as "
                    "%s; changes are accepted again", kept)
        return kept

    def _reload(self) -> None:
        if not self.started:  # the engine may be half-loaded (load_steps): after it
            asyncio.ensure_future(self._reload_after_start())
            return
        self.defaults = load_defaults(self.defaults_path)
        for note in self.defaults.notes:
            log.warning(note)
        log.info("re-read %s", self.defaults_path)
        if self.refusal is not None:
            asyncio.ensure_future(self._retry_state())
        self.engine.default_fdt = self.defaults.fdt_ms
        track_all = not self.defaults.track_only_groups
        if track_all != self.engine.track_all:
            actions = self.engine.set_track_all(track_all, now_ms())
            asyncio.ensure_future(self._locked(actions))

    async def _reload_after_start(self) -> None:
        async with self.lock:  # _start holds it until it is over
            pass
        if self.started:  # else the start-up failed: the daemon is stopping
            self._reload()

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
    async def _follow_kernel(self) -> None:
        """Supervise the kernel event reader: when it dies, log why, resynchronise and
        start it again; when it keeps dying, stop the daemon with EXIT_DEAF."""
        restarts: deque[float] = deque()
        failure: str | None = None
        while True:
            try:
                if failure is not None:
                    await self._resync_kernel(f"the event reader restarted after: {failure}")
                await self._watch_kernel()
                raise RuntimeError("the kernel event stream ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
                now = time.monotonic()
                while restarts and now - restarts[0] > EVENT_RESTART_WINDOW_S:
                    restarts.popleft()
                if len(restarts) >= EVENT_RESTARTS_MAX:
                    log.critical("The kernel event reader failed %d times within %.0f s "
                                 "(last: %s); ipmpd exits so that it is restarted: it "
                                 "cannot follow the kernel", len(restarts) + 1,
                                 EVENT_RESTART_WINDOW_S, failure, exc_info=exc)
                    self._stop_deaf()
                    return
                restarts.append(now)
                log.error("The kernel event reader failed (%s); restarting it", failure,
                          exc_info=exc)
                await asyncio.sleep(EVENT_RESTART_DELAY_S)

    def _follower_ended(self, task: asyncio.Task[None]) -> None:
        """The supervisor itself must not end while the daemon runs."""
        if task.cancelled() or self.stopping.is_set():
            return
        exc = task.exception()
        if exc is not None:
            log.critical("The kernel event supervisor failed: %r", exc, exc_info=exc)
        self._stop_deaf()

    def _stop_deaf(self) -> None:
        self.exit_status = EXIT_DEAF
        self.stopping.set()

    async def _watch_kernel(self) -> None:
        while True:
            try:
                async for event in self.netlink.stream():
                    try:
                        await self._kernel_event(event)
                    except Exception:  # a bad event must not stop failure detection
                        log.exception("error while handling %s", event)
            except EventsLost as lost:
                await self._resync_kernel(lost.reason)

    async def _resync_kernel(self, reason: str) -> None:
        """Notifications may have been lost: listen again on a new socket, then feed a
        fresh dump of links and addresses through the engine as at start (what vanished
        included), put back the data and test addresses someone removed meanwhile, and
        read the routers again. Under the lock: nothing the daemon changes falls between
        the new socket and the dump."""
        async with self.lock:
            lost = await self.netlink.reopen_events()
            log.warning("Kernel notifications were lost (%s; %s); resynchronising from a "
                        "fresh dump of links, addresses and routes", reason,
                        f"{lost} notifications dropped" if lost is not None
                        else "number dropped unknown")
            # Every removal the daemon made happened before the new socket listened:
            # their notifications went with the old one.
            self.own_removals.clear()
            now = now_ms()
            links = await self.netlink.links()
            addresses = await self.netlink.addresses()
            actions = self._forget_vanished(links, addresses, now)
            for a in addresses:
                actions += self.engine.address_observed(
                    self.netlink.names.get(a.ifindex, ""), a.address, True, now)
            await self._execute(actions)
            await self._restore_missing()
            actions = []
            for link in links:
                actions += self.engine.link_observed(
                    link.name, now, ifindex=link.ifindex, mac=link.mac,
                    carrier=link.carrier, admin_up=link.admin_up)
            await self._execute(actions)
            self._schedule()
        await self._refresh_routers()
        log.info("Resynchronised with the kernel: %d links, %d addresses", len(links),
                 len(addresses))

    def _forget_vanished(self, links: list[LinkInfo], addresses: list[AddrEvent],
                         now: float) -> list[Action]:
        """Links and addresses the engine believes present that the dump lacks."""
        out: list[Action] = []
        names = {link.name for link in links}
        for name in [n for n in self.engine.observed if n not in names]:
            out += self.engine.link_removed(name, now)
        present = {(self.netlink.names.get(a.ifindex, ""), a.address) for a in addresses}
        ips = {ip for _, ip in present}
        for ifname, linklocal in list(self.engine.linklocals.items()):
            if (ifname, linklocal) not in present:
                out += self.engine.address_observed(ifname, linklocal, False, now)
        for ip in [ip for ip in self.engine.local_addresses if ip not in ips]:
            out += self.engine.address_observed("", ip, False, now)
        return out

    async def _restore_missing(self) -> None:
        """Data and test addresses missing from the member that should hold them (their
        removal notification was lost): restored as if it had been heard."""
        present = {(self.netlink.names.get(a.ifindex, ""), a.address)
                   for a in await self.netlink.addresses()}
        wanted: list[tuple[str, str]] = []
        for group in self.engine.groups.values():
            wanted += [(m, str(a.ip)) for a, m in group.binding.items() if m is not None]
        for member in self.engine.members.values():
            wanted += [(member.name, str(t.ip)) for t in member.test_addresses]
        for ifname, ip in wanted:
            if (ifname, ip) not in present:
                await self._restore_if_ours(ifname, ip)

    async def _kernel_event(self, event: LinkInfo | LinkGone | AddrEvent | RoutesChanged
                            ) -> None:
        if isinstance(event, RoutesChanged):
            self._routes_changed()
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

    def _routes_changed(self) -> None:
        """Coalesce a burst of route changes: one dump in flight at a time, and one more
        after it when anything changed while it ran (a dump per notification made a
        burst of them cost a dump each, and the daemon fell minutes behind)."""
        self.routers_pending = True
        if self.routers_task is None or self.routers_task.done():
            self.routers_task = asyncio.ensure_future(self._refresh_routers_while_pending())

    async def _refresh_routers_while_pending(self) -> None:
        while self.routers_pending:
            await self._refresh_routers()

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
            if isinstance(action, SendProbe | PublishAttribute):
                self._apply_now(action)
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
        self._write_intent(actions)
        config_changed = False
        finish: list[BindAddress] = []
        # The cluster learns of the change first: handing a node attribute over never
        # waits, and the netlink work of the batch (unbinding, routes) can take tens of
        # milliseconds that the cluster's reaction need not wait for.
        for action in actions:
            if isinstance(action, PublishAttribute):
                self._apply_now(action)
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
            if run and isinstance(action, _IMMEDIATE):
                # The engine interleaves a log line and an event with every move: they
                # touch no netlink state and must not split the batch into 1,000.
                self._apply_now(action)
                continue
            await flush()
            try:
                if isinstance(action, ConfigChanged):
                    config_changed = True
                else:
                    await self._apply(action)
            except Exception:
                log.exception("error while carrying out %s", action)
        await flush()
        await self._finish_binds(finish)
        if self.test_conflicts:
            await self._drop_refused_tests()
        if config_changed:
            self._save_done()
            await self.member_sets.sync({
                name: list(g.members) for name, g in self.engine.groups.items() if name
            })
        self._close_stale_sockets()

    async def _apply(self, action: Action) -> None:
        if isinstance(action, _IMMEDIATE):
            self._apply_now(action)
        elif isinstance(action, UnbindAddress):
            await self._unbind_all([action])
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
        elif isinstance(action, PublishAttribute):
            self.attributes.publish(action.name, action.value, action.dampen_ms)

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

    async def _remove_addresses(self, items: list[tuple[str, Any]]) -> None:
        """_remove_address for many, in one netlink batch."""
        if not items:
            return
        for name, addr in items:
            self.own_removals.add((name, str(addr.ip)))
        await self.netlink.remove_addresses(items)

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
        lease = member.dhcp_lease
        if lease is not None and str(lease.ip) == address:
            # The lease is still ours (the session renews it): the address goes back, or
            # the member would stay failed for ever with a test address it no longer has.
            log.warning("DHCP test address %s of %s was removed by someone else; "
                        "restoring it", lease, ifname)
            await self.netlink.add_address(ifname, lease, deprecated=True)

    async def _dhcp_test(self, action: DhcpTest) -> None:
        """A DHCP test address: a DR-safe session per member (it survives the NIC being
        deleted and re-created) whose leases the engine installs as test addresses."""
        from ipmp_core.net import dhcp, dhcp_ids  # pyroute2's DHCP client: only when used

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
            member, client_id=dhcp_ids.client_id_for_member(action.group or "anonymous", member),
            on_lease=on_lease)
        self.dhcp[member] = session
        await session.start()
        log.info("DHCP started for the test address of %s", member)

    async def _dhcp_data_session(self, action: DhcpData) -> None:
        """A DHCP data address: the client id belongs to the group (RFC 4361 IAID+DUID),
        so whichever member holds the address renews the same lease."""
        from ipmp_core.net import dhcp, dhcp_ids

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

        session = dhcp.DhcpSession(ifname, client_id=dhcp_ids.client_id_for_group(
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

    async def _unbind_all(self, actions: list[UnbindAddress]) -> None:
        for action in actions:
            self._cancel_burst(str(action.address.ip))
        await self._remove_addresses([(a.member, a.address) for a in actions])

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
        await self._remove_addresses(removals)
        for action in announce:
            try:
                self._announce(action.member, action.address)
            except Exception:
                log.exception("error while announcing %s", action)

    async def _finish_bind(self, action: BindAddress) -> tuple[list[tuple[str, Any]], bool]:
        """The copies to remove (the previous member's, or any other interface's for a
        new address or a restart), and whether the address may be announced."""
        addr = action.address
        self._follow_dhcp(action)
        if action.dad and addr.version == 6:
            # Never announce a tentative address: wait for the kernel's verdict.
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
        from ipmp_core.values import clamped_int

        count = clamped_int(args.get("count", 1), "count", 0, 20)
        interval = clamped_int(args.get("interval_ms", 200), "interval_ms", 1, 10_000)
        found = self.engine.find_address(str(args["address"]))
        if found is None or found[2] is None:
            raise EngineError(errors.UNKNOWN_ADDRESS, f"{args['address']} is not bound")
        _group, addr, member_name = found
        member = self.engine.members[member_name]
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
        changed = False
        for dst, spec in installed.items():
            if dst not in wanted:
                await self.netlink.delete_route(spec)
                changed = True
        for dst, spec in wanted.items():
            if installed.get(dst) != spec:
                await self.netlink.replace_route(spec)
                changed = True
        self.installed_routes[action.group] = wanted
        if changed and self.own_routes_timer is None:
            # The stream leaves out our own routes, but they are next hops other groups
            # (the anonymous one) probe through: read the routers again, once, a little
            # later (OWN_ROUTES_REFRESH_DELAY_S).
            self.own_routes_timer = asyncio.get_running_loop().call_later(
                OWN_ROUTES_REFRESH_DELAY_S, self._own_routes_changed)

    def _own_routes_changed(self) -> None:
        self.own_routes_timer = None
        self._routes_changed()

    def _save(self) -> None:
        data = self.engine.config()
        # a copy: _save_done compares what was written with what is current
        data["saved_sysctls"] = {k: dict(v) for k, v in self.saved_sysctls.items()}
        if self.pending_removals:
            data["pending_removals"] = self.pending_removals
        if self.refusal is not None:
            if not self.refusal.get("kept_aside"):
                return  # the file that could not be read is still there: never write over it
            data["load_error"] = self.refusal
        try:
            self.state.save(data)
        except OSError as exc:
            log.error("cannot save the configuration to %s: %s", self.state.path, exc)
            return
        self.intent_saved = data

    def _write_intent(self, actions: list[Action]) -> None:
        """Write-ahead: a batch that changes the configuration has it saved before the
        kernel is touched, with the addresses it is about to remove (the journal). A
        SIGKILL anywhere in the batch then leaves every address the kernel has known:
        added ones are in the configuration already (adopted at start), removed ones
        are in the journal (removed at start unless configured again)."""
        self.intent_saved = None
        if not any(isinstance(a, ConfigChanged) for a in actions):
            return
        removals: list[dict[str, str]] = []
        for action in actions:
            if isinstance(action, UnbindAddress):
                removals.append({"interface": action.member, "address": str(action.address)})
            elif isinstance(action, SetTestAddresses):
                removals += [{"interface": action.member, "address": str(a)}
                             for a in action.remove]
        self.pending_removals = [*self.pending_removals, *removals]
        self._save()

    def _save_done(self) -> None:
        """After a batch: clear the journal, and save again only if something changed
        since the intent was written (one write per change in the usual case)."""
        written = self.intent_saved
        self.intent_saved = None
        if self.pending_removals:
            self.pending_removals = []
        elif written is not None and written == {**self.engine.config(),
                                                 "saved_sysctls": self.saved_sysctls,
                                                 **({"load_error": self.refusal}
                                                    if self.refusal else {})}:
            return
        self._save()

    def _publish(self, event: dict[str, Any]) -> None:
        event = {"time": time.time(), **event}
        for queue in list(self.subscribers):
            queue.put_nowait(event)

    # ------------------------------------------------------------------ control channel
    def _subscribed(self, anyone: bool) -> None:
        """Probe events are produced only while someone listens."""
        self.engine.probing.events = anyone

    async def _request(self, op: str, args: dict[str, Any], uid: int) -> dict[str, Any]:
        """One request of the control channel (ControlServer checked its form and the
        types of its arguments); every outcome is a reply, never an exception."""
        entry = self._ops().get(op)
        if entry is None:
            return {"error": (errors.INVALID, f"unknown request '{op[:40]}'")}
        handler, privileged = entry
        if privileged and uid != 0:
            return {"error": (errors.PERMISSION, f"'{op}' needs root")}
        if privileged and self.refusal is not None and op not in _WHILE_REFUSING:
            return {"error": (errors.STATE_REFUSED, f"'{op}' refused: "
                              f"{self.engine.state_error}")}
        if op in _READ_ONLY:
            if op != "ping":
                await self.loaded.wait()
            return self._read(handler, args)
        if op in ("add-address", "add-addresses"):
            conflict = await self._duplicate_check(args)
            if conflict is not None:
                return {"error": (errors.EXISTS, conflict)}
        async with self.lock:
            self.test_refused.clear()
            try:
                result, actions = handler(args, now_ms())
            except EngineError as exc:
                return {"error": (exc.code, exc.message)}
            except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
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

    def _read(self, handler: Callable[[dict[str, Any], float], Any], args: dict[str, Any]
              ) -> dict[str, Any]:
        """A read-only request (_READ_ONLY), answered at once, without the lock."""
        try:
            result, _ = handler(args, now_ms())
        except EngineError as exc:
            return {"error": (exc.code, exc.message)}
        return {"result": result}

    async def _duplicate_check(self, args: dict[str, Any]) -> str | None:
        """IPv4 duplicate address detection for every data address a request adds (the
        engine says from where), unless the client says ``dad: false``. ``dad_wait_ms``
        (the floating-address agent's dad_wait) times it; else an ARP probe takes
        PROBE_COUNT x PROBE_INTERVAL_S + PROBE_WAIT_S (0.4 s). Either way whatever the
        number of addresses (a batch is probed at once); it runs in a thread, outside the
        lock, so probing and kernel events go on meanwhile. Returns the refusal, or None."""
        group = args.get("group")
        if args.get("dad") is False or not isinstance(group, str):
            return None
        texts = args.get("addresses") if "addresses" in args else [args.get("address")]
        if not isinstance(texts, list):
            return None  # the request itself is refused with the precise reason
        from ipmp_core.net.dad import arp_probe_many, probe_timing
        from ipmp_core.net.mac import parse_mac
        from ipmp_core.values import parse_data_address

        by_member: dict[tuple[str, str], list[Any]] = {}
        for text in texts:
            where = self.engine.duplicate_check_from(group, text) \
                if isinstance(text, str) else None
            if where is not None:
                by_member.setdefault(where, []).append(parse_data_address(text).ip)
        conflicts: dict[Any, str] = {}
        for (member, mac), ips in by_member.items():
            try:
                found = await asyncio.to_thread(arp_probe_many, member, parse_mac(mac), ips,
                                                **probe_timing(args.get("dad_wait_ms")))
            except (OSError, ValueError) as exc:
                log.warning("Duplicate address detection on %s skipped: %s", member, exc)
                continue
            own = self.engine.own_macs()
            conflicts |= {ip: owner for ip, owner in found.items() if owner.lower() not in own}
        if not conflicts:
            return None
        named = "; ".join(f"{ip} is already in use on the network (answered by {owner})"
                          for ip, owner in sorted(conflicts.items(), key=lambda kv: kv[0])[:5])
        log.error("Duplicate address detection: %s; not added", named)
        return f"duplicate address detection failed: {named}"

    def _ops(self) -> dict[str, tuple[Callable[[dict[str, Any], float], Any], bool]]:
        e = self.engine
        d = self.defaults

        def act(fn: Callable[..., list[Action]]) -> Callable[..., Any]:
            return lambda a, now: (None, fn(a, now))

        return {
            "ping": (lambda a, now: ({"pid": os.getpid(), "starting": not self.started},
                                     []), False),
            "snapshot": (lambda a, now: (e.snapshot().to_dict(), []), False),
            "config": (lambda a, now: (e.config(), []), False),
            "shutdown": (lambda a, now: (None, []), True),
            "accept-empty-state": (lambda a, now: (self._accept_empty(), []), True),
            "dump": (lambda a, now: (self._dump(), []), True),  # the log is root's
            "create-group": (act(lambda a, now: e.create_group(
                a["group"], now,
                failback=a.get("failback", d.failback),
                fdt_ms=a.get("fdt_ms", d.fdt_ms),
                attribute=a.get("attribute"), multiplier=int(a.get("multiplier", 1)),
                dampen_ms=int(a.get("dampen_ms", 0)))), True),
            "set-attribute": (act(lambda a, now: e.set_attribute(
                a["group"], a.get("attribute"), now, multiplier=int(a.get("multiplier", 1)),
                dampen_ms=int(a.get("dampen_ms", 0)))), True),
            "publish-attribute": (act(lambda a, now: e.republish_attribute(a["group"])),
                                  True),
            "delete-group": (act(lambda a, now: e.delete_group(a["group"], now)), True),
            "add-member": (act(lambda a, now: e.add_member(
                a["group"], a["interface"], now, standby=bool(a.get("standby", False)))), True),
            "remove-member": (act(lambda a, now: e.remove_member(a["interface"], now)), True),
            "add-address": (act(lambda a, now: e.add_dhcp_data(a["group"], now)
                                if str(a["address"]).strip().lower() == "dhcp"
                                else e.add_data_address(
                a["group"], a["address"], now, owner=str(a.get("owner") or ""),
                dad=bool(a.get("dad")), deprecated=bool(a.get("deprecated")))), True),
            "add-addresses": (act(lambda a, now: self._add_addresses(a, now)), True),
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
            "set-fdt": (act(lambda a, now: e.set_fdt(a["group"], a["fdt_ms"], now)), True),
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

    def _add_addresses(self, args: dict[str, Any], now: float) -> list[Action]:
        """Many data addresses of one group in one request, all or nothing: the engine
        refreshes the group once, the kernel gets them as one netlink batch and the
        configuration is written once."""
        addresses = args["addresses"]
        if not isinstance(addresses, list) or not addresses:
            raise EngineError(errors.INVALID, "addresses must be a non-empty list")
        if len(addresses) > MAX_BATCH_ADDRESSES:
            raise EngineError(errors.INVALID,
                              f"at most {MAX_BATCH_ADDRESSES} addresses per request")
        if not all(isinstance(a, str) for a in addresses):
            raise EngineError(errors.INVALID, "every address must be a string")
        if any(a.strip().lower() == "dhcp" for a in addresses):
            raise EngineError(errors.INVALID, "DHCP data addresses are added one at a time")
        try:
            return self.engine.add_data_addresses(
                str(args["group"]), addresses, now, owner=str(args.get("owner") or ""),
                deprecated=bool(args.get("deprecated")))
        except EngineError as exc:
            raise EngineError(exc.code, f"{exc.message} (none of the {len(addresses)} "
                              "addresses was added)") from None

    def _test_list(self, member: Any) -> list[str]:
        return [str(a) for a in member.test_addresses] + (["dhcp"] if member.dhcp_test else [])

    def _add_test(self, ifname: str, address: str) -> list[Action]:
        member = self.engine.members.get(ifname) if isinstance(ifname, str) else None
        current = self._test_list(member) if member else []
        return self.engine.set_test_addresses(ifname, [*current, address], now_ms())

    def _remove_test(self, address: str, interface: str | None = None) -> list[Action]:
        """Remove a test address; "dhcp" (with the interface), or the address DHCP leased,
        stops DHCP on that member."""
        from ipmp_core.values import parse_ip

        if not isinstance(address, str):
            raise EngineError(errors.INVALID, f"test address {address!r} is not a string")
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
