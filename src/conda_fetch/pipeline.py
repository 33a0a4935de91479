"""The whole flow for a plan: records → sources → engine → cache, and its report."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conda_fetch.cache import CacheLockError, PackageCache
from conda_fetch.cache.claims import Claim, Claims
from conda_fetch.engine import Engine, Job, Listener, Options, Outcome
from conda_fetch.engine.partfile import state_path
from conda_fetch.engine.session import HttpGetter
from conda_fetch.plan.records import Record, stem
from conda_fetch.redact import redact
from conda_fetch.sources import candidates

CLAIM_BATCH = 1024
HOLDER_POLL = 0.2
HOLDER_IDLE_LIMIT = 600.0  # a process holding a file's lock without touching it: hung


@dataclass
class Report:
    """What a run did: records fetched now, found in the cache, or given up."""

    fetched: list[tuple[Record, Outcome]] = field(default_factory=list)
    cached: list[Record] = field(default_factory=list)
    failed: list[tuple[Record, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def bytes_fetched(self) -> int:
        return sum(outcome.fetched for _, outcome in self.fetched)

    def as_json(self) -> dict[str, object]:
        """A machine-readable summary (URLs redacted)."""
        return {
            "success": self.ok,
            "seconds": round(self.seconds, 3),
            "bytes_fetched": self.bytes_fetched,
            "fetched": [_entry(r, o) for r, o in self.fetched],
            "cached": [_entry(r) for r in self.cached],
            "failed": [{**_entry(r), "error": redact(e)} for r, e in self.failed],
        }


def _entry(record: Record, outcome: Outcome | None = None) -> dict[str, object]:
    entry: dict[str, object] = {
        "fn": record.fn,
        "url": redact(record.url),
        "size": record.size,
        "sha256": record.sha256,
        "md5": record.md5,
    }
    if outcome is not None:
        entry.update(
            fetched=outcome.fetched,
            resumed=outcome.resumed,
            seconds=round(outcome.seconds, 3),
            faults=dict(outcome.faults),
            blamed=outcome.blamed,
        )
    return entry


def fetch_into_cache(
    records: Iterable[Record],
    cache: PackageCache,
    session: HttpGetter,
    options: Options | None = None,
    listener: Listener | None = None,
    mirrors: Mapping[str, Sequence[str]] | None = None,
    ranking: dict[str, float] | None = None,
) -> Report:
    """Put every record into ``cache``: skip the ones already there, fetch the rest
    from each record's URL and its mirrors (``ranking``: known host speeds).

    Each file is fetched, verified and placed under its :meth:`PackageCache.claim`.
    Files another process is fetching wait until the rest are done; then they are
    found placed, or their part file is taken over where that process left it.
    """
    started = time.monotonic()
    report = Report()
    run = _Run(Engine(session, options, listener, ranking), cache, mirrors, report)
    try:
        with cache.grouped():
            todo = _todo(records, cache, report)
            busy = [r for batch in _batches(todo) for r in run.fetch(batch)]
            for batch in _batches(busy):
                run.fetch([record for record in batch if run.wait_for(record)])
    finally:
        run.release()
    report.seconds = time.monotonic() - started
    return report


def _batches(records: list[Record]) -> Iterator[list[Record]]:
    """``records`` in groups of :data:`CLAIM_BATCH`: a process claims only what it is about
    to fetch, so another process on the same cache can take the rest meanwhile. Each group
    ends with a tail where fewer files are in flight (about a round trip), so groups are
    large: a plan of up to 1024 files (nearly every environment) is one."""
    for start in range(0, len(records), CLAIM_BATCH):
        yield records[start:start + CLAIM_BATCH]


def _todo(records: Iterable[Record], cache: PackageCache, report: Report) -> list[Record]:
    """The records conda would download; the others go to ``report``. A record none of
    whose names (archive, extracted folder) the cache holds is not looked at further."""
    todo = []
    names = cache.names()
    for record in records:
        if record.fn not in names and stem(record.fn) not in names:
            todo.append(record)
        elif cache.status(record):
            report.cached.append(record)
        elif conflict := cache.foreign(record):
            report.failed.append((record, conflict))
        else:
            todo.append(record)
    return todo


@dataclass
class _Run:
    """One run's engine, cache, report and the claims it holds."""

    engine: Engine
    cache: PackageCache
    mirrors: Mapping[str, Sequence[str]] | None
    report: Report
    claims: dict[str, Claim] = field(default_factory=dict)
    checked: set[str] = field(default_factory=set)  # looked at under its claim already
    refused: set[str] = field(default_factory=set)  # their claim cannot be taken: failed

    def fetch(self, records: list[Record]) -> list[Record]:
        """Fetch the records that can be claimed now; returns those another process holds."""
        mine, busy = {}, []
        table = self._table(records)
        for record in records:
            claim = self.claims.pop(record.fn, None) or (
                table.take(record.fn) if table is not None else None)
            if claim is None:
                if record.fn not in self.refused:
                    busy.append(record)
            elif record.fn not in self.checked and self.cache.placed(record):
                claim.release()  # placed by another process since it was first looked at
                self.report.cached.append(record)
            else:
                self.claims[record.fn] = claim
                mine[record.fn] = record
        jobs = [_job(record, self.cache, self.mirrors) for record in mine.values()]
        self.engine.listener.queued(jobs)
        outcomes = self.engine.run(jobs, lambda job: self.cache.commit(mine[job.name], job.part))
        for outcome in outcomes:
            record = mine.pop(outcome.job.name)
            if outcome.ok:
                self.report.fetched.append((record, outcome))
            else:
                self.report.failed.append((record, outcome.error or "failed"))
        for record in mine.values():  # a file whose transfer ended without an outcome
            self.report.failed.append((record, "the transfer stopped without a result"))
        for job in jobs:
            self.claims.pop(job.name).release()  # never held while waiting for another
        return busy

    def _table(self, records: list[Record]) -> Claims | None:
        """The cache's claims file, looked up once for ``records``; ``None`` when it cannot
        be opened (a link planted there), which fails them all."""
        try:
            return self.cache.claims
        except CacheLockError as exc:
            for record in records:
                if record.fn not in self.claims:
                    self.report.failed.append((record, str(exc)))
                    self.refused.add(record.fn)
            return None

    def _claim(self, record: Record) -> Claim | None:
        """``record``'s claim, or ``None``: another process holds it, or it cannot be taken
        at all (a link planted where the lock file goes), which fails the file."""
        try:
            return self.cache.claim(record)
        except CacheLockError as exc:
            self.report.failed.append((record, str(exc)))
            self.refused.add(record.fn)
            return None

    def wait_for(self, record: Record) -> bool:
        """Wait while another process holds ``record``; whether it is still to fetch
        (``False``: found placed, or given up because the holder looks hung)."""
        part = self.cache.part_path(record)
        seen, since = _signs_of_life(part), time.monotonic()
        while (claim := self._claim(record)) is None:
            if record.fn in self.refused:
                return False
            now = _signs_of_life(part)
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since > HOLDER_IDLE_LIMIT:
                self.report.failed.append((record, f"another process holds {record.fn} and made "
                                                   f"no progress for {HOLDER_IDLE_LIMIT:.0f} s"))
                return False
            time.sleep(HOLDER_POLL)
        if self.cache.status(record):
            claim.release()
            self.report.cached.append(record)
            return False
        self.claims[record.fn] = claim
        self.checked.add(record.fn)
        return True

    def release(self) -> None:
        for claim in self.claims.values():
            claim.release()


def _signs_of_life(part: Path) -> tuple[int, int]:
    """Size and change time of a part file and its state: they move while someone works."""
    sizes, times = 0, 0
    for path in (part, state_path(part)):
        try:
            info = path.stat()
        except OSError:
            continue
        sizes, times = sizes + info.st_size, max(times, info.st_mtime_ns)
    return (sizes, times)


def _job(record: Record, cache: PackageCache, mirrors: Mapping[str, Sequence[str]] | None) -> Job:
    return Job(
        name=record.fn,
        urls=candidates(record.url, mirrors),
        part=cache.part_path(record),
        **record.expectations(),
    )
