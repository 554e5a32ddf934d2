"""Multicast follows the group's nominee (flags m/b/M): the group's configured groups are
joined on the nominated member, and memberships other processes made on any member are
moved to it (reference section 8; Linux has no IPMP interface to hold them), when a
member joins, when the nomination moves, and by a slow sweep. Part of the daemon: it
shares the daemon's engine and lock."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time

from ipmp_core.constants import MCAST_SWEEP_S, MCAST_UNMOVABLE_RETRY_S
from ipmp_core.engine.actions import Nominate
from ipmp_core.engine.engine import Engine
from ipmp_core.net import mcast

log = logging.getLogger("ipmpd")


class MulticastFollower:
    """Owns the group's own multicast memberships (one socket per group and family, on
    the nominee), what applications' memberships were last seen on each member, the
    ones found unmovable, and the sweep timer; works under the daemon's lock."""

    def __init__(self, engine: Engine, lock: asyncio.Lock, stopping: asyncio.Event) -> None:
        self.engine = engine
        self.lock = lock
        self.stopping = stopping
        self.sockets: dict[tuple[str, str], socket.socket] = {}  # (group, family) -> joins
        # Applications' memberships: member -> (ifindex, family -> groups) as last seen,
        # for a nominee whose NIC is gone by the time its memberships must move.
        self.seen: dict[str, tuple[int, dict[str, set[str]]]] = {}
        self.unmovable: dict[tuple[int, str, str], float] = {}  # -> retry time
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        # Moves asked for by the batch being executed: (group, family, from member).
        self.pending: list[tuple[str, str, str]] = []

    def start(self) -> None:
        self._schedule_sweep()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        for task in self.tasks:
            task.cancel()
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()

    def join_group_multicast(self, action: Nominate) -> None:
        """Receive the group's multicast on its nominee only: memberships live on one
        socket per group and family, re-created on the new nominee."""
        key = (action.group, action.family)
        old = self.sockets.pop(key, None)
        if old is not None:
            old.close()  # leaves every group it joined
        group = self.engine.groups.get(action.group)
        member = self.engine.members.get(action.member or "")
        if group is None or member is None or not member.present:
            return
        v6 = action.family == "inet6"
        wanted = [a for a in group.multicast if (":" in a) == v6]
        if not wanted:
            return
        sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        for addr in wanted:
            try:
                if v6:
                    mreq = socket.inet_pton(socket.AF_INET6, addr) + struct.pack(
                        "@I", member.ifindex)
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
                else:
                    mreqn = socket.inet_aton(addr) + socket.inet_aton("0.0.0.0") + \
                        struct.pack("@i", member.ifindex)
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
            except OSError as exc:
                log.warning("cannot join %s on %s: %s", addr, member.name, exc.strerror)
        self.sockets[key] = sock
        log.info("group %s receives %s on %s", action.group, " ".join(wanted), member.name)

    # ------------------------------------------------------------------ applications'
    def move_later(self, group: str, family: str, from_member: str) -> None:
        """Move what other processes joined on ``from_member`` to the group's nominee,
        after the current batch (``after_batch`` starts it): searching the sockets walks
        /proc and must not delay the announcements of a failover."""
        self.pending.append((group, family, from_member))

    def after_batch(self) -> None:
        """Start the moves the batch asked for (each waits for the lock). The devices'
        memberships are noted now, once for the batch (both families' Nominate of a
        failover asked for them; ~0.2 ms each, reading /proc) and after its
        announcements, yet before the lock is released: a NIC may be gone by the time its
        move runs (a NIC being removed loses its carrier first), and then what was last
        seen on it is moved."""
        pending, self.pending = self.pending, []
        if any(from_member in self.engine.observed for _, _, from_member in pending):
            self._read_memberships()
        for group, family, from_member in pending:
            snapshot = self.seen.get(from_member)
            task = asyncio.ensure_future(self._move_locked(group, family, from_member,
                                                           snapshot))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _move_locked(self, group_name: str, family: str, from_member: str,
                                     snapshot: tuple[int, dict[str, set[str]]] | None
                                     ) -> None:
        try:
            async with self.lock:
                group = self.engine.groups.get(group_name)
                nominee = group.nominees.get(family) if group is not None else None
                if nominee is None or nominee == from_member:
                    return  # no nominee (group failed): memberships stay where they are
                seen = self.engine.observed.get(from_member)
                tables = self._read_memberships()
                if seen is not None and seen.ifindex in tables[family] and (
                        snapshot is None or snapshot[0] == seen.ifindex):
                    ifindex, groups = seen.ifindex, tables[family][seen.ifindex]
                elif snapshot is not None:  # the NIC is gone (or re-created) since
                    ifindex, groups = snapshot[0], snapshot[1].get(family, set())
                else:
                    return
                await self._move(group_name, family, from_member, ifindex, groups)
        except Exception:  # a convenience for applications: never in failure detection's way
            log.exception("error while moving the multicast memberships of %s", from_member)

    def _read_memberships(self) -> dict[str, mcast.Memberships]:
        """The kernel's multicast tables; each present member's entry is remembered."""
        tables = {f: mcast.read_memberships(f) for f in (mcast.INET, mcast.INET6)}
        for name, member in self.engine.members.items():
            seen = self.engine.observed.get(name)
            group = self.engine.groups.get(member.group)
            if not member.group or group is None or seen is None:
                continue
            if not any(seen.ifindex in t for t in tables.values()):
                continue  # already gone from the kernel: keep what was seen last
            self.seen[name] = (seen.ifindex, {
                # the daemon's own memberships (the group's configured ones) are not moved
                f: mcast.movable(tables[f].get(seen.ifindex, set()),
                                 own=group.multicast if group.nominees.get(f) == name else ())
                for f in tables})
        return tables

    async def _move(self, group_name: str, family: str, from_member: str,
                              from_ifindex: int, groups: set[str]) -> None:
        """Under the lock: move ``groups`` (as found on ``from_ifindex``) to the nominee."""
        group = self.engine.groups.get(group_name)
        nominee_name = group.nominees.get(family) if group is not None else None
        nominee = self.engine.members.get(nominee_name or "")
        if group is None or nominee is None or not nominee.present:
            return
        filters = mcast.read_source_filters(family).get(from_ifindex, set()) if groups else set()
        wanted = mcast.movable(groups, source_specific=filters)
        now = time.monotonic()
        wanted = {g for g in wanted
                  if self.unmovable.get((from_ifindex, family, g), 0.0) <= now}
        if not wanted:
            return
        moved = await asyncio.to_thread(mcast.move_memberships, wanted, family, from_ifindex,
                                        nominee.ifindex, from_name=from_member)
        for m in moved:
            log.info("moved multicast membership %s of pid %d from %s to %s (nominee of %s)",
                     m.group, m.pid, from_member, nominee.name, group_name)
        if moved:  # remembered at once: the nominee's NIC may vanish before the next sweep
            seen = self.seen.get(nominee.name)
            if seen is None or seen[0] != nominee.ifindex:
                seen = self.seen[nominee.name] = (nominee.ifindex, {})
            seen[1].setdefault(family, set()).update(m.group for m in moved)
        for g in sorted(wanted - {m.group for m in moved}):
            if (from_ifindex, family, g) not in self.unmovable:
                log.info("multicast membership %s on %s is held by no socket the daemon can "
                         "move (a kernel user, or a bound or unreachable socket); left there",
                         g, from_member)
            self.unmovable[(from_ifindex, family, g)] = now + MCAST_UNMOVABLE_RETRY_S

    def _schedule_sweep(self) -> None:
        def start() -> None:
            task = asyncio.ensure_future(self._sweep())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        self.timer = asyncio.get_running_loop().call_later(MCAST_SWEEP_S, start)

    async def _sweep(self) -> None:
        """Memberships other processes made on members that are not their group's
        nominee move to the nominee (an application can join anywhere, at any time)."""
        try:
            async with self.lock:
                if not any(g.name and len(g.members) > 1 for g in self.engine.groups.values()):
                    return
                tables = self._read_memberships()
                # Forget the unmovable memberships that are gone: a new one is searched.
                for key in [k for k in self.unmovable
                            if k[2] not in tables[k[1]].get(k[0], set())]:
                    del self.unmovable[key]
                for group in list(self.engine.groups.values()):
                    if not group.name:
                        continue  # the anonymous group: detection only
                    for family in (mcast.INET, mcast.INET6):
                        nominee = group.nominees.get(family)
                        if nominee is None:
                            continue
                        for name in list(group.members):
                            member = self.engine.members.get(name)
                            if name == nominee or member is None or not member.present:
                                continue
                            groups = mcast.movable(tables[family].get(member.ifindex, set()))
                            if groups:
                                await self._move(group.name, family, name,
                                                           member.ifindex, groups)
        except Exception:
            log.exception("error while looking for applications' multicast memberships")
        finally:
            if not self.stopping.is_set():
                self._schedule_sweep()
