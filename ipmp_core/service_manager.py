"""Starting ipmpd through systemd where systemd is the service manager.

Under systemd the daemon runs as the unit ``ipmpd@NS.service`` (systemd/ipmpd@.service):
in its own cgroup, restarted on failure, logging to the journal, with its hardening,
instead of in the cgroup of whichever command or agent first needed it. Elsewhere
(containers, the test suite, machines without systemd) the commands start it by
themselves as before (control_client.start_daemon).

Standard library only: the agents' monitor path restarts a dead daemon through here.
"""

from __future__ import annotations

import os
import string

from ipmp_core.persist import STATE_DIR_ENV

# sd_booted(3): systemd is the running service manager exactly when this exists.
SYSTEMD_RUNNING_DIR = "/run/systemd/system"
SYSTEMCTL = "systemctl"
UNIT_TEMPLATE = "ipmpd@{}.service"
# systemctl's exit status for a unit that is not installed (LSB "not installed"): the
# package is not, e.g. a `make install` on a systemd machine; the command starts the
# daemon by itself then.
SYSTEMCTL_NO_SUCH_UNIT = 5
# Characters systemd-escape(1) keeps as they are ("." too, except in front).
_UNESCAPED = frozenset(string.ascii_letters + string.digits + ":_.")


def systemd_running() -> bool:
    return os.path.isdir(SYSTEMD_RUNNING_DIR)


def escape_instance(name: str) -> str:
    """``systemd-escape NAME``: the unit uses %I, the unescaped instance, so a namespace
    called lab-1 is ipmpd@lab\\x2d1.service and /run/netns/lab-1 in the unit."""
    out = []
    for n, ch in enumerate(name):
        if ch == "/":
            out.append("-")
        elif ch in _UNESCAPED and not (ch == "." and n == 0):
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
    return "".join(out)


def unit_name(netns: str) -> str:
    return UNIT_TEMPLATE.format(escape_instance(netns))


def systemd_unit_for(netns: str, environ: dict[str, str] | None = None) -> str | None:
    """The unit to start for this namespace, or None when the daemon must start by
    itself: no systemd, a namespace the unit cannot enter (unnamed, not under
    /run/netns), or a state directory the caller chose ($IPMP_STATE_DIR, which the
    unit does not see)."""
    env = os.environ if environ is None else environ
    if not systemd_running() or env.get(STATE_DIR_ENV) or netns.startswith("netns-"):
        return None
    return unit_name(netns)


def systemctl_start_argv(unit: str) -> list[str]:
    """``systemctl start`` returns once the daemon has sent READY=1 (Type=notify), or
    failed; --no-ask-password: an agent has nobody to ask."""
    return [SYSTEMCTL, "--no-ask-password", "start", unit]
