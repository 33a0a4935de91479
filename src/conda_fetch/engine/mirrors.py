"""What a run learns about each host serving files: speed, failures, connections in use.

Every connection asks the board which of a file's URLs to use. A host never
tried gets one connection first, to measure it; then the fastest per connection
in use wins. A host that fails is set aside for a growing while (used only when no
other host can serve) and tried again later. The first bytes each host serves are compared with another host's copy
(once per run), and a host caught serving corrupt bytes is excluded for the rest
of the run.
No host ever gets more than ``per_host`` connections at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from conda_fetch.redact import redact

SET_ASIDE_BASE = 2.0
SET_ASIDE_MAX = 60.0


def host_of(url: str) -> str:
    """``scheme://host:port`` of ``url``, without credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


@dataclass
class HostState:
    """One host's record in this run."""

    speed: float | None = None
    active: int = 0
    failures: int = 0
    aside_until: float = 0.0
    excluded: str = ""
    bytes: int = 0
    checked: bool = False


class MirrorBoard:
    """Chooses URLs for connections and keeps score of hosts; thread-safe."""

    def __init__(self, per_host: int, ranking: dict[str, float] | None = None) -> None:
        self.per_host = per_host
        self.hosts: dict[str, HostState] = {}
        self._lock = threading.Lock()
        for host, speed in (ranking or {}).items():
            self._state(host).speed = speed

    def _state(self, host: str) -> HostState:
        return self.hosts.setdefault(host, HostState())

    def take(self, urls: list[str]) -> str | None:
        """The best URL whose host can take one more connection now (counted as in use)."""
        now = time.monotonic()
        with self._lock:
            open_ = [u for u in urls if self._open(self._state(host_of(u)))]
            rested = [u for u in open_ if self._state(host_of(u)).aside_until <= now]
            usable = rested or open_  # a host set aside is still better than none
            if not usable:
                return None
            best = max(usable, key=lambda u: self._score(self._state(host_of(u)), urls.index(u)))
            self._state(host_of(best)).active += 1
            return best

    def _open(self, state: HostState) -> bool:
        return not state.excluded and state.active < self.per_host

    @staticmethod
    def _score(state: HostState, order: int) -> tuple[int, float, int]:
        if state.speed is None and not state.active:
            return (1, 0.0, -order)  # never tried: one connection goes to measure it
        return (0, (state.speed or 0.0) / (state.active + 1), -order)

    def release(self, url: str, count: int, seconds: float, failed: bool) -> None:
        """A connection to ``url`` ended after ``count`` bytes in ``seconds``."""
        with self._lock:
            state = self._state(host_of(url))
            state.active -= 1
            state.bytes += count
            if count and seconds > 0:
                rate = count / seconds
                state.speed = rate if state.speed is None else 0.7 * state.speed + 0.3 * rate
            if failed and not count:
                state.failures += 1
                pause = min(SET_ASIDE_MAX, SET_ASIDE_BASE * 2 ** (state.failures - 1))
                state.aside_until = time.monotonic() + pause
            elif count:
                state.failures = 0

    def rested(self, urls: list[str]) -> bool:
        """Whether some host of ``urls`` is neither excluded nor set aside."""
        now = time.monotonic()
        with self._lock:
            return any(not (s := self._state(host_of(u))).excluded and s.aside_until <= now
                       for u in urls)

    def fastest(self, urls: list[str]) -> list[str]:
        """``urls`` by measured speed of their hosts, fastest (or never measured) first."""
        with self._lock:
            speeds = {u: self._state(host_of(u)).speed for u in urls}
        return sorted(urls, key=lambda u: -(speeds[u] if speeds[u] is not None else float("inf")))

    def claim_check(self, url: str) -> bool:
        """True once per host: the caller cross-checks its first bytes against another host."""
        with self._lock:
            state = self._state(host_of(url))
            if state.checked:
                return False
            state.checked = True
            return True

    def exclude(self, url: str, reason: str) -> None:
        """Never use this host again in this run."""
        with self._lock:
            self._state(host_of(url)).excluded = reason

    def usable(self, urls: list[str]) -> list[str]:
        """``urls`` whose host is not excluded."""
        with self._lock:
            return [u for u in urls if not self._state(host_of(u)).excluded]

    def excluded(self) -> dict[str, str]:
        """Excluded hosts (credentials removed) and why."""
        with self._lock:
            return {redact(h): s.excluded for h, s in self.hosts.items() if s.excluded}
