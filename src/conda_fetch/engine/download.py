"""One file in flight: its ranges, the segments connections are working on, and its fate.

Vocabulary after aria2: the file is a set of *pieces* already on disk
(a :class:`RangeSet`) and *segments* being fetched, one per connection.
A connection with nothing left to do takes an unclaimed gap, or else takes the
second half of the largest segment still running, so slow connections are
relieved by fast ones and every connection stays busy until the end.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from conda_fetch.engine.job import Job
from conda_fetch.engine.hosts import host_of
from conda_fetch.engine.options import Options
from conda_fetch.engine.partfile import PartFile, RangeSet
from conda_fetch.engine.errors import PermanentError, TransferError


SAMPLE_BYTES = 256 << 10
LAGGARD_AGE = 0.3
LAGGARD_MIN = 64 << 10
TAIL_SECONDS = 1.0


@dataclass(eq=False)
class Segment:
    """A range one connection is fetching; ``end`` may shrink while it runs."""

    pos: int
    end: int | None
    url: str = ""
    start: int = 0
    began: float = field(default_factory=time.monotonic)

    def remaining(self) -> int | None:
        return None if self.end is None else max(0, self.end - self.pos)

    def rate(self, now: float) -> float:
        """Bytes per second so far."""
        return (self.pos - self.start) / max(now - self.began, 1e-6)


class Download:
    """The shared state of one file while connections work on it."""

    def __init__(self, job: Job, options: Options) -> None:
        self.job = job
        self.options = options
        self.lock = threading.Lock()
        self._save_lock = threading.Lock()
        self.part = PartFile(job.part, _identity(job))
        self.done = self.part.load()
        self.size = job.size
        self.ranges_ok: bool | None = None
        self.segments: list[Segment] = []
        self.failures: Counter[str] = Counter()
        self._failed_at: dict[str, float] = {}
        self.fetched = 0
        self.resumed = self.done.total()
        self.faults: Counter[str] = Counter()
        self.error: str | None = None
        self.bad_urls: dict[str, str] = {}
        self.avoid: set[str] = set()
        self.distrusted: set[str] = set()
        self.served: dict[str, RangeSet] = {}
        self.blamed: list[str] = []
        self.best_rate = 0.0
        self.on_sample: Callable[[Segment], None] | None = None
        self.checks: list[threading.Thread] = []
        self.started_at = time.monotonic()
        self._unsaved = 0
        self._saved_at = time.monotonic()
        self.fd = self.part.open()

    # -- what the display reads -------------------------------------------------
    @property
    def name(self) -> str:
        return self.job.name

    @property
    def have(self) -> int:
        return self.done.total()

    @property
    def connections(self) -> int:
        return len(self.segments)

    # -- state ----------------------------------------------------------------
    def complete(self) -> bool:
        """Every byte of a known size is on disk."""
        return self.size is not None and not self.done.gaps(self.size)

    def failed(self) -> bool:
        return self.error is not None

    def candidates(self) -> list[str]:
        """The file's URLs not refused for it and not set aside while hunting bad data."""
        return [u for u in self.job.urls if u not in self.bad_urls and host_of(u) not in self.avoid]

    def splittable(self) -> bool:
        """Whether another connection could take a share of the work now."""
        with self.lock:
            return (
                self.ranges_ok is True
                and not self.failed()
                and len(self.segments) < self.options.split
                and self._claimable() is not None
            )

    # -- claiming work ----------------------------------------------------------
    def claim(self) -> Segment | None:
        """A segment for a connection to fetch, or ``None`` when there is none."""
        with self.lock:
            if self.failed() or self.complete():
                return None
            span = self._claimable()
            if span is None:
                return None
            seg = Segment(pos=span[0], end=span[1], start=span[0])
            self.segments.append(seg)
            return seg

    def _claimable(self) -> tuple[int, int | None] | None:
        if self.ranges_ok and self.size is not None:
            free = self._unclaimed()
            return self._bounded(free[0]) if free else self._steal()
        if self.segments:
            return None
        if self.ranges_ok is False:
            return (0, self.size)
        start = self.done.covered_until(0)
        if self.size is None:  # ask for a piece only: the answer tells the size
            return (start, start + self.options.min_split if self.ranges_ok is None else None)
        return self._bounded(self.done.gaps(self.size)[0])

    def _bounded(self, gap: tuple[int, int]) -> tuple[int, int]:
        """At most one piece of ``gap``, so connections share a file without stealing."""
        return (gap[0], min(gap[1], gap[0] + self._piece()))

    def _piece(self) -> int:
        """How much one claim takes: a connection's share of the missing bytes, halved so
        that connections to faster hosts come back for more while slow ones finish theirs."""
        assert self.size is not None
        missing = self.size - self.done.total()
        return max(self.options.min_split, -(-missing // (2 * self.options.split)))

    def _unclaimed(self) -> list[tuple[int, int]]:
        busy = RangeSet(self.done.as_list())
        for seg in self.segments:
            if seg.end is not None:
                busy.add(seg.pos, seg.end)
        assert self.size is not None
        return busy.gaps(self.size)

    def _steal(self) -> tuple[int, int] | None:
        """Half of the largest running segment, or of one far slower than the best seen."""
        running = [s for s in self.segments if s.end is not None]
        if not running:
            return None
        victim = max(running, key=lambda s: s.remaining() or 0)
        if (victim.remaining() or 0) < 2 * self.options.min_split:
            victim = self._laggard(running) or self._tail(victim)
            if victim is None:
                return None
        left = victim.remaining() or 0
        middle = victim.pos + left // 2
        span = (middle, victim.end)
        victim.end = middle
        return span  # type: ignore[return-value]

    def _laggard(self, running: list[Segment]) -> Segment | None:
        """A segment whose connection runs at under a quarter of the best rate seen: its
        rest is worth handing to a faster one even below the usual split size."""
        now = time.monotonic()
        slow = [s for s in running if now - s.began > LAGGARD_AGE
                and (s.remaining() or 0) >= LAGGARD_MIN and s.rate(now) < self.best_rate / 4]
        return max(slow, key=lambda s: s.remaining() or 0, default=None)

    def _tail(self, largest: Segment) -> Segment | None:
        """At the end of a file, the largest segment if it would still take more than
        ``TAIL_SECONDS`` at the best rate seen: halving it spares idle connections the wait."""
        left = largest.remaining() or 0
        worth = left >= 2 * LAGGARD_MIN and left > TAIL_SECONDS * self.best_rate > 0
        return largest if worth else None

    def release(self, seg: Segment) -> None:
        """A connection stopped working on ``seg``; its rest becomes claimable."""
        with self.lock:
            if seg in self.segments:
                self.segments.remove(seg)
            if seg.pos - seg.start >= LAGGARD_MIN:
                self.best_rate = max(self.best_rate, seg.rate(time.monotonic()))

    # -- what a connection learns -------------------------------------------------
    def learn(self, seg: Segment, total: int | None, ranges: bool) -> None:
        """Record the size and range support a response revealed.

        A ``200`` answer means no ranges: this connection now carries the whole
        file from byte 0 and every other segment is stopped, unless other sources
        already serve the file in ranges; then this one is not used for it.
        """
        with self.lock:
            if total is not None and self.size is not None and total != self.size:
                raise PermanentError(f"server has {total} bytes, expected {self.size}")
            if not ranges and self.ranges_ok and len(self.candidates()) > 1:
                raise PermanentError("server ignores Range where others split this file")
            if total is not None:
                self.size = total
                for running in self.segments:
                    end = running.pos + self._piece() if running.end is None else running.end
                    running.end = min(total, end)
            if ranges:
                if self.ranges_ok is None:
                    self.ranges_ok = True
                return
            self.ranges_ok = False
            for other in self.segments:
                if other is not seg:
                    other.end = other.pos
            seg.pos = seg.start = 0
            seg.end = self.size

    def advance(self, seg: Segment, count: int) -> None:
        """``count`` bytes were written at ``seg.pos`` (not counted from a distrusted URL)."""
        with self.lock:
            if seg.url in self.distrusted:
                seg.pos += count
                return
            self.done.add(seg.pos, seg.pos + count)
            self.served.setdefault(seg.url, RangeSet()).add(seg.pos, seg.pos + count)
            seg.pos += count
            self.fetched += count
            self.failures.clear()
            self._unsaved += count
            due = self._unsaved >= self._checkpoint_bytes() or (
                time.monotonic() - self._saved_at >= self.options.checkpoint_seconds
            )
        if due:
            self.checkpoint(block=False)

    def sampled(self, seg: Segment) -> None:
        """``seg`` holds its first ``SAMPLE_BYTES``: the engine may cross-check them."""
        if self.on_sample is not None:
            self.on_sample(seg)

    def ended(self, seg: Segment) -> None:
        """The server closed a range that had no known end: that was the file's end."""
        with self.lock:
            if self.size is None and seg.end is None:
                self.size = seg.pos

    def _checkpoint_bytes(self) -> int:
        return max(self.options.checkpoint_bytes, (self.size or 0) // 64)

    def checkpoint(self, block: bool = True) -> None:
        """Make the ranges on disk survive a crash (see :class:`PartFile`)."""
        if not self._save_lock.acquire(blocking=block):
            return
        try:
            with self.lock:
                snapshot = RangeSet(self.done.as_list())
                self._unsaved = 0
                self._saved_at = time.monotonic()
            self.part.save(self.fd, snapshot)
        finally:
            self._save_lock.release()

    # -- failure -------------------------------------------------------------------
    def note_failure(self, seg: Segment, error: TransferError, sources: list[str]) -> None:
        """Count a failed attempt; set the URL aside or give the file up as needed.

        The file is given up when each of ``sources`` (the URLs still in use for it) has
        failed ``retries`` times in a row with no progress anywhere. Attempts at a host
        that overlapped in time count once: eight connections refused at once are one
        failed try, not eight.
        """
        with self.lock:
            self.faults[error.kind] += 1
            if error.permanent:
                self.bad_urls[seg.url] = str(error)
                if not self.candidates():
                    self.error = str(error)
                return
            host = host_of(seg.url)
            if seg.pos > seg.start or seg.began < self._failed_at.get(host, 0.0):
                return
            self.failures[host] += 1
            self._failed_at[host] = time.monotonic()
            retries = self.options.retries
            if all(self.failures[host_of(url)] > retries for url in sources):
                self.error = f"{error} (gave up after {retries} retries)"

    def distrust(self, url: str) -> None:
        """Stop ``url``'s running segments, and fetch every range it served again."""
        with self.lock:
            self.distrusted.add(url)
            for seg in self.segments:
                if seg.url == url and seg.end is not None:
                    seg.end = seg.pos
        self.forget(url)

    def forget(self, url: str) -> RangeSet:
        """Mark every range ``url`` served as missing, to fetch it from elsewhere."""
        with self.lock:
            ranges = self.served.pop(url, RangeSet())
            for start, end in ranges.as_list():
                self.done.remove(start, end)
            return ranges

    def fail(self, message: str) -> None:
        with self.lock:
            self.error = message

    def restart(self) -> None:
        """Forget every byte (after a checksum mismatch) and start over."""
        with self.lock:
            self.done = RangeSet()
            self.served = {}
            self.ranges_ok = None
            self.size = self.job.size
        self.part.forget_state()
        os.ftruncate(self.fd, 0)

    def close(self) -> None:
        os.close(self.fd)


def _identity(job: Job) -> dict[str, object]:
    """What the finished file must be, so a state file is never applied to another one."""
    if job.validator is not None:
        return {"url": job.urls[0], "validator": job.validator}
    if job.size is None and job.digest is None:
        return {"url": job.urls[0]}
    return {"size": job.size, "sha256": job.sha256, "md5": job.md5}
