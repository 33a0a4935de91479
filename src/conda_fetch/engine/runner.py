"""The engine: many files at once, several connections per large file, retries,
verification, and a clean stop on Ctrl-C.

Two kinds of threads work together. A *file* thread follows one file through its
life (fetch, verify, hunt for bad bytes, deliver). A pool of *connection* threads
does the transfers: each time one is free it takes the piece of work that gains most,
from whichever file needs it (the most bytes for one more connection, so the largest
files start first and a released connection goes where it saves the most time),
within what each host can take (:class:`HostBoard`). A file of one request is first
tried on its own file thread, counted against the same limit of connections at work,
so a small file costs no hand-off. Many small files therefore have as many requests
in flight as there are connections (more on a far link: files, connections and
threads grow with the room far hosts earn), and a large file never runs on one
connection while others idle.

Plain files of one request go first to the quick lane (:mod:`~conda_fetch.engine.lane`),
one thread's event loop beside these threads, counted against the same connections; what
it gives back (anything unusual, any failed try) these threads take up where it left off.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable

from conda_fetch.engine.blame import cross_check, suspects
from conda_fetch.engine.download import SAMPLE_BYTES, Download, Segment
from conda_fetch.engine.errors import HostError, TransferError, in_words
from conda_fetch.engine.events import Listener, Progress
from conda_fetch.engine.hosts import SLOWER, HostBoard, host_of
from conda_fetch.engine.job import Job, Outcome
from conda_fetch.engine.lane import Lane
from conda_fetch.engine.lanefile import Failure
from conda_fetch.engine.options import Options
from conda_fetch.engine.session import HttpGetter
from conda_fetch.engine.transfer import Cancelled, fetch_segment, silence
from conda_fetch.hashing import file_digest
from conda_fetch.redact import redact

Deliver = Callable[[Job], object]  # what it returns is ignored
IDLE_POLL = 0.5


class Engine:
    """Fetches jobs into their part files, verifies them and hands them to ``deliver``."""

    def __init__(
        self,
        session: HttpGetter,
        options: Options | None = None,
        listener: Listener | None = None,
        ranking: dict[str, float] | None = None,
    ) -> None:
        self.session = session
        self.options = options or Options()
        self.listener = listener or Listener()
        self.board = HostBoard(self.options, ranking)
        self.active: list[Download] = []  # open files (for the display and for Ctrl-C)
        self._wanting: list[Download] = []  # files whose bytes connections are fetching
        self._stop = threading.Event()
        self._finished = False
        self._files_lock = threading.Lock()  # guards ``active``
        self._lock = threading.Lock()  # guards ``_wanting`` and the choice of work
        self._wake = threading.Condition(self._lock)  # idle connections wait here
        self._settle: dict[Download, threading.Condition] = {}  # each file thread waits here
        self._idle = 0
        self._open = 0  # files open
        self._room = threading.Condition(self._lock)  # file threads wait here for room
        self._busy = 0  # connections at work (on connection threads or a file's own)
        self._starved = False  # a file had bytes to fetch that found no room
        self._extra = 0  # room far hosts earned above ``files`` and ``connections``
        self._staff_lock = threading.Lock()  # guards the thread lists
        self._owners: list[threading.Thread] = []  # file threads
        self._workers: list[threading.Thread] = []  # connection threads
        self._files: Callable[[], None] = lambda: None  # what a file thread runs
        self._jobs = 0
        self._pending: queue.SimpleQueue[int] = queue.SimpleQueue()  # jobs not opened yet
        self._handed: dict[int, Failure | None] = {}  # jobs the lane gave back
        self._joined: dict[int, Download] = {}  # files the lane found large, opened
        self._lane_busy = False  # the quick lane may still give jobs back
        self._wanted: set[str] = set()  # hosts of files that would take one more connection:
        # the quick lane leaves the next one those hosts free to them (see _pick)

    def run(self, jobs: Iterable[Job], deliver: Deliver) -> list[Outcome]:
        """Fetch every job, largest first; return their outcomes in the order given. An
        engine runs one batch at a time, and may run several in turn (what it learnt of
        the hosts carries over)."""
        jobs = list(jobs)
        with self._lock:
            self._finished = False
        pending = self._pending = queue.SimpleQueue()
        outcomes: list[Outcome | None] = [None] * len(jobs)
        lane = self._lane(outcomes, pending, deliver)
        for index in sorted(range(len(jobs)), key=lambda i: -(jobs[i].size or 0)):
            if lane is None or not lane.take(index, jobs[index]):
                pending.put(index)

        def files() -> None:
            index = self._open_next(pending)
            while index is not None:
                try:
                    outcomes[index] = self._one(jobs[index], deliver,
                                                self._handed.pop(index, None),
                                                self._joined.pop(index, None))
                finally:
                    index = self._open_again(pending)

        self._files, self._jobs = files, pending.qsize()  # the lane's come when given back
        self._owners, self._workers = [], []
        self._lane_busy = bool(lane)
        quick = _thread(self._run_lane(lane), "quick-lane") if lane else None
        self._staff()
        try:
            if quick is not None:
                while quick.is_alive():
                    quick.join(0.2)
            done = 0
            while done < len(self._owners):  # the list grows while far hosts earn room
                while self._owners[done].is_alive():
                    self._owners[done].join(0.2)
                done += 1
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            with self._lock:
                self._finished = True
                self._wake.notify_all()
        for connection in self._workers:
            connection.join()
        for download in self._joined.values():  # stopped before a file thread took it
            _keep_progress(download)
            download.close()
        self._joined.clear()
        return [o for o in outcomes if o is not None]

    def _lane(self, outcomes: list[Outcome | None], pending: queue.SimpleQueue[int],
              deliver: Deliver) -> Lane | None:
        """A quick lane for this batch, if the session lets one speak to its connections."""
        plain = getattr(self.session, "plain_request", None)
        if not callable(plain):
            return None
        return Lane(plain, self.board, self.options, self._stop,
                    _Desk(self, outcomes, pending), deliver)

    def _run_lane(self, lane: Lane) -> Callable[[], None]:
        def run() -> None:
            try:
                lane.run()
            finally:
                with self._lock:
                    self._lane_busy = False
                    self._room.notify_all()
        return run

    def _staff(self) -> None:
        """Start the file and connection threads the run may use now (more while far hosts
        earn room, or as the quick lane gives files back; none is started for nothing)."""
        with self._staff_lock:
            while len(self._owners) < min(self.options.files + self._extra, self._jobs):
                self._owners.append(_thread(self._files, f"file-{len(self._owners)}"))
            while self._owners and len(self._workers) < self.options.connections + self._extra:
                self._workers.append(_thread(self._connection,
                                             f"connection-{len(self._workers)}"))

    def _open_next(self, pending: queue.SimpleQueue[int]) -> int | None:
        """The next job's index once a file may be opened (``files``, and more while far
        hosts earn room), counted as open; ``None`` when none is left or we stop."""
        with self._lock:
            while not self._stop.is_set():
                if self._open < self._file_room():
                    try:
                        index = pending.get_nowait()
                    except queue.Empty:
                        if not self._lane_busy:
                            self._room.notify_all()  # the others waiting for room end too
                            return None
                    else:
                        self._open += 1
                        return index
                self._room.wait(IDLE_POLL)
            return None

    def _open_again(self, pending: queue.SimpleQueue[int]) -> int | None:
        """After a file closed: the next job's index, kept open in its place while the
        room allows (no thread waits and wakes another for it); else the place is given
        up and :meth:`_open_next` decides."""
        with self._lock:
            if self._open <= self._file_room() and not self._stop.is_set():
                with contextlib.suppress(queue.Empty):
                    return pending.get_nowait()
            self._open -= 1
            self._room.notify()
        return self._open_next(pending)

    def _file_room(self) -> int:
        """How many files may be open now: fewer while every host is quick (see
        :class:`HostBoard`), more while far hosts earn room."""
        room = self.options.files + self._extra
        return min(room, self.options.quick) if self.board.quick() else room

    def stop(self, grace: float = 2.0) -> None:
        """Stop all transfers and save every file's progress for the next run."""
        with self._lock:
            self._stop.set()
            self._wake.notify_all()
            self._room.notify_all()
            for settle in self._settle.values():
                settle.notify_all()
        deadline = time.monotonic() + grace
        while self.active and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._files_lock:  # no file closes meanwhile
            for download in self.active:
                download.checkpoint()

    # -- one file ---------------------------------------------------------------
    def _one(self, job: Job, deliver: Deliver, failure: Failure | None = None,
             download: Download | None = None) -> Outcome:
        """Fetch, verify and deliver one file (after its ``failure`` in the quick lane, or
        as the ``download`` it opened); any error is that file's failure."""
        if download is None:
            started = failure.began if failure is not None else time.monotonic()
            try:
                download = Download(job, self.options)
            except OSError as exc:
                return self._finish(Outcome(job=job, ok=False, error=in_words(exc),
                                            seconds=time.monotonic() - started))
            download.started_at = started
        download.on_sample = lambda seg: self._sample(download, seg)
        with self._files_lock:
            self.active.append(download)
        try:
            self.listener.started(download)
            checked = self._after_lane(download, failure)
            self._fetch_verified(download, deliver, checked)
        except Exception as exc:
            download.fail(in_words(exc))
            _keep_progress(download)
        finally:
            with self._files_lock:
                self.active.remove(download)
                download.close()
        return self._finish(Outcome(
            job=job,
            ok=download.error is None,
            error=download.error,
            size=download.size,
            fetched=download.fetched,
            resumed=download.resumed,
            seconds=time.monotonic() - download.started_at,
            faults=download.faults,
            recovered=download.recovered,
            blamed=download.blamed,
        ))

    def _finish(self, outcome: Outcome) -> Outcome:
        self.listener.finished(outcome)
        return outcome

    def _after_lane(self, download: Download, failure: Failure | None) -> int:
        """Count a try that failed in the quick lane as one of this file's own; how many
        of its checksum's tries it used."""
        if failure is None:
            return 0
        if failure.problem is not None:
            download.count_fault("verify")
            self.listener.fault(download, "verify", failure.problem)
            return 1
        download.adopt(failure.url, failure.kept)
        if failure.error is not None:
            seg = Segment(pos=failure.kept, end=download.size, url=failure.url,
                          began=failure.began)
            self._failed(download, seg, failure.error)
        return 0

    def _fetch_verified(self, download: Download, deliver: Deliver, checked: int = 0) -> None:
        """Fetch and verify ``download`` (``checked``: checksum tries already used) and
        deliver it."""
        problem = ""
        for _ in range(checked, self.options.verify_retries + 1):
            self._fetch(download)
            download.saved()
            if self._stop.is_set():
                download.checkpoint()
                download.fail("interrupted")
                return
            if download.failed():
                download.checkpoint()
                return
            problem = _verify(download) or ""
            if not problem or self._hunt(download, problem):
                _deliver(download, deliver)
                return
            download.count_fault("verify")
            self.listener.fault(download, "verify", problem)
            download.restart()
        download.fail(f"{problem}; gave up after {self.options.verify_retries + 1} attempts")
        download.part.discard()

    def _hunt(self, download: Download, problem: str) -> bool:
        """After a checksum mismatch, find the source of the bad bytes when several could be
        (see :mod:`blame`), fetch its ranges again from the others, and exclude it."""
        if len(download.served) < 2 and len(self.board.usable(download.candidates())) < 2:
            return False
        self.listener.fault(download, "verify", f"{problem}; finding the source of the bad bytes")
        download.count_fault("verify")
        if self._refetch_excluded(download):
            return True
        for suspect in suspects(self.session, dict(download.served),
                                lambda url: self._witnesses(download, url), download.fd,
                                self.options.stall_seconds, self.board.borrowed):
            if self._refetch_excluded(download):  # another file caught one meanwhile
                return True
            others = [u for u in download.candidates() if host_of(u) != host_of(suspect)]
            if not self.board.usable(others):
                continue  # no one left to serve its ranges: the culprit is another
            download.forget(suspect)
            download.set_avoid({host_of(suspect)})
            self._fetch(download)
            download.set_avoid(set())
            if download.failed() or self._stop.is_set():
                return False
            if _verify(download) is None:
                self._blame(download, suspect)
                return True
        return False

    def _refetch_excluded(self, download: Download) -> bool:
        """Ranges served by hosts excluded meanwhile (another file caught them) are fetched
        again from the rest first; whether the file then verifies."""
        excluded = [url for url in list(download.served) if not self.board.usable([url])]
        if not excluded:
            return False
        for url in excluded:
            download.forget(url)
        self._fetch(download)
        return not download.failed() and _verify(download) is None

    def _sample(self, download: Download, seg: Segment) -> None:
        """``seg`` holds its first bytes: the check waiting for them compares them, else
        one is started (once per host, for a host not trusted yet)."""
        if seg.sample is not None:
            seg.sample.set()
            return
        witnesses = self._witnesses(download, seg.url)
        if not witnesses:
            self.board.trust(seg.url)  # no one to compare with: nothing to wait for
        elif not self.board.trusted(seg.url) and self.board.claim_check(seg.url):
            self._start_check(download, seg, witnesses)

    def _check_early(self, download: Download, seg: Segment) -> None:
        """Compare the first bytes each host serves with another host's copy, once per host
        and in the background, so a mirror that corrupts often is caught within its first
        segment instead of after the whole file failed its checksum. The check starts when
        the host answers: the witness's copy is asked for while the host's bytes arrive."""
        witnesses = self._witnesses(download, seg.url)
        if witnesses and self.board.claim_check(seg.url):
            seg.sample = threading.Event()
            self._start_check(download, seg, witnesses)

    def _start_check(self, download: Download, seg: Segment, witnesses: list[str]) -> None:
        check = threading.Thread(target=self._cross_check, daemon=True, name="cross-check",
                                 args=(download, seg, witnesses))
        download.add_check(check)
        check.start()

    def _witnesses(self, download: Download, url: str) -> list[str]:
        """The file's other hosts that could confirm what ``url`` served, fastest first."""
        usable = self.board.usable(download.candidates())
        return self.board.fastest([u for u in usable if host_of(u) != host_of(url)])

    def _cross_check(self, download: Download, seg: Segment, witnesses: list[str]) -> None:
        """Compare the first bytes ``seg`` brought: blame a culprit a third host names;
        trust the hosts whose bytes agreed (its own too when none could compare)."""
        url = seg.url
        culprits, witness = cross_check(
            self.session, url, witnesses, download.fd, seg.start, seg.start + SAMPLE_BYTES,
            self.options.stall_seconds, self.board.borrowed, lambda: _sampled(seg))
        if _sampled(seg) == seg.start:  # it brought nothing: the host's next bytes are checked
            self.board.unclaim_check(url)
        elif self.board.usable([url]):  # else caught meanwhile: its bytes may be gone
            self._judge(download, url, culprits, witness)
        self._poke(download)

    def _judge(self, download: Download, url: str, culprits: list[str],
               witness: str | None) -> None:
        if len(culprits) == 1 and not (download.distrusted or download.failed()):
            download.distrust(culprits[0])
            self._blame(download, culprits[0])
        if culprits != [url]:
            self.board.trust(url)
        if witness is not None and not culprits:
            self.board.trust(witness)  # it served the same bytes: confirmed as well

    def _blame(self, download: Download, url: str) -> None:
        """Exclude ``url``'s host for the run; every open file fetches what it served again."""
        self.board.exclude(url, "served corrupt bytes")
        with self._files_lock:
            others = [d for d in self.active if d is not download]
        for other in others:
            other.distrust_host(host_of(url))
        host = redact(host_of(url))
        if download.blame(host):
            self.listener.fault(download, "corrupt", f"{host} served corrupt bytes; not used again")

    def _fetch(self, download: Download) -> None:
        """Let connections work on ``download`` until every byte is on disk (and every
        cross-check of it has answered), the file failed, or we stop. A file of one
        request (or of unknown size: one request asks for its first piece and learns it)
        is first tried on this thread, when a connection is free: no hand-off to a
        connection thread and back. It is offered to the connections meanwhile, so a
        large one is split as soon as its answer tells its size."""
        first = (download.small() or download.size is None) and not download.resume_at
        while True:
            with self._lock:
                self._wanting.append(download)
                settle = self._settle[download] = threading.Condition(self._lock)
                task = self._own(download) if first else None
                if task is None:
                    self._wake.notify()
            first = False
            if task is not None:
                try:
                    self._attempt(download, task)
                finally:
                    self._poke(download)
            with self._lock:
                while not self._settled(download):
                    settle.wait(IDLE_POLL)
                self._wanting.remove(download)
                del self._settle[download]
            check = download.take_check()
            if check is None:
                break
            while check is not None:  # a check may set a culprit's ranges aside: go again
                check.join()
                check = download.take_check()
        if not download.complete():
            download.checkpoint()

    def _own(self, download: Download) -> Segment | None:
        """A segment of ``download`` for its own thread, if a connection is free for it,
        counted as at work. Called with the lock held."""
        task = self._take(download) if self._busy < self._connections() else None
        if task is not None:
            self._busy += 1
        return task

    def _connections(self) -> int:
        """How many connections may be at work now."""
        return self.options.connections + self._extra

    def _settled(self, download: Download) -> bool:
        """Nothing more for connections to do on ``download`` now."""
        if download.segments:
            return False
        return self._stop.is_set() or download.failed() or download.complete()

    # -- connections ----------------------------------------------------------------
    def _connection(self) -> None:
        """One connection's loop: take the most useful piece of work, fetch it, repeat."""
        while True:
            task = self._next_task()
            if task is None:
                return
            download, seg = task
            try:
                self._attempt(download, seg)
            finally:
                self._poke(download)

    def _opened(self, download: Download, seg: Segment) -> None:
        """An answer arrived: its host's lowered cap climbs (see :meth:`HostBoard.accepted`);
        a host not trusted yet has its first bytes checked while they arrive; a file that
        may now be split, or any file if the host has more room, is offered to idle
        connections."""
        grew = self.board.accepted(seg.url)
        if not self.board.trusted(seg.url):
            self._check_early(download, seg)
        if self._idle and (grew or not download.tiny()):
            with self._lock:
                self._wake.notify()  # it wakes the next if it found work (see _next_task)

    def _poke(self, download: Download) -> None:
        """A connection's work on ``download`` ended: wake its file thread when
        connections have nothing left to do on it, and an idle connection when a file
        waits for the room or ``download`` has a range to fetch again."""
        self._stir(download, seat=True)

    def _stir(self, download: Download, seat: bool) -> None:
        """:meth:`_poke`; ``seat``: the connection is counted as at work no more."""
        settled = self._settled(download)
        with self._lock:
            self._busy -= seat
            if self._idle and (self._starved or not settled):
                self._wake.notify()
            settle = self._settle.get(download)
            if settled and settle is not None:
                settle.notify_all()

    def _next_task(self) -> tuple[Download, Segment] | None:
        """Wait for a piece of work this connection may take, counted as at work, while
        fewer than :meth:`_connections` are; ``None`` when the run ends."""
        with self._lock:
            while not (self._stop.is_set() or self._finished):
                if self._busy < self._connections():
                    task, wait = self._pick()
                else:
                    task, wait, self._starved = None, IDLE_POLL, True
                    self._wanted = {host_of(u) for d in self._wanting if d.share()
                                    for u in d.candidates()}
                if task is not None:
                    self._busy += 1
                    if self._idle:
                        self._wake.notify()  # a chain: each that finds work wakes one more
                    return task
                self._idle += 1
                self._wake.wait(wait)
                self._idle -= 1
        return None

    def _pick(self) -> tuple[tuple[Download, Segment] | None, float]:
        """The claimed segment that gains most, with its URL taken on the board; else
        nothing and how long to wait before looking again. A file whose try failed and
        that waits with no connection comes first: it gains everything, as its retry
        would otherwise wait for the bulk of the run. Called with the lock held."""
        now = time.monotonic()
        wait = IDLE_POLL
        self._starved = False
        self._wanted = set()
        ranked: list[tuple[bool, int, Download]] = []
        for download in self._wanting:
            share = download.share()
            if not share:
                continue
            candidates = download.candidates()
            if not self.board.usable(candidates) and download.avoid:
                download.set_avoid(set())  # hunting, and the others were excluded meanwhile
                candidates = download.candidates()
            if not self.board.usable(candidates):
                download.fail(self._no_source(download, candidates))
                self._settle[download].notify_all()
                continue
            if download.resume_at > now:
                wait = min(wait, download.resume_at - now)
                continue
            self._wanted.update(host_of(u) for u in candidates)  # taken or not, it wants more
            if self.board.has_room(candidates):
                ranked.append((download.retrying(), share, download))
            elif (aside := self.board.wait(candidates)) > 0:  # else busy: a release wakes us
                wait = min(wait, aside)
            else:
                self._starved = True
        ranked.sort(key=lambda item: (not item[0], -item[1]))
        for n, (_, _, download) in enumerate(ranked):
            seg = self._take(download)
            if seg is not None:
                self._starved = self._starved or n + 1 < len(ranked)
                return (download, seg), 0.0
            self._starved = True
        return None, wait

    def _take(self, download: Download) -> Segment | None:
        """A segment of ``download`` claimed, with its URL taken on the board, if one of
        its hosts has room. Called with the lock held."""
        candidates = download.candidates()
        url = self.board.take(candidates)
        if url is None:
            return None
        # a host still failing may take free bytes, not a running connection's rest
        seg = download.claim(steal=not self.board.failing(url),
                             floor=self.board.piece_floor(url), host_rate=self.board.speed(url))
        if seg is None:
            self.board.untake(url)
            return None
        seg.url = url
        if len({host_of(u) for u in candidates}) > 1:
            self._fit(download, seg, candidates)
        return seg

    def _fit(self, download: Download, seg: Segment, candidates: list[str]) -> None:
        """Short pieces for a host not trusted yet; a piece for one ``SLOWER`` times slower
        per connection than the file's fastest host cut to what it carries while that one
        would carry the whole piece (a slow mirror never holds a file's last bytes long)."""
        if not self.board.trusted(seg.url):
            download.shorten(seg, SAMPLE_BYTES)
        elif (pace := self.board.pace(seg.url, candidates)) * SLOWER < 1:
            length = seg.remaining() or self.options.min_split
            download.shorten(seg, max(SAMPLE_BYTES, int(length * pace)))

    def _no_source(self, download: Download, candidates: list[str]) -> str:
        reasons = [*download.bad_urls.values(), *self.board.reasons(candidates)]
        return f"no source left for this file ({redact('; '.join(reasons) or 'none given')})"

    def _attempt(self, download: Download, seg: Segment) -> None:
        """Fetch ``seg`` from its URL; any failure is counted where it belongs."""
        error: TransferError | None = None
        try:
            fetch_segment(self.session, download, seg, self._stop,
                          lambda: self._opened(download, seg))
        except Cancelled:
            pass
        except TransferError as exc:
            error = exc
        except Exception as exc:
            download.fail(in_words(exc))
        finally:
            if seg.abandoned:
                error = silence(seg, self.options)
            if seg.sample is not None:
                seg.sample.set()  # its check compares what it brought
            download.release(seg)
            now = time.monotonic()
            self.board.release(seg.url, seg.pos - seg.start, now - seg.began, error,
                               seg.answered, seg.network_time(now), seg.delay,
                               waiting=not self._pending.empty())
            self._follow_extra()
        if error is not None:
            self._failed(download, seg, error)
        elif seg.pos > seg.start:
            download.succeeded()

    def _follow_extra(self) -> None:
        """Open more files and wake more connections when far hosts earned room (fewer
        when they lost it: those beyond wait)."""
        extra = self.board.extra()
        if extra != self._extra:
            with self._lock:
                self._extra = extra
                self._room.notify_all()
                self._wake.notify()
            self._staff()

    def _failed(self, download: Download, seg: Segment, error: TransferError) -> None:
        """Count a failed try, say what happens next, and hold the file until its hosts
        may be tried again."""
        if isinstance(error, HostError):
            self.board.exclude(seg.url, str(error))
        sources = self.board.usable(download.candidates())
        download.note_failure(seg, error, sources)
        if not sources:
            download.fail(self._no_source(download, download.candidates()))
        wait = self.board.wait(download.candidates())
        download.resume_at = time.monotonic() + wait
        self.listener.fault(download, error.kind, self._next_step(download, seg, error, wait))

    def _next_step(self, download: Download, seg: Segment, error: TransferError,
                   wait: float) -> str:
        """``error`` in words, with what is done next: a retry when, or giving up."""
        if self.board.reasons([seg.url]):
            return f"{error}; host given up for this run"
        if download.failed() or error.permanent:
            return f"{error}; not retried"
        tries = download.tries(seg.url)
        when = "now" if wait < 0.05 else f"in {wait:.1f} s" if wait < 10 else f"in {wait:.0f} s"
        return f"{error}; try {tries + 1} of {self.options.retries + 1} {when}"


