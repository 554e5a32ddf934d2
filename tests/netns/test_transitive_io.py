"""The daemon's transitive probe I/O (daemon/transitive.py) on the real kernel, with an
engine stand-in that records the calls the daemon makes: a SendTransitive goes out from
its member to its target's MAC, the target answers at the flush that ends the wake-up
(or, if the request comes later, from the event loop), the answer reaches the engine as
transitive_reply(member, target, seq, kernel time), the send as transitive_sent; sockets
follow the group's setting."""

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


def test_the_flush_answers_and_delivers_within_the_wake_up(make_lab: Callable[..., Lab]) -> None:
    """The wake-up that sends a request ends with flush(): the member asked answers what
    has arrived, the member that asked reads what is back, and the engine has the answer
    then, with no other read. On veth and a bridge the frames are back within the send
    (softirq in the sender's system call); should the kernel defer that work to
    ksoftirqd, the answer comes at the next read instead, so a probe counts either way
    and the flush must deliver in at least one of TRIES probes."""
    tries = 20
    lab, engine, io = setup(make_lab)
    try:
        in_netns(lab.node, io.sync)
        by_flush = 0
        for seq in range(tries):
            io.send(SendTransitive("e1", "e0", seq))
            io.flush()
            by_flush += len(engine.replies) == seq + 1
            for _ in range(200):
                if len(engine.replies) == seq + 1:
                    break
                io.read_replies()
                time.sleep(0.005)
            assert [r[:3] for r in engine.replies[seq:]] == [("e1", "e0", seq)]
        assert by_flush >= 1
        assert io.sockets["e0"].answered == tries
        assert io.flush() == [] and io.pending == []  # nothing sent since: nothing read
    finally:
        io.close()


def test_a_late_request_is_answered_by_the_event_loop(make_lab: Callable[..., Lab]) -> None:
    """A request not there at the flush (a physical switch, a busy host) is answered as
    soon as it comes: the event loop watches the sockets of the members probed. The
    requester's socket is not watched: its answer waits for the next wake-up, like an
    ICMP reply, and reaches the engine with its kernel stamp."""
    lab, engine, io = setup(make_lab)

    async def main() -> tuple[int, int, int]:
        io.sync()
        io.send(SendTransitive("e1", "e0", 3))  # no flush: as if it had not arrived yet
        e0 = io.sockets["e0"]
        for _ in range(100):
            await asyncio.sleep(0.01)
            if e0.answered:
                break
        await asyncio.sleep(0.05)
        unread = len(io.pending) + len(engine.replies)  # the answer waits in e1's socket
        io.read_replies()
        io.close()
        return e0.answered, unread, len(engine.replies)

    assert in_netns(lab.node, lambda: asyncio.run(main())) == (1, 0, 1)
    ((member, target, seq, now, processed_at),) = engine.replies
    assert (member, target, seq) == ("e1", "e0", 3) and now <= processed_at


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
