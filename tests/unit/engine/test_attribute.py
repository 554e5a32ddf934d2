"""The node attribute for the cluster: the engine's rule (publish when the usable-member
count changes) with a fake clock, and the daemon's publisher against a fake
attrd_updater (a script that records its arguments)."""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path

import pytest

from ipmp_core.engine.actions import PublishAttribute
from ipmp_core.engine.engine import Engine
from ipmp_core.errors import EngineError
from ipmp_core.net import attrd
from tests.support.engine_helpers import World


def published(actions: list) -> list[tuple[str, int | None, int]]:
    return [(a.name, a.value, a.dampen_ms) for a in actions if isinstance(a, PublishAttribute)]


def world_with_attribute(*members: str, multiplier: int = 1, dampen_ms: int = 0) -> World:
    w = World(*members)
    w.group("ipmp0", *members)
    w.record(w.engine.set_attribute("ipmp0", "ipmp-ipmp0", w.now, multiplier=multiplier,
                                    dampen_ms=dampen_ms))
    return w


def test_setting_the_attribute_publishes_the_current_value_at_once() -> None:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    out = w.engine.set_attribute("ipmp0", "ipmp-ipmp0", w.now, multiplier=100, dampen_ms=250)
    assert published(out) == [("ipmp-ipmp0", 200, 250)]


def test_every_change_of_the_usable_count_is_published_and_nothing_else() -> None:
    w = world_with_attribute("e0", "e1", "e2")
    assert published(w.link("e0", up=False)) == [("ipmp-ipmp0", 2, 0)]
    assert published(w.link("e1", up=False)) == [("ipmp-ipmp0", 1, 0)]
    assert published(w.link("e2", up=False)) == [("ipmp-ipmp0", 0, 0)]
    assert published(w.link("e2", up=False)) == []  # no change, nothing to say
    assert published(w.advance(20_000)) == []
    assert published(w.link("e1", up=True)) == [("ipmp-ipmp0", 1, 0)]


def test_a_member_added_or_removed_in_place_changes_the_value() -> None:
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1")
    w.record(w.engine.set_attribute("ipmp0", "ipmp-ipmp0", w.now))
    assert published(w.record(w.engine.add_member("ipmp0", "e2", w.now))) == \
        [("ipmp-ipmp0", 3, 0)]
    assert published(w.record(w.engine.remove_member("e0", w.now))) == [("ipmp-ipmp0", 2, 0)]


def test_without_an_attribute_nothing_is_ever_published() -> None:
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.link("e0", up=False)
    w.link("e1", up=False)
    w.engine.delete_group("ipmp0", w.now)
    assert published(w.actions) == []


def test_deleting_the_group_or_renaming_the_attribute_deletes_the_old_one() -> None:
    w = world_with_attribute("e0")
    out = w.engine.set_attribute("ipmp0", "net-ok", w.now)
    assert published(out) == [("ipmp-ipmp0", None, 0), ("net-ok", 1, 0)]
    assert published(w.engine.delete_group("ipmp0", w.now)) == [("net-ok", None, 0)]


def test_the_monitor_can_ask_for_the_current_value_again() -> None:
    w = world_with_attribute("e0", "e1", dampen_ms=500)
    assert published(w.engine.republish_attribute("ipmp0")) == [("ipmp-ipmp0", 2, 500)]
    w2 = World("e0")
    w2.group("g", "e0")
    assert w2.engine.republish_attribute("g") == []


def test_the_attribute_survives_a_restart_and_is_published_once_with_the_final_value() -> None:
    w = world_with_attribute("e0", "e1", multiplier=10, dampen_ms=300)
    config = w.engine.config()
    assert config["groups"][0]["attribute"] == {"name": "ipmp-ipmp0", "multiplier": 10,
                                                "dampen_ms": 300}
    fresh = Engine()
    for i, name in enumerate(("e0", "e1"), start=2):
        fresh.link_observed(name, w.now, ifindex=i, mac=f"02:00:00:00:00:{i:02x}",
                            carrier=True, admin_up=True)
    # No intermediate 0 or 10 while the group is rebuilt: those would move addresses.
    assert published(fresh.load(config, w.now)) == [("ipmp-ipmp0", 20, 300)]
    assert fresh.config() == config


