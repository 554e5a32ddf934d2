"""The anonymous group with transitive probing (TRACK_INTERFACES_ONLY_WITH_GROUPS=no and
TRANSITIVE_PROBING=yes): an interface in no group with an IPv4 address of its own is
tracked and probes its own subnet's routers from that address. Fake clock, simulated
network (tests/support/probe_sim.py)."""

from __future__ import annotations

from ipmp_core import ipmpstat_fields
from ipmp_core import ipmpstat_format as fmt
from ipmp_core.engine.actions import PlumbMember, ProbeKind, SendProbe, UnplumbMember
from ipmp_core.model import IfState, ProbeState
from tests.support.probe_sim import ProbeWorld

FDT = 7000  # probe interval 1000 ms
ROUTER_A = "198.51.100.1"  # e3's subnet
ROUTER_B = "203.0.113.1"  # e4's subnet
OWN_A = "198.51.100.30"
OWN_A2 = "198.51.100.31"
OWN_B = "203.0.113.40"


def world(*, transitive: bool = True, track_all: bool = True) -> ProbeWorld:
    """e3 and e4 in no group, a router on each one's subnet; the defaults file read."""
    w = ProbeWorld("e3", "e4")
    w.rtt.update({ROUTER_A: 1.0, ROUTER_B: 1.0})
    w.record(w.engine.routers_observed(4, [(ROUTER_A, "e3"), (ROUTER_B, "e4")], w.now))
    w.engine.track_all = track_all
    w.record(w.engine.set_defaults(FDT, True, w.now, transitive_probing=transitive))
    return w


def address(w: ProbeWorld, ifname: str, ip: str, added: bool = True, prefixlen: int = 24
            ) -> None:
    """What the daemon passes on for RTM_NEWADDR / RTM_DELADDR (`ip addr add/del`)."""
    w.record(w.engine.address_observed(ifname, ip, added, w.now, prefixlen=prefixlen))


def probes(w: ProbeWorld, member: str, since: float = 0.0) -> set[tuple[str, str]]:
    """(source, destination) of ``member``'s unicast probes sent since ``since``."""
    return {(p.source, p.dest) for t, p in w.sent
            if p.member == member and p.kind is ProbeKind.UNICAST and t >= since}


def tracked(w: ProbeWorld) -> list[str]:
    return [i.name for i in w.engine.snapshot().interfaces if i.group == ""]


def test_an_address_of_its_own_makes_an_ungrouped_interface_tracked_and_probe_from_it():
    """The interface joins on RTM_NEWADDR, probes its own subnet's router from its own
    address (ipmpstat -t: MODE routes, TESTADDR that address), and is shown in -i and
    in the -g row "--". Before this, an address of its own tracked nothing."""
    w = world()
    address(w, "e3", OWN_A)
    assert tracked(w) == ["e3"]
    assert "Tracking IP interface e3 (in no group): failure detection only" in w.logs()
    assert any(isinstance(a, PlumbMember) and a.member == "e3" for a in w.actions)
    w.run(3 * FDT)
    assert probes(w, "e3") == {(OWN_A, ROUTER_A)}
    view = w.iface("e3")
    assert (view.state, view.probe, view.active) == (IfState.OK, ProbeState.OK, True)
    [family] = view.target_families
    assert (family.family, str(family.mode), family.testaddr, family.targets) == \
        (4, "routes", OWN_A, [ROUTER_A])
    snap = w.engine.snapshot()
    human = fmt.render_snapshot(ipmpstat_fields.make_spec(["g"], None, False, False), snap)
    assert human.splitlines()[-1].split() == ["--", "--", "ok", f"{FDT / 1000:.2f}s", "e3"]


def test_each_interface_probes_the_router_of_its_own_subnet_only():
    """Targets stay per interface (mpd_probe.c's router_add_common() for the anonymous
    group): e3 never probes e4's router, nor e4 e3's."""
    w = world()
    address(w, "e3", OWN_A)
    address(w, "e4", OWN_B)
    w.run(3 * FDT)
    assert probes(w, "e3") == {(OWN_A, ROUTER_A)}
    assert probes(w, "e4") == {(OWN_B, ROUTER_B)}
    assert w.iface("e3").targets == [ROUTER_A] and w.iface("e4").targets == [ROUTER_B]
    assert f"Probe targets (inet) on e4: routers {ROUTER_B}" in w.logs()


def test_it_leaves_when_it_loses_its_last_address_and_switches_to_the_next_before():
    """Its first address is the source; when that one goes the next one is, and when the
    last goes it leaves the anonymous group (unplumbed, no more probes)."""
    w = world()
    address(w, "e3", OWN_A)
    address(w, "e3", OWN_A2)
    w.run(3 * FDT)
    address(w, "e3", OWN_A, added=False)
    since = w.now
    w.run(3 * FDT)
    assert probes(w, "e3", since) == {(OWN_A2, ROUTER_A)}
    address(w, "e3", OWN_A2, added=False)
    assert tracked(w) == []
    assert any(isinstance(a, UnplumbMember) and a.member == "e3" for a in w.actions)
    since = w.now
    w.run(3 * FDT)
    assert probes(w, "e3", since) == set()


def test_a_resync_that_names_no_interface_still_takes_the_address_away():
    """The daemon's resynchronisation reports a vanished address without its interface:
    the interface that had it loses it all the same."""
    w = world()
    address(w, "e3", OWN_A)
    w.record(w.engine.address_observed("", OWN_A, False, w.now))
    assert tracked(w) == []


