"""The agents' link to the node's daemon: its requests, its snapshot, starting it again,
and deleting the node attribute it publishes when it is gone.

Standard library only (and ocf/ipmp_core modules that are): this is on the monitor path,
which Pacemaker runs every few seconds on every node.
"""

from __future__ import annotations

import os
import time

from ipmp_core.control_client import ControlClient, ControlError, DaemonUnreachable, ensure_daemon
from ocf import OCFCode, OCFError


def owner_of(ctx) -> str:  # noqa: ANN001
    """The resource's name without the clone instance number: net:0 -> net."""
    instance = ctx.instance or "manual"
    return instance.split(":")[0]


def client() -> ControlClient:
    return ControlClient()


def call(op: str, **args: object) -> object:
    """A daemon request whose refusal is a failed action with the daemon's reason."""
    try:
        return client().call(op, **args)
    except DaemonUnreachable as exc:
        raise OCFError(OCFCode.ERR_GENERIC, exc.message) from None
    except ControlError as exc:
        raise OCFError(OCFCode.ERR_GENERIC, f"{op}: {exc.message}") from None


def start_daemon() -> None:
    try:
        ensure_daemon()
    except DaemonUnreachable as exc:
        raise OCFError(OCFCode.ERR_GENERIC, f"cannot start the IPMP daemon: {exc.message}") \
            from None


def snapshot_or_none() -> dict | None:
    """The daemon's snapshot, or None when no daemon runs here (nothing configured)."""
    try:
        return client().snapshot()
    except DaemonUnreachable:
        return None


def snapshot_for_monitor(ctx) -> tuple[dict | None, str | None]:  # noqa: ANN001
    """The daemon's snapshot for a monitor, and a note when the daemon had to be restarted.

    A recurring monitor runs only where the resource is supposed to be running: when no
    daemon answers there, it died (killed, crashed). The monitor starts it again; it
    restores its groups and addresses from its state file where the kernel still has
    them, so nothing moves. A probe (interval 0) never starts anything: None means "not
    running here"."""
    try:
        return client().snapshot(), None
    except DaemonUnreachable as exc:
        why = exc.message
    except OSError as exc:  # it died while answering (connection reset)
        why = f"the IPMP daemon is not running ({exc.strerror or exc})"
    if ctx.is_probe:
        return None, None
    try:
        restarted = ensure_daemon()
        pid = restarted.call("ping")["pid"]
        snapshot = restarted.snapshot()
    except ControlError as exc:
        raise OCFError(OCFCode.ERR_GENERIC, f"{why}, and it could not be restarted: "
                       f"{exc.message}") from None
    if not named_groups(snapshot) and not snapshot["interfaces"]:
        # Its state had nothing: nothing was running here (stopped cleanly), not a crash.
        try:
            restarted.call("shutdown")
        except ControlError:
            pass
        return None, None
    note = f"{why}; restarted it (pid {pid})"
    ctx.log.warning(note)
    return snapshot, note


def named_groups(snapshot: dict) -> list[dict]:
    """The groups of a snapshot but the anonymous one (TRACK_INTERFACES_ONLY_WITH_GROUPS=no
    lists it, named "", with or without members): what the daemon runs for someone."""
    return [g for g in snapshot["groups"] if g["name"]]


def find_group(snapshot: dict | None, name: str) -> dict | None:
    if snapshot is None:
        return None
    return next((g for g in snapshot["groups"] if g["name"] == name), None)


# attrd_updater answers in milliseconds; a wedged cluster must not hang the stop.
ATTRD_TIMEOUT_S = 10.0
_POLL_S = 0.002


def delete_attribute(name: str, log) -> None:  # noqa: ANN001
    """Delete a node attribute (stop: the daemon does it too, but may already be gone).
    ipmpd publishes the attribute's values itself (ipmp_core/net/attrd.py)."""
    _attrd(["attrd_updater", "-n", name, "-D"], log)


def _attrd(argv: list[str], log) -> bool:  # noqa: ANN001
    """Run attrd_updater; True when it succeeded. posix_spawn and waitpid rather than
    subprocess, which alone costs 5 ms of imports on every monitor."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return False
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                   (os.POSIX_SPAWN_DUP2, devnull, 2)]
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    except OSError:
        log.debug("attrd_updater not found: node attribute not published (outside a cluster?)")
        return False
    finally:
        os.close(devnull)
    deadline = time.monotonic() + ATTRD_TIMEOUT_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                # Outside a cluster (ipmp-ocf) there is no attribute daemon: not an error.
                log.debug(f"{' '.join(argv)}: exit {code}")
            return code == 0
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            log.warning(f"{' '.join(argv)} timed out")
            return False
        time.sleep(_POLL_S)
