"""Node attributes for Pacemaker, published by ipmpd the moment a group changes.

Mechanism only: the engine decides when a group's attribute has a new value (the
PublishAttribute action, emitted when the group's usable-member count changes); this
module hands the value to the cluster's attribute daemon with ``attrd_updater``, as
ocf:pacemaker:ping and ethmonitor do, but event-driven instead of once per monitor.

Why a child process and not attrd's IPC: attrd's protocol is libcrmcluster's private
XML over libqb IPC; attrd_updater is its supported client and costs a few milliseconds.
It runs as an asyncio subprocess: the engine and the daemon's failover never wait for
it. Each attribute has at most one attrd_updater in flight; values that arrive meanwhile
are coalesced (the latest wins), so a flapping group never queues a backlog. While
attrd is unreachable (the node is joining, Pacemaker is restarting) the latest value is
retried with a bounded back-off, for as long as it takes.

Outside a cluster nothing runs: without an ``attrd_updater`` binary the publisher is
disabled, and without a configured attribute the engine never asks it for anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil

log = logging.getLogger("ipmpd")

ATTRD_UPDATER = "attrd_updater"
# First retry soon: attrd refuses while the node joins, which takes about a second.
RETRY_FIRST_S = 0.2
# Back-off doubles up to this: a node without attrd for long costs one spawn per 5 s.
RETRY_MAX_S = 5.0
# attrd_updater answers in milliseconds; a wedged attrd must not keep children around.
COMMAND_TIMEOUT_S = 10.0
# At shutdown (the group's resource stopped), wait this long for a pending deletion.
FLUSH_TIMEOUT_S = 3.0

# (value, dampen_ms): value None means "delete the attribute".
Wanted = tuple[int | None, int]


class AttributePublisher:
    """Publishes node attributes through attrd_updater, off the caller's path."""

    def __init__(self, binary: str | None = ATTRD_UPDATER) -> None:
        self.binary = shutil.which(binary) if binary else None
        self.wanted: dict[str, Wanted] = {}  # the latest value not yet accepted by attrd
        self.accepted: dict[str, Wanted] = {}  # the last value attrd accepted
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.calls = 0  # attrd_updater runs (for ipmpadm dump and the tests)
        self._off_logged = False

    @property
    def enabled(self) -> bool:
        return self.binary is not None

    def publish(self, name: str, value: int | None, dampen_ms: int) -> None:
        """Set node attribute ``name`` to ``value`` (None: delete it), dampened by
        ``dampen_ms``. Returns at once; needs a running event loop."""
        if self.binary is None:
            if not self._off_logged:
                self._off_logged = True
                log.info("no %s here (not a cluster node?): node attribute %s not "
                         "published", ATTRD_UPDATER, name)
            return
        self.wanted[name] = (value, max(0, int(dampen_ms)))
        task = self.tasks.get(name)
        if task is None or task.done():
            self.tasks[name] = asyncio.ensure_future(self._deliver(name))

    async def _deliver(self, name: str) -> None:
        delay = RETRY_FIRST_S
        failures = 0
        while name in self.wanted:
            want = self.wanted[name]
            if await self._run(name, want):
                self.accepted[name] = want
                if failures:
                    log.info("node attribute %s published after %d failed attempt(s)",
                             name, failures)
                failures, delay = 0, RETRY_FIRST_S
                if self.wanted.get(name) == want:  # nothing newer arrived meanwhile
                    del self.wanted[name]
                continue
            failures += 1
            if self.wanted.get(name) != want:
                continue  # a newer value: try that one at once
            if failures == 1:
                log.warning("cannot publish node attribute %s yet (attrd unreachable?); "
                            "retrying", name)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def _run(self, name: str, want: Wanted) -> bool:
        value, dampen_ms = want
        assert self.binary is not None
        argv = [self.binary, "-n", name]
        argv += ["-D"] if value is None else ["-U", str(value), "-d", f"{dampen_ms}ms"]
        self.calls += 1
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            log.warning("cannot run %s: %s", self.binary, exc)
            return False
        try:
            _, err = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            log.warning("%s timed out after %g s", " ".join(argv), COMMAND_TIMEOUT_S)
            return False
        if proc.returncode != 0:
            log.debug("%s: exit %s: %s", " ".join(argv), proc.returncode,
                      err.decode(errors="replace").strip())
            return False
        log.debug("node attribute %s = %s", name, "(deleted)" if value is None else value)
        return True

    async def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> None:
        """Give pending updates (a deletion at shutdown) up to ``timeout`` seconds."""
        pending = [t for t in self.tasks.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
