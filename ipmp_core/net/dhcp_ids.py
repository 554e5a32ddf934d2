"""DHCP client identifiers (option 61) for the daemon's leases: pure, no pyroute2.

The server keys a lease on the client identifier, so the identifier, not the MAC, decides
which address we get back: a member's test address keeps its lease across NIC
replacement, a group's data address across failover (docs/design.md, "DHCP").
"""

from __future__ import annotations

import hashlib
import socket
import struct
import uuid

_MEMBER_ID_TAG = "clearview-ipmp"
_IAID_TAG = b"clearview-ipmp/iaid/"
_DUID_NAMESPACE = uuid.UUID("7b0c6f2e-3c1a-5d55-9a57-2f6e1d0c9a11")  # ours, fixed forever
_DUID_UUID = 4  # RFC 6355


def host_identity() -> str:
    """What makes our client ids unique between machines: the host name (UTS name)."""
    return socket.gethostname() or "localhost"


def _check_id_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must be a non-empty string")
    if "/" in name or "\0" in name:
        raise ValueError(f"{kind} name {name!r} must not contain '/' or NUL")
    return name


def client_id_for_member(group: str, member: str, *, host: str | None = None) -> bytes:
    """Option-61 client id for a member's DHCP test address.

    Type 0 (not a hardware address) + ``clearview-ipmp/HOST/GROUP/MEMBER``: the same for
    every NIC that ever plays ``member`` in ``group`` on this host, so a hot-swapped NIC
    (new MAC) gets its test address back.
    """
    _check_id_name("group", group)
    _check_id_name("member", member)
    host = _check_id_name("host", host if host is not None else host_identity())
    text = f"{_MEMBER_ID_TAG}/{host}/{group}/{member}".encode()
    if len(text) > 254:  # option 61 holds 255 bytes including the type byte
        text = f"{_MEMBER_ID_TAG}/{hashlib.sha256(text).hexdigest()}".encode()
    return b"\x00" + text


def host_duid(host: str | None = None) -> bytes:
    """This host's DUID: DUID-UUID (RFC 6355), a name-based UUID of the host name."""
    host = _check_id_name("host", host if host is not None else host_identity())
    return struct.pack("!H", _DUID_UUID) + uuid.uuid5(_DUID_NAMESPACE, host).bytes


def group_iaid(group: str, index: int) -> int:
    """A 32-bit IAID for the group's ``index``-th DHCP address."""
    _check_id_name("group", group)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError(f"address index must be an int >= 0, not {index!r}")
    digest = hashlib.sha256(_IAID_TAG + f"{group}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def client_id_for_group(group: str, index: int, *, host: str | None = None) -> bytes:
    """Option-61 client id for the group's ``index``-th DHCP data address.

    RFC 4361: type 255, IAID (4 bytes), DUID. The IAID stands for the group's logical
    interface and address index, the DUID for the host; no NIC is part of it, so the
    lease survives failover to any member (and NIC replacement).
    """
    return b"\xff" + struct.pack("!I", group_iaid(group, index)) + host_duid(host)
