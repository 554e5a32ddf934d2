"""What one ipmpstat run prints: its modes, their fields (with illumos' widths) and the
output styles, and the choice of them from the command line with ipmpstat's rules and
messages. Pure, like ipmp_core/ipmpstat_format.py, which prints what is chosen here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class StatUsageError(Exception):
    """The command line asks for something ipmpstat cannot print; the message is one line."""


class Mode(StrEnum):
    """The output modes; the value is the option letter that selects it."""

    ADDRESSES = "a"
    GROUPS = "g"
    INTERFACES = "i"
    PROBES = "p"
    TARGETS = "t"


class Style(StrEnum):
    """The output styles: for people (padded columns), -P (``:``-joined), -j (JSON)."""

    HUMAN = "human"
    PARSABLE = "parsable"
    JSON = "json"


@dataclass(frozen=True)
class Field:
    """One output column: its header and ofmt's default width for it."""

    name: str
    width: int


# Widths are illumos ipmpstat's (its ofmt_field_t tables), so columns line up exactly as on
# Solaris and operators' eyes and awk scripts written against Solaris output still fit.
FIELDS: Mapping[Mode, tuple[Field, ...]] = {
    Mode.ADDRESSES: (
        Field("ADDRESS", 26),
        Field("STATE", 7),
        Field("GROUP", 12),
        Field("INBOUND", 12),
        Field("OUTBOUND", 23),
    ),
    Mode.GROUPS: (
        Field("GROUP", 12),
        Field("GROUPNAME", 12),
        Field("STATE", 10),
        Field("FDT", 10),
        Field("INTERFACES", 30),
    ),
    Mode.INTERFACES: (
        Field("INTERFACE", 12),
        Field("ACTIVE", 8),
        Field("GROUP", 12),
        Field("FLAGS", 10),
        Field("LINK", 10),
        Field("PROBE", 10),
        Field("STATE", 10),
    ),
    Mode.PROBES: (
        Field("TIME", 10),
        Field("INTERFACE", 12),
        Field("PROBE", 7),
        Field("NETRTT", 10),
        Field("RTT", 10),
        Field("RTTAVG", 10),
        Field("TARGET", 20),
        Field("RTTDEV", 10),
    ),
    Mode.TARGETS: (
        Field("INTERFACE", 12),
        Field("MODE", 10),
        Field("TESTADDR", 20),
        Field("TARGETS", 38),
    ),
}

# ipmpstat opens ofmt with 80 columns: without -o, human output shows the leading fields
# whose widths fit in 80 columns (which is why RTTDEV only appears with -o in probe mode).
HUMAN_MAX_COLS = 80
ALL_FIELDS = "all"
SYNOPSIS = "ipmpstat [-n] [-o field[,...] [-P]] [-j] -a|-g|-i|-p|-t"


@dataclass(frozen=True)
class OutputSpec:
    """What one ipmpstat run prints: the mode, the columns in order, and the style."""

    mode: Mode
    fields: tuple[Field, ...]
    style: Style
    # -o names that are no field of the mode, ignored with a warning in human output
    # (ofmt_open()'s OFMT_EBADFIELDS, which ipmpstat only warns about for people)
    unknown: tuple[str, ...] = ()


# --------------------------------------------------------------------------- options


def choose_mode(letters: Iterable[str]) -> Mode:
    """Return the single mode asked for; ipmpstat refuses zero or several (even repeated)."""
    given = list(letters)
    if len(given) > 1:
        raise StatUsageError("only one output mode may be specified")
    if not given:
        raise StatUsageError(f"an output mode is required: usage: {SYNOPSIS}")
    try:
        return Mode(given[0])
    except ValueError:
        raise StatUsageError(f"unknown output mode -{given[0]}") from None


def default_fields(mode: Mode, style: Style) -> tuple[Field, ...]:
    """Fields printed without -o: all for JSON, the ones fitting 80 columns for people."""
    fields = FIELDS[mode]
    if style is not Style.HUMAN:
        return fields
    chosen: list[Field] = []
    cols = 0
    for fld in fields:
        cols += fld.width
        if cols > HUMAN_MAX_COLS:
            break
        chosen.append(fld)
    return tuple(chosen)


def unknown_fields_message(names: Sequence[str], style: Style) -> str:
    """ofmt_strerror()'s OFMT_EBADFIELDS text: a warning for people, an error for -P."""
    plural = "s" if len(names) > 1 else ""
    quoted = " ".join(f"`{name}'" for name in names)
    if style is Style.HUMAN:
        return f"ignoring unknown output field{plural}: {quoted}"
    return f"unknown output field{plural}: {quoted}"


def select_fields(
    mode: Mode, spec: str | None, style: Style
) -> tuple[tuple[Field, ...], tuple[str, ...]]:
    """Resolve ``-o`` into columns and the names that are no field, with ofmt's rules.

    Parsable output needs an explicit list (and not ``all``) because a script must not
    break when a later release adds a field; an unknown name stops a script (-P, -j)
    but only draws a warning for people, as ipmpstat's main() treats OFMT_EBADFIELDS.
    """
    if style is Style.PARSABLE:
        if spec is None or spec == "":
            raise StatUsageError("output fields must be specified in parsable mode")
        if spec.lower() == ALL_FIELDS:
            raise StatUsageError("output field `all' invalid in parsable mode")
    if spec is None:
        return default_fields(mode, style), ()
    if spec.lower() == ALL_FIELDS:
        return FIELDS[mode], ()
    by_name = {fld.name: fld for fld in FIELDS[mode]}
    names = [name for name in spec.split(",") if name.strip()]
    bad = tuple(name for name in names if name.strip().upper() not in by_name)
    chosen = tuple(by_name[name.strip().upper()] for name in names if name not in bad)
    if not chosen:  # ofmt_open()'s OFMT_ENOFIELDS, before any bad field: fatal always
        raise StatUsageError("no valid output fields")
    if bad and style is not Style.HUMAN:
        raise StatUsageError(unknown_fields_message(bad, style))
    return chosen, bad


def make_spec(
    modes: Iterable[str], fields: str | None, parsable: bool, as_json: bool
) -> OutputSpec:
    """Validate a whole command line's worth of choices into an OutputSpec."""
    if parsable and as_json:
        raise StatUsageError("-P and -j cannot be used together")
    mode = choose_mode(modes)
    style = Style.PARSABLE if parsable else Style.JSON if as_json else Style.HUMAN
    chosen, unknown = select_fields(mode, fields, style)
    return OutputSpec(mode=mode, fields=chosen, style=style, unknown=unknown)
