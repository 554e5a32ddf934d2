"""pyroute2's DHCP client for one interface incarnation, made safe to lose its NIC, and
the link query the session supervises it with (docs/design.md, "DHCP").
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import socket
import struct
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from pyroute2.dhcp import fsm, messages
from pyroute2.dhcp.client import AsyncDHCPClient, ClientConfig
from pyroute2.dhcp.enums import dhcp as dhcp_enums
from pyroute2.dhcp.hooks import Hook
from pyroute2.dhcp.leases import Lease as _P2Lease

from ipmp_core.net.dhcp_lease import seeded_lease_type
from ipmp_core.net.mac import mac_text

log = logging.getLogger("ipmpd.dhcp")

# Options we ask for: only what a lease record needs (no DNS, domain, NTP: not our job).
REQUESTED_OPTIONS = (
    dhcp_enums.Option.SUBNET_MASK,
    dhcp_enums.Option.ROUTER,
    dhcp_enums.Option.LEASE_TIME,
    dhcp_enums.Option.RENEWAL_TIME,
    dhcp_enums.Option.REBINDING_TIME,
)

_SIOCGIFFLAGS = 0x8913
_IFF_UP = 0x1
_IFF_RUNNING = 0x40  # operational: carrier (RFC 2863 operstate up)
_IFREQ_FLAGS = "16sH22x"  # struct ifreq (40 bytes on 64-bit): name, then ifr_flags


def client_config(ifname: str, *, seed: _P2Lease | None, reboot_for: float | None,
                  hooks: list[Hook], hostname: str | None) -> ClientConfig:
    """pyroute2's client configured to have no side effects of its own: only our hooks
    (nothing configured), an in-memory lease seeded with ``seed`` (a held lease to
    re-confirm: INIT-REBOOT), no pid file, no signal handlers (the daemon owns them), no
    RELEASE unless the session sends one. ``reboot_for``: how long to keep re-confirming
    the seeded lease (until it runs out), None for pyroute2's default."""
    timeouts: dict[fsm.State, float] = {
        fsm.State.REQUESTING: 30,
        fsm.State.SELECTING: 15 * 60,
    }
    if reboot_for is not None:
        # pyroute2's 10 s would drop a valid lease merely because the server is briefly
        # unreachable.
        timeouts[fsm.State.REBOOTING] = reboot_for
    return ClientConfig(
        interface=ifname,
        lease_type=seeded_lease_type(seed),
        hooks=hooks,
        requested_parameters=REQUESTED_OPTIONS,
        timeouts=timeouts,  # type: ignore[arg-type]
        write_pidfile=False,
        release=False,
        hook_timeout=2.0,
        client_id=None,
        handle_signals=False,
        vendor_id=None,
        host_name=hostname,
    )


def client_id_option(client_id: bytes) -> dict[str, Any]:
    """The caller's option-61 bytes in the form pyroute2's encoder takes."""
    if not isinstance(client_id, bytes | bytearray):
        raise TypeError("client_id must be bytes (option 61: type byte + identifier)")
    if not 2 <= len(client_id) <= 255:
        raise ValueError("client_id must be 2..255 bytes long (type byte + identifier)")
    kind, key = client_id[0], bytes(client_id[1:])
    if kind == 1:  # Ethernet: pyroute2 wants a MAC string here
        if len(key) != 6:
            raise ValueError("a type-1 client_id needs a 6-byte MAC address")
        return {"type": 1, "key": mac_text(key)}
    return {"type": kind, "key": key}


@dataclass(frozen=True)
class Link:
    """One incarnation of an interface, as an ioctl sees it: its ifindex and flags."""

    ifindex: int
    up: bool
    carrier: bool


def query_link(ifname: str) -> Link | None:
    """The interface called ``ifname`` in this thread's network namespace, or None.

    ioctls rather than /sys: /sys shows the namespace it was mounted in, which is not
    necessarily ours (a thread that entered a namespace with setns(2)).
    """
    try:
        ifindex = socket.if_nametoindex(ifname)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            req = struct.pack(_IFREQ_FLAGS, ifname.encode(), 0)
            flags = struct.unpack(_IFREQ_FLAGS, fcntl.ioctl(sock, _SIOCGIFFLAGS, req))[1]
    except (OSError, UnicodeError, ValueError):
        return None
    return Link(ifindex=ifindex, up=bool(flags & _IFF_UP), carrier=bool(flags & _IFF_RUNNING))


