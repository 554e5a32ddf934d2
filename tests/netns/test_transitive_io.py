"""The daemon's transitive probe I/O (daemon/transitive.py) on the real kernel, with an
engine stand-in that records the calls the daemon makes: a SendTransitive goes out from
its member to its target's MAC, the target answers at once from the event loop, the
answer reaches the engine as transitive_reply(member, target, seq, kernel time), the send
as transitive_sent; sockets follow the group's setting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from netns_thread import in_netns

from ipmp_core.daemon.transitive import TransitiveIO
from ipmp_core.engine.actions import SendTransitive
from tests.support.lab import Lab

pytestmark = pytest.mark.netns


@dataclass
class FakeMember:
    name: str
    ifindex: int
    mac: str
    present: bool = True


@dataclass
class FakeGroup:
    members: list[str]
    transitive_probing: bool = True


@dataclass
class RecordingEngine:
    """The engine's side of the agreed interface, recorded."""

    members: dict[str, FakeMember]
    groups: dict[str, FakeGroup]
    sent: list[tuple[str, int, float]] = field(default_factory=list)
    replies: list[tuple[Any, ...]] = field(default_factory=list)

    def transitive_sent(self, member: str, seq: int, sent_at: float) -> list[Any]:
        self.sent.append((member, seq, sent_at))
        return []

    def transitive_reply(self, member: str, target: str, seq: int, now: float,
                         processed_at: float | None = None) -> list[Any]:
        self.replies.append((member, target, seq, now, processed_at))
        return []


def setup(make_lab: Callable[..., Lab]) -> tuple[Lab, RecordingEngine, TransitiveIO]:
    lab = make_lab(nics=2, with_router=False, with_client=False)
    engine = RecordingEngine(
        members={n: FakeMember(n, lab.ifindex(n), lab.mac(n)) for n in ("e0", "e1")},
        groups={"ipmp0": FakeGroup(["e0", "e1"])})
    return lab, engine, TransitiveIO(engine)  # type: ignore[arg-type]


def test_send_answer_and_reply_reach_the_engine(make_lab: Callable[..., Lab]) -> None:
    lab, engine, io = setup(make_lab)
    try:
        in_netns(lab.node, io.sync)
        assert sorted(io.sockets) == ["e0", "e1"]
        before = time.monotonic_ns() / 1e6
        assert io.send(SendTransitive("e1", "e0", 7)) == []
        ((member, seq, sent_at),) = engine.sent
        assert (member, seq) == ("e1", 7) and before <= sent_at
        for _ in range(200):
            if io.read_replies() or engine.replies:
                break
            time.sleep(0.01)
        ((member, target, seq, now, processed_at),) = engine.replies
        assert (member, target, seq) == ("e1", "e0", 7)
        assert sent_at <= now <= processed_at <= time.monotonic_ns() / 1e6
        assert io.sockets["e0"].answered == 1
    finally:
        io.close()


def test_requests_are_answered_by_the_event_loop_at_once(make_lab: Callable[..., Lab]) -> None:
    """With a running loop the sockets are watched: the answer is in before any timer
    tick reads the sockets."""
    lab, engine, io = setup(make_lab)

    async def main() -> tuple[int, int]:
        io.sync()
        io.send(SendTransitive("e1", "e0", 3))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if io.pending:
                break
        pending = len(io.pending)
        before_tick = len(engine.replies)  # handed over by read_replies() only, at the tick
        io.read_replies()
        io.close()
        return pending, before_tick

    assert in_netns(lab.node, lambda: asyncio.run(main())) == (1, 0)
    assert [r[:3] for r in engine.replies] == [("e1", "e0", 3)]


def test_sockets_follow_the_group_setting_and_the_members(make_lab: Callable[..., Lab]) -> None:
    lab, engine, io = setup(make_lab)
    try:
        in_netns(lab.node, io.sync)
        assert sorted(io.sockets) == ["e0", "e1"]
        engine.members["e1"].present = False
        io.sync()
        assert sorted(io.sockets) == ["e0"]
        engine.groups["ipmp0"].transitive_probing = False
        io.sync()
        assert io.sockets == {}
        assert io.send(SendTransitive("e1", "e0", 1)) == []  # absent member: nothing sent
        assert engine.sent == []
    finally:
        io.close()


def test_a_target_mac_not_yet_known_is_a_lost_probe(make_lab: Callable[..., Lab]) -> None:
    """Not a frame to 00:00:00:00:00:00: the send fails, and the engine still learns
    that the probe left (its loss is the engine's to count)."""
    lab, engine, io = setup(make_lab)
    try:
        in_netns(lab.node, io.sync)
        engine.members["e0"].mac = ""
        io.send(SendTransitive("e1", "e0", 4))
        assert [(m, s) for m, s, _ in engine.sent] == [("e1", 4)]
        assert io.sockets["e1"].send_errors == 1 and io.sockets["e1"].sent == 0
    finally:
        io.close()
