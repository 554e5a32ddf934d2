"""The ipmp agent's ``probing`` parameter: how failures beyond a member's link are
detected, checked against the node's test addresses.

Three ways, as Oracle Solaris 11 offers them: link state only; ICMP probes from test
addresses (in.mpathd's classic probing); transitive probing (Solaris 11's
config/transitive-probing: no test address needed). Unset, the choice follows the
test_addresses parameter, as before the parameter existed. The combinations that
contradict themselves are configuration errors (OCF_ERR_CONFIGURED: wrong for every node
that would run the group); the ones that merely add nothing are warned about.
"""

from __future__ import annotations

from ocf import OCFCode, OCFError

LINK = "link"
TEST_ADDRESSES = "test-addresses"
TRANSITIVE = "transitive"
CHOICES = (LINK, TEST_ADDRESSES, TRANSITIVE)

HELP = (
    "How failures beyond a member's link (a dead switch port, a cut uplink) are "
    f"detected. {LINK}: link state only, no probes. {TEST_ADDRESSES}: ICMP probes from "
    "the test addresses of test_addresses (in.mpathd's probe-based detection). "
    f"{TRANSITIVE}: without test addresses (Oracle Solaris 11's transitive probing): "
    "active members probe the targets from a data address, the other members probe an "
    "active member at layer 2; members that have a test address keep probing from it. "
    f"Unset: {TEST_ADDRESSES} when test_addresses gives the node some, else {LINK}. "
    "The group's own setting: the node's TRANSITIVE_PROBING (defaults file) does not "
    f"apply to it. Refused: {LINK} with test_addresses, {TEST_ADDRESSES} without. IPv6 "
    "data addresses also turn on probing from the members' IPv6 link-local addresses "
    "(as in Solaris, where those are the IPv6 test addresses)."
)


def chosen(value: str | None, tests: dict[str, str], linklocal: bool) -> str:
    """The way in force: the parameter, or what test_addresses implies when unset."""
    if value:
        return value
    return TEST_ADDRESSES if tests or linklocal else LINK


def check(probing: str, node: str, tests: dict[str, str], linklocal: bool) -> None:
    """Refuse a choice the node's test addresses contradict (exit reasons fit the 128
    characters Pacemaker keeps)."""
    if probing == LINK and (tests or linklocal):
        raise OCFError(OCFCode.ERR_CONFIGURED,
                       f"probing={LINK} contradicts test_addresses (they are for probing): "
                       f"remove them or use probing={TEST_ADDRESSES}")
    if probing == TEST_ADDRESSES and not (tests or linklocal):
        who = f"node {node}" if node else "the nodes not named"
        raise OCFError(OCFCode.ERR_CONFIGURED,
                       f"probing={TEST_ADDRESSES}, but test_addresses has none for {who} "
                       f"(set them, or use probing={TRANSITIVE})")


def notes(probing: str, members: list[str], tests: dict[str, str], linklocal: bool,
          data: list[str]) -> list[str]:
    """Warnings about choices that work but do less than their name says."""
    out = []
    without = [m for m in members if m not in tests]
    if probing == TEST_ADDRESSES and not linklocal and without:
        out.append(f"probing={TEST_ADDRESSES}: {' '.join(without)} without a test address "
                   f"detect failures by link state only (probing={TRANSITIVE} covers them)")
    if probing == TRANSITIVE and members and not without:
        out.append(f"probing={TRANSITIVE}: every member has a test address and probes from "
                   "it; transitive probing covers only members without one")
    if probing == TRANSITIVE and without and not linklocal and not data:
        # Only a member carrying a data address probes the targets; the others probe it.
        # A node whose group has none (a floating address lives elsewhere) probes nothing.
        out.append(f"probing={TRANSITIVE}: no data_addresses for this node: until a "
                   "floating address is placed here, its members detect failures by link "
                   "state only (give each node an address of its own in data_addresses)")
    if probing == LINK and any(":" in a for a in data):
        out.append(f"probing={LINK}: IPv6 data addresses are probed from the members' "
                   "link-local addresses all the same (as in Solaris)")
    return out