class _QuietNetworkDown(logging.Filter):
    """pyroute2 logs ENETDOWN on its packet socket at ERROR level; for us a NIC that goes
    down or is hot-swapped is routine (the session logs it at INFO), so drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(
            ("Could not recv, network is down", "Could not send, network is down")
        )


_quiet_filter = _QuietNetworkDown()


def install_log_filter() -> None:
    logger = logging.getLogger("pyroute2.dhcp.client")
    if _quiet_filter not in logger.filters:
        logger.addFilter(_quiet_filter)


class Client(AsyncDHCPClient):
    """pyroute2's client for one interface incarnation, made safe to lose its NIC.

    Overrides (all small): the client id goes on the wire verbatim; send errors are
    swallowed (the retransmission logic retries; the supervisor decides what to do);
    a bad packet does not kill the receive loop; the end of either loop is reported.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        client_id: dict[str, Any],
        on_trouble: Callable[[], None],
    ) -> None:
        super().__init__(config)
        self._cid = client_id
        self._on_trouble = on_trouble
        self.ended = False
        self._send_failed = False

    async def _send_message(self, msg: messages.SentDHCPMessage) -> None:
        # As AsyncDHCPClient._send_message, with our client id and no exceptions.
        msg.dhcp["secs"] = min(math.floor(time.time() - self.last_state_change), 0xFFFF)
        msg.dhcp["xid"] = self.xid.for_state(self.state)
        msg.dhcp["options"]["client_id"] = dict(self._cid)
        if self.config.host_name:
            msg.dhcp["options"]["host_name"] = self.config.host_name
        if self.config.vendor_id:
            msg.dhcp["options"]["vendor_id"] = self.config.vendor_id
        try:
            await self._sock.put(msg)
        except OSError as exc:
            msg.dhcp.reset()  # put() encodes into the message; start afresh next time
            if not self._send_failed:
                log.info(
                    "DHCP %s on %s not sent: %s",
                    msg.message_type.name,
                    self.config.interface,
                    exc.strerror or exc,
                )
            self._send_failed = True
            self._on_trouble()
        else:
            self._send_failed = False

    async def _process_msg(self, msg: messages.ReceivedDHCPMessage) -> None:
        try:
            await super()._process_msg(msg)
        except Exception as exc:  # noqa: BLE001 - one odd packet must not end the session
            log.warning("ignoring a DHCP message on %s: %r", self.config.interface, exc)

    async def _recv_forever(self) -> None:
        await self._run_loop("receive", super()._recv_forever())

    async def _send_forever(self) -> None:
        await self._run_loop("send", super()._send_forever())

    async def _run_loop(self, which: str, loop: Coroutine[Any, Any, None]) -> None:
        """Run one of pyroute2's two loops (receive, send): however it ends, this
        incarnation of the client is done, which the supervisor must hear of."""
        try:
            await loop
        except Exception as exc:  # noqa: BLE001 - reported to the supervisor instead
            log.info("DHCP %s loop on %s ended: %r", which, self.config.interface, exc)
        finally:
            self._loop_ended()

    def _loop_ended(self) -> None:
        if self.state is not fsm.State.OFF and not self.ended:
            # ENETDOWN (NIC deleted or set down) or an error: this incarnation is done.
            log.info("DHCP on %s: the interface went down or away", self.config.interface)
            self.ended = True
            self._on_trouble()

    def force_close(self) -> None:
        """Last resort when __aexit__ hangs or fails: cancel the tasks, close the socket."""
        for task in (self._sender_task, self._receiver_task, self._state_watchdog):
            if task is not None and not task.done():
                task.cancel()
        self.lease_timers.cancel()
        sock = self._sock
        watcher = getattr(sock, "_l2addr_watcher", None)
        if watcher is not None and not watcher.done():
            watcher.cancel()
        with contextlib.suppress(OSError):
            sock.close()
