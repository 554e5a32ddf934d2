"""The one MAC parser (net/mac.py): text as the kernel writes it <-> frame bytes."""

from __future__ import annotations

import pytest

from ipmp_core.net.mac import check_mac, mac_text, parse_mac


def test_text_and_bytes_round_trip() -> None:
    raw = bytes([0x02, 0x00, 0x00, 0x00, 0x53, 0xAB])
    assert parse_mac("02:00:00:00:53:ab") == raw
    assert parse_mac("02-00-00-00-53-AB") == raw
    assert mac_text(raw) == "02:00:00:00:53:ab"
    check_mac(raw)


@pytest.mark.parametrize("text", ["", "02:00:00:00:53", "02:00:00:00:53:01:02",
                                  "020000005301", "2:0:0:0:53:1", "zz:00:00:00:53:01"])
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_mac(text)


def test_frames_take_six_bytes_only() -> None:
    with pytest.raises(ValueError):
        check_mac(b"\x02" * 5)
