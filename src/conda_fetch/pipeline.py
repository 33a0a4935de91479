"""The whole flow for a plan: records → sources → engine → cache, and its report."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import requests

from conda_fetch.cache import PackageCache
from conda_fetch.engine import Engine, Job, Listener, Options, Outcome
from conda_fetch.plan.records import Record
from conda_fetch.redact import redact
from conda_fetch.sources import candidates


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
    session: requests.Session,
    options: Options | None = None,
    listener: Listener | None = None,
    mirrors: Mapping[str, Sequence[str]] | None = None,
    ranking: dict[str, float] | None = None,
) -> Report:
    """Put every record into ``cache``: skip the ones already there, fetch the rest
    from each record's URL and its mirrors (``ranking``: known host speeds)."""
    started = time.monotonic()
    report = Report()
    todo: dict[str, Record] = {}
    for record in records:
        if cache.status(record):
            report.cached.append(record)
        else:
            todo[record.fn] = record
    jobs = [_job(record, cache, mirrors) for record in todo.values()]
    engine = Engine(session, options, listener, ranking)
    for outcome in engine.run(jobs, lambda job: cache.commit(todo[job.name], job.part)):
        record = todo[outcome.job.name]
        if outcome.ok:
            report.fetched.append((record, outcome))
        else:
            report.failed.append((record, outcome.error or "failed"))
    report.seconds = time.monotonic() - started
    return report


def _job(record: Record, cache: PackageCache, mirrors: Mapping[str, Sequence[str]] | None) -> Job:
    return Job(
        name=record.fn,
        urls=candidates(record.url, mirrors),
        part=cache.part_path(record),
        size=record.size,
        sha256=record.sha256,
        md5=record.md5,
    )
