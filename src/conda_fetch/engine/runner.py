"""The engine: many files at once, several connections per large file, retries,
verification, and a clean stop on Ctrl-C."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable

import requests

from conda_fetch.engine.blame import cross_check, suspects
from conda_fetch.engine.download import SAMPLE_BYTES, Download, Segment
from conda_fetch.engine.events import Listener
from conda_fetch.engine.job import Job, Outcome
from conda_fetch.engine.hosts import HostBoard, host_of
from conda_fetch.engine.options import Options
from conda_fetch.engine.errors import TransferError
from conda_fetch.engine.transfer import Cancelled, fetch_segment
from conda_fetch.hashing import file_digest
from conda_fetch.redact import redact

Deliver = Callable[[Job], object]  # what it returns is ignored
BUSY_POLL = 0.1


class Engine:
    """Fetches jobs into their part files, verifies them and hands them to ``deliver``."""

    def __init__(
        self,
        session: requests.Session,
        options: Options | None = None,
        listener: Listener | None = None,
        ranking: dict[str, float] | None = None,
    ) -> None:
        self.session = session
        self.options = options or Options()
        self.listener = listener or Listener()
        self.board = HostBoard(self.options, ranking)
        self.active: list[Download] = []
        self._slots = threading.BoundedSemaphore(self.options.connections)
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def run(self, jobs: Iterable[Job], deliver: Deliver) -> list[Outcome]:
        """Fetch every job; return their outcomes in the order given."""
        jobs = list(jobs)
        pending: queue.SimpleQueue[tuple[int, Job]] = queue.SimpleQueue()
        for item in enumerate(jobs):
            pending.put(item)
        outcomes: list[Outcome | None] = [None] * len(jobs)

        def slot() -> None:
            while not self._stop.is_set():
                try:
                    index, job = pending.get_nowait()
                except queue.Empty:
                    return
                outcomes[index] = self._one(job, deliver)

        workers = [
            threading.Thread(target=slot, name=f"file-{n}", daemon=True)
            for n in range(min(self.options.files, len(jobs)))
        ]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                while worker.is_alive():
                    worker.join(0.2)
        except KeyboardInterrupt:
            self.stop()
            raise
        return [o for o in outcomes if o is not None]

    def stop(self, grace: float = 2.0) -> None:
        """Stop all transfers and save every file's progress for the next run."""
        self._stop.set()
        deadline = time.monotonic() + grace
        while self.active and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:  # no file closes meanwhile
            for download in self.active:
                download.checkpoint()

    # -- one file ---------------------------------------------------------------
    def _one(self, job: Job, deliver: Deliver) -> Outcome:
        download = Download(job, self.options)
        download.on_sample = lambda seg: self._sample(download, seg)
        with self._lock:
            self.active.append(download)
        self.listener.started(download)
        try:
            self._fetch_verified(download, deliver)
        finally:
            with self._lock:
                self.active.remove(download)
                download.close()
        outcome = Outcome(
            job=job,
            ok=download.error is None,
            error=download.error,
            size=download.size,
            fetched=download.fetched,
            resumed=download.resumed,
            seconds=time.monotonic() - download.started_at,
            faults=download.faults,
            blamed=download.blamed,
        )
        self.listener.finished(outcome)
        return outcome

    def _fetch_verified(self, download: Download, deliver: Deliver) -> None:
        for _ in range(self.options.verify_retries + 1):
            self._fetch(download)
            if self._stop.is_set():
                download.checkpoint()
                download.fail("interrupted")
                return
            if download.failed():
                download.checkpoint()
                return
            problem = _verify(download)
            if problem is None or self._hunt(download, problem):
                _deliver(download, deliver)
                return
            download.faults["verify"] += 1
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
        download.faults["verify"] += 1

        for suspect in suspects(self.session, dict(download.served),
                                lambda url: self._witnesses(download, url), download.fd,
                                self.options.stall_seconds):
            download.forget(suspect)
            download.avoid = {host_of(suspect)}
            self._fetch(download)
            download.avoid = set()
            if download.failed() or self._stop.is_set():
                return False
            if _verify(download) is None:
                self._blame(download, suspect)
                return True
        return False

    def _sample(self, download: Download, seg: Segment) -> None:
        """Compare the first bytes each host serves with another host's copy, once per host
        and in the background, so a mirror that corrupts often is caught within its first
        segment instead of after the whole file failed its checksum."""
        witnesses = self._witnesses(download, seg.url)
        if witnesses and self.board.claim_check(seg.url):
            check = threading.Thread(target=self._cross_check, daemon=True, name="cross-check",
                                     args=(download, seg.url, seg.start, witnesses))
            download.checks.append(check)
            check.start()

    def _witnesses(self, download: Download, url: str) -> list[str]:
        """The file's other hosts that could confirm what ``url`` served, fastest first."""
        usable = self.board.usable(download.candidates())
        return self.board.fastest([u for u in usable if host_of(u) != host_of(url)])

    def _cross_check(self, download: Download, url: str, start: int, witnesses: list[str]) -> None:
        culprits = cross_check(self.session, url, witnesses, download.fd, start,
                               start + SAMPLE_BYTES, self.options.stall_seconds)
        if len(culprits) == 1 and not (download.distrusted or download.failed()):
            download.distrust(culprits[0])
            self._blame(download, culprits[0])

    def _blame(self, download: Download, url: str) -> None:
        host = redact(host_of(url))
        if host in download.blamed:
            return
        self.board.exclude(url, "served corrupt bytes")
        download.blamed.append(host)
        download.faults["corrupt"] += 1
        self.listener.fault(download, "corrupt", f"{host} served corrupt bytes; not used again")

    def _fetch(self, download: Download) -> None:
        """Run connections until every byte is on disk (and every cross-check of it has
        answered), the file failed, or we stop."""
        helpers: list[threading.Thread] = []
        while True:
            while not (self._stop.is_set() or download.failed() or download.complete()):
                self._work(download, lambda: self._spawn(download, helpers))
                for helper in helpers:
                    helper.join()
                helpers.clear()
            if not download.checks:
                break
            while download.checks:  # a check may set a culprit's ranges aside: go again
                download.checks.pop().join()
        download.checkpoint()

    def _spawn(self, download: Download, helpers: list[threading.Thread]) -> None:
        alive = sum(h.is_alive() for h in helpers)
        for _ in range(self.options.split - 1 - alive):
            if not download.splittable():
                return
            helper = threading.Thread(
                target=self._work, args=(download, None), daemon=True, name="range"
            )
            helpers.append(helper)
            helper.start()

    def _work(self, download: Download, opened: Callable[[], None] | None) -> None:
        """One connection's loop: claim a segment, fetch it, retry after failures.

        The primary connection (``opened`` given) retries until the file is
        given up; a helper withdraws after two failures in a row without progress.
        """
        idle_failures = 0
        while not self._stop.is_set():
            if not self._acquire_slot():
                return
            try:
                if opened is None and not self.board.has_room(download.candidates()):
                    return  # a helper without a host to use would only cut others' ranges
                seg = download.claim()
                if seg is None:
                    return
                error = self._attempt(download, seg, opened)
            finally:
                self._slots.release()
            if download.failed():
                return
            if error is not None:
                idle_failures = 0 if seg.pos > seg.start else idle_failures + 1
                if opened is None and idle_failures >= 2:
                    return
            if error is not None or not seg.url:
                self._stop.wait(self._pause(download, seg))

    def _pause(self, download: Download, seg: Segment) -> float:
        """How long to wait before the next try: until a host set aside after failing (for
        its ``Retry-After`` or backoff) is ready again, or a moment when hosts were busy."""
        wait = self.board.wait(download.candidates())
        return wait if seg.url else max(wait, BUSY_POLL)

    def _choose(self, download: Download) -> str | None:
        """A URL for the next connection, or ``None`` to wait (hosts busy or set aside)."""
        usable = self.board.usable(download.candidates())
        if not usable:
            reasons = "; ".join(download.bad_urls.values()) or "every source was excluded"
            download.fail(f"no source left for this file ({redact(reasons)})")
            return None
        return self.board.take(usable)

    def _attempt(
        self, download: Download, seg: Segment, opened: Callable[[], None] | None
    ) -> TransferError | None:
        """Fetch ``seg`` from the URL the board chooses (none: ``seg.url`` stays empty)."""
        seg.url = self._choose(download) or ""
        if not seg.url:
            download.release(seg)
            return None
        started = time.monotonic()
        error: TransferError | None = None
        try:
            fetch_segment(self.session, download, seg, self._stop, opened)
        except Cancelled:
            pass
        except TransferError as exc:
            error = exc
            download.note_failure(seg, exc, self.board.usable(download.candidates()))
            self.listener.fault(download, exc.kind, str(exc))
        finally:
            download.release(seg)
            self.board.release(seg.url, seg.pos - seg.start, time.monotonic() - started, error)
        return error

    def _acquire_slot(self) -> bool:
        while not self._stop.is_set():
            if self._slots.acquire(timeout=0.2):
                return True
        return False


def _deliver(download: Download, deliver: Deliver) -> None:
    try:
        deliver(download.job)
    except Exception as exc:  # noqa: BLE001 - reported as this file's failure
        download.fail(f"verified, but could not be placed: {exc}")
    else:
        download.part.forget_state()


def _verify(download: Download) -> str | None:
    """Why the part file is not the file the job describes, or ``None``."""
    job = download.job
    size = os.fstat(download.fd).st_size
    if download.size is not None and size > download.size:
        os.ftruncate(download.fd, download.size)
        size = download.size
    if job.size is not None and size != job.size:
        return f"size {size} differs from expected {job.size}"
    os.fsync(download.fd)
    if job.digest is None:
        return None
    algorithm, expected = job.digest
    actual = file_digest(job.part, algorithm)
    if actual != expected:
        return f"{algorithm} mismatch: got {actual}, expected {expected}"
    return None
