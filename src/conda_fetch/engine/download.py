"""One file in flight: its ranges, the segments connections are working on, and its fate.

Vocabulary after aria2: the file is a set of *pieces* already on disk
(a :class:`RangeSet`) and *segments* being fetched, one per connection.
A connection with nothing left to do takes an unclaimed gap, or else all of a
segment whose connection went silent, or the second half of the largest segment
still running, so slow connections are relieved by fast ones and every connection
stays busy until the end.

A file no larger than ``min_split`` (nor 4 MiB) is one request: it is not split and
keeps no resume state. The bytes are hashed as they arrive in order, so verification only
reads what arrived out of order.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conda_fetch.engine.errors import PermanentError, SlowError, TransferError
from conda_fetch.engine.hosts import host_of
from conda_fetch.engine.job import Job
from conda_fetch.engine.options import Options
from conda_fetch.engine.partfile import PartFile, RangeSet

SAMPLE_BYTES = 64 << 10
STEAL_MIN = 64 << 10
TAIL_SECONDS = 1.0
TAIL_MIN = 0.25  # a tail shorter than this is never worth a request on a fast connection,
TAIL_MIN_SLOW = 0.1  # nor one shorter than this on a slow one (under SLOW_LINK per connection):
SLOW_LINK = 16 << 20  # there a halving throws away little, the few bytes in flight
TAIL_ANSWERS = 4  # ... nor one shorter than this many times a request takes to be answered
SILENT_SECONDS = 2.0  # a connection silent this long mid-body hands its range over
SMALL_FILE = 4 << 20
HASH_CHUNK = 1 << 20
HASH_CATCH_UP = 8 << 20


@dataclass(eq=False)
class Segment:
    """A range one connection is fetching; ``end`` may shrink while it runs.

    ``waited``: seconds its connection spent waiting for body bytes (``reading_since``:
    when the read in progress began), so time its thread spent elsewhere (writing,
    hashing, saving state, waiting for the interpreter) is not held against the network.
    ``sample``: set once it holds its first ``SAMPLE_BYTES`` or ended, when a cross-check
    waits for them. ``hang_up``: ends its connection from another thread (a read blocked
    on it returns), once the answer came over a connection that allows it; ``abandoned``:
    its rest went to another connection and it was hung up.
    """

    pos: int
    end: int | None
    url: str = ""
    start: int = 0
    began: float = field(default_factory=time.monotonic)
    answered: bool = False
    waited: float = 0.0
    reading_since: float | None = None
    sample: threading.Event | None = None
    delay: float | None = None  # seconds its answer took to come
    hang_up: Callable[[], None] | None = None
    abandoned: bool = False

    def remaining(self) -> int | None:
        return None if self.end is None else max(0, self.end - self.pos)

    def rate(self, now: float) -> float:
        """Bytes per second so far, since it was claimed."""
        return (self.pos - self.start) / max(now - self.began, 1e-6)

    def network_time(self, now: float) -> float:
        """Seconds spent waiting for body bytes: none before the answer arrived."""
        since = self.reading_since
        return self.waited + (now - since if since is not None else 0.0)

    def network_rate(self, now: float) -> float:
        """Bytes per second of :meth:`network_time`: what the network gives it."""
        return (self.pos - self.start) / max(self.network_time(now), 1e-6)


class Download:
    """The shared state of one file while connections work on it."""

    def __init__(self, job: Job, options: Options) -> None:
        self.job = job
        self.options = options
        self.lock = threading.Lock()
        self._save_lock = threading.Lock()
        self.part = PartFile(job.part, part_identity(job))
        self.size = job.size
        self.done = self.part.load()
        self.ranges_ok: bool | None = None
        self.segments: list[Segment] = []
        self.failures: Counter[str] = Counter()
        self._kept = self.done.total()  # bytes held when a try last counted as progress
        self._failed_at: dict[str, float] = {}
        self.fetched = 0
        self.resumed = self.done.total()
        self.faults: Counter[str] = Counter()
        self.recovered = 0
        self._unrecovered = 0
        self.error: str | None = None
        self.bad_urls: dict[str, str] = {}
        self.avoid: set[str] = set()
        self.distrusted: set[str] = set()
        self.served: dict[str, RangeSet] = {}
        self.blamed: list[str] = []
        self.best_rate = 0.0
        self.answer_delay: float | None = None  # seconds a request waits for its answer
        self.floor = 0  # bytes a piece carries at least, for its round trip to pay
        self.host_rate = 0.0  # bytes/s one connection gets from the host of its last claim
        self.on_sample: Callable[[Segment], None] | None = None
        self.checks: list[threading.Thread] = []
        self.started_at = time.monotonic()
        self.resume_at = 0.0  # after a failed try: no new connection before this
        self._unsaved = 0
        self._saved_at = time.monotonic()
        self._hash_lock = threading.Lock()
        self._hasher: Any = None
        self._hashed = 0
        self._reset_hash()
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

    def small(self) -> bool:
        """One request's worth (at most ``min_split``, and at most ``SMALL_FILE`` whatever
        ``min_split`` says): claimed whole, no resume state. (Only the end game may still
        halve a slow one for an idle connection, see :meth:`_tail`.)"""
        return one_request(self.size, self.options)

    def tiny(self) -> bool:
        """Too small to be worth a second connection ever."""
        return self.size is not None and self.size < 2 * STEAL_MIN

    def share(self) -> int:
        """The bytes one more connection would carry for this file (0: none to take)."""
        with self.lock:
            if self.failed() or self.complete():
                return 0
            missing = (self.size if self.size is not None else self.options.min_split) - (
                self.done.total())
            if not self.segments:
                return max(missing, 1)
            if self.ranges_ok is not True or self.tiny() or (
                    len(self.segments) >= self.options.split):
                return 0
            if not (self.size is not None and self._unclaimed()) and self._victim() is None:
                return 0
            return max(missing // (len(self.segments) + 1), 1)

    def retrying(self) -> bool:
        """Its last try failed and no connection is on it: it makes no progress at all."""
        with self.lock:
            return self._unrecovered > 0 and not self.segments

    def candidates(self) -> list[str]:
        """The file's URLs not refused for it and not set aside while hunting bad data."""
        return [u for u in self.job.urls if u not in self.bad_urls and host_of(u) not in self.avoid]

    # -- claiming work ----------------------------------------------------------
    def claim(self, steal: bool = True, floor: int = 0,
              host_rate: float = 0.0) -> Segment | None:
        """A segment for a connection to fetch, or ``None`` when there is none; without
        ``steal``, only bytes no connection is fetching (never a running segment's rest).
        ``floor``: the bytes a piece must carry for its request's round trip to pay (what
        the host sends in a few answer delays), so a far host's pieces are long.
        ``host_rate``: what one connection to the chosen host carries (0: unknown), by
        which the end game judges this file's last segment before it measured its own."""
        with self.lock:
            self.floor = floor
            self.host_rate = host_rate or self.host_rate
            if self.failed() or self.complete():
                return None
            span = self._claimable(steal)
            if span is None:
                return None
            seg = Segment(pos=span[0], end=span[1], start=span[0])
            self.segments.append(seg)
            return seg

    def _claimable(self, steal: bool) -> tuple[int, int | None] | None:
        if self.ranges_ok and self.size is not None:
            free = self._unclaimed()
            if free:
                return self._bounded(free[0])
            return self._steal() if steal else None
        if self.segments:
            return None
        if self.ranges_ok is False:
            return (0, self.size)
        start = self.done.covered_until(0)
        if self.size is None:  # ask for a piece only (the answer tells the size), up to
            after = self.done.next_start(start)  # the next range already on disk
            if self.ranges_ok is None or after is not None:
                piece = start + self._least()
                return (start, piece if after is None else min(piece, after))
            return (start, None)
        return self._bounded(self.done.gaps(self.size)[0])

    def _bounded(self, gap: tuple[int, int]) -> tuple[int, int]:
        """At most one piece of ``gap``, so connections share a file without stealing."""
        return (gap[0], min(gap[1], gap[0] + self._piece()))

    def _piece(self) -> int:
        """How much one claim takes: a connection's share of the missing bytes, halved so
        that connections to faster hosts come back for more while slow ones finish theirs;
        all of them where a file has one connection at most (``split`` 1), which no other
        relieves: there each halving would only cost a round trip."""
        assert self.size is not None
        missing = self.size - self.done.total()
        if self.options.split == 1:
            return missing
        return max(self._least(), -(-missing // (2 * self.options.split)))

    def _least(self) -> int:
        """The smallest piece worth a request: ``min_split``, or the floor if larger, but
        at most half the bytes missing: a second connection then joins on free bytes, not
        by halving a running request (the bytes its server already sent past the new end
        would be wasted)."""
        floor = self.floor
        if self.size is not None:
            floor = min(floor, (self.size - self.done.total()) // 2)
        return max(self.options.min_split, floor)

    def _unclaimed(self) -> list[tuple[int, int]]:
        busy = RangeSet(self.done.as_list())
        for seg in self.segments:
            if seg.end is not None:
                busy.add(seg.pos, seg.end)
        assert self.size is not None
        return busy.gaps(self.size)

    def _victim(self) -> Segment | None:
        """The running segment worth relieving: one whose connection went silent, else the
        largest while it holds two pieces, then one that would still take long (only
        looks)."""
        running = [s for s in self.segments if s.end is not None]
        if not running:
            return None
        silent = self._silent(running)
        if silent is not None:
            return silent
        largest = max(running, key=lambda s: s.remaining() or 0)
        if (largest.remaining() or 0) < 2 * self._least():
            return self._laggard(running) or self._tail(largest)
        return largest

    def _silent(self, running: list[Segment]) -> Segment | None:
        """A segment whose connection, answered and waiting in a read, got nothing for
        ``SILENT_SECONDS`` (when the stall timeout is longer): a stall, to be taken over
        now rather than when the timeout drops it."""
        if self.options.stall_seconds <= SILENT_SECONDS:
            return None
        now = time.monotonic()
        return next((s for s in running if s.hang_up is not None and not s.abandoned
                     and s.remaining() and (since := s.reading_since) is not None
                     and now - since > SILENT_SECONDS), None)

    def _steal(self) -> tuple[int, int] | None:
        """The second half of :meth:`_victim`, taken from it; all of its rest, if its
        connection went silent (that one is hung up)."""
        victim = self._victim()
        if victim is None:
            return None
        if self._silent([victim]) is victim:
            return self._take_over(victim)
        left = victim.remaining() or 0
        middle = victim.pos + left // 2
        span = (middle, victim.end)
        victim.end = middle
        return span  # type: ignore[return-value]

    def _take_over(self, silent: Segment) -> tuple[int, int]:
        """All of ``silent``'s rest; its connection is hung up (its try then fails as a
        stall, see :func:`~conda_fetch.engine.transfer.silence`). The fault is counted
        now, so the bytes the taker brings count as recovering from it."""
        assert silent.end is not None and silent.hang_up is not None
        span = (silent.pos, silent.end)
        silent.end, silent.abandoned = silent.pos, True
        self.faults["stall"] += 1
        self._unrecovered += 1
        silent.hang_up()
        return span

    def _laggard(self, running: list[Segment]) -> Segment | None:
        """A segment whose connection, measured on the network for a while, runs at under a
        quarter of the best rate seen and would need more than ``2 * TAIL_SECONDS`` for its
        rest: worth handing to a faster one.

        Only the network may convict it: the time spent waiting for its bytes, not the time
        since it was claimed. A segment still waiting for its answer (a lost SYN costs a
        second) is not judged, nor one whose thread was busy elsewhere while its bytes
        waited in the socket; and a rest it would fetch sooner is mostly in flight already:
        taking it would only waste that.
        """
        now = time.monotonic()
        slow = [s for s in running if s.network_time(now) > TAIL_SECONDS
                and s.pos - s.start >= STEAL_MIN
                and (rate := s.network_rate(now)) < self.best_rate / 4
                and (s.remaining() or 0) > max(STEAL_MIN, 2 * TAIL_SECONDS * rate)]
        return max(slow, key=lambda s: s.remaining() or 0, default=None)

    def _tail(self, largest: Segment) -> Segment | None:
        """At the end of a file, the largest segment if it would still take longer than
        :meth:`_tail_seconds` at the best rate seen (or, before any, at its own once it ran
        ``TAIL_SECONDS``, else at its host's): halving it spares idle connections the
        wait, also for a file of one request running last."""
        left = largest.remaining() or 0
        now = time.monotonic()
        own = largest.network_rate(now) if largest.network_time(now) > TAIL_SECONDS else 0
        rate = self.best_rate or own or self.host_rate
        worth = left >= 2 * STEAL_MIN and left > self._tail_seconds(rate) * rate > 0
        return largest if worth else None

    def _tail_seconds(self, rate: float) -> float:
        """How long a tail must still take to be worth another request: ``TAIL_ANSWERS``
        times what this file's requests wait for their answer (a second until one came),
        at least ``TAIL_MIN`` (``TAIL_MIN_SLOW`` where a connection gets under
        ``SLOW_LINK``). On a near link short tails are split; on a far one, where a request
        costs a long round trip, only long ones. On a fast connection the socket buffers
        hold megabytes that halving its piece throws away, so only longer tails are."""
        if self.answer_delay is None:
            return TAIL_SECONDS
        floor = TAIL_MIN_SLOW if rate < SLOW_LINK else TAIL_MIN
        return max(floor, TAIL_ANSWERS * self.answer_delay)

    def enter(self, seg: Segment) -> None:
        """``seg``, a range already asked for (the quick lane's first piece), is one of the
        file's running segments: no connection claims its bytes."""
        with self.lock:
            self.segments.append(seg)

    def shorten(self, seg: Segment, most: int) -> None:
        """Let ``seg`` run for at most ``most`` bytes; the rest is claimable again."""
        with self.lock:
            if seg.end is None or seg.end - seg.pos > most:
                seg.end = seg.pos + most

    def release(self, seg: Segment) -> None:
        """A connection stopped working on ``seg``; its rest becomes claimable."""
        with self.lock:
            if seg in self.segments:
                self.segments.remove(seg)
            if seg.pos - seg.start >= STEAL_MIN:
                self.best_rate = max(self.best_rate, seg.rate(time.monotonic()))

    # -- what a connection learns -------------------------------------------------
    def learn(self, seg: Segment, total: int | None, ranges: bool) -> None:
        """Record the size and range support a response revealed.

        A ``200`` answer means no ranges: this connection now carries the whole
        file from byte 0 and every other segment is stopped, unless other sources
        already serve the file in ranges; then this one is not used for it.
        """
        with self.lock:
            delay = seg.delay = time.monotonic() - seg.began
            self.answer_delay = delay if self.answer_delay is None else (
                self.answer_delay + delay) / 2
            if total is not None and self.size is not None and total != self.size:
                raise PermanentError(f"server has {total} bytes, expected {self.size}")
            if not ranges and self.ranges_ok and len(self.candidates()) > 1:
                raise PermanentError("server ignores Range where others split this file")
            if total is not None:
                self.size = total
                for running in self.segments:
                    end = running.pos + self._piece() if running.end is None else running.end
                    after = self.done.next_start(running.pos)
                    running.end = min(total, end, total if after is None else after)
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

    def advance(self, seg: Segment, data: bytes | memoryview) -> None:
        """``data`` was written at ``seg.pos`` (not counted from a distrusted URL)."""
        count, at = len(data), seg.pos
        with self.lock:
            seg.pos += count
            trusted = seg.url not in self.distrusted
            rewrite = not trusted or self.done.covered_until(at) > at
            if trusted:
                self.done.add(at, at + count)
                self.served.setdefault(seg.url, RangeSet()).add(at, at + count)
                self.fetched += count
                self.recovered += self._unrecovered
                self._unrecovered = 0
                self._unsaved += count
            due = trusted and self._due()
        self._hash_written(at, data, rewrite)
        if due and self._save_lock.acquire(blocking=False):
            threading.Thread(target=self._save_behind, name="checkpoint", daemon=True).start()

    # -- hashing in order ----------------------------------------------------------
    def _reset_hash(self) -> None:
        digest = self.job.digest
        self._hasher = hashlib.new(digest[0]) if digest else None
        self._hashed = 0

    def _hash_written(self, at: int, data: bytes | memoryview, rewrite: bool) -> None:
        """Extend the hash of the file's first bytes with what was just written at ``at``;
        a ``rewrite`` (bytes over others, or from a distrusted source) below what was
        hashed already starts the hash over. New bytes never wait while another
        connection hashes: that one, or the next, reads them back from disk."""
        if self._hasher is None or not self._hash_lock.acquire(blocking=rewrite):
            return
        try:
            if rewrite and at < self._hashed:
                self._reset_hash()
            elif at == self._hashed and not rewrite:
                self._hasher.update(data)
                self._hashed += len(data)
            self._catch_up(HASH_CATCH_UP)
        finally:
            self._hash_lock.release()

    def _catch_up(self, limit: int | None) -> None:
        """Hash, from disk, up to ``limit`` bytes (all: ``None``) that already follow the
        hashed prefix without a gap. Called with the hash lock held."""
        with self.lock:
            until = self.done.covered_until(self._hashed)
        if limit is not None:
            until = min(until, self._hashed + limit)
        while self._hashed < until:
            data = os.pread(self.fd, min(HASH_CHUNK, until - self._hashed), self._hashed)
            if not data:
                break
            self._hasher.update(data)
            self._hashed += len(data)

    def digest(self) -> str | None:
        """The hex digest of the first ``size`` bytes, reading only what was not hashed yet
        (``None`` when the job has no checksum)."""
        if self._hasher is None:
            return None
        assert self.size is not None
        with self._hash_lock:
            if self._hashed > self.size:
                self._reset_hash()
            self._catch_up(None)
            if self._hashed != self.size:
                return None
            return str(self._hasher.hexdigest())

    def sampled(self, seg: Segment) -> None:
        """``seg`` holds its first ``SAMPLE_BYTES`` (or all of a shorter range): the engine
        may cross-check them."""
        if self.on_sample is not None:
            self.on_sample(seg)

    def ended(self, seg: Segment) -> None:
        """The server closed a range that had no known end: that was the file's end."""
        with self.lock:
            if self.size is None and seg.end is None:
                self.size = seg.pos

    def _due(self) -> bool:
        """Whether a checkpoint is due (called with the lock held)."""
        return not self.small() and self._unsaved > 0 and (
            self._unsaved >= max(self.options.checkpoint_bytes, (self.size or 0) // 64)
            or time.monotonic() - self._saved_at >= self.options.checkpoint_seconds)

    def checkpoint(self) -> None:
        """Make the ranges on disk survive a crash (see :class:`PartFile`); a small file
        is fetched again whole instead. Waits for a checkpoint under way."""
        if self.small():
            return
        with self._save_lock:
            self._save()

    def saved(self) -> None:
        """Wait until no checkpoint is under way (before the file is verified and moved)."""
        with self._save_lock:
            pass

    def _save_behind(self) -> None:
        """A checkpoint on its own thread, with the save lock its starter took: no
        connection waits while the disk flushes (a tenth of a second on a busy one). A
        disk that refuses it fails the file, as it would a write. Bytes that arrived
        meanwhile, if due, are saved before it ends: their connections may have no
        more to bring that would start the next."""
        try:
            self._save()
            while self._due_now():
                self._save()
        except OSError as exc:
            self.fail(f"cannot save progress: {(exc.strerror or str(exc)).lower()}")
        finally:
            self._save_lock.release()

    def _due_now(self) -> bool:
        with self.lock:
            return self._due()

    def _save(self) -> None:
        with self.lock:
            snapshot = RangeSet(self.done.as_list())
            self._unsaved = 0
            self._saved_at = time.monotonic()
        self.part.save(self.fd, snapshot)

    # -- failure -------------------------------------------------------------------
    def note_failure(self, seg: Segment, error: TransferError, sources: list[str]) -> None:
        """Count a failed attempt; set the URL aside or give the file up as needed.

        The file is given up when each of ``sources`` (the URLs still in use for it) has
        failed ``retries`` times in a row with no progress anywhere: no more bytes held
        than at the last try that made some (a server without ranges that breaks off at
        the same byte each time sends bytes, but the file never gets further). Attempts
        at a host that overlapped in time count once: eight connections refused at once
        are one failed try, not eight.
        """
        with self.lock:
            if not seg.abandoned:  # else counted when its range was taken over
                self.faults[error.kind] += 1
                self._unrecovered += 1
            if error.permanent:
                self.bad_urls[seg.url] = str(error)
                if not self.candidates():
                    self.error = str(error)
                return
            host = host_of(seg.url)
            if not isinstance(error, SlowError) and self.done.total() > self._kept:
                self._kept = self.done.total()
                self.failures.clear()  # progress: the tries in a row start again
                return
            if seg.began < self._failed_at.get(host, 0.0):
                return
            self.failures[host] += 1
            self._failed_at[host] = time.monotonic()
            retries = self.options.retries
            if sources and all(self.failures[host_of(url)] > retries for url in sources):
                self.error = f"{error} (gave up after {retries} retries)"

    def adopt(self, url: str, count: int, size: int | None = None, ranged: bool = False,
              delay: float | None = None, host_rate: float = 0.0) -> None:
        """The part file's first ``count`` bytes came from ``url`` in this run, before this
        object was made (the quick lane's try): they count as fetched, served and held.
        What that try's answer told: the file's ``size``, whether it was ``ranged``, and how
        long it took to come (``delay``); ``host_rate``: what one connection to its host
        carries, by which the end game judges its segment (see :meth:`_tail`)."""
        with self.lock:
            if size is not None and self.size is None:
                self.size = size
            if ranged:
                self.ranges_ok = True
            if delay is not None:
                self.answer_delay = delay
            self.host_rate = host_rate or self.host_rate
            self.done.add(0, count)
            self.served.setdefault(url, RangeSet()).add(0, count)
            self.fetched += count

    def succeeded(self) -> None:
        """A connection finished its range: the tries in a row start again."""
        with self.lock:
            self.failures.clear()

    def tries(self, url: str) -> int:
        """Failed tries in a row at ``url``'s host for this file."""
        with self.lock:
            return self.failures[host_of(url)]

    def count_fault(self, kind: str) -> None:
        with self.lock:
            self.faults[kind] += 1
            self._unrecovered += 1

    def set_avoid(self, hosts: set[str]) -> None:
        """Use no URL of ``hosts`` for this file until set otherwise."""
        with self.lock:
            self.avoid = set(hosts)

    def add_check(self, check: threading.Thread) -> None:
        with self.lock:
            self.checks.append(check)

    def take_check(self) -> threading.Thread | None:
        """A cross-check still to wait for, if any."""
        with self.lock:
            return self.checks.pop() if self.checks else None

    def blame(self, host: str) -> bool:
        """Record ``host`` as caught serving corrupt bytes; False if it already was."""
        with self.lock:
            if host in self.blamed:
                return False
            self.blamed.append(host)
            self.faults["corrupt"] += 1
            return True

    def distrust_host(self, host: str) -> None:
        """:meth:`distrust` every URL of ``host`` that served this file or is serving it."""
        with self.lock:
            urls = {u for u in self.served if host_of(u) == host}
            urls.update(s.url for s in self.segments if s.url and host_of(s.url) == host)
        for url in urls:
            self.distrust(url)

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
            self._kept = min(self._kept, self.done.total())
        with self._hash_lock:
            self._reset_hash()
        return ranges

    def fail(self, message: str) -> None:
        with self.lock:
            self.error = message

    def restart(self) -> None:
        """Forget every byte (after a checksum mismatch) and start over."""
        self.saved()  # no checkpoint of the bytes forgotten lands after this
        with self.lock:
            self.done = RangeSet()
            self._kept = 0
            self.served = {}
            self.ranges_ok = None
            self.size = self.job.size
        self.part.forget_state()
        os.ftruncate(self.fd, 0)
        with self._hash_lock:
            self._reset_hash()

    def on_disk(self) -> int:
        """The part file's size."""
        return os.fstat(self.fd).st_size

    def truncate(self, size: int) -> None:
        """Cut the part file to ``size`` bytes."""
        with self._hash_lock:
            os.ftruncate(self.fd, size)
            if self._hashed > size:
                self._reset_hash()

    def close(self) -> None:
        """Close the part file. One of a file that failed with nothing in it goes, with its
        state: a host that never answered leaves no empty files behind."""
        with self._save_lock:
            self.part.close(self.fd)
            if self.failed() and not self.done.total():
                self.part.discard()


def one_request(size: int | None, options: Options) -> bool:
    """Whether a file of ``size`` bytes is fetched in one request (see :func:`request_most`)."""
    return size is not None and size <= request_most(options)


def request_most(options: Options) -> int:
    """The most bytes a file of one request has: ``min_split``, and at most ``SMALL_FILE``
    whatever ``min_split`` says."""
    return min(options.min_split, SMALL_FILE)


def part_identity(job: Job) -> dict[str, object]:
    """What the finished file must be, so a state file is never applied to another one. A
    URL stands there only as its sha256: a token or password in it is never written."""
    if job.validator is not None:
        return {"url": _url_key(job.urls[0]), "validator": job.validator}
    if job.size is None and job.digest is None:
        return {"url": _url_key(job.urls[0])}
    return {"size": job.size, "sha256": job.sha256, "md5": job.md5}


def _url_key(url: str) -> str:
    return "sha256:" + hashlib.sha256(url.encode()).hexdigest()