@pytest.mark.parametrize(("name", "multiplier", "dampen"), [
    ("9bad", 1, 0), ("has space", 1, 0), ("ok", -1, 0), ("ok", 1, -5)])
def test_bad_attribute_settings_are_refused(name: str, multiplier: int, dampen: int) -> None:
    w = World("e0")
    w.group("ipmp0", "e0")
    with pytest.raises(EngineError):
        w.engine.set_attribute("ipmp0", name, w.now, multiplier=multiplier, dampen_ms=dampen)
    assert w.engine.groups["ipmp0"].attribute is None


# ------------------------------------------------------------------ the publisher


def fake_attrd(tmp_path: Path, fail_first: int = 0, delay_s: float = 0.0) -> Path:
    """An attrd_updater that appends its arguments to calls.log, fails its first
    ``fail_first`` runs (attrd unreachable) and takes ``delay_s`` per run."""
    script = tmp_path / "attrd_updater"
    log = tmp_path / "calls.log"
    count = tmp_path / "count"
    script.write_text(
        "#!/bin/sh\n"
        f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}\n"
        f"sleep {delay_s}\n"
        f"if [ \"$n\" -lt {fail_first} ]; then exit 102; fi\n"
        f"echo \"$*\" >> {log}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def calls(tmp_path: Path) -> list[str]:
    path = tmp_path / "calls.log"
    return path.read_text().splitlines() if path.exists() else []


def test_publisher_runs_attrd_updater_and_deletes(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> list[str]:
        pub = attrd.AttributePublisher(str(fake_attrd(tmp)))
        pub.publish("ipmp-ipmp0", 2, 0)
        await pub.flush()
        pub.publish("ipmp-ipmp0", None, 0)
        await pub.flush()
        return calls(tmp)

    assert asyncio.run(scenario(tmp_path)) == ["-n ipmp-ipmp0 -U 2 -d 0ms", "-n ipmp-ipmp0 -D"]


def test_publisher_never_blocks_and_coalesces_to_the_latest_value(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> tuple[float, list[str]]:
        pub = attrd.AttributePublisher(str(fake_attrd(tmp, delay_s=0.3)))
        t0 = time.monotonic()
        pub.publish("a", 2, 100)
        spent = time.monotonic() - t0
        await asyncio.sleep(0.1)  # the first run is in flight (it takes 0.3 s)
        for value in (1, 0, 1, 0):
            t0 = time.monotonic()
            pub.publish("a", value, 100)
            spent = max(spent, time.monotonic() - t0)
        await pub.flush()
        return spent, calls(tmp)

    spent, seen = asyncio.run(scenario(tmp_path))
    assert spent < 0.05, f"publish() took {spent:.3f} s"
    assert seen == ["-n a -U 2 -d 100ms", "-n a -U 0 -d 100ms"]


def test_publisher_retries_while_attrd_is_unreachable(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setattr(attrd, "RETRY_FIRST_S", 0.01)
    monkeypatch.setattr(attrd, "RETRY_MAX_S", 0.02)

    async def scenario(tmp: Path) -> list[str]:
        pub = attrd.AttributePublisher(str(fake_attrd(tmp, fail_first=4)))
        pub.publish("a", 1, 0)
        await pub.flush(timeout=5)
        assert pub.calls == 5 and pub.accepted == {"a": (1, 0)}
        return calls(tmp)

    assert asyncio.run(scenario(tmp_path)) == ["-n a -U 1 -d 0ms"]


def test_publisher_is_off_without_attrd_updater() -> None:
    pub = attrd.AttributePublisher("no-such-attrd-updater-here")
    assert not pub.enabled
    pub.publish("a", 1, 0)  # no event loop needed: nothing is started
    assert pub.tasks == {} and pub.calls == 0
