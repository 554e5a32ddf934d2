"""The state file's bytes as strict JSON, and the error that refuses a file: the first
half of reading it (ipmp_core.state_schema judges what the JSON says).

Standard library only.
"""

from __future__ import annotations

import json
from typing import Any

# Far above any real configuration (1,000 data addresses take ~100 kB): a larger file is
# not one we wrote, and reading it whole must not exhaust memory.
MAX_STATE_BYTES = 16 * 1024 * 1024
# Errors listed in one message: the first few are enough to find the damage.
MAX_REPORTED = 5


class StateFileError(ValueError):
    """The state file cannot be applied; ``errors`` lists "path: problem" lines."""

    def __init__(self, errors: list[str]) -> None:
        shown = errors[:MAX_REPORTED]
        more = len(errors) - len(shown)
        text = "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")
        super().__init__(text)
        self.errors = errors
        self.message = text


def decode(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no key twice in one object, bounded size
    and depth (a deeply nested file raises RecursionError in json, caught here)."""
    if len(raw) > MAX_STATE_BYTES:
        raise StateFileError([f"{len(raw)} bytes: larger than any state file "
                              f"({MAX_STATE_BYTES} bytes at most)"])
    if not raw.strip():
        raise StateFileError(["the file is empty"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateFileError([f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise StateFileError([f"not valid JSON: {exc.msg} (line {exc.lineno}, column "
                              f"{exc.colno})"]) from None
    except RecursionError:
        raise StateFileError(["not valid JSON: nested too deeply"]) from None
    except StateFileError:
        raise
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise StateFileError([f"not valid JSON: {exc}"]) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StateFileError([f"key '{key}' appears twice in one object"])
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise StateFileError([f"{name} is not a number JSON allows"])
