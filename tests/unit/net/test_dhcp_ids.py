"""DHCP client identifiers (option 61): stable, distinct, NIC-independent, well formed."""

from __future__ import annotations

import struct
import uuid

import pytest

from ipmp_core.net.dhcp import DhcpSession
from ipmp_core.net.dhcp_client import client_id_option
from ipmp_core.net.dhcp_ids import (
    client_id_for_group,
    client_id_for_member,
    group_iaid,
    host_duid,
    host_identity,
)


def test_member_id_is_type_0_text_from_names() -> None:
    cid = client_id_for_member("ipmp0", "e0", host="node1")
    assert cid == b"\x00clearview-ipmp/node1/ipmp0/e0"
    assert 2 <= len(cid) <= 255


def test_member_id_is_stable_and_distinct() -> None:
    a = client_id_for_member("ipmp0", "e0", host="n1")
    assert a == client_id_for_member("ipmp0", "e0", host="n1")  # the replacement NIC too
    others = {
        client_id_for_member("ipmp0", "e1", host="n1"),
        client_id_for_member("ipmp1", "e0", host="n1"),
        client_id_for_member("ipmp0", "e0", host="n2"),
    }
    assert a not in others and len(others) == 3


def test_member_id_defaults_to_this_host() -> None:
    assert client_id_for_member("g", "m") == client_id_for_member("g", "m", host=host_identity())


def test_member_id_stays_within_option_61() -> None:
    cid = client_id_for_member("g", "m", host="h" * 300)
    assert cid[0] == 0 and len(cid) <= 255
    assert cid != client_id_for_member("g", "m", host="h" * 299)


def test_group_id_is_rfc4361_iaid_plus_duid_uuid() -> None:
    cid = client_id_for_group("ipmp0", 0, host="node1")
    assert cid[0] == 255
    (iaid,) = struct.unpack("!I", cid[1:5])
    assert iaid == group_iaid("ipmp0", 0)
    duid = cid[5:]
    assert duid == host_duid("node1")
    assert struct.unpack("!H", duid[:2]) == (4,)  # DUID-UUID, RFC 6355
    assert len(duid) == 18
    uuid.UUID(bytes=duid[2:])  # a valid UUID


def test_group_id_is_stable_and_tied_to_group_and_index() -> None:
    a = client_id_for_group("ipmp0", 0, host="n1")
    assert a == client_id_for_group("ipmp0", 0, host="n1")
    others = {
        client_id_for_group("ipmp0", 1, host="n1"),
        client_id_for_group("ipmp1", 0, host="n1"),
        client_id_for_group("ipmp0", 0, host="n2"),
    }
    assert a not in others and len(others) == 3
    # One DUID per host (RFC 4361); the IAID tells the group's addresses apart.
    assert client_id_for_group("ipmp0", 1, host="n1")[5:] == a[5:]
    assert client_id_for_group("ipmp0", 1, host="n1")[1:5] != a[1:5]


def test_group_and_member_ids_never_collide() -> None:
    assert client_id_for_group("e0", 0, host="n") != client_id_for_member("e0", "e0", host="n")


@pytest.mark.parametrize("bad", ["", "a/b", "a\0b"])
def test_bad_names_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        client_id_for_member(bad, "e0", host="n")
    with pytest.raises(ValueError):
        client_id_for_member("g", bad, host="n")
    with pytest.raises(ValueError):
        client_id_for_group(bad, 0, host="n")


@pytest.mark.parametrize("index", [-1, True, 1.0])
def test_bad_index_rejected(index: object) -> None:
    with pytest.raises(ValueError):
        client_id_for_group("g", index, host="n")  # type: ignore[arg-type]


def test_option_61_encoding_is_verbatim() -> None:
    assert client_id_option(b"\xff\x01\x02") == {"type": 255, "key": b"\x01\x02"}
    assert client_id_option(b"\x00abc") == {"type": 0, "key": b"abc"}
    mac = client_id_option(b"\x01\x02\x00\x00\x00\x00\x2a")
    assert mac == {"type": 1, "key": "02:00:00:00:00:2a"}
    for bad in (b"", b"\x00", b"\x01\x02", b"\x00" * 256):
        with pytest.raises(ValueError):
            client_id_option(bad)


def test_session_validates_its_arguments() -> None:
    with pytest.raises(ValueError):
        DhcpSession("e0", client_id=b"\x00", on_lease=lambda lease: None)
    with pytest.raises(ValueError):
        DhcpSession("x" * 16, client_id=b"\x00ab", on_lease=lambda lease: None)
    s = DhcpSession("e0", client_id=b"\x00ab", on_lease=lambda lease: None)
    assert (s.state, s.lease, s.ifname, s.client_id) == ("init", None, "e0", b"\x00ab")
    s.move("e1")
    assert s.ifname == "e1"


def test_pyroute2_client_surface_we_build_on() -> None:
    """DhcpSession subclasses pyroute2's AsyncDHCPClient (pinned 0.9.7) and uses a few of
    its internals; fail here, loudly, if an upgrade renames them."""
    import asyncio

    from pyroute2.dhcp.client import AsyncDHCPClient, ClientConfig
    from pyroute2.dhcp.fsm import TRANSITIONS, State

    for name in (
        "_send_message",
        "_process_msg",
        "_recv_forever",
        "_send_forever",
        "bootstrap",
        "__aenter__",
        "__aexit__",
    ):
        assert callable(getattr(AsyncDHCPClient, name, None)), name
    assert State.INIT_REBOOT in TRANSITIONS[State.OFF]  # a fresh client can re-confirm

    async def build() -> None:
        client = AsyncDHCPClient(ClientConfig(interface="lo", handle_signals=False))
        for name in (
            "_sendq",
            "_sock",
            "_sender_task",
            "_receiver_task",
            "_state_watchdog",
            "lease_timers",
            "last_state_change",
            "config",
        ):
            assert hasattr(client, name), name

    asyncio.run(build())


def test_client_ids_need_no_pyroute2() -> None:
    """The client ids are pure: importing them loads no DHCP client (nor pyroute2)."""
    import subprocess
    import sys

    code = "import sys, ipmp_core.net.dhcp_ids; print(sorted(m for m in sys.modules " \
           "if m.split('.')[0] == 'pyroute2'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "[]"
