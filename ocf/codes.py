"""OCF exit codes and the exception handlers raise to leave with one.

The numbers are the OCF resource agent API 1.1 codes plus Pacemaker's promotable and
degraded extensions (8, 9, 190, 191). Pacemaker decides recovery from the number alone
(6 stops the resource on every node, 2 and 5 ban the node, 1 recovers in place), so an
agent must pick the code deliberately; ``OCFError`` carries the code and the one-line
exit reason that crm_mon shows under "Failed Resource Actions".

Standard library only: this module is on the monitor path.
"""

from __future__ import annotations

from enum import IntEnum


class OCFCode(IntEnum):
    """Exit codes of an OCF resource agent.

    ``str(code)`` and ``code.ocf_name`` give the name resource-agents and Pacemaker's
    documentation use (``OCF_SUCCESS``); ``code.pacemaker_text`` gives the words
    crm_mon and ``pcs resource debug-*`` print for it (``ok``, ``not running``).
    """

    SUCCESS = 0
    ERR_GENERIC = 1
    ERR_ARGS = 2
    ERR_UNIMPLEMENTED = 3
    ERR_PERM = 4
    ERR_INSTALLED = 5
    ERR_CONFIGURED = 6
    NOT_RUNNING = 7
    RUNNING_PROMOTED = 8
    FAILED_PROMOTED = 9
    DEGRADED = 190
    DEGRADED_PROMOTED = 191

    @property
    def ocf_name(self) -> str:
        """``OCF_<NAME>``, as in resource-agents' ocf-returncodes and Pacemaker's docs."""
        return f"OCF_{self.name}"

    @property
    def pacemaker_text(self) -> str:
        """What Pacemaker prints for this code (services_ocf_exitcode_str)."""
        return _PACEMAKER_TEXT[self]

    def __str__(self) -> str:
        return self.ocf_name


_PACEMAKER_TEXT: dict[OCFCode, str] = {
    OCFCode.SUCCESS: "ok",
    OCFCode.ERR_GENERIC: "error",
    OCFCode.ERR_ARGS: "invalid parameter",
    OCFCode.ERR_UNIMPLEMENTED: "unimplemented feature",
    OCFCode.ERR_PERM: "insufficient privileges",
    OCFCode.ERR_INSTALLED: "not installed",
    OCFCode.ERR_CONFIGURED: "not configured",
    OCFCode.NOT_RUNNING: "not running",
    OCFCode.RUNNING_PROMOTED: "promoted",
    OCFCode.FAILED_PROMOTED: "promoted (failed)",
    OCFCode.DEGRADED: "OCF_DEGRADED",
    OCFCode.DEGRADED_PROMOTED: "promoted (degraded)",
}


def as_code(value: int) -> OCFCode | int:
    """``value`` as an OCFCode when it is one; other numbers stay plain ints.

    Pacemaker accepts agent-specific codes (treated as soft errors), so an unknown
    number is passed through rather than refused.
    """
    try:
        return OCFCode(value)
    except ValueError:
        return int(value)


def describe(code: int) -> str:
    """``OCF_NOT_RUNNING (7)``; for a number outside the table, ``exit code 42``."""
    known = as_code(code)
    if isinstance(known, OCFCode):
        return f"{known.ocf_name} ({int(known)})"
    return f"exit code {known}"


class OCFError(Exception):
    """Raised by a handler (or by parameter parsing) to exit with ``code`` and ``reason``.

    ``reason`` becomes the ``ocf-exit-reason:`` line, so keep it to one short sentence
    an operator can act on ("parameter 'nic': 'eth9' is not an interface name").
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code: OCFCode | int = as_code(code)
        self.reason = reason

    def __repr__(self) -> str:
        return f"OCFError({describe(self.code)}, {self.reason!r})"
