"""What the engine is asked to fetch, and what it reports back."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from conda_fetch.hashing import Expected


@dataclass(frozen=True)
class Job(Expected):
    """One file: the URLs that serve it (best first), where its unfinished data
    lives, and what the finished file must be (:class:`Expected`, by keyword).

    A ``validator`` is sent as ``If-Range`` with every ranged request: the server
    answers the range only while the file is still that version, so two versions
    are never spliced (a changed file fails with a ``changed`` fault)."""

    name: str
    urls: list[str]
    part: Path
    validator: str | None = None  # a file that may change (an index): its ETag or Last-Modified


@dataclass
class Outcome:
    """How one job ended. ``fetched`` counts bytes received over the wire;
    ``resumed`` the bytes an earlier run had already saved; ``faults`` every failed try
    by kind, ``recovered`` those followed by progress; ``blamed`` the hosts caught
    serving corrupt bytes."""

    job: Job
    ok: bool
    error: str | None = None
    size: int | None = None
    fetched: int = 0
    resumed: int = 0
    seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    recovered: int = 0
    blamed: list[str] = field(default_factory=list)
