"""DHCPv4 leases for the IPMP daemon: one :class:`DhcpSession` per DHCP-managed address.

What the daemon needs (ipmp-semantics.md section 9): a DHCP *test* address on a member
(its lease must survive the member being hot-swapped), and DHCP *data* addresses on a
group (their lease must survive failover to another member). In both cases the daemon,
not the DHCP client, owns the address: a session only *reports* leases through
``on_lease`` and never touches addresses, routes or resolv.conf.

How pyroute2's client is used
-----------------------------
The DHCP protocol engine is pyroute2's :class:`~pyroute2.dhcp.client.AsyncDHCPClient`
(state machine, retransmissions, T1/T2/expiry timers, message encoding, a raw
``AF_PACKET`` socket with a BPF filter on UDP port 68). It is configured so that it has
no side effects of its own:

* ``hooks``: only our own, which turn BOUND/RENEWED/REBOUND into ``on_lease(lease)`` and
  EXPIRED/UNBOUND (a NAK) into ``on_lease(None)``. pyroute2's ``configure_ip`` /
  ``add_default_gw`` hooks are never installed, so nothing is configured;
* ``lease_type``: an in-memory lease class (the default writes JSON files to the current
  directory) that also seeds a restarted client with the lease we hold;
* ``handle_signals=False`` (the daemon owns SIGHUP/SIGUSR*), ``write_pidfile=False``,
  ``release=False`` (a RELEASE is sent only when ``stop(release=True)`` asks for it);
* the client identifier: pyroute2 can only send a type-0 id built from
  ``ClientConfig.client_id``; :class:`_Client` overrides ``_send_message`` to put the
  caller's option-61 bytes on the wire verbatim (any type, e.g. RFC 4361 type 255).

Why a supervisor around it (DR safety)
--------------------------------------
A pyroute2 client is bound to one interface *incarnation*: its packet socket is bound to
an ifindex. When the NIC is deleted the socket reports ENETDOWN, the receive loop ends
and sends fail with ENXIO; a NIC re-created under the same name has a new ifindex and MAC
and the old socket never sees it. So a session runs a small supervisor task that

* watches the interface by *name* (rtnetlink link events, plus a re-check every
  ``RECHECK_S`` seconds in case an event was missed) and runs one client per incarnation:
  when the NIC disappears, goes admin-down, is replaced (new ifindex) or the client's
  socket dies, the client is torn down (no RELEASE) and the session waits;
* starts a fresh client when an interface with that name is present and up again. If it
  still holds a valid lease, the client starts in INIT-REBOOT (RFC 2131 3.2: a broadcast
  REQUEST for the same address, same client id), so the server confirms the lease through
  the new NIC, whatever its MAC, and ``on_lease`` fires again: that is the daemon's cue to
  re-install the address on the new NIC. Without a valid lease it starts from DISCOVER;
* keeps its own expiry timer (monotonic clock) so that a lease that runs out while no
  client is running (NIC gone) is reported lost, once;
* ``move(ifname)`` is the same restart on another interface: the lease and client id
  stay, and an immediate INIT-REBOOT request (then every renewal) goes out through the
  new member, so the server learns the new path (chaddr) at once;
* carrier coming back while the client is not BOUND restarts it, so that the next
  request goes out now instead of after the retransmission backoff (up to 32 s);
* errors never escape: send errors are swallowed (the client's retransmission retries),
  a failing start is retried with exponential backoff (0.5 s .. 30 s), and an interface
  that stays absent costs one ioctl every ``RECHECK_S`` seconds, no busy loop.

``on_lease`` is called on transitions only: with a :class:`Lease` whenever one is bound,
renewed or rebound (also re-confirmed after DR or ``move``; the lease may be unchanged
apart from ``obtained_at``: installing it must be idempotent), and with ``None`` when a
held lease expires or the server refuses it (NAK). A server that never answers produces
no calls at all; the client keeps trying in the background (pyroute2's backoff: 4 s
doubling up to 32 s). ``stop()`` does not call ``on_lease``: the caller knows.

Client identifiers (option 61)
------------------------------
The server keys a lease on the client identifier when there is one, so the identifier,
not the MAC, decides which address we get back. A MAC-based identity would lose the
lease on every hot-swap (new MAC) and every failover of a data address (another
member's MAC). Hence:

* :func:`client_id_for_member` (test addresses): type 0 followed by a text naming host,
  group and member. It is stable across NIC replacement because it is derived from
  names, and readable in server logs;
* :func:`client_id_for_group` (data addresses): RFC 4361 form, type 255 + IAID (4 bytes,
  derived from group name and address index) + DUID (DUID-UUID, RFC 6355, derived from
  the host). It belongs to the group, not to any NIC, so the lease follows the address
  through failover.

Both mix in the host's name (``socket.gethostname()``, or ``host=``) because two
machines may well both have a group "ipmp0" with a member "eth0", and client ids must be
unique on the network.

Sending goes through a raw packet socket, so DISCOVER/REQUEST work on a NIC without any
address. A server answers a RENEWING request (and any request carrying ``ciaddr``)
unicast to the leased address, so renewals need the address configured on the interface
the session runs on (arp_ignore=1 on members: on that very interface). The daemon does
that anyway; with ``move()`` the session follows the address to the member holding it.

Several sessions can run in one namespace, on the same or different interfaces: each has
its own socket and transaction id, and replies are matched by xid.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import ipaddress
import logging
import math
import socket
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.dhcp import fsm, messages
from pyroute2.dhcp.client import AsyncDHCPClient, ClientConfig
from pyroute2.dhcp.enums import dhcp as dhcp_enums
from pyroute2.dhcp.hooks import Hook, Trigger
from pyroute2.dhcp.leases import Lease as _P2Lease
from pyroute2.dhcp.leases import MissingOptionError
from pyroute2.netlink.rtnl import RTMGRP_LINK

__all__ = [
    "DhcpSession",
    "Lease",
    "SESSION_STATES",
    "client_id_for_group",
    "client_id_for_member",
    "host_identity",
]

log = logging.getLogger("ipmpd.dhcp")

# How often the supervisor re-checks its interface without being woken by an event (an
# rtnetlink event can be lost when the socket buffer overflows). One ioctl per check.
RECHECK_S = 2.0
# Backoff between failed client starts (or clients that died on their own): 0.5 s, 1 s,
# 2 s ... at most 30 s. Reset once a lease is bound.
RESTART_BACKOFF_FIRST_S = 0.5
RESTART_BACKOFF_MAX_S = 30.0
# A held lease with less than this left is not worth an INIT-REBOOT: start from DISCOVER.
MIN_REBOOT_LEFT_S = 2.0
# Upper bound for tearing one pyroute2 client down, and for stop() as a whole.
CLOSE_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 10.0
# Options we ask for: only what a lease record needs (no DNS, domain, NTP: not our job).
REQUESTED_OPTIONS = (
    dhcp_enums.Option.SUBNET_MASK,
    dhcp_enums.Option.ROUTER,
    dhcp_enums.Option.LEASE_TIME,
    dhcp_enums.Option.RENEWAL_TIME,
    dhcp_enums.Option.REBINDING_TIME,
)
# Every value DhcpSession.state can take.
SESSION_STATES = (
    "init",  # no lease yet; DISCOVERing (also before the first packet went out)
    "rebooting",  # holding a lease, confirming it (after start-up, DR, move, carrier)
    "bound",
    "renewing",  # T1 passed: unicast REQUESTs to the server that granted the lease
    "rebinding",  # T2 passed: broadcast REQUESTs to any server
    "expired",  # had a lease, lost it (expiry or NAK); DISCOVERing again
    "waiting",  # the interface is absent or admin-down; a held lease is kept until expiry
    "stopped",
)

_SIOCGIFFLAGS = 0x8913
_IFF_UP = 0x1
_IFF_RUNNING = 0x40  # operational: carrier (RFC 2863 operstate up)
_IFREQ_FLAGS = "16sH22x"  # struct ifreq (40 bytes on 64-bit): name, then ifr_flags
_LINK_EVENTS = ("RTM_NEWLINK", "RTM_DELLINK")

_MEMBER_ID_TAG = "clearview-ipmp"
_IAID_TAG = b"clearview-ipmp/iaid/"
_DUID_NAMESPACE = uuid.UUID("7b0c6f2e-3c1a-5d55-9a57-2f6e1d0c9a11")  # ours, fixed forever
_DUID_UUID = 4  # RFC 6355


# --------------------------------------------------------------------------- leases


@dataclass(frozen=True)
class Lease:
    """A lease as the daemon sees it. Times are in seconds; ``math.inf`` means infinite.

    ``renewal_time`` (T1) and ``rebinding_time`` (T2) are the server's values, or the
    RFC 2131 defaults (0.5 and 0.875 of ``lease_time``) when it sent none.
    ``obtained_at`` is ``time.monotonic()`` when the ACK arrived.
    """

    address: ipaddress.IPv4Interface
    server: str
    router: str | None
    lease_time: float
    renewal_time: float
    obtained_at: float
    rebinding_time: float | None = None

    @property
    def expires_at(self) -> float:
        """When the lease runs out, on the ``time.monotonic()`` clock."""
        return self.obtained_at + self.lease_time

    def remaining(self, now: float | None = None) -> float:
        """Seconds left (``math.inf`` if infinite, negative once expired)."""
        return self.expires_at - (time.monotonic() if now is None else now)

    def expired(self, now: float | None = None) -> bool:
        return self.remaining(now) <= 0


def _seconds(value: Any) -> float | None:
    """A DHCP time option as seconds; 0xffffffff (decoded as -1) is infinite."""
    if value is None:
        return None
    value = int(value)
    if value < 0 or value == 0xFFFFFFFF:
        return math.inf
    return float(value)


def _p2_option(p2: _P2Lease, name: str) -> Any:
    try:
        return getattr(p2, name)
    except (MissingOptionError, KeyError, IndexError, TypeError):
        return None


def lease_from_pyroute2(p2: _P2Lease, obtained_at: float | None = None) -> Lease:
    """Our Lease from one of pyroute2's (which wraps the server's ACK)."""
    mask = _p2_option(p2, "subnet_mask")
    try:
        address = ipaddress.IPv4Interface(f"{p2.ip}/{mask}" if mask else f"{p2.ip}/32")
    except ValueError:
        log.warning("DHCP server sent a bad netmask %r for %s; using /32", mask, p2.ip)
        address = ipaddress.IPv4Interface(f"{p2.ip}/32")
    lease_time = _seconds(_p2_option(p2, "lease_time"))
    if lease_time is None:  # pyroute2 ignores such an ACK; never reached in practice
        lease_time = math.inf
    t1 = _seconds(_p2_option(p2, "renewal_time"))
    t2 = _seconds(_p2_option(p2, "rebinding_time"))
    routers = _p2_option(p2, "routers") or []
    server = _p2_option(p2, "server_id") or str(p2.ack.get("siaddr") or "")
    return Lease(
        address=address,
        server=str(server),
        router=str(routers[0]) if routers else None,
        lease_time=lease_time,
        renewal_time=t1 if t1 is not None else lease_time * 0.5,
        obtained_at=time.monotonic() if obtained_at is None else obtained_at,
        rebinding_time=t2 if t2 is not None else lease_time * 0.875,
    )


class _MemoryLease(_P2Lease):
    """pyroute2 lease kept in memory only (its default writes JSON to the cwd)."""

    seed: _P2Lease | None = None

    def dump(self) -> None:
        pass

    @classmethod
    def load(cls, interface: str) -> _P2Lease | None:
        # Called once by the client's __aenter__: a seeded lease means INIT-REBOOT.
        return cls.seed


def _lease_type(seed: _P2Lease | None) -> type[_MemoryLease]:
    """A lease class whose load() hands a new client the lease to re-confirm."""
    return type("_SeededLease", (_MemoryLease,), {"seed": seed})


# --------------------------------------------------------------------------- client ids


def host_identity() -> str:
    """What makes our client ids unique between machines: the host name (UTS name)."""
    return socket.gethostname() or "localhost"


def _check_id_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must be a non-empty string")
    if "/" in name or "\0" in name:
        raise ValueError(f"{kind} name {name!r} must not contain '/' or NUL")
    return name


def client_id_for_member(group: str, member: str, *, host: str | None = None) -> bytes:
    """Option-61 client id for a member's DHCP test address.

    Type 0 (not a hardware address) + ``clearview-ipmp/HOST/GROUP/MEMBER``: the same for
    every NIC that ever plays ``member`` in ``group`` on this host, so a hot-swapped NIC
    (new MAC) gets its test address back.
    """
    _check_id_name("group", group)
    _check_id_name("member", member)
    host = _check_id_name("host", host if host is not None else host_identity())
    text = f"{_MEMBER_ID_TAG}/{host}/{group}/{member}".encode()
    if len(text) > 254:  # option 61 holds 255 bytes including the type byte
        text = f"{_MEMBER_ID_TAG}/{hashlib.sha256(text).hexdigest()}".encode()
    return b"\x00" + text


def host_duid(host: str | None = None) -> bytes:
    """This host's DUID: DUID-UUID (RFC 6355), a name-based UUID of the host name."""
    host = _check_id_name("host", host if host is not None else host_identity())
    return struct.pack("!H", _DUID_UUID) + uuid.uuid5(_DUID_NAMESPACE, host).bytes


