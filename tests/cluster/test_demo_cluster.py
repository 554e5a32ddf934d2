"""`make demo`'s second act (tests.support.demo_cluster.play, the function the demo calls)
on a two-node cluster, and what it printed checked against the cluster: the address moved
to the other node, the client's gap was bounded, the failed node came back eligible by
itself. The README pastes this act's output; this test keeps it true."""

from __future__ import annotations

import re

import pytest

from tests.support.cluster.cluster import Cluster
from tests.support.demo_cluster import ATTR, NICS, STICKINESS, VIP, command_lines, play, recipe

pytestmark = pytest.mark.cluster

# The client's longest gap while the address moves: the location rule acts on the
# attribute ipmpd sets the moment the last member fails (seen: 0.3-0.5 s). A failover that
# waited for the group's monitor (every 10 s) or for the address's failed_grace (10 s)
# would take longer than this; the margin is for a loaded 2-core machine.
MAX_FAILOVER_GAP_S = 5.0
# Plugging the cables back moves nothing: a few lost pings at most (the client itself may
# be descheduled for a while on a loaded machine).
MAX_REPLUG_GAP_S = 1.0
ALLOWED_CODES = {190}  # the group's monitor reporting no usable member (OCF_DEGRADED)


def blocks(printed: list[str], command: str) -> list[str]:
    """The output printed after each line matching ``command`` (a regular expression) up
    to the next prompt or banner."""
    found, current = [], None
    for line in printed:
        if current is not None and (re.match(r"^(n\d|switch)# ", line)
                                    or line.startswith("=== ")):
            found.append("\n".join(current))
            current = None
        if re.fullmatch(command, line):
            current = []
        elif current is not None:
            current.append(line)
    if current is not None:
        found.append("\n".join(current))
    return found


def started_on(crm_mon_text: str, rsc: str) -> str | None:
    match = re.search(rf"^\s*\* {rsc}\s.*\bStarted (\S+)", crm_mon_text, re.M)
    return match.group(1) if match else None


def attribute(crm_mon_text: str, node: str) -> str | None:
    match = re.search(rf"\* Node: {node}:\n\s*\* {ATTR}\s*: (\S+)", crm_mon_text)
    return match.group(1) if match else None


def allocation_scores(c: Cluster, rsc: str, node: str) -> list[str]:
    """Pacemaker's allocation scores of ``rsc`` on ``node`` in the live cluster (-INFINITY:
    banned there)."""
    out = c.nodes[0].run("crm_simulate", "-sL", check=True, timeout=60).stdout
    return re.findall(rf"\b{rsc} allocation score on {node}: (\S+)", out)


def test_the_demo_act_prints_what_happened(pair: Cluster) -> None:
    c = pair
    printed: list[str] = []
    result = play(c, say=printed.append)
    a, b = result.from_node, result.to_node
    text = "\n".join(printed)
    print("\n" + text)

    # The commands shown are the recipe's, and they are what the cluster runs.
    for argv in (STICKINESS, *recipe()):
        assert "\n".join(command_lines("n1", argv)) in text
    assert {a, b} == {"n1", "n2"}

    # Before: the address on A, both nodes' attribute at 2.
    (before, after_pull) = blocks(printed, r"n\d# crm_mon -1 -A")
    assert started_on(before, "vip") == a, before
    assert attribute(before, "n1") == attribute(before, "n2") == "2", before

    # The pull: A's ports, the address on B, A's attribute 0, A's group failed.
    for nic in NICS:
        assert f"switch# ip link set {c.node(a).port(nic)} down" in printed
        assert f"switch# ip link set {c.node(a).port(nic)} up" in printed
    assert started_on(after_pull, "vip") == b, after_pull
    assert attribute(after_pull, a) == "0" and attribute(after_pull, b) == "2", after_pull
    assert f"({VIP} Started on {b} {result.moved_s:.1f} s after the pull)" in printed
    group_views = blocks(printed, f"{a}# ipmpstat -g")
    assert len(group_views) == 2
    assert re.search(r"^ipmp0\s+ipmp0\s+failed\s", group_views[0], re.M), group_views[0]
    assert re.search(r"^ipmp0\s+ipmp0\s+ok\s", group_views[1], re.M), group_views[1]

    # The client's view: the numbers printed are the watch's, the gap bounded.
    match = re.search(r"client: (\d+) pings sent, (\d+) answered; longest gap between "
                      rf"replies (\d+) ms \({re.escape(VIP)} moving from {a} to {b}\), "
                      r"(\d+) ms after the cables came back", text)
    assert match, text
    sent, answered, gap_ms, replug_ms = map(int, match.groups())
    assert (sent, answered) == (result.sent, result.answered)
    assert gap_ms == round(result.gap_s * 1000) and replug_ms == round(result.replug_gap_s * 1000)
    assert 0 < answered < sent, "the client saw no answer, or no failover at all"
    assert result.gap_s < MAX_FAILOVER_GAP_S, result
    assert result.replug_gap_s < MAX_REPLUG_GAP_S, result

    # After the cables came back: the address still on B (stickiness), A's attribute back
    # and no fail count, as printed and as the cluster has it now.
    (final,) = blocks(printed, rf"{b}# crm_mon -1 -A -f")
    assert started_on(final, "vip") == b, final
    assert attribute(final, a) == attribute(final, b) == "2", final
    summary = final.split("Migration Summary:", 1)[1].split("Failed Resource Actions:")[0]
    assert not summary.strip(), f"fail counts shown: {summary}"
    st = c.crm_mon()
    assert st.started_on("vip") == {b} and st.started_on("net-clone") == {"n1", "n2"}, st.xml
    assert st.attr(a, ATTR) == "2", st.attributes
    assert not [f for f in st.failures if f.exitcode not in ALLOWED_CODES], st.failures
    assert all(c.failcount(r, n) == 0 for r in ("net", "vip") for n in c.nodes)
    assert c.arp_owners(VIP) == {b}
    assert c.node(a).holders(VIP) == []

    # "Eligible again" in Pacemaker's own terms: the address may be placed on A.
    scores = allocation_scores(c, "vip", a)
    assert scores and "-INFINITY" not in scores, scores