def test_failure_and_repair_are_logged_with_in_mpathd_words():
    """phyint_inst_check_for_failure() / phyint_check_for_repair() without a group; the
    other interface goes on."""
    w = world()
    address(w, "e3", OWN_A)
    address(w, "e4", OWN_B)
    w.run(3 * FDT)
    w.dropped.add("e4")
    took = w.run_until(lambda: w.iface("e4").state is IfState.FAILED, limit_ms=3 * FDT)
    assert took <= FDT
    assert "IP interface failure detected on e4" in w.logs()
    assert w.iface("e3").state is IfState.OK
    assert not any("failure detected on e3" in line for line in w.logs())
    w.dropped.clear()
    w.run_until(lambda: w.iface("e4").state is IfState.OK, limit_ms=5 * FDT)
    assert "IP interface repair detected on e4" in w.logs()


def test_not_tracked_without_transitive_probing_or_without_tracking_all():
    """Either setting off (the defaults file's built-in values): an address of its own
    tracks nothing, as before."""
    for w in (world(transitive=False), world(track_all=False)):
        address(w, "e3", OWN_A)
        w.run(2 * FDT)
        assert tracked(w) == [] and probes(w, "e3") == set()


def test_sighup_switches_it_on_and_off():
    """SIGHUP / ipmpadm refresh applies the file: TRANSITIVE_PROBING=no drops the
    interface, =yes takes it back; TRACK_INTERFACES_ONLY_WITH_GROUPS=yes drops it."""
    w = world(transitive=False)
    address(w, "e3", OWN_A)
    assert tracked(w) == []
    w.record(w.engine.set_defaults(FDT, True, w.now, transitive_probing=True))
    assert tracked(w) == ["e3"] and w.engine.groups[""].transitive_probing
    w.run(3 * FDT)
    assert probes(w, "e3") == {(OWN_A, ROUTER_A)}
    w.record(w.engine.set_defaults(FDT, True, w.now, transitive_probing=False))
    assert tracked(w) == []
    w.record(w.engine.set_defaults(FDT, True, w.now, transitive_probing=True))
    assert tracked(w) == ["e3"]
    w.record(w.engine.set_track_all(False, w.now))
    assert tracked(w) == []
    w.record(w.engine.set_track_all(True, w.now))
    assert tracked(w) == ["e3"]


def test_never_loopback_nor_a_member_of_a_named_group():
    """lo is never tracked; an interface that joins a named group leaves the anonymous
    group, and is tracked again once it leaves the named group."""
    w = world()
    w.link("lo", up=True, mac="00:00:00:00:00:00", ifindex=1)
    address(w, "lo", "127.0.0.1", prefixlen=8)
    address(w, "lo", "192.0.2.99", prefixlen=32)
    assert tracked(w) == []
    address(w, "e3", OWN_A)
    w.record(w.engine.create_group("ipmp0", w.now))
    w.record(w.engine.add_member("ipmp0", "e3", w.now))
    assert tracked(w) == [] and w.engine.members["e3"].group == "ipmp0"
    address(w, "e3", OWN_A2)  # an address event of a member changes nothing
    assert w.engine.members["e3"].group == "ipmp0"
    w.record(w.engine.remove_member("e3", w.now))
    assert tracked(w) == ["e3"]


def test_a_test_address_keeps_classic_probing_and_keeps_it_tracked():
    """A test address probes as always (it wins over the own address); losing every own
    address does not drop an interface that still has a test address, and losing the
    test address does not drop one that still has an own address."""
    w = world()
    test = "198.51.100.50"
    w.record(w.engine.set_test_addresses("e3", [f"{test}/24"], w.now))
    address(w, "e3", test)  # the kernel reports the test address too
    address(w, "e3", OWN_A)
    w.run(3 * FDT)
    assert probes(w, "e3") == {(test, ROUTER_A)}
    address(w, "e3", OWN_A, added=False)
    assert tracked(w) == ["e3"]
    address(w, "e3", OWN_A)
    dropped = w.record(w.engine.set_test_addresses("e3", [], w.now))
    assert tracked(w) == ["e3"] and not any(isinstance(a, UnplumbMember) for a in dropped)
    address(w, "e3", test, added=False)
    assert tracked(w) == ["e3"]
    since = w.now
    w.run(3 * FDT)
    assert probes(w, "e3", since) == {(OWN_A, ROUTER_A)}


def test_an_address_seen_before_its_link_tracks_the_interface_when_the_link_comes():
    """At a resync the addresses can come before the link: it joins with the link."""
    w = world()
    address(w, "e5", "192.0.2.5")
    assert tracked(w) == []
    w.link("e5", up=True, mac="02:00:00:00:00:05", ifindex=5)
    assert tracked(w) == ["e5"]
    w.record(w.engine.link_removed("e5", w.now))
    assert tracked(w) == []
    assert not any(isinstance(a, SendProbe) and a.member == "e5" and a.source != "192.0.2.5"
                   for a in w.actions)


def test_one_tracked_for_its_own_address_is_not_configuration():
    """The state file keeps test addresses only: an interface tracked for its own
    address follows the kernel; an entry for it would be read back as an empty
    test-address list, and refused with an error once the interface is gone."""
    w = world()
    address(w, "e3", OWN_A)
    w.record(w.engine.set_test_addresses("e4", [f"{OWN_B}/24"], w.now))
    assert tracked(w) == ["e3", "e4"]
    assert [m["name"] for m in w.engine.config()["anonymous"]] == ["e4"]
