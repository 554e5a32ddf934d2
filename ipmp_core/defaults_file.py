"""The daemon's tunables file, in the spirit of Solaris' /etc/default/mpathd.

Shell assignments, one per line, as a Debian /etc/default file is written (a shell can
source it): `KEY=VALUE`, `KEY="VALUE"`, `export KEY=VALUE`, `#` comments. Keys ignore case,
as in.mpathd's getdefault() does. Re-read on SIGHUP and applied to every group whose
setting nobody set (docs/design.md, "The defaults file and SIGHUP"). Unknown keys and bad
values are logged and ignored: a typo must not stop failure detection.

    FAILURE_DETECTION_TIME=10000   # ms
    FAILBACK=yes
    ANNOUNCE_COUNT=3               # gratuitous ARPs / unsolicited NAs per burst
    ANNOUNCE_INTERVAL=200          # ms between them
    ANNOUNCE_REPEAT=5000           # ms until the second burst; 0 = no second burst
    TRACK_INTERFACES_ONLY_WITH_GROUPS=yes   # no: interfaces in no group that have a
                                   # test address (or, with TRANSITIVE_PROBING=yes, an
                                   # IPv4 address) get failure detection (no failover)
    TRANSITIVE_PROBING=no          # yes: members without a test address probe anyway
                                   # (Solaris 11's config/transitive-probing)
    METRICS_DIR=/var/lib/prometheus/node-exporter   # the Prometheus textfile's
                                   # directory (read at start); empty: none written
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ipmp_core.constants import (
    DEFAULT_ANNOUNCE_COUNT,
    DEFAULT_ANNOUNCE_INTERVAL_MS,
    DEFAULT_ANNOUNCE_REPEAT_MS,
    DEFAULT_FAILBACK,
    DEFAULT_FDT_MS,
    DEFAULT_METRICS_DIR,
    DEFAULT_TRANSITIVE_PROBING,
    MAX_ANNOUNCE_COUNT,
    MAX_ANNOUNCE_INTERVAL_MS,
    MAX_ANNOUNCE_REPEAT_MS,
    MAX_FDT_MS,
    MIN_FDT_MS,
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
    transitive_probing: bool = DEFAULT_TRANSITIVE_PROBING
    metrics_dir: str = DEFAULT_METRICS_DIR  # "": no Prometheus textfile
    notes: list[str] = field(default_factory=list)  # log lines about ignored values


def _bounded(key: str, value: str, low: int, high: int) -> int:
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{key} must be between {low} and {high}")
    return number


def _assignment(line: str) -> tuple[str, str] | None:
    """KEY and VALUE of one line read as a shell would (quotes, escapes, comments); None
    for a blank or comment line; ValueError for anything a shell would not assign."""
    words = shlex.split(line, comments=True, posix=True)  # ValueError: unbalanced quote
    if words[:1] == ["export"]:
        words = words[1:]
    if not words:
        return None
    key, sep, value = words[0].partition("=")
    if len(words) != 1 or not sep or not key.replace("_", "").isalnum():
        raise ValueError("expected KEY=VALUE, no spaces around '=' (quote a value "
                         "with spaces)")
    return key.upper(), value


def _apply(result: Defaults, key: str, value: str) -> None:
    """Set one key; ValueError (or InvalidValue) when the key or its value is bad."""
    if key == "FAILURE_DETECTION_TIME":
        try:
            fdt = normalize_fdt(int(value, 0))  # in.mpathd: strtol(value, NULL, 0)
        except ValueError:
            raise ValueError(f"Invalid failure detection time {value}") from None
        result.fdt_ms = fdt.value
        if fdt.note:
            result.notes.append(fdt.note)
    elif key in _BOOLEANS:
        try:
            setattr(result, _BOOLEANS[key][0], parse_bool(value) == _BOOLEANS[key][1])
        except ValueError:
            raise ValueError(f"Invalid value for {key} {value}") from None  # in.mpathd's
    elif key in _BOUNDED:
        attr, low, high = _BOUNDED[key]
        setattr(result, attr, _bounded(key, value, low, high))
    elif key == "METRICS_DIR":
        if value and not value.startswith("/"):
            raise ValueError(f"METRICS_DIR must be an absolute path, not {value}")
        result.metrics_dir = value
    else:
        raise ValueError(f"unknown key {key}")


# key -> (attribute, the attribute's value when the key says yes)
_BOOLEANS = {"FAILBACK": ("failback", True),
             "TRACK_INTERFACES_ONLY_WITH_GROUPS": ("track_only_groups", True),
             "TRANSITIVE_PROBING": ("transitive_probing", True)}
_BOUNDED = {"ANNOUNCE_COUNT": ("announce_count", 0, MAX_ANNOUNCE_COUNT),
            "ANNOUNCE_INTERVAL": ("announce_interval_ms", 1, MAX_ANNOUNCE_INTERVAL_MS),
            "ANNOUNCE_REPEAT": ("announce_repeat_ms", 0, MAX_ANNOUNCE_REPEAT_MS)}


@dataclass(frozen=True)
class Key:
    """A key of the file as an administrator reads about it: clearview-ipmp(5) is
    generated from KEYS, and tests/unit/docs checks that KEYS and the parser agree."""

    name: str
    default: str
    meaning: str


def _yes(value: bool) -> str:
    return "yes" if value else "no"


KEYS = (
    Key("FAILURE_DETECTION_TIME", str(DEFAULT_FDT_MS),
        f"Time in milliseconds in which a failed interface is detected by probes "
        f"({MIN_FDT_MS} to {MAX_FDT_MS}; a smaller value is raised, a larger one lowered, "
        f"0 or less means the default). Every group created without its own failure "
        f"detection time (ipmpadm set-ipmp -p fdt=...) uses it, and takes a new value on "
        f"SIGHUP. Groups of the ocf:clearview:ipmp agent use its failure_detection_time "
        f"parameter instead."),
    Key("FAILBACK", _yes(DEFAULT_FAILBACK),
        "yes: a repaired interface takes its data addresses back. no: it stays inactive "
        "until another interface fails. Applies, like the failure detection time, to "
        "groups without their own value (ipmpadm set-ipmp -p failback=...)."),
    Key("TRANSITIVE_PROBING", _yes(DEFAULT_TRANSITIVE_PROBING),
        "yes: interfaces without a test address probe anyway (Oracle Solaris 11's "
        "transitive probing): the interface that carries a data address probes the "
        "targets from it, the others send transitive probes to it. Applies to groups "
        "without their own value (ipmpadm set-ipmp -p transitive-probing=...). Groups of "
        "the ocf:clearview:ipmp agent use its probing parameter instead."),
    Key("TRACK_INTERFACES_ONLY_WITH_GROUPS", _yes(Defaults.track_only_groups),
        "no: interfaces in no group that have a test address are probed too, for failure "
        "detection only (ipmpstat -i shows them in group \"--\"). With "
        "TRANSITIVE_PROBING=yes, so are those that have an IPv4 address of their own: "
        "they probe the routers of its subnet from it."),
    Key("METRICS_DIR", DEFAULT_METRICS_DIR,
        "The directory of the Prometheus textfile the daemon keeps "
        "(clearview-ipmp-NETNS.prom, for node_exporter's textfile collector); empty: no "
        "file is written. Read when the daemon starts; ipmpd --metrics-dir overrides it."),
    Key("ANNOUNCE_COUNT", str(DEFAULT_ANNOUNCE_COUNT),
        f"How many gratuitous ARPs (IPv4) or unsolicited neighbour advertisements (IPv6) "
        f"are sent when a data address moves (0 to {MAX_ANNOUNCE_COUNT})."),
    Key("ANNOUNCE_INTERVAL", str(DEFAULT_ANNOUNCE_INTERVAL_MS),
        f"Milliseconds between the announcements of a burst (1 to "
        f"{MAX_ANNOUNCE_INTERVAL_MS})."),
    Key("ANNOUNCE_REPEAT", str(DEFAULT_ANNOUNCE_REPEAT_MS),
        f"Milliseconds after which the burst is sent once more, for neighbours and "
        f"switches that missed it (0: not repeated; at most {MAX_ANNOUNCE_REPEAT_MS})."),
)


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
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        try:
            assignment = _assignment(raw)
            if assignment is None:
                continue
            key, value = assignment
            _apply(result, key, value)
        except (ValueError, EngineError) as exc:
            reason = exc.message if isinstance(exc, EngineError) else str(exc)
            result.notes.append(f"{path}:{lineno}: {reason}; ignoring '{raw.strip()}'")
            continue
        if key in seen:  # a shell keeps the last assignment, and so do we
            result.notes.append(f"{path}:{lineno}: {key} is set again (line {seen[key]}); "
                                "the last value counts")
        seen[key] = lineno
    return result
