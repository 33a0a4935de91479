"""What a run learns about each host serving files: speed, failures, connections in use.

Every connection asks the board which of a file's URLs to use. A host never
tried gets one connection first, to measure it; then, among hosts not several times
slower per connection than the fastest that has room, the most speed per connection
wins (speed measured over the time spent waiting for body bytes). A host that fails
without sending a byte is set aside: for as long as its ``Retry-After`` asks (no new
request goes to it before), else for an exponential backoff with jitter, during which
other hosts are preferred but its connections carry on. The first bytes
each host serves are compared with another host's copy (once per run), and a host
caught serving corrupt bytes is excluded for the rest of the run; until they were,
a host of a file that several hosts serve gets one connection (unless the saved
ranking names it) and short pieces (see the runner), so a corrupting mirror costs a
few pieces, not files. No host ever gets more than ``per_host`` connections at once.
A 429 or 5xx while several connections are in use lowers the host's cap below that
number (a limit per client, or passing overload) and, without ``Retry-After``, is no
failed try: the host serves the others, so nothing is set aside (a mirror refusing a
fifth connection serves four, and files keep them busy). Every answered request raises
the cap again by ``1/cap`` (additive increase, multiplicative decrease), so a cap lasts
only while the refusals do. Tries that overlap in time count as one: eight connections
refused at once are one failed try. A host that has never answered (refused,
unreachable, name not resolved) is given up for the whole run after ``retries`` tries
or ``give_up_after`` seconds, so every file it serves fails at once, with the reason.

A *far* host is one whose answers take longer to come than its bodies take to arrive,
and at least ``FAR_DELAY`` for the quickest answer (a loaded machine makes answers late,
not the network far): many small files over a long round trip, where connections
mostly wait. There, more requests in flight cost the host nothing more per second and
hide the round trips, so its room doubles with each answer while in use, from ``per_host``
up to ``Options.far`` (and the run's total with it); a refusal lowers it as any cap. Where
bodies take longer than answers (bulk transfers) a host keeps ``per_host``.

A *quick* host is one whose answers and bodies both take under ``QUICK`` (on this machine
or the LAN): a small file's request there is over before our side's work on the file is,
so more files at once only contend for our CPU (and its threads for the interpreter).
While every host in use is quick, the runner opens ``Options.quick`` files at once.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from conda_fetch.engine.errors import SlowError, TransferError
from conda_fetch.engine.options import Options

PROBE_SLOWER = 8
SLOWER = 4
ROUND_TRIPS = 4  # a piece carries at least what its host sends in this many answer delays
FAR_DELAY = 0.05  # seconds: an answer later than this, and later than the body, is far
QUICK = 0.002  # seconds: answers and bodies quicker than this leave our CPU the limit
EWMA = 0.3  # weight of the newest measure in a host's running averages


def backoff(failures: int, base: float, cap: float, rng: random.Random = random._inst) -> float:
    """Delay before try number ``failures + 1``: exponential with full jitter.

    The first failure of a run that had made progress is retried at once
    (``failures == 0``); later ones wait up to ``base * 2**(failures-1)``.
    """
    if failures <= 0:
        return 0.0
    return rng.uniform(base / 2, min(cap, base * 2.0 ** min(failures - 1, 64)))


@functools.lru_cache(maxsize=4096)  # asked about the same URL many times per request
def host_of(url: str) -> str:
    """``scheme://host:port`` of ``url``, without credentials."""
    start = url.find("://") + 3
    end = len(url)
    for mark in "/?#":
        found = url.find(mark, start)
        if 0 <= found < end:
            end = found
    return _origin(url[:end] if start >= 3 else url)


@functools.lru_cache(maxsize=256)  # a run's thousand URLs have a few origins
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


@dataclass
class HostState:
    """One host's record in this run."""

    speed: float | None = None
    active: int = 0
    failures: int = 0
    aside_until: float = 0.0
    closed: bool = False
    excluded: str = ""
    checked: bool = False
    trusted: bool = False
    ranked: bool = False
    cap: float | None = None
    answered: bool = False
    down_since: float | None = None
    last_failed: float = 0.0
    refused_at: int | None = None  # connections in use at its last refusal
    limit_at: int | None = None  # refused twice at this many: a limit per client
    refused_when: float = 0.0  # when its last refusal came back (monotonic)
    delay: float | None = None  # seconds the quickest answer took to come
    body: float | None = None  # seconds a body takes to arrive (running average)
    boost: int = 0  # room earned above ``per_host`` while far

    def far(self) -> bool:
        """Whether requests here mostly wait for their answers (see the module)."""
        delay, body = self.delay, self.body
        return delay is not None and body is not None and delay >= FAR_DELAY and delay > body

    def quick(self) -> bool:
        """Whether requests here are over sooner than our work on a file (see the module)."""
        delay, body = self.delay, self.body
        return delay is not None and body is not None and max(delay, body) < QUICK