def group_iaid(group: str, index: int) -> int:
    """A 32-bit IAID for the group's ``index``-th DHCP address."""
    _check_id_name("group", group)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError(f"address index must be an int >= 0, not {index!r}")
    digest = hashlib.sha256(_IAID_TAG + f"{group}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def client_id_for_group(group: str, index: int, *, host: str | None = None) -> bytes:
    """Option-61 client id for the group's ``index``-th DHCP data address.

    RFC 4361: type 255, IAID (4 bytes), DUID. The IAID stands for the group's logical
    interface and address index, the DUID for the host; no NIC is part of it, so the
    lease survives failover to any member (and NIC replacement).
    """
    return b"\xff" + struct.pack("!I", group_iaid(group, index)) + host_duid(host)


def _client_id_option(client_id: bytes) -> dict[str, Any]:
    """The caller's option-61 bytes in the form pyroute2's encoder takes."""
    if not isinstance(client_id, bytes | bytearray):
        raise TypeError("client_id must be bytes (option 61: type byte + identifier)")
    if not 2 <= len(client_id) <= 255:
        raise ValueError("client_id must be 2..255 bytes long (type byte + identifier)")
    kind, key = client_id[0], bytes(client_id[1:])
    if kind == 1:  # Ethernet: pyroute2 wants a MAC string here
        if len(key) != 6:
            raise ValueError("a type-1 client_id needs a 6-byte MAC address")
        return {"type": 1, "key": ":".join(f"{b:02x}" for b in key)}
    return {"type": kind, "key": key}


# --------------------------------------------------------------------------- the link


@dataclass(frozen=True)
class _Link:
    ifindex: int
    up: bool
    carrier: bool


def _query_link(ifname: str) -> _Link | None:
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
    return _Link(ifindex=ifindex, up=bool(flags & _IFF_UP), carrier=bool(flags & _IFF_RUNNING))


# --------------------------------------------------------------------------- the client


class _QuietNetworkDown(logging.Filter):
    """pyroute2 logs ENETDOWN on its packet socket at ERROR level; for us a NIC that goes
    down or is hot-swapped is routine (the session logs it at INFO), so drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(
            ("Could not recv, network is down", "Could not send, network is down")
        )


_quiet_filter = _QuietNetworkDown()


def _install_log_filter() -> None:
    logger = logging.getLogger("pyroute2.dhcp.client")
    if _quiet_filter not in logger.filters:
        logger.addFilter(_quiet_filter)


class _Client(AsyncDHCPClient):
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
        try:
            await super()._recv_forever()
        except Exception as exc:  # noqa: BLE001 - reported to the supervisor instead
            log.info("DHCP receive loop on %s ended: %r", self.config.interface, exc)
        finally:
            self._loop_ended()

    async def _send_forever(self) -> None:
        try:
            await super()._send_forever()
        except Exception as exc:  # noqa: BLE001 - reported to the supervisor instead
            log.info("DHCP send loop on %s ended: %r", self.config.interface, exc)
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


# --------------------------------------------------------------------------- sessions


class DhcpSession:
    """Acquire and keep one DHCPv4 lease, reported through ``on_lease``; see the module
    docstring. Runs in the caller's event loop and network namespace.

    ``client_id`` is the complete option-61 value (type byte + identifier), e.g. from
    :func:`client_id_for_member` or :func:`client_id_for_group`. ``hostname``, if given,
    is sent as option 12.
    """

    def __init__(
        self,
        ifname: str,
        *,
        client_id: bytes,
        on_lease: Callable[[Lease | None], None],
        hostname: str | None = None,
    ) -> None:
        if not isinstance(ifname, str) or not ifname or len(ifname.encode()) > 15:
            raise ValueError(f"bad interface name {ifname!r}")
        self._cid_bytes = bytes(client_id)
        self._cid = _client_id_option(client_id)
        self._on_lease = on_lease
        self._hostname = hostname or None
        self._ifname = ifname
        self._lease: Lease | None = None
        self._p2lease: _P2Lease | None = None  # pyroute2's record of it (server MAC...)
        self._had_lease = False
        self._client: _Client | None = None
        self._gen = 0
        self._task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._expiry: asyncio.TimerHandle | None = None
        self._stopping = False
        self._stopped = False
        self._release_on_stop = False
        self._failures = 0
        self._bound_event = asyncio.Event()
        self._stop_lock = asyncio.Lock()
        self._nic_missing = False

    # ------------------------------------------------------------------ public API

    @property
    def ifname(self) -> str:
        """The interface requests go out through (changed by :meth:`move`)."""
        return self._ifname

    @property
    def client_id(self) -> bytes:
        return self._cid_bytes

    @property
    def lease(self) -> Lease | None:
        """The lease held now (None if none, or if it has run out)."""
        lease = self._lease
        if lease is not None and lease.expired():
            return None
        return lease

    @property
    def state(self) -> str:
        """One of :data:`SESSION_STATES`."""
        if self._stopped or self._stopping:
            return "stopped"
        client = self._client
        st: fsm.State | None = None
        if client is not None and not client.ended:
            st = client.state
        elif self._task is not None and self._nic_missing:
            return "waiting"
        if st is fsm.State.BOUND:
            return "bound"
        if st is fsm.State.RENEWING:
            return "renewing"
        if st is fsm.State.REBINDING:
            return "rebinding"
        if st in (fsm.State.INIT_REBOOT, fsm.State.REBOOTING) or self.lease is not None:
            return "rebooting"
        return "expired" if self._had_lease else "init"

    async def start(self) -> None:
        """Start acquiring a lease in the background; returns at once."""
        if self._task is not None or self._stopping:
            raise RuntimeError("DhcpSession already started (sessions are not restartable)")
        _install_log_filter()
        self._watch_task = asyncio.create_task(
            self._watch_links(), name=f"dhcp link watch {self._ifname}"
        )
        self._task = asyncio.create_task(self._supervise(), name=f"dhcp {self._ifname}")

    async def stop(self, release: bool = False) -> None:
        """Stop; with ``release``, send a DHCPRELEASE for the lease first (if the interface
        is there to send it). Does not call ``on_lease``. Idempotent."""
        async with self._stop_lock:
            await self._stop(release)

    async def _stop(self, release: bool) -> None:
        if self._stopped:
            return
        self._release_on_stop = release
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("DHCP session on %s did not stop in time", self._ifname)
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            except Exception as exc:  # noqa: BLE001 - already logged by the task
                log.debug("DHCP session on %s ended with %r", self._ifname, exc)
        watch, self._watch_task = self._watch_task, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(BaseException):
                await watch
        self._cancel_expiry()
        if release:
            self._lease = None
            self._p2lease = None
        self._stopped = True

    def move(self, ifname: str) -> None:
        """From now on talk to the server through ``ifname`` (same client id and lease).

        The current client is closed without a RELEASE and a new one on ``ifname``
        re-confirms the lease at once (INIT-REBOOT), then renews there.
        """
        if not isinstance(ifname, str) or not ifname or len(ifname.encode()) > 15:
            raise ValueError(f"bad interface name {ifname!r}")
        if ifname == self._ifname:
            return
        log.info("DHCP session %s moves to %s", self._ifname, ifname)
        self._ifname = ifname
        self._wake.set()

    async def wait_for_lease(self, timeout: float | None = None) -> Lease:
        """Wait until a lease is held (now or later); TimeoutError after ``timeout`` s."""
        async with asyncio.timeout(timeout):
            while True:
                lease = self.lease
                if lease is not None:
                    return lease
                self._bound_event.clear()
                await self._bound_event.wait()

    # ------------------------------------------------------------------ lease bookkeeping

    def _notify(self, lease: Lease | None) -> None:
        try:
            self._on_lease(lease)
        except Exception:  # noqa: BLE001 - the caller's bug must not kill the session
            log.exception("DHCP on_lease callback failed")

    def _got_lease(self, gen: int, p2: _P2Lease, trigger: str) -> None:
        if self._stopping or gen != self._gen:
            return
        lease = lease_from_pyroute2(p2)
        old = self._lease
        self._adopt(lease, p2)
        if old is None or old.address != lease.address:
            log.info(
                "DHCP %s: %s on %s from %s (lease %gs)",
                trigger,
                lease.address,
                self._ifname,
                lease.server,
                lease.lease_time,
            )
        else:
            log.debug("DHCP %s: %s on %s", trigger, lease.address, self._ifname)
        self._bound_event.set()
        self._notify(lease)

    def _adopt(self, lease: Lease, p2: _P2Lease | None) -> None:
        """Hold ``lease`` (``p2``: pyroute2's record of it, needed to re-confirm or release
        it; None makes a restarted client start from DISCOVER)."""
        self._lease = lease
        self._p2lease = p2
        self._had_lease = True
        self._failures = 0
        self._arm_expiry(lease)

    def _lost_lease(self, why: str) -> None:
        lease = self._lease
        if lease is None:
            return
        self._lease = None
        self._p2lease = None
        self._cancel_expiry()
        log.warning("DHCP lease %s on %s lost: %s", lease.address, self._ifname, why)
        if not self._stopping:
            self._notify(None)

    def _arm_expiry(self, lease: Lease) -> None:
        self._cancel_expiry()
        if math.isinf(lease.lease_time):
            return
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(max(0.0, lease.remaining()), self._expiry_due, lease)

    def _cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _expiry_due(self, lease: Lease) -> None:
        self._expiry = None
        if self._lease is not lease:
            return
        if not lease.expired():  # the loop's clock ran a hair early
            self._arm_expiry(lease)
            return
        self._lost_lease("expired")
        self._wake.set()

    def _hooks(self, gen: int) -> list[Hook]:
        async def lease_bound(lease: _P2Lease) -> None:
            self._got_lease(gen, lease, "bound")

        async def lease_renewed(lease: _P2Lease) -> None:
            self._got_lease(gen, lease, "renewed")

        async def lease_lost(lease: _P2Lease) -> None:
            if gen == self._gen:
                self._lost_lease("refused by the server (NAK) or expired")

        return [
            Hook(func=lease_bound, triggers={Trigger.BOUND}),
            Hook(func=lease_renewed, triggers={Trigger.RENEWED, Trigger.REBOUND}),
            Hook(func=lease_lost, triggers={Trigger.EXPIRED, Trigger.UNBOUND}),
        ]

    # ------------------------------------------------------------------ supervision

    async def _sleep_or_wake(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _watch_links(self) -> None:
        """Wake the supervisor on link events for our interface (by name or ifindex)."""
        while not self._stopping:
            try:
                async with AsyncIPRoute() as ipr:
                    await ipr.bind(groups=RTMGRP_LINK)
                    while not self._stopping:
                        seen = 0
                        async for msg in ipr.get():
                            seen += 1
                            if msg.get("event") not in _LINK_EVENTS:
                                continue
                            client = self._client
                            index = getattr(client._sock, "ifindex", None) if client else None
                            if msg.get("ifname") == self._ifname or msg.get("index") == index:
                                self._wake.set()
                        if not seen:  # closed underneath us: do not spin
                            await asyncio.sleep(RECHECK_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - polling covers for us meanwhile
                log.info("DHCP link watch for %s: %r; retrying", self._ifname, exc)
                await asyncio.sleep(RECHECK_S)

    async def _supervise(self) -> None:
        """Run one pyroute2 client per interface incarnation, for as long as we live."""
        next_start = 0.0
        while not self._stopping:
            self._wake.clear()
            ifname = self._ifname
            try:
                link = _query_link(ifname)
                self._nic_missing = link is None or not link.up
                if link is None or not link.up:
                    await self._sleep_or_wake(RECHECK_S)
                    continue
                delay = next_start - time.monotonic()
                if delay > 0:
                    await self._sleep_or_wake(delay)
                    continue
                reason = await self._run_client(link)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a bug here must not end the session
                log.exception("DHCP session on %s: unexpected error", ifname)
                reason = "failed"
            if reason in ("failed", "died"):
                self._failures += 1
                backoff = min(
                    RESTART_BACKOFF_FIRST_S * 2 ** (self._failures - 1), RESTART_BACKOFF_MAX_S
                )
                next_start = time.monotonic() + backoff
                log.info("DHCP on %s: client %s, retrying in %.1fs", ifname, reason, backoff)
            else:
                log.debug("DHCP on %s: client closed (%s)", ifname, reason)

    async def _run_client(self, link: _Link) -> str:
        """Open a client on ``link``, supervise it until it has to go, close it."""
        client = await self._open_client(link)
        if client is None:
            return "failed"
        self._client = client
        try:
            return await self._watch_client(client, link)
        finally:
            release = self._stopping and self._release_on_stop
            self._client = None
            await self._close_client(client, release=release)

    async def _open_client(self, link: _Link) -> _Client | None:
        lease = self.lease
        seed = (
            self._p2lease if lease is not None and lease.remaining() > MIN_REBOOT_LEFT_S else None
        )
        timeouts: dict[fsm.State, float] = {
            fsm.State.REQUESTING: 30,
            fsm.State.SELECTING: 15 * 60,
        }
        if seed is not None and lease is not None and not math.isinf(lease.lease_time):
            # Keep re-confirming the lease until it runs out (pyroute2's 10 s would drop a
            # valid lease merely because the server is briefly unreachable).
            timeouts[fsm.State.REBOOTING] = max(MIN_REBOOT_LEFT_S, lease.remaining())
        self._gen += 1
        config = ClientConfig(
            interface=self._ifname,
            lease_type=_lease_type(seed),
            hooks=self._hooks(self._gen),
            requested_parameters=REQUESTED_OPTIONS,
            timeouts=timeouts,  # type: ignore[arg-type]
            write_pidfile=False,
            release=False,
            hook_timeout=2.0,
            client_id=None,
            handle_signals=False,
            vendor_id=None,
            host_name=self._hostname,
        )
        client = _Client(config, client_id=self._cid, on_trouble=self._wake.set)
        try:
            await client.__aenter__()
        except Exception as exc:  # noqa: BLE001 - NIC vanished in between, and the like
            log.info("DHCP on %s: cannot open the interface: %r", self._ifname, exc)
            client.force_close()
            return None
        if client._sock.ifindex != link.ifindex:
            await self._close_client(client, release=False)  # replaced meanwhile; again
            return None
        try:
            await client.bootstrap()
        except Exception as exc:  # noqa: BLE001
            log.info("DHCP on %s: cannot start: %r", self._ifname, exc)
            await self._close_client(client, release=False)
            return None
        return client

    async def _watch_client(self, client: _Client, link: _Link) -> str:
        """Until this client has to go; returns why."""
        ifname = client.config.interface
        carrier = link.carrier
        while True:
            self._wake.clear()
            if self._stopping:
                return "stop"
            if self._ifname != ifname:
                return "move"
            now = _query_link(ifname)
            if now is None or now.ifindex != link.ifindex or not now.up:
                self._nic_missing = now is None or not now.up
                return "link"
            if client.ended:
                return "died"
            if now.carrier and not carrier and client.state is not fsm.State.BOUND:
                return "carrier"
            carrier = now.carrier
            await self._sleep_or_wake(RECHECK_S)

    async def _close_client(self, client: _Client, *, release: bool) -> None:
        if release and self._p2lease is not None and self.lease is not None and not client.ended:
            # Queued before __aexit__ sets OFF; the send loop sends a RELEASE even then.
            client._sendq.put_nowait(messages.release(lease=self._p2lease))
            log.info("DHCP releasing %s on %s", self._lease.address, client.config.interface)
        try:
            await asyncio.wait_for(client.__aexit__(None, None, None), CLOSE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - includes the timeout
            log.info("DHCP on %s: closing the client: %r", client.config.interface, exc)
            client.force_close()
