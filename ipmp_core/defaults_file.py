"""The daemon's tunables file, in the spirit of Solaris' /etc/default/mpathd.

KEY=VALUE lines, '#' comments. Re-read on SIGHUP. Unknown keys and bad values are logged
and ignored (a typo must not stop failure detection).

    FAILURE_DETECTION_TIME=10000   # ms, default for new groups
    FAILBACK=yes                   # default for new groups
    ANNOUNCE_COUNT=3               # gratuitous ARPs / unsolicited NAs per burst
    ANNOUNCE_INTERVAL=200          # ms between them
    ANNOUNCE_REPEAT=5000           # ms until the second burst; 0 = no second burst
    TRACK_INTERFACES_ONLY_WITH_GROUPS=yes   # no: interfaces in no group that have a
                                   # test address get failure detection (no failover)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ipmp_core.constants import (
    DEFAULT_ANNOUNCE_COUNT,
    DEFAULT_ANNOUNCE_INTERVAL_MS,
    DEFAULT_ANNOUNCE_REPEAT_MS,
    DEFAULT_FAILBACK,
    DEFAULT_FDT_MS,
    MAX_ANNOUNCE_COUNT,
    MAX_ANNOUNCE_INTERVAL_MS,
)
from ipmp_core.errors import EngineError
from ipmp_core.values import normalize_fdt, parse_bool

DEFAULTS_FILE = "/etc/default/clearview-ipmp"


@dataclass
class Defaults:
    """The values of the defaults file (in.mpathd's /etc/default/mpathd), each already
    brought within its limits; what a group gets when its request names no value."""

    fdt_ms: int = DEFAULT_FDT_MS
    failback: bool = DEFAULT_FAILBACK
    announce_count: int = DEFAULT_ANNOUNCE_COUNT
    announce_interval_ms: int = DEFAULT_ANNOUNCE_INTERVAL_MS
    announce_repeat_ms: int = DEFAULT_ANNOUNCE_REPEAT_MS
    track_only_groups: bool = True
    notes: list[str] = field(default_factory=list)  # log lines about ignored values


def _bounded(key: str, value: str, low: int, high: int) -> int:
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{key} must be between {low} and {high}")
    return number


def load_defaults(path: str | Path | None = DEFAULTS_FILE) -> Defaults:
    result = Defaults()
    if path is None:
        return result
    try:
        # Bytes that are not UTF-8 spoil their line only (it is then ignored with a
        # note), never the whole file: a stray byte must not stop the daemon starting.
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return result
    except OSError as exc:
        result.notes.append(f"cannot read {path}: {exc.strerror}; using built-in defaults")
        return result
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip().upper(), value.strip()
        try:
            if not sep:
                raise ValueError("expected KEY=VALUE")
            if key == "FAILURE_DETECTION_TIME":
                fdt = normalize_fdt(int(value))
                result.fdt_ms = fdt.value
                if fdt.note:
                    result.notes.append(fdt.note)
            elif key == "FAILBACK":
                result.failback = parse_bool(value)
            elif key == "ANNOUNCE_COUNT":
                result.announce_count = _bounded(key, value, 0, MAX_ANNOUNCE_COUNT)
            elif key == "ANNOUNCE_INTERVAL":
                result.announce_interval_ms = _bounded(key, value, 1, MAX_ANNOUNCE_INTERVAL_MS)
            elif key == "TRACK_INTERFACES_ONLY_WITH_GROUPS":
                result.track_only_groups = parse_bool(value)
            elif key == "ANNOUNCE_REPEAT":
                result.announce_repeat_ms = _bounded(key, value, 0, 600_000)
            else:
                raise ValueError(f"unknown key {key}")
        except (ValueError, EngineError) as exc:
            result.notes.append(f"{path}:{lineno}: ignoring '{raw.strip()}': {exc}")
    return result
