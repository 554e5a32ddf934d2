"""Link-based failure detection (in.mpathd's IFF_RUNNING watch, Linux carrier).

Link down fails the interface at once: there is nothing to wait for. Link up repairs an
interface without test addresses, unless the link is flapping (in.mpathd's
phyint_repaired()): it keeps the times of the last LINK_UP_PERMIN link-ups, and a link
that comes up again within LINK_FLAP_WINDOW_MS of the older of them (the third time in a
minute) is held failed until that minute has passed since the link-up before the
current one. An interface that probes is repaired by its probes instead (Probing), so
the hold does not apply to it.
"""

from __future__ import annotations

from collections import deque

from ipmp_core.constants import LINK_FLAP_WINDOW_MS, LINK_UP_PERMIN
from ipmp_core.engine.detector import Verdict
from ipmp_core.model import LinkState


class LinkDetector:
    """Owns one member's link state as netlink reports it and the flapping hold."""

    name = "link"

    def __init__(self, ifname: str) -> None:
        self.ifname = ifname
        self.state = LinkState.UNKNOWN
        # in.mpathd's pi_whenup[]: the last LINK_UP_PERMIN link-ups, oldest first.
        self._ups: deque[float] = deque(maxlen=LINK_UP_PERMIN)
        self._stable_at: float | None = None  # set while a flapping link is held failed
        self._logged = False  # in.mpathd's pi_lfmsg_printed: the hold is logged once
        # Set by Probing.sync: an interface with a test address is repaired by its
        # probes, and the flapping hold applies only without one (PROBE_ENABLED).
        self.probing = False

    def verdict(self) -> Verdict:
        if self.state is LinkState.DOWN:
            return Verdict.FAILED
        if self.state is LinkState.UP:
            return Verdict.FAILED if self.flapping else Verdict.OK
        return Verdict.UNKNOWN

    @property
    def flapping(self) -> bool:
        return self._stable_at is not None and not self.probing

    def observe(self, up: bool | None, now: float) -> list[str]:
        """Record the link state seen by netlink; returns log lines for transitions."""
        new = LinkState.UNKNOWN if up is None else (LinkState.UP if up else LinkState.DOWN)
        old, self.state = self.state, new
        if new is old:
            return []
        if new is LinkState.DOWN:
            return [f"The link has gone down on {self.ifname}"]
        if new is LinkState.UP:
            lines = [] if old is LinkState.UNKNOWN else [f"The link has come up on {self.ifname}"]
            if old is LinkState.DOWN:
                # A link already up when we start watching is not a transition.
                lines += self._record_up(now)
            return lines
        return []

    def _record_up(self, now: float) -> list[str]:
        """process_link_state_up(): the repair is judged before this link-up is recorded,
        so the hold starts on the third link-up within a minute."""
        lines: list[str] = []
        if len(self._ups) == LINK_UP_PERMIN and now - self._ups[0] <= LINK_FLAP_WINDOW_MS:
            if not self.probing and not self._logged:
                lines.append(f"The link has come up on {self.ifname} more than "
                             f"{LINK_UP_PERMIN} times in the last minute; disabling "
                             f"repair until it stabilizes")
                self._logged = True
            self._ups.append(now)
            # phyint_inst_timer(): retried a minute after the older of the two link-ups
            # now kept, i.e. the one before this one.
            self._stable_at = self._ups[0] + LINK_FLAP_WINDOW_MS
        else:
            self._ups.append(now)
            self._stable_at = None
            self._logged = False
        return lines

    def next_deadline(self) -> float | None:
        return self._stable_at if self.state is LinkState.UP else None

    def tick(self, now: float) -> list[str]:
        if self._stable_at is not None and now >= self._stable_at:
            self._stable_at = None
            self._logged = False  # the repair itself is logged by the rules
        return []
