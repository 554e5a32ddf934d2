"""Server side of the control channel: connections, requests, event streams.

The daemon answers requests (daemon/requests.py and its table); this module decides
who may hold a connection, how long, and what a request line must look like, so that no
client can deaf the daemon: every connection has to send its request within
CONTROL_IDLE_TIMEOUT_S, non-root users hold a bounded number of connections, a request
is at most CONTROL_MAX_REQUEST bytes, every malformed request is answered with an error,
a subscriber that does not read is dropped, and all of this is logged in a few lines,
never one traceback per connection. See ipmp_core.control_client for the wire format.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import math
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ipmp_core import errors
from ipmp_core.constants import (
    CONTROL_BACKLOG,
    CONTROL_IDLE_TIMEOUT_S,
    CONTROL_LOG_INTERVAL_S,
    CONTROL_MAX_CONNECTIONS_PER_USER,
    CONTROL_MAX_REQUEST,
    CONTROL_MAX_USER_CONNECTIONS,
    CONTROL_SERVER_UID,
    CONTROL_SUBSCRIBER_QUEUE,
    EVENT_VERSION,
)

log = logging.getLogger("ipmpd")

# (op, args, uid of the client) -> {"result": ...} or {"error": (code, message)}
RequestHandler = Callable[[str, dict[str, Any], int], Awaitable[dict[str, Any]]]

# Error code of a connection refused because its user holds too many already.
BUSY = "busy"
# Error code of a request whose handler failed unexpectedly (a bug, logged).
INTERNAL = "internal"
# Error code of a connection closed for sending no request in time.
IDLE = "timeout"
# What a peer without readable credentials counts as: nobody in particular, not root.
_UNKNOWN_UID = -1


class StartError(Exception):
    """The daemon must not start (not root, or the control socket is held by someone);
    the message says why, for one line on stderr."""


def require_root() -> None:
    """A daemon that is not root cannot do its job, and clients refuse to talk to it
    (CONTROL_SERVER_UID): refuse to start rather than answer with a state it cannot
    apply."""
    uid = os.geteuid()
    if uid != CONTROL_SERVER_UID:
        raise StartError(f"not starting as uid {uid}: ipmpd must run as root (it changes "
                         f"addresses, routes and sysctls, and its clients only trust a "
                         f"daemon running as root)")


def peer_credentials(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a connected Unix socket, as the
    kernel recorded them at connect() (client) or listen() (server)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


def describe_process(pid: int, uid: int) -> str:
    """'pid 123 (python3), uid 65534 (nobody)': enough to find and kill a squatter."""
    import pwd

    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            comm = f" ({fh.read().strip()})"
    except OSError:
        comm = ""
    try:
        user = f" ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        user = ""
    return f"pid {pid}{comm}, uid {uid}{user}"


def holder_of(address: str) -> str:
    """Why the control socket's name is taken: who answers there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONTROL_IDLE_TIMEOUT_S)
    try:
        sock.connect(address)
        pid, uid = peer_credentials(sock)
    except OSError as exc:
        return f"the control socket is in use, but its holder cannot be identified ({exc})"
    finally:
        sock.close()
    who = describe_process(pid, uid)
    if uid == CONTROL_SERVER_UID:
        return f"another daemon is already running here ({who})"
    return (f"the control socket is held by a process that is not root ({who}): it may be "
            f"impersonating ipmpd; stop it and start ipmpd again")


