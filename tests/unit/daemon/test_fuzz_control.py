"""Fuzz target (hypothesis) for what the control channel hands the engine: every request
the daemon serves, with arbitrary JSON arguments, through the daemon's own table of
operations (Requests.ops). The reading of lines and JSON is the control channel's own
business; here the question is what a well-formed message with bad values does.

A request is either applied or refused with EngineError (the daemon answers it with
its code) or, for a missing argument, KeyError (answered "bad arguments"). Nothing else
may escape: any other exception is a handler dying without a reply, or a change left
half made. After each request the engine's invariants hold, and its configuration and
snapshot still serialise to JSON.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ipmp_core.daemon.bursts import Bursts
from ipmp_core.daemon.requests import Op
from ipmp_core.daemon.service import Daemon
from ipmp_core.defaults_file import Defaults
from ipmp_core.errors import EngineError
from ipmp_core.persist import StateFile
from tests.support.checked_world import GROUP, CheckedWorld, check
from tests.support.daemon_fakes import FakeAnnouncer, FakeNetlink

# Requests whose handler does I/O (packets, logs, the loop, the defaults file) are left
# out.
SKIPPED = {"announce", "shutdown", "dump", "refresh"}

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["ipmp0", "e0", "e1", "e2", "lo", "dhcp", "default", "", "yes", "no",
                     "198.51.100.10/24", "198.51.100.10", "198.51.100.1", "fe80::1",
                     "fe80::10%e0/64", "2001:db8:1::10/64", "0.0.0.0/0", "224.0.0.1",
                     "255.255.255.255/32", "203.0.113.0/24", "1e400", "1000",
                     "v4", "_a", "ipmp0/v4", "ipmp0/_a", "e0/_a", "e0/test", "9x"]),
)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
KEYS = ["group", "interface", "address", "fdt_ms", "failback", "standby", "gateway", "dst",
        "enabled", "addresses", "targets", "owner", "dad", "deprecated", "count",
        "interval_ms", "name"]
ARGS = st.dictionaries(st.sampled_from(KEYS), JSON, max_size=5)


# Never written: the handlers only compute actions, which these tests do not execute.
STATE = StateFile(Path(tempfile.gettempdir()) / "clearview-ipmp-fuzz-unused" / "state.json")


def world() -> tuple[CheckedWorld, dict[str, Op]]:
    """An engine with a group, and the table of operations of a daemon around it (its
    netlink a fake: the handlers do no I/O)."""
    w = CheckedWorld()
    w.group(GROUP, "e0", "e1")
    w.record(w.engine.set_test_addresses("e0", ["198.51.100.21/24"], w.now))
    w.record(w.engine.add_data_address(GROUP, "198.51.100.10/24", w.now))
    daemon = Daemon(STATE, defaults_path=None, engine=w.engine,
                    netlink=FakeNetlink([]))  # type: ignore[arg-type]
    daemon.probes.close()  # no probe is sent here
    daemon.started = True  # ping reports the start-up over
    return w, daemon.requests.ops


OPS = sorted(set(world()[1]) - SKIPPED)


@given(st.lists(st.tuples(st.sampled_from(OPS), ARGS), min_size=1, max_size=6))
def test_fuzz_requests_with_arbitrary_json_arguments(requests: list[tuple[str, Any]]) -> None:
    w, ops = world()
    for op, args in requests:
        try:
            _result, actions = ops[op].handler(args, w.now)
        except (EngineError, KeyError):
            pass
        else:
            w.record(actions)
        check(w)
        json.dumps(w.engine.config())
        json.dumps(w.engine.snapshot().to_dict())
        w.advance(50)



@given(st.fixed_dictionaries({"address": st.sampled_from(["198.51.100.10", "x", ""])},
                             optional={"count": JSON, "interval_ms": JSON}))
def test_fuzz_announce_arguments(args: dict[str, Any]) -> None:
    """'announce' (left out above: it sends) with a fake announcer: checked by the engine
    and applied, or refused with EngineError. Found: a count of 1e400 (read as infinity)
    killed the handler with OverflowError."""
    w, _ops = world()
    bursts = Bursts(w.engine, FakeAnnouncer([]), Defaults())  # type: ignore[arg-type]

    async def request() -> None:
        try:
            bursts.announce_again(w.engine.announce_again(args))
        except EngineError:
            pass
        finally:
            bursts.cancel_all()

    asyncio.run(request())
