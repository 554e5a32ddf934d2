"""The agents' "the daemon runs nothing" checks ignore the anonymous group's row, which a
daemon with TRACK_INTERFACES_ONLY_WITH_GROUPS=no lists with or without members."""

from __future__ import annotations

from agents import daemon_link


def test_named_groups_leave_out_the_anonymous_row():
    anon = {"name": "", "state": "ok", "active": [], "inactive": [], "unusable": []}
    named = {"name": "ipmp0", "state": "ok", "active": ["e0"], "inactive": [],
             "unusable": []}
    assert daemon_link.named_groups({"groups": [anon], "interfaces": []}) == []
    assert daemon_link.named_groups({"groups": [named, anon], "interfaces": []}) == [named]
