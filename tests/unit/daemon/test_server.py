"""The control server's request parser, log throttle and subscriber queue, without a
kernel (the same behaviour on a real socket: tests/netns/test_control.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import pytest

from ipmp_core import errors
from ipmp_core.constants import CONTROL_SUBSCRIBER_QUEUE
from ipmp_core.daemon.control_server import LogThrottle, RequestError, Subscriber, parse_request


def test_a_well_formed_request_is_parsed() -> None:
    line = json.dumps({"op": "add-member", "args": {"group": "ipmp0", "interface": "e0",
                                                    "standby": True}}).encode() + b"\n"
    assert parse_request(line) == ("add-member", {"group": "ipmp0", "interface": "e0",
                                                  "standby": True})
    assert parse_request(b'{"op": "ping"}') == ("ping", {})
    assert parse_request(b'{"op": "ping", "args": null}') == ("ping", {})
    # what ipmpadm sends as the operator typed it
    assert parse_request(b'{"op": "set-failback", "args": {"group": "g", "failback": "no"}}')
    assert parse_request(b'{"op": "set-fdt", "args": {"group": "g", "fdt_ms": 2500.0}}')


@pytest.mark.parametrize(("line", "says"), [
    (b"[" * 100_000, "nested too deeply"),
    (b'{"op": "set-fdt", "args": {"fdt_ms": 1e400}}', "out of range"),
    (b'{"op": "set-fdt", "args": {"fdt_ms": NaN}}', "NaN"),
    (b'{"op": "set-fdt", "args": {"fdt_ms": Infinity}}', "Infinity"),
    (b'{"op": "set-fdt", "args": {"fdt_ms": ' + b"9" * 5000 + b"}}", "malformed"),
    (b'{"op": "set-fdt", "args": {"fdt_ms": true}}', "'fdt_ms' must be a number"),
    (b'{"op": "remove-address", "args": {"address": 5}}', "'address' must be a string"),
    (b'{"op": "set-targets", "args": {"targets": "x"}}', "'targets' must be a list"),
    (b'{"op": "set-multicast", "args": {"addresses": [1]}}', "'addresses' must be a list"),
    (b'{"op": "add-address", "args": {"dad": "yes"}}', "'dad' must be true or false"),
    (b'{"op": "add-member", "args": {"standby": 1}}', "'standby' must be a boolean"),
    (b'{"op": 5}', "'op' must be a string"),
    (b'{"args": {}}', "'op' must be a string"),
    (b'{"op": "ping", "args": []}', "'args' must be an object"),
    (b"[]", "not a JSON object"),
    (b"null", "not a JSON object"),
    (b'{"op": "\xff"}', "malformed"),
    (b"hello", "malformed"),
    (b'{"op": "ping"} x', "malformed"),
])
def test_malformed_requests_are_refused_with_a_reason(line: bytes, says: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_request(line)
    assert caught.value.code == errors.INVALID
    assert says in caught.value.message


def test_throttle_logs_once_per_interval_and_counts_the_rest(
        caplog: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(interval=3600)
    with caplog.at_level(logging.WARNING, logger="ipmpd"):
        for i in range(1000):
            throttle("refused connections", "refused %d", i)
        throttle("other kind", "other")
        throttle._flush("refused connections")
    assert [r.getMessage() for r in caplog.records] == [
        "refused 0", "other", "... and 999 more refused connections in the last 3600 s"]


class _Transport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


class _Writer:
    def __init__(self) -> None:
        self.transport = _Transport()


def test_a_subscriber_that_falls_behind_is_dropped_once(
        caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> tuple[Subscriber, _Writer]:
        writer = _Writer()
        sub = Subscriber("pid 1", writer, LogThrottle())  # type: ignore[arg-type]
        event: dict[str, Any] = {"type": "x"}
        for _ in range(CONTROL_SUBSCRIBER_QUEUE):
            sub.put_nowait(event)
        assert not sub.dropped and not writer.transport.aborted
        for _ in range(10):
            sub.put_nowait(event)
        return sub, writer

    with caplog.at_level(logging.WARNING, logger="ipmpd"):
        sub, writer = asyncio.run(body())
    assert sub.dropped and writer.transport.aborted
    assert sub.queue.qsize() == CONTROL_SUBSCRIBER_QUEUE
    assert [r.getMessage() for r in caplog.records] == [
        f"dropping the event subscriber pid 1: it fell {CONTROL_SUBSCRIBER_QUEUE} events "
        "behind"]


# Mutated requests tried by the fuzz test below: bounded, and the same on every run.
FUZZ_CASES = 5000
FUZZ_SEED = 10


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["str", "int", "float", "bool", "null", "list", "dict"]
    kind = rng.choice(kinds if depth < 3 else kinds[:5])
    if kind == "str":
        return rng.choice(["", "ipmp0", "e0", "198.51.100.10/24", "dhcp", "\u0000", "\ud800"])
    if kind == "int":
        return rng.choice([0, -1, 1, 2**64, 10**30])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e308, 100.0])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(["group", "address", "fdt_ms", "x"]): _random_value(rng, depth + 1)
            for _ in range(rng.randrange(3))}


def test_fuzz_parse_request_returns_checked_requests_or_refuses() -> None:
    """Whatever arrives, the parser returns an op and type-checked args or refuses with
    RequestError: never another exception (which used to kill a handler silently)."""
    rng = random.Random(FUZZ_SEED)
    names = ["group", "interface", "address", "fdt_ms", "standby", "targets", "dad", "x"]
    for _ in range(FUZZ_CASES):
        request: Any = {"op": rng.choice(["ping", "set-fdt", 5, None]),
                        "args": {rng.choice(names): _random_value(rng)
                                 for _ in range(rng.randrange(4))}}
        if rng.random() < 0.1:
            request = _random_value(rng)
        line = bytearray(json.dumps(request).encode())
        for _ in range(rng.randrange(4)):  # byte-level damage
            pos = rng.randrange(len(line) + 1)
            op = rng.randrange(3)
            if op == 0:
                line[pos:pos] = bytes([rng.randrange(256)])
            elif op == 1 and pos < len(line):
                del line[pos]
            elif pos < len(line):
                line[pos] = rng.randrange(256)
        try:
            op_name, args = parse_request(bytes(line))
        except RequestError as exc:
            assert exc.code == errors.INVALID and exc.message
            continue
        assert isinstance(op_name, str) and isinstance(args, dict)
        for name in ("group", "interface", "address"):
            assert name not in args or isinstance(args[name], str)
        if "fdt_ms" in args:
            value = args["fdt_ms"]
            assert isinstance(value, int | float) and not isinstance(value, bool)
            assert int(value) == int(value)  # finite: int() cannot overflow
