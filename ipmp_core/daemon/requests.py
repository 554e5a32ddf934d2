"""The control requests the daemon answers (the control server checked their form and
the types of their arguments): one table of operations, built once, saying of each who
may ask (``privileged``: root only) and whether it only reads the engine."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from ipmp_core import aobjname, errors
from ipmp_core.daemon.clock import now_ms
from ipmp_core.daemon.executor import Executor
from ipmp_core.daemon.state import StateJournal
from ipmp_core.engine.actions import Action
from ipmp_core.engine.engine import Engine
from ipmp_core.engine.state import FROM_DEFAULTS
from ipmp_core.errors import EngineError

log = logging.getLogger("ipmpd")

# (arguments, engine time) -> (the reply's result, the actions to carry out)
Handler = Callable[[dict[str, Any], float], tuple[Any, list[Action]]]


def _setting(value: Any) -> Any:
    """A group setting as requested: "default" means the defaults file's, from now on."""
    return FROM_DEFAULTS if value == "default" else value


class Op(NamedTuple):
    """One request: its handler, and the flags that decide how it is served."""

    handler: Handler
    privileged: bool = True  # root only
    # Only reads the engine: answered without the lock (engine calls are synchronous, so
    # between two of them its view is whole), so that a start-up or a long
    # reconfiguration holding the lock never leaves ipmpstat, ping or a monitor waiting.
    # All but ping first wait until the state file is loaded: a monitor that saw "no
    # group" during a restart would fail its resource.
    read_only: bool = False
    # Answered while the state file could not be loaded (all other privileged requests
    # are refused): stopping the daemon, and the operator's decision to start empty.
    while_refusing: bool = False


class Service(Protocol):
    """What the requests need of the daemon: its shared state and its timer."""

    engine: Engine
    started: bool
    loaded: asyncio.Event
    stopping: asyncio.Event
    lock: asyncio.Lock
    journal: StateJournal
    executor: Executor

    def schedule(self) -> None: ...

    def dump(self) -> None: ...

    def refresh(self) -> None: ...


