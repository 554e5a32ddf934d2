"""Address object names as ipadm writes them: "INTERFACE/NAME" (``ipmp0/v4``, ``e0/test``).

The rules are libipadm's and ipmgmtd's (docs/design.md, "ipadm compatibility"): a name
given by the administrator starts with a letter, is letters and digits only, and is
shorter than IPADM_AOBJ_USTRSIZ; an address created without one gets the next generated
name of its interface, "_" and a base-26 count in letters (``_a`` ... ``_z``, ``_aa``
...). Here the interface of a data address is its group (the IPMP interface), that of a
test address the member it is on.

Standard library only: the state file's schema checks stored names with these rules.
"""

from __future__ import annotations

from ipmp_core import errors
from ipmp_core.errors import EngineError

# libipadm's IPADM_AOBJ_USTRSIZ: the user part of a name, with C's terminating NUL, fits
# in 32 bytes, so at most 31 characters.
IPADM_AOBJ_USTRSIZ = 32
# What a generated name starts with: never a letter, so it never meets a user's name.
GENERATED_PREFIX = "_"
# The letters of a generated name's count (i_ipmgmt_num2priv_aobjname).
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
SEPARATOR = "/"


def check_user_name(name: str) -> str:
    """The user part of a name an administrator gives (i_ipadm_is_user_aobjname_valid)."""
    if not isinstance(name, str) or not is_user_name(name):
        raise EngineError(errors.INVALID, f"invalid address object name '{str(name)[:64]}':"
                          " the part after '/' starts with a letter, has only letters and "
                          f"digits, and at most {IPADM_AOBJ_USTRSIZ - 1} characters")
    return name


def is_user_name(name: str) -> bool:
    return (0 < len(name) < IPADM_AOBJ_USTRSIZ and name[0].isascii() and name[0].isalpha()
            and name.isascii() and name.isalnum())


def generated_name(number: int) -> str:
    """The generated name for an interface's count (0 -> ``_a``, 26 -> ``_aa``)."""
    letters = ""
    number += 1
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = _LETTERS[rest] + letters
    return GENERATED_PREFIX + letters


def generated_number(name: str) -> int | None:
    """The count of a generated name (i_ipmgmt_priv_aobjname2num); None for another."""
    letters = name[len(GENERATED_PREFIX):]
    if not name.startswith(GENERATED_PREFIX) or not letters or \
            not all(c in _LETTERS for c in letters) or len(name) >= IPADM_AOBJ_USTRSIZ:
        return None
    number = 0
    for c in letters:
        number = number * 26 + _LETTERS.index(c) + 1
    return number - 1


def is_stored_name(name: str) -> bool:
    """A name the daemon may have recorded: an administrator's or a generated one."""
    return isinstance(name, str) and (is_user_name(name) or generated_number(name) is not None)


def split(text: str) -> tuple[str, str]:
    """"ipmp0/v4" -> ("ipmp0", "v4"); refused without an interface or a name (ipadm's
    "invalid address object name")."""
    ifname, sep, name = text.partition(SEPARATOR)
    if not sep or not ifname or not name:
        raise EngineError(errors.INVALID, f"invalid address object name '{text[:64]}' "
                          "(INTERFACE/NAME, e.g. ipmp0/v4)")
    return ifname, name


def next_free(used: int, number: int) -> int:
    """ipmgmtd's am_nextnum after seeing ``name`` numbered ``number``: never lower."""
    return max(used, number + 1)
