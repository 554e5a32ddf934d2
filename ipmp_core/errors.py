"""Errors the engine and the daemon refuse requests with.

The codes mirror libipmp's (IPMP_EMINRED, IPMP_EUNKGROUP, ...) so that operators who know
Solaris recognise them; they cross the control channel as strings.
"""

from __future__ import annotations

MIN_REDUNDANCY = "minimum-redundancy"
UNKNOWN_GROUP = "unknown-group"
UNKNOWN_INTERFACE = "unknown-interface"
UNKNOWN_ADDRESS = "unknown-address"
EXISTS = "exists"
INVALID = "invalid"
IN_GROUP = "in-group"
NOT_IN_GROUP = "not-in-group"
HWADDR_DUPLICATE = "hwaddr-duplicate"
PERMISSION = "permission"
NOT_OFFLINE = "not-offline"
# The state file could not be loaded: changes wait for the operator (docs/operations.md).
STATE_REFUSED = "state-refused"


class EngineError(Exception):
    """A request the engine refuses; nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidValue(EngineError, ValueError):
    """A value refused by ipmp_core/values.py's rules (code INVALID). An EngineError, so
    the engine and the daemon refuse a request with it like any other; a ValueError, so
    the agents pass the same rules to their ocf parameters as validators."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID, message)
