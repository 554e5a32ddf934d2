"""The nft commands that keep each group's member set: names map to groups one to one."""

from __future__ import annotations

from ipmp_core.net.nftsets import commands, set_name


def _sets(cmds: dict) -> dict[str, list[str]]:
    """set name -> the elements the commands put in it."""
    found: dict[str, list[str]] = {}
    for cmd in cmds["nftables"]:
        verb, obj = next(iter(cmd.items()))
        if verb == "add" and "set" in obj:
            found[obj["set"]["name"]] = []
        if verb == "add" and "element" in obj:
            found[obj["element"]["name"]] += obj["element"]["elem"]
    return found


def test_groups_differing_only_in_dash_and_underscore_get_their_own_sets() -> None:
    # Both names became ipmp_0_members once: one group silently lost its rules.
    cmds = commands({"ipmp-0": ["e0", "e1"], "ipmp_0": ["e2"]}, [])
    assert _sets(cmds) == {"ipmp-0_members": ["e0", "e1"], "ipmp_0_members": ["e2"]}


def test_every_allowed_group_character_is_kept_in_the_set_name() -> None:
    for group in ("a.b", "a@b", "a-b", "a_b", "Ab9"):
        assert set_name(group) == f"{group}_members"


def test_a_set_is_emptied_before_it_is_filled_and_a_gone_group_is_emptied() -> None:
    cmds = commands({"g": ["e0"]}, ["old"])["nftables"]
    verbs = [(next(iter(c)), next(iter(next(iter(c.values()))))) for c in cmds]
    assert verbs == [("add", "table"), ("add", "set"), ("flush", "set"),
                     ("add", "element"), ("flush", "set")]
    assert cmds[-1]["flush"]["set"]["name"] == "old_members"
