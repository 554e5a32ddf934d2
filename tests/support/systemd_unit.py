"""The project's systemd unit as the tests read it (systemd/ipmpd@.service)."""

from __future__ import annotations

import configparser
from pathlib import Path

UNITS = Path(__file__).resolve().parents[2] / "systemd"
TEMPLATE = UNITS / "ipmpd@.service"
HOST_DROPIN = UNITS / "ipmpd@default.service.d" / "host-namespace.conf"


def settings(path: Path) -> configparser.ConfigParser:
    """A unit file's sections; a key given twice keeps its last value."""
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       delimiters=("=",), comment_prefixes=("#",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def bounding_set() -> str:
    """The unit's CapabilityBoundingSet as setpriv's --bounding-set argument."""
    caps = settings(TEMPLATE)["Service"]["CapabilityBoundingSet"].split()
    return "-all," + ",".join("+" + c.removeprefix("CAP_").lower() for c in caps)
