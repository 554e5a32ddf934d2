"""Link-based failure detection (in.mpathd's IFF_RUNNING watch, Linux carrier).

Link down fails the interface at once: there is nothing to wait for. Link up repairs it,
unless the link has come up more than LINK_UP_PERMIN times within LINK_FLAP_WINDOW_MS:
a flapping link is not trusted until it has been stable long enough for the older
link-ups to leave the window.
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
        self._ups: deque[float] = deque()
        self._stable_at: float | None = None  # set while a flapping link is held failed

    def verdict(self) -> Verdict:
        if self.state is LinkState.DOWN:
            return Verdict.FAILED
        if self.state is LinkState.UP:
            return Verdict.FAILED if self._stable_at is not None else Verdict.OK
        return Verdict.UNKNOWN

    @property
    def flapping(self) -> bool:
        return self._stable_at is not None

    def observe(self, up: bool | None, now: float) -> list[str]:
        """Record the link state seen by netlink; returns log lines for transitions."""
        new = LinkState.UNKNOWN if up is None else (LinkState.UP if up else LinkState.DOWN)
        old, self.state = self.state, new
        if new is old:
            return []
        if new is LinkState.DOWN:
            self._stable_at = None
            return [f"The link has gone down on {self.ifname}"]
        if new is LinkState.UP:
            lines = [] if old is LinkState.UNKNOWN else [f"The link has come up on {self.ifname}"]
            if old is LinkState.DOWN:
                # A link already up when we start watching is not a transition.
                lines += self._record_up(now)
            return lines
        return []

    def _record_up(self, now: float) -> list[str]:
        self._ups.append(now)
        self._prune(now)
        if len(self._ups) > LINK_UP_PERMIN:
            # Stable once the oldest of the last LINK_UP_PERMIN + 1 ups leaves the window.
            self._stable_at = self._ups[-(LINK_UP_PERMIN + 1)] + LINK_FLAP_WINDOW_MS
            return [f"The link on {self.ifname} is flapping; waiting until it is stable"]
        self._stable_at = None
        return []

    def _prune(self, now: float) -> None:
        while self._ups and self._ups[0] <= now - LINK_FLAP_WINDOW_MS:
            self._ups.popleft()

    def next_deadline(self) -> float | None:
        return self._stable_at if self.state is LinkState.UP else None

    def tick(self, now: float) -> list[str]:
        if self._stable_at is not None and now >= self._stable_at:
            self._stable_at = None
            self._prune(now)
            if self.state is LinkState.UP:
                return [f"The link on {self.ifname} is stable again"]
        return []
