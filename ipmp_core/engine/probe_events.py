"""The probe event (in.mpathd's probe_state_event() in mpd_tables.c), sans I/O.

A probe is reported when it leaves ("sent"), when it is answered ("acked") and when it
is given up ("lost"), with in.mpathd's four times on CLOCK_MONOTONIC in nanoseconds:
when probing it began (start), when it really left (sent: the daemon says so after the
send), when the kernel received its answer (ackrecv) and when the daemon processed that
answer (ackproc); the last two only for an acked probe, null otherwise. ipmpstat -p
derives NETRTT (ackrecv - sent) and RTT (ackproc - start) from them, as ipmpstat.c does.
"""

from __future__ import annotations

from typing import Any

from ipmp_core.constants import EVENT_VERSION
from ipmp_core.engine.actions import Publish
from ipmp_core.engine.prober import (
    FAMILY_NAME,
    TRANSITIVE,
    FamilyProber,
    ProbeRecord,
    ProbeStatus,
)

# in.mpathd's probestate(): an unanswered probe is reported as sent.
PROBE_EVENT_STATUS = {ProbeStatus.UNACKED: "sent", ProbeStatus.ACKED: "acked",
                      ProbeStatus.LOST: "lost"}


def _ns(ms: float) -> int:
    """An engine time (ms) as the events give it: integer nanoseconds."""
    return round(ms * 1e6)


def probe_event(member: str, family_prober: FamilyProber, record: ProbeRecord,
                processed_at: float | None) -> Publish:
    """The event of ``record`` in its present state; ``processed_at``: when the daemon
    processed its answer (acked only). RTTAVG and RTTDEV describe the target, as
    IPMP_PROBE_TARGET_RTTAVG/RTTDEV do, whatever the probe's fate."""
    est = family_prober.rtt.get(record.target)
    known = est is not None and est.known
    acked = record.status is ProbeStatus.ACKED
    event: dict[str, Any] = {
        "type": "probe",
        "version": EVENT_VERSION,
        "interface": member,
        "family": FAMILY_NAME[family_prober.family],
        "probe": record.seq,
        "status": PROBE_EVENT_STATUS[record.status],
        # a transitive probe's target is a member, named as ipmpstat -t names it
        "target": f"<{record.target}>" if family_prober.family == TRANSITIVE
        else record.target,
        "start_ns": _ns(record.started),
        "sent_ns": _ns(record.start),
        "ackrecv_ns": _ns(record.done) if acked else None,
        "ackproc_ns": _ns(processed_at) if acked and processed_at is not None else None,
        "rttavg_ms": est.average if known and est is not None else None,
        "rttdev_ms": est.deviation if known and est is not None else None,
    }
    return Publish(event)
