"""Adopting package files fetched by hand: verify each against its record, then place it in
the cache exactly as a download would be placed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from conda_fetch.offline.archive import ArchiveError, PackageIdentity, read_identity
from conda_fetch.cache import PackageCache
from conda_fetch.hashing import file_digests
from conda_fetch.plan.records import Record

ADOPTED, PRESENT, REFUSED = "adopted", "already present", "refused"
Lookup = Callable[[PackageIdentity], Sequence[Record]]


@dataclass(frozen=True)
class Verdict:
    """What became of one file: adopted, already present, or refused with a reason."""

    path: Path
    status: str
    record: Record | None = None
    reason: str = ""


def plan_lookup(records: Iterable[Record]) -> Lookup:
    """Candidates from plans: same file name, and same subdir where the URL shows one."""
    by_fn: dict[str, list[Record]] = {}
    for record in records:
        by_fn.setdefault(record.fn, []).append(record)

    def lookup(identity: PackageIdentity) -> Sequence[Record]:
        return [r for r in by_fn.get(identity.fn, []) if r.subdir in (identity.subdir, "")]

    return lookup


def adopt(path: Path, cache: PackageCache, lookup: Lookup, mode: str = "copy") -> Verdict:
    """Verify ``path`` and put it in ``cache``.

    ``mode``: ``copy`` (a hard link when on the same file system), ``move``
    (the original goes once the cache holds the file), or ``in-place`` (the file
    already is ``<pkgs>/<fn>``: it only gets its ``urls.txt`` line).
    A refused file leaves the cache unchanged.
    """
    try:
        identity = read_identity(path)
    except (ArchiveError, OSError) as exc:
        return Verdict(path, REFUSED, reason=str(exc))
    record, reason = match(path, identity, lookup(identity))
    if record is None:
        return Verdict(path, REFUSED, reason=reason)
    if mode == "in-place" and path != cache.root / record.fn:
        return Verdict(path, REFUSED, record, f"named {path.name}, conda expects {record.fn}")
    if cache.status(record):
        return Verdict(path, PRESENT if mode != "in-place" else ADOPTED, record)
    staged = cache.workdir / f"{record.fn}.import-{os.getpid()}"
    try:
        _stage(path, staged)
        cache.commit(record, staged)
    finally:
        staged.unlink(missing_ok=True)
    if mode == "move":
        path.unlink(missing_ok=True)
    return Verdict(path, ADOPTED, record)


def match(path: Path, identity: PackageIdentity,
          candidates: Sequence[Record]) -> tuple[Record | None, str]:
    """The candidate ``path`` is, by size then checksum; else why none is."""
    where = f"{identity.subdir}/{identity.fn}"
    if not candidates:
        return None, f"matches no known record for {where}"
    size = path.stat().st_size
    sized = [c for c in candidates if c.size in (None, size)]
    if not sized:
        return None, f"size {size} differs from the record's {candidates[0].size} (truncated?)"
    checkable = [c for c in sized if c.digest is not None]
    if not checkable:
        return None, f"no checksum is known for {where} to verify it against"
    digests = file_digests(path)
    for candidate in checkable:
        algorithm, expected = candidate.digest  # type: ignore[misc]
        if digests[algorithm] == expected:
            return candidate, ""
    algorithm, expected = checkable[0].digest  # type: ignore[misc]
    return None, f"{algorithm} {digests[algorithm]} differs from the record's {expected} (tampered or corrupt)"


def _stage(source: Path, staged: Path) -> None:
    """Put ``source`` at ``staged`` on the cache's file system: a hard link where possible."""
    staged.unlink(missing_ok=True)
    try:
        os.link(source, staged)
    except OSError:
        shutil.copyfile(source, staged)