def _thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _sampled(seg: Segment) -> int:
    """Wait until ``seg`` holds its first bytes (or ended); where they end."""
    if seg.sample is not None:
        seg.sample.wait()
    return min(seg.pos, seg.start + SAMPLE_BYTES)


def _keep_progress(download: Download) -> None:
    """Save what was fetched, if the disk still lets us."""
    with contextlib.suppress(OSError):
        download.checkpoint()


def _deliver(download: Download, deliver: Deliver) -> None:
    try:
        deliver(download.job)
    except Exception as exc:
        download.fail(f"verified, but could not be placed: {in_words(exc)}")
    else:
        download.part.forget_state()


def _verify(download: Download) -> str | None:
    """Why the part file is not the file the job describes, or ``None``."""
    job = download.job
    size = download.on_disk()
    if download.size is not None and size > download.size:
        download.truncate(download.size)
        size = download.size
    if job.size is not None and size != job.size:
        return f"size {size} differs from expected {job.size}"
    if job.digest is None:
        return None
    return job.digest_problem(download.digest() or file_digest(job.part, job.digest[0]))


class _Desk:
    """What the quick lane asks of the engine (see :class:`~conda_fetch.engine.lane.Desk`)."""

    def __init__(self, engine: Engine, outcomes: list[Outcome | None],
                 pending: queue.SimpleQueue[int]) -> None:
        self._engine, self._outcomes, self._pending = engine, outcomes, pending

    def started(self, progress: Progress) -> None:
        self._engine.listener.started(progress)

    def idle(self) -> bool:
        engine = self._engine
        with engine._lock:
            return engine._busy < engine._connections()

    def seat(self, url: str) -> bool:
        engine = self._engine
        with engine._lock:
            if engine._busy >= engine._connections() or host_of(url) in engine._wanted:
                return False
            engine._busy += 1
            return True

    def unseat(self, url: str) -> None:
        engine = self._engine
        with engine._lock:
            engine._busy -= 1
            if engine._idle and (engine._starved or engine._wanted):
                engine._wake.notify()
        engine._follow_extra()

    def give_back(self, index: int, failure: Failure | None) -> None:
        with self._engine._lock:
            self._engine._handed[index] = failure
        self._hand(index)

    def join(self, index: int, download: Download) -> None:
        with self._engine._lock:
            self._engine._joined[index] = download
        self._hand(index)

    def _hand(self, index: int) -> None:
        """Job ``index`` waits for a file thread (one is started if none may take it)."""
        engine = self._engine
        with engine._lock:
            engine._jobs += 1
            self._pending.put(index)
            engine._room.notify()
        engine._staff()

    def settle(self, download: Download) -> None:
        self._engine._stir(download, seat=False)

    def failed(self, download: Download, seg: Segment, error: TransferError) -> None:
        self._engine._failed(download, seg, error)

    def done(self, index: int, outcome: Outcome) -> None:
        self._outcomes[index] = outcome
        self._engine._finish(outcome)
