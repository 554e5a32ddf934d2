"""What the engine's snapshot says for ipmpstat -i PROBE and FLAGS and -a STATE, as
in.mpathd's ifprobestate(), ifflags() and getgraddrinfo() (mpd_tables.c) and the kernel's
gi_m6ifname say it on illumos; ipmpstat only prints it (ipmpstat_format)."""

from __future__ import annotations

from ipmp_core import ipmpstat_format as fmt
from ipmp_core.model import AddrState, IfState, ProbeState
from tests.support.engine_helpers import World
from tests.support.probe_sim import ROUTER, ProbeWorld

FDT = 7000


def probing(*members: str) -> ProbeWorld:
    """A group whose members probe from IPv4 test addresses; no target known yet."""
    w = ProbeWorld(*members)
    w.probing_group("ipmp0", *members, fdt=FDT)
    w.record(w.engine.add_data_address("ipmp0", "198.51.100.10/24", w.now))
    return w


def flags(w: World, name: str) -> str:
    return fmt.flags_text(w.iface(name).flags)


# --------------------------------------------------------------------------- -i PROBE
def test_probe_is_unknown_while_no_target_is_known():
    w = probing("e0", "e1")
    w.run(100)
    assert w.iface("e0").probe is ProbeState.UNKNOWN  # !PROBE_CAPABLE on every family


def test_probe_is_ok_once_targets_exist_before_any_answer():
    """ifprobestate(): PROBE_CAPABLE (targets known) and not PI_FAILED is ok; no answer
    is needed (the old view waited for one and said unknown meanwhile)."""
    w = probing("e0", "e1")
    w.routers(ROUTER)  # the router does not answer yet (no rtt entry)
    w.run(10)
    view = w.iface("e0")
    assert view.targets == [ROUTER] and view.state is not IfState.FAILED
    assert view.probe is ProbeState.OK


def test_probe_is_failed_whenever_the_interface_is_failed_even_by_its_link():
    """ifprobestate() looks at pi_state == PI_FAILED, whatever failed it: a pulled
    cable shows PROBE failed, not the probes' last opinion."""
    w = probing("e0", "e1")
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.run(3 * FDT)
    assert w.iface("e0").probe is ProbeState.OK
    w.link("e0", up=False)
    view = w.iface("e0")
    assert view.state is IfState.FAILED and view.probe is ProbeState.FAILED


def test_failed_interface_whose_targets_went_with_link_up_is_probe_unknown():
    """target_delete(): no target left on either family and the link up is
    PI_NOTARGETS, so ifprobestate() says unknown; IFF_FAILED keeps STATE failed."""
    w = probing("e0", "e1")
    w.rtt[ROUTER] = 1.0
    w.routers(ROUTER)
    w.run(3 * FDT)
    w.dropped.add("e0")
    w.run(2 * FDT)
    assert (w.iface("e0").state, w.iface("e0").probe) == (IfState.FAILED, ProbeState.FAILED)
    w.routers()  # the router leaves the routing table: no target for anyone
    w.run(100)
    assert (w.iface("e0").state, w.iface("e0").probe) == (IfState.FAILED, ProbeState.UNKNOWN)


def test_probe_is_disabled_without_test_addresses():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.link("e0", up=False)
    assert w.iface("e0").probe is ProbeState.DISABLED  # even failed: nothing probes


# --------------------------------------------------------------------------- -i FLAGS
def test_m6_flag_only_when_the_group_carries_ipv6():
    """gi_m6ifname is set only when the IPMP interface is plumbed for IPv6."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24")
    assert flags(w, "e0") == "--mb---"
    w.addr("ipmp0", "2001:db8:1::10/64")
    assert flags(w, "e0") == "--mbM--"


def test_ipv6_only_group_has_m6_but_no_m4_or_b():
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "2001:db8:1::10/64")
    assert flags(w, "e0") == "----M--"


def test_failed_standby_is_not_inactive():
    """ifflags(): a failed interface has IFF_INACTIVE cleared, so `-s-----`."""
    w = World("e0", "e1", "e2")
    w.group("ipmp0", "e0", "e1", standby=("e2",))
    w.addr("ipmp0", "198.51.100.10/24")
    assert flags(w, "e2") == "is-----"
    w.link("e2", up=False)
    assert w.iface("e2").state is IfState.FAILED
    assert flags(w, "e2") == "-s-----"


def test_offline_member_is_down_and_not_inactive():
    """if_mpadm -d brings the interface's addresses down: logint_upcount() == 0 is `d`."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24")
    w.record(w.engine.offline("e1", w.now))
    assert w.iface("e1").state is IfState.OFFLINE
    assert flags(w, "e1") == "-----d-"


# --------------------------------------------------------------------------- -a STATE
def test_address_stays_up_with_no_inbound_when_no_member_is_active():
    """getgraddrinfo(): STATE is the address's IFF_UP; with no active interface the
    binding is empty (INBOUND --) and so is OUTBOUND."""
    w = World("e0", "e1")
    w.group("ipmp0", "e0", "e1")
    w.addr("ipmp0", "198.51.100.10/24")
    w.link("e0", up=False)
    w.link("e1", up=False)
    (view,) = w.engine.snapshot().addresses
    assert (view.state, view.inbound, view.outbound) == (AddrState.UP, "", [])
    row = fmt.address_row(view)
    assert (row["STATE"], row["INBOUND"], row["OUTBOUND"]) == ("up", "", "")
