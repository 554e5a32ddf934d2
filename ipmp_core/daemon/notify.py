"""sd_notify(3) without libsystemd: tell a Type=notify unit's manager how the daemon is.

systemd passes $NOTIFY_SOCKET, a datagram Unix socket (a path, or "@name" for one in the
abstract namespace). ipmpd sends READY=1 once it has adopted its state (the groups of its
state file are in the engine and in the kernel): `systemctl start ipmpd@NS` returns only
then, so a command that started it can talk to it at once. STOPPING=1 goes out when it
begins to shut down. Without $NOTIFY_SOCKET (started by a command or by hand) nothing is
sent. Standard library only.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("ipmpd")

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
# A leading "@" names a socket in the abstract namespace (sd_notify(3)).
_ABSTRACT_PREFIX = "@"


class Notifier:
    """The manager's notification socket, read once from the environment and removed
    from it so that the daemon's children (nft, attrd_updater) cannot notify in its name
    (sd_notify's unset_environment)."""

    def __init__(self, address: str | None) -> None:
        self.address = address

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.pop(NOTIFY_SOCKET_ENV, None) or None)

    def ready(self, status: str) -> bool:
        return self.send(f"READY=1\nSTATUS={status}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def send(self, message: str) -> bool:
        """One datagram; True when it was sent. A failure is logged, never raised: the
        daemon works without its manager hearing of it (systemd then times the start
        out, which says more than a daemon that died of it)."""
        if not self.address:
            return False
        target = self.address
        if target.startswith(_ABSTRACT_PREFIX):
            target = "\0" + target[1:]
        elif not target.startswith("/"):
            log.warning("%s=%s: not a Unix socket path; not notifying", NOTIFY_SOCKET_ENV,
                        self.address)
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(target)
                s.sendall(message.encode())
        except OSError as exc:
            log.warning("cannot notify the service manager at %s: %s", self.address,
                        exc.strerror or exc)
            return False
        return True