def _average(old: float | None, new: float) -> float:
    return new if old is None else (1 - EWMA) * old + EWMA * new


class HostBoard:
    """Chooses URLs for connections and keeps score of hosts; thread-safe."""

    def __init__(self, options: Options, ranking: dict[str, float] | None = None) -> None:
        self.options = options
        self.hosts: dict[str, HostState] = {}
        self._lock = threading.Lock()
        for host, speed in (ranking or {}).items():
            state = self._state(host)
            state.speed, state.ranked = speed, True

    def _state(self, host: str) -> HostState:
        state = self.hosts.get(host)
        if state is None:
            state = self.hosts[host] = HostState()
        return state

    def take(self, urls: list[str]) -> str | None:
        """The best URL whose host can take one more connection now (counted as in use):
        one not set aside if there is one, else one set aside that still serves other
        connections; ``None`` while every host is busy, excluded, or set aside and idle."""
        with self._lock:
            eligible = self._eligible(urls)
            if not eligible:
                return None
            top = max((self._state(host_of(u)).speed or 0.0 for u in eligible), default=0.0)
            best = max(eligible, key=lambda u: self._score(self._state(host_of(u)),
                                                           urls.index(u), top))
            self._state(host_of(best)).active += 1
            return best

    def untake(self, url: str) -> None:
        """Give back a connection :meth:`take` counted and that was not used."""
        with self._lock:
            self._state(host_of(url)).active -= 1

    def extra(self) -> int:
        """Room earned above the usual limits by far hosts, all together: that many more
        files may be open and connections in use."""
        with self._lock:
            return sum(s.boost for s in self.hosts.values() if s.far() and not s.excluded)

    def quick(self) -> bool:
        """Whether every host not excluded is quick (see the module): none still unmeasured."""
        with self._lock:
            states = [s for s in self.hosts.values() if not s.excluded]
            return bool(states) and all(s.quick() for s in states)

    @contextmanager
    def borrowed(self, url: str) -> Iterator[None]:
        """Count a request to ``url``'s host made beside the connections (a cross-check)
        as a connection in use while it runs: a host limiting connections per client
        would refuse one of ours for it, and its cap would fall for nothing."""
        with self._lock:
            self._state(host_of(url)).active += 1
        try:
            yield
        finally:
            self.untake(url)

    def failing(self, url: str) -> bool:
        """Whether ``url``'s host failed its last try, with no progress since."""
        with self._lock:
            return self._state(host_of(url)).failures > 0

    def pace(self, url: str, urls: list[str]) -> float:
        """``url``'s host's speed per connection as a share of the fastest among the hosts
        of ``urls`` not excluded (1.0 while either is unknown)."""
        with self._lock:
            speeds = [s.speed for u in urls if not (s := self._state(host_of(u))).excluded]
            own = self._state(host_of(url)).speed
        top = max((v for v in speeds if v is not None), default=None)
        return 1.0 if own is None or not top else min(1.0, own / top)

    def speed(self, url: str) -> float:
        """Bytes per second one connection gets from ``url``'s host (0 while unknown)."""
        with self._lock:
            return self._state(host_of(url)).speed or 0.0

    def piece_floor(self, url: str) -> int:
        """Over a long round trip (answers later than ``FAR_DELAY``), the bytes ``url``'s
        host sends one connection in ``ROUND_TRIPS`` answer delays: a shorter piece spends
        more time asking than receiving. 0 on a near link or while unknown: pieces stay
        short there, and a piece another connection takes half of wastes little."""
        with self._lock:
            state = self._state(host_of(url))
            speed, delay = state.speed, state.delay
        if not speed or delay is None or delay < FAR_DELAY:
            return 0
        return int(speed * delay * ROUND_TRIPS)

    def has_room(self, urls: list[str]) -> bool:
        """Whether :meth:`take` would give a URL now."""
        with self._lock:
            return bool(self._eligible(urls))

    def _eligible(self, urls: list[str]) -> list[str]:
        now = time.monotonic()
        several = len({host_of(u) for u in urls}) > 1
        ready = [u for u in urls if self._ready(self._state(host_of(u)), now, several)]
        rested = [u for u in ready if self._state(host_of(u)).aside_until <= now]
        serving = [u for u in ready if self._state(host_of(u)).active]
        return rested or serving  # only hosts set aside and idle: wait them out

    def _ready(self, state: HostState, now: float, several: bool = False) -> bool:
        """Whether ``state``'s host may take one more connection now; where ``several``
        hosts serve a file, one not trusted yet gets one (unless the user's saved ranking
        vouches for it)."""
        limit = 1 if several and not (state.trusted or state.ranked) else self._limit(state)
        busy = state.active >= limit
        return not (state.excluded or busy or (state.closed and state.aside_until > now))

    @staticmethod
    def _score(state: HostState, order: int, top: float) -> tuple[int, int, int, float, int]:
        """Fewest failures in a row first; then a host never tried gets one connection to
        measure it; then one not ``SLOWER`` times slower per connection than the fastest
        (``top``) that could take it (a slow mirror gets no piece that would keep a file
        waiting while the fast one has room); then the most speed per connection once this
        one is added."""
        untried = state.speed is None and not state.active
        keeps_up = state.speed is None or state.speed * SLOWER >= top
        return (-state.failures, untried, keeps_up, (state.speed or 0.0) / (state.active + 1),
                -order)

    def _limit(self, state: HostState) -> int:
        """How many connections ``state``'s host may have now."""
        return self._ceiling(state) if state.cap is None else int(state.cap)

    def _ceiling(self, state: HostState) -> int:
        """``per_host``, or more for a far host: the room its answers earned while far."""
        per_host = self.options.per_host
        if not state.far():
            return per_host
        return min(max(self.options.far, per_host), per_host + state.boost)

    def release(self, url: str, count: int, seconds: float, error: TransferError | None,
                answered: bool = True, waited: float | None = None,
                delay: float | None = None, waiting: bool = False) -> None:
        """A connection to ``url`` ended after ``count`` bytes in ``seconds``, with ``error``
        when it failed (``answered``: whether any HTTP answer came back); a host that
        failed without sending a byte (but for refusing one more connection), or below
        the floor of speed, is set aside. Its speed is measured over ``waited``, the
        seconds it waited for body bytes (all of ``seconds`` if not given): neither the
        wait for the answer nor time its thread spent elsewhere makes a fast host look
        slow. ``delay``: the seconds its answer took to come, if one came. ``waiting``:
        files wait for room to open (the run has more than it has room for)."""
        with self._lock:
            state = self._state(host_of(url))
            in_use = state.active
            state.active -= 1
            state.answered = state.answered or answered
            spent = seconds if waited is None else waited
            if count and spent > 0:
                state.speed = _average(state.speed, count / spent)
            if delay is not None:  # the network's part: a busy machine only adds to it
                state.delay = delay if state.delay is None else min(state.delay, delay)
            if error is None and count:
                state.body = _average(state.body, spent)
            if error is None and state.cap is None:
                self._grow_far(state, in_use, waiting)
            if count and not isinstance(error, SlowError):
                state.failures, state.down_since = 0, None
            elif error is not None and not error.permanent:
                self._count_failure(state, url, error, in_use, time.monotonic() - seconds)

    def accepted(self, url: str) -> bool:
        """``url``'s host answered a request with the bytes asked (it did not refuse it):
        a lowered cap gets ``1/cap`` more room, eight times slower just below where the
        host refused twice (a limit per client is probed rarely; one refusal may be
        passing overload, and refusals at several levels are, so the cap climbs back at
        the usual pace). Counted when the answer comes, not when its body ends: a long
        transfer, or one that stalls, does not hold the others back. Whether it got more
        room."""
        with self._lock:
            state = self._state(host_of(url))
            if state.cap is None:
                return False
            before = self._limit(state)
            limit = state.limit_at
            near = limit is not None and limit - 1 <= state.cap < limit
            state.cap += 1 / state.cap / (PROBE_SLOWER if near else 1)
            if state.cap >= self._ceiling(state):
                state.cap = None
            return self._limit(state) > before

    def _grow_far(self, state: HostState, in_use: int, waiting: bool) -> None:
        """One more answer from a host with no cap: a far host that never refused doubles
        its room while it used all of it, or half of it while files wait for room (a
        file's thread spends part of its time on our side, off the connection; a mirror
        given little of the work does not grow the run), as TCP's slow start does: a few
        answers take it from ``per_host`` to ``far``, even while long transfers hold
        its connections and answers are rare."""
        if state.far() and state.refused_at is None:
            room = self._ceiling(state)
            used = in_use / room
            if used >= 1 or (waiting and used >= 0.5):
                state.boost = min(state.boost + room,
                                  max(0, self.options.far - self.options.per_host))

    def _count_failure(self, state: HostState, url: str, error: TransferError, in_use: int,
                       began: float) -> None:
        """Lower the cap on a refusal; set the host aside, and give up a host never
        answered, unless the refusal was of one more connection and named no pause."""
        if error.kind == "http" and in_use > 1:
            self._lower_cap(state, in_use, began)
            if error.retry_after is None:
                return  # it serves the others: a limit to keep, not a try that failed
        now = time.monotonic()
        if began < state.last_failed:
            return  # this try overlapped one already counted
        state.last_failed = now
        state.failures += 1
        state.down_since = state.down_since or began
        state.aside_until = now + self._pause(state.failures, error)
        if not state.answered:  # the try that may give it up comes when it is due
            state.aside_until = min(state.aside_until,
                                    state.down_since + self.options.give_up_after)
        state.closed = error.retry_after is not None
        dead = state.failures > self.options.retries or (
            now - state.down_since >= self.options.give_up_after)
        if not state.answered and dead:
            state.excluded = str(error)

    def _lower_cap(self, state: HostState, in_use: int, began: float) -> None:
        """The host refused one of ``in_use`` connections (a request asked at ``began``): a
        cap just below that. Refused again at that number, when asked after the last
        refusal came back, it has a limit there; refused again below where it once
        served, it was overload that comes and goes, not a limit."""
        state.cap = max(1.0, min(float(self._limit(state)), in_use - 1.0))
        again = state.refused_at == in_use and began >= state.refused_when
        state.refused_when = time.monotonic()
        below = state.refused_at is not None and in_use < state.refused_at
        state.refused_at = None if below else in_use
        state.limit_at = in_use if again else None if below else state.limit_at

    def _pause(self, failures: int, error: TransferError) -> float:
        options = self.options
        if error.retry_after is not None:
            return min(error.retry_after, options.retry_after_max)
        return backoff(failures, options.backoff_base, options.backoff_max)

    def wait(self, urls: list[str]) -> float:
        """Seconds until some host of ``urls`` is no longer set aside (0 if one is not)."""
        now = time.monotonic()
        with self._lock:
            until = [s.aside_until for u in urls if not (s := self._state(host_of(u))).excluded]
        return max(0.0, min(until, default=now) - now)

    def fastest(self, urls: list[str]) -> list[str]:
        """``urls`` by measured speed of their hosts, fastest first, never measured last."""
        with self._lock:
            speeds = {u: self._state(host_of(u)).speed for u in urls}
        return sorted(urls, key=lambda u: -(speed if (speed := speeds[u]) is not None else -1.0))

    def claim_check(self, url: str) -> bool:
        """True once per host: the caller cross-checks its first bytes against another host."""
        with self._lock:
            state = self._state(host_of(url))
            if state.checked:
                return False
            state.checked = True
            return True

    def unclaim_check(self, url: str) -> None:
        """The check claimed for ``url``'s host had nothing to compare: the next bytes it
        serves are checked instead."""
        with self._lock:
            self._state(host_of(url)).checked = False

    def trust(self, url: str) -> None:
        """``url``'s host served bytes another host confirmed (or none could compare them):
        it may take more than one connection of a file that several hosts serve."""
        with self._lock:
            self._state(host_of(url)).trusted = True

    def trusted(self, url: str) -> bool:
        """Whether :meth:`trust` was said of ``url``'s host."""
        with self._lock:
            return self._state(host_of(url)).trusted

    def exclude(self, url: str, reason: str) -> None:
        """Never use this host again in this run."""
        with self._lock:
            self._state(host_of(url)).excluded = reason

    def reasons(self, urls: list[str]) -> list[str]:
        """Why the hosts of ``urls`` were given up, each once."""
        with self._lock:
            found = (self._state(host_of(u)).excluded for u in urls)
            return list(dict.fromkeys(r for r in found if r))

    def usable(self, urls: list[str]) -> list[str]:
        """``urls`` whose host is not excluded."""
        with self._lock:
            return [u for u in urls if not self._state(host_of(u)).excluded]
