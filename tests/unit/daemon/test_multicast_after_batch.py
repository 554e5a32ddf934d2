"""Moving applications' multicast memberships off an old nominee: the batch that moves
the nomination (a failover: one Nominate per family) reads the kernel's membership tables
once, after its announcements, not once per Nominate while the announcement waits."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from ipmp_core.daemon.multicast import MulticastFollower
from ipmp_core.net import mcast


def test_one_read_per_batch_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []

    def read(family: str) -> dict[int, set[str]]:
        reads.append(family)
        return {2: {"ff15::1:3"}} if family == mcast.INET6 else {2: {"224.1.2.3"}}

    monkeypatch.setattr(mcast, "read_memberships", read)
    member = SimpleNamespace(group="ipmp0")
    engine: Any = SimpleNamespace(
        observed={"e0": SimpleNamespace(ifindex=2)}, members={"e0": member},
        groups={"ipmp0": SimpleNamespace(multicast=(), nominees={})})

    async def scenario() -> None:
        follower = MulticastFollower(engine, asyncio.Lock(), asyncio.Event())
        follower.move_later("ipmp0", mcast.INET, "e0")
        follower.move_later("ipmp0", mcast.INET6, "e0")
        assert reads == []  # nothing read while the batch is being carried out
        follower.after_batch()
        assert sorted(reads) == sorted([mcast.INET, mcast.INET6])  # once per family
        # what the old nominee held is noted for the moves (its NIC may go meanwhile)
        assert follower.seen["e0"][0] == 2
        assert follower.seen["e0"][1][mcast.INET6] == {"ff15::1:3"}
        assert len(follower.tasks) == 2 and follower.pending == []
        await asyncio.gather(*follower.tasks)  # no nominee: nothing to move
        follower.after_batch()  # nothing pending: nothing read
        assert len(reads) == 2  # (no nominee: the moves read nothing themselves)

    asyncio.run(scenario())