class LogThrottle:
    """At most one log line per kind and CONTROL_LOG_INTERVAL_S; the lines held back are
    counted and reported when the interval ends."""

    def __init__(self, interval: float = CONTROL_LOG_INTERVAL_S) -> None:
        self.interval = interval
        self.windows: dict[str, float] = {}  # kind -> start of its current interval
        self.held: dict[str, int] = {}  # kind -> lines held back in it

    def __call__(self, kind: str, message: str, *args: Any, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self.windows.get(kind, -math.inf) >= self.interval:
            self._flush(kind)
            self.windows[kind] = now
            log.warning(message, *args, exc_info=exc_info)
            return
        if not self.held.get(kind):
            with contextlib.suppress(RuntimeError):  # no loop: reported with the next one
                asyncio.get_running_loop().call_later(
                    self.interval - (now - self.windows[kind]), self._flush, kind)
        self.held[kind] = self.held.get(kind, 0) + 1

    def _flush(self, kind: str) -> None:
        count = self.held.pop(kind, 0)
        if count:
            log.warning("... and %d more %s in the last %.0f s", count, kind, self.interval)


class RequestError(Exception):
    """A request line refused before it reaches the daemon: its error code and why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number the daemon accepts")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# The type every argument of that name must have, whatever the request. Handlers then
# only meet the types they expect (an int where a string is expected used to kill the
# handler without a reply); the values themselves are the engine's to check. Booleans
# that ipmpadm passes as the operator typed them ("on", "no") may be strings.
_ARG_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    **{name: ("a string", lambda v: isinstance(v, str))
       for name in ("group", "interface", "address", "owner", "dst", "gateway")},
    **{name: ("true or false", lambda v: isinstance(v, bool)) for name in ("dad", "deprecated")},
    **{name: ("a boolean or a string", lambda v: isinstance(v, bool | str))
       for name in ("standby", "failback", "enabled", "transitive_probing")},
    **{name: ("a number", _is_number) for name in ("count", "interval_ms", "dad_wait_ms")},
    "fdt_ms": ('a number or "default"', lambda v: _is_number(v) or v == "default"),
    **{name: ("a list of strings", _is_str_list) for name in ("addresses", "targets")},
}


def parse_request(line: bytes) -> tuple[str, dict[str, Any]]:
    """(op, args) of one request line; RequestError (code "invalid") says what is wrong."""
    try:
        request = json.loads(line, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise RequestError(errors.INVALID, "malformed request: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise RequestError(errors.INVALID, f"malformed request: {exc}") from None
    if not isinstance(request, dict):
        raise RequestError(errors.INVALID, "malformed request: not a JSON object")
    op = request.get("op")
    if not isinstance(op, str):
        raise RequestError(errors.INVALID, "malformed request: 'op' must be a string")
    args = request.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise RequestError(errors.INVALID, "malformed request: 'args' must be an object")
    for name, value in args.items():
        rule = _ARG_TYPES.get(name)
        if rule is not None and not rule[1](value):
            raise RequestError(errors.INVALID,
                               f"bad arguments for '{op[:40]}': '{name}' must be {rule[0]}")
    return op, args


def _encode(result: Any = None, error: tuple[str, str] | None = None) -> bytes:
    if error is not None:
        payload: dict[str, Any] = {"ok": False, "error": {"code": error[0], "message": error[1]}}
    else:
        payload = {"ok": True, "result": result}
    return json.dumps(payload).encode() + b"\n"


class Subscriber:
    """One event stream's queue, bounded: the daemon's publish() puts events here and
    must never block or buffer without end for a client that does not read."""

    def __init__(self, who: str, writer: asyncio.StreamWriter, throttle: LogThrottle) -> None:
        self.who = who
        self.writer = writer
        self.throttle = throttle
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(CONTROL_SUBSCRIBER_QUEUE)
        self.dropped = False

    def put_nowait(self, event: dict[str, Any]) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            self.throttle("dropped subscribers",
                          "dropping the event subscriber %s: it fell %d events behind",
                          self.who, CONTROL_SUBSCRIBER_QUEUE)
            self.writer.transport.abort()  # wakes its writer out of drain()


class ControlServer:
    """The listening socket and its connections; requests go to ``handle``."""

    def __init__(self, address: str, handle: RequestHandler, subscribers: set[Subscriber],
                 on_subscribers: Callable[[bool], None],
                 stream_start: Callable[[], dict[str, Any]] | None = None) -> None:
        self.address = address
        self.handle = handle
        self.subscribers = subscribers
        self.on_subscribers = on_subscribers
        # The subscribe reply: the event version and the signatures a stream starts from.
        self.stream_start = stream_start or (lambda: {"version": EVENT_VERSION})
        self.server: asyncio.AbstractServer | None = None
        self.per_uid: dict[int, int] = {}
        self.throttle = LogThrottle()

    async def start(self) -> None:
        """Bind the abstract name; StartError says who holds it when it is taken.
        Binding is also the "one daemon per namespace" lock."""
        require_root()
        try:
            self.server = await asyncio.start_unix_server(
                self._connection, path=self.address, limit=CONTROL_MAX_REQUEST,
                backlog=CONTROL_BACKLOG)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartError(holder_of(self.address)) from None
            raise
        asyncio.get_running_loop().set_exception_handler(self._loop_exception)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Out of file descriptors, asyncio logs a traceback per failed accept(): one
        line per interval instead. Everything else as asyncio would."""
        if "accept" in str(context.get("message", "")):
            self.throttle("failed accepts", "cannot accept control connections: %s",
                          context.get("exception") or context.get("message"))
            return
        loop.default_exception_handler(context)

    # ------------------------------------------------------------------ connections
    def _admit(self, uid: int) -> bool:
        if uid == CONTROL_SERVER_UID:
            return True
        users = sum(n for u, n in self.per_uid.items() if u != CONTROL_SERVER_UID)
        return (self.per_uid.get(uid, 0) < CONTROL_MAX_CONNECTIONS_PER_USER
                and users < CONTROL_MAX_USER_CONNECTIONS)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        try:
            pid, uid = peer_credentials(sock) if sock is not None else (0, _UNKNOWN_UID)
        except OSError:
            pid, uid = 0, _UNKNOWN_UID
        if not self._admit(uid):
            self.throttle("refused connections",
                          "refusing control connections of uid %d: it holds %d already",
                          uid, self.per_uid.get(uid, 0))
            writer.write(_encode(error=(BUSY, "too many connections to the IPMP daemon "
                                        "from this user; try again later")))
            writer.close()  # a few bytes: they fit in the socket's buffer at once
            return
        self.per_uid[uid] = self.per_uid.get(uid, 0) + 1
        try:
            await self._serve(reader, writer, pid, uid)
        except (ConnectionError, TimeoutError):
            pass
        except Exception as exc:  # noqa: BLE001 (one bad connection must not matter)
            self.throttle("failed requests", "control connection of pid %d failed: %s: %s",
                          pid, type(exc).__name__, exc)
        finally:
            try:
                await self._close(writer)
            finally:  # counted until its descriptor is closed
                self.per_uid[uid] -= 1
                if not self.per_uid[uid]:
                    del self.per_uid[uid]

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), CONTROL_IDLE_TIMEOUT_S)
        except (TimeoutError, OSError):
            writer.transport.abort()  # a reply nobody reads is not kept

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await asyncio.wait_for(writer.drain(), CONTROL_IDLE_TIMEOUT_S)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     pid: int, uid: int) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), CONTROL_IDLE_TIMEOUT_S)
        except TimeoutError:
            await self._send(writer, _encode(error=(IDLE, (
                f"no request within {CONTROL_IDLE_TIMEOUT_S:.0f} s: closing"))))
            return
        except ValueError:  # the limit: StreamReader.readline's LimitOverrunError
            self.throttle("over-long requests", "refused a request of pid %d longer than "
                          "%d bytes", pid, CONTROL_MAX_REQUEST)
            await self._send(writer, _encode(error=(
                errors.INVALID, f"request longer than {CONTROL_MAX_REQUEST} bytes")))
            return
        if not line:
            return
        try:
            op, args = parse_request(line)
        except RequestError as exc:
            await self._send(writer, _encode(error=(exc.code, exc.message)))
            return
        if op == "subscribe":
            await self._stream_events(writer, describe_process(pid, uid))
            return
        try:
            reply = await self.handle(op, args, uid)
        except Exception as exc:  # noqa: BLE001 (a bug: the client still gets an answer)
            self.throttle("failed requests", "request '%s' failed", op[:40], exc_info=True)
            reply = {"error": (INTERNAL, f"'{op[:40]}' failed: {type(exc).__name__}: {exc}")}
        await self._send(writer, _encode(**reply))

    async def _stream_events(self, writer: asyncio.StreamWriter, who: str) -> None:
        """Events until the client goes away or falls CONTROL_SUBSCRIBER_QUEUE behind
        (then it is dropped: see Subscriber). The reply says where the stream starts
        (``stream_start``); each event then carries ``seq``, 1, 2, ... on this stream,
        so that a gap can never pass unseen: the daemon drops the subscriber rather
        than an event, and a new stream starts at 1 again."""
        subscriber = Subscriber(who, writer, self.throttle)
        self.subscribers.add(subscriber)
        self.on_subscribers(True)
        try:
            await self._send(writer, _encode(result=self.stream_start()))
            seq = 0
            while not subscriber.dropped:
                event = await subscriber.queue.get()
                if subscriber.dropped:
                    break
                seq += 1
                writer.write(json.dumps({**event, "seq": seq}).encode() + b"\n")
                await writer.drain()  # no timeout: the queue's bound decides
        finally:
            self.subscribers.discard(subscriber)
            self.on_subscribers(bool(self.subscribers))
