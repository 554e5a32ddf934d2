"""The control server's request parser, log throttle and subscriber queue, without a
kernel (the same behaviour on a real socket: tests/netns/test_control.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from ipmp_core import errors
from ipmp_core.constants import CONTROL_SUBSCRIBER_QUEUE
from ipmp_core.server import LogThrottle, RequestError, Subscriber, parse_request


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