class Requests:
    """Owns the table of operations (``ops``) and serves one request at a time through
    it: permission, refusal while the state file is kept aside, the lock, the actions,
    and every outcome as a reply."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.engine = service.engine
        self.ops: dict[str, Op] = self._table()

    async def handle(self, op: str, args: dict[str, Any], uid: int) -> dict[str, Any]:
        """One request of the control channel; every outcome is a reply, never an
        exception."""
        s = self.service
        entry = self.ops.get(op)
        if entry is None:
            return {"error": (errors.INVALID, f"unknown request '{op[:40]}'")}
        if entry.privileged and uid != 0:
            return {"error": (errors.PERMISSION, f"'{op}' needs root")}
        if entry.privileged and s.journal.refusal is not None and not entry.while_refusing:
            return {"error": (errors.STATE_REFUSED, f"'{op}' refused: "
                              f"{self.engine.state_error}")}
        if entry.read_only:
            if op != "ping":
                await s.loaded.wait()
            return self._read(entry.handler, args)
        if op in ("add-address", "add-addresses"):
            conflict = await self._duplicate_check(args)
            if conflict is not None:
                return {"error": (errors.EXISTS, conflict)}
        executor = s.executor
        async with s.lock:
            executor.test_refused.clear()
            try:
                result, actions = entry.handler(args, now_ms())
            except EngineError as exc:
                return {"error": (exc.code, exc.message)}
            except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
                return {"error": (errors.INVALID, f"bad arguments for '{op}': {exc}")}
            await executor.execute(actions)
            if op == "add-address" and executor.dad_failed:
                failed, executor.dad_failed = executor.dad_failed, set()
                rollback, refusal = self.engine.dad_failed(failed, now_ms())
                await executor.execute(rollback)
                s.schedule()
                return {"error": (errors.EXISTS, refusal)}
            s.schedule()
            if executor.test_refused:
                return {"error": (errors.EXISTS, "; ".join(executor.test_refused))}
        if op == "shutdown":
            s.stopping.set()
        return {"result": result}

    def _read(self, handler: Handler, args: dict[str, Any]) -> dict[str, Any]:
        """A read-only request, answered at once, without the lock."""
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

    def _table(self) -> dict[str, Op]:
        s = self.service
        e = self.engine

        def act(fn: Callable[..., list[Action]]) -> Handler:
            return lambda a, now: (None, fn(a, now))

        def only(fn: Callable[[dict[str, Any]], Any]) -> Handler:
            return lambda a, now: (fn(a), [])

        return {
            "ping": Op(only(lambda a: {"pid": os.getpid(), "starting": not s.started}),
                       privileged=False, read_only=True),
            "snapshot": Op(only(lambda a: e.snapshot().to_dict()), privileged=False,
                           read_only=True),
            "config": Op(only(lambda a: e.config()), privileged=False, read_only=True),
            "shutdown": Op(only(lambda a: None), while_refusing=True),
            "accept-empty-state": Op(only(lambda a: s.journal.accept_empty()),
                                     while_refusing=True),
            "dump": Op(only(lambda a: s.dump())),  # the log is root's
            "refresh": Op(only(lambda a: s.refresh())),
            "create-group": Op(act(lambda a, now: e.create_group(
                a["group"], now,
                failback=_setting(a.get("failback", "default")),
                fdt_ms=_setting(a.get("fdt_ms", "default")),
                attribute=a.get("attribute"), multiplier=int(a.get("multiplier", 1)),
                dampen_ms=int(a.get("dampen_ms", 0)),
                transitive_probing=_setting(a.get("transitive_probing", "default"))))),
            "set-attribute": Op(act(lambda a, now: e.set_attribute(
                a["group"], a.get("attribute"), now, multiplier=int(a.get("multiplier", 1)),
                dampen_ms=int(a.get("dampen_ms", 0))))),
            "publish-attribute": Op(act(lambda a, now: e.republish_attribute(a["group"]))),
            "delete-group": Op(act(lambda a, now: e.delete_group(a["group"], now))),
            "add-member": Op(act(lambda a, now: e.add_member(
                a["group"], a["interface"], now, standby=bool(a.get("standby", False))))),
            "remove-member": Op(act(lambda a, now: e.remove_member(a["interface"], now))),
            "add-address": Op(act(lambda a, now: e.add_dhcp_data(a["group"], now,
                                                                 name=_user_name(a))
                                  if str(a["address"]).strip().lower() == "dhcp"
                                  else e.add_data_address(
                a["group"], a["address"], now, owner=str(a.get("owner") or ""),
                dad=bool(a.get("dad")), deprecated=bool(a.get("deprecated")),
                name=_user_name(a)))),
            "add-addresses": Op(act(e.add_data_address_list)),
            "announce": Op(self._announce),
            "remove-address": Op(act(lambda a, now: e.remove_data_address(
                a["address"], now))),
            "add-test-address": Op(act(lambda a, now: e.add_test_address(
                a["interface"], a["address"], now, name=_user_name(a)))),
            "address-objects": Op(only(lambda a: e.address_objects()), privileged=False,
                                  read_only=True),
            "remove-test-address": Op(act(lambda a, now: e.remove_test_address(
                a["address"], a.get("interface"), now))),
            "set-standby": Op(act(lambda a, now: e.set_standby(
                a["interface"], a["standby"], now))),
            "set-failback": Op(act(lambda a, now: e.set_failback(
                a["group"], _setting(a["failback"]), now))),
            "set-fdt": Op(act(lambda a, now: e.set_fdt(a["group"], _setting(a["fdt_ms"]),
                                                       now))),
            "add-route": Op(act(lambda a, now: e.add_route(
                a["group"], a.get("dst", "default"), a["gateway"], now))),
            "remove-route": Op(act(lambda a, now: e.remove_route(
                a["group"], a.get("dst", "default"), a["gateway"], now))),
            "set-linklocal-probes": Op(act(lambda a, now: e.set_linklocal_probes(
                a["group"], a["enabled"], now))),
            "set-transitive-probing": Op(act(lambda a, now: e.set_transitive_probing(
                a["group"], _setting(a["enabled"]), now))),
            "set-multicast": Op(act(lambda a, now: e.set_multicast(
                a["group"], a.get("addresses") or [], now))),
            "set-targets": Op(act(lambda a, now: e.set_targets(
                a["group"], a.get("targets") or [], now))),
            "offline": Op(act(lambda a, now: e.offline(a["interface"], now))),
            "online": Op(act(lambda a, now: e.online(a["interface"], now))),
        }

    def _announce(self, args: dict[str, Any], now: float) -> tuple[str, list[Action]]:
        """Announce a data address again (the engine checks and clamps the request):
        the reply names the member it went out from."""
        again = self.engine.announce_again(args)
        return again.member, [again]


def _user_name(args: dict[str, Any]) -> str | None:
    """The address object name a request gives ("name"), by ipadm's rule for names an
    administrator chooses (a generated one, "_a", is the daemon's to give)."""
    name = args.get("name")
    return None if name is None else aobjname.check_user_name(name)
