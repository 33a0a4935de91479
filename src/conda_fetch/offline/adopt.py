"""Adopting package files fetched by hand: verify each against its record, then place it in
the cache exactly as a download would be placed."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from conda_fetch.cache import PackageCache
from conda_fetch.errors import CondaFetchError
from conda_fetch.files import copy_new, open_regular
from conda_fetch.hashing import file_digests
from conda_fetch.offline.archive import ArchiveError, PackageIdentity, read_identity
from conda_fetch.plan.records import Record

ADOPTED, PRESENT, REFUSED = "adopted", "already present", "refused"
ARIA2_CONTROL = ".aria2"  # aria2c's resume state, beside a file until it is complete
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

    ``mode``: ``copy`` (a reflink where the file system can, else the bytes: never a
    link to the original), ``move`` (renamed into the cache where it can be, else
    copied and removed once the cache holds it), or ``in-place`` (the file already is
    ``<pkgs>/<fn>``: it only gets its ``urls.txt`` line). A symlink is read for its
    target's bytes. What is verified is the staged copy that is then placed, under the
    file's claim. A refused file leaves the cache (and a moved original) unchanged.
    """
    if path.with_name(path.name + ARIA2_CONTROL).exists():
        return Verdict(path, REFUSED, reason="unfinished aria2 download (its .aria2 control "
                                             "file is beside it): run aria2c again to finish it")
    if mode == "in-place":
        return _adopt_in_place(path, cache, lookup)
    reason = _implausible(path, lookup)
    if reason is not None:
        return Verdict(path, REFUSED, reason=reason)
    staged = cache.workdir / f".import-{uuid.uuid4().hex}"
    try:
        renamed = _stage(path, staged, mode == "move")
        verdict = _place(path, staged, cache, lookup)
        if renamed and verdict.status != ADOPTED and staged.exists():
            os.replace(staged, path)  # the user's file goes back where it was
        elif mode == "move" and not renamed and verdict.status == ADOPTED:
            path.unlink(missing_ok=True)
        return verdict
    except OSError as exc:
        return Verdict(path, REFUSED, reason=f"cannot read or stage it: {exc.strerror or exc}")
    finally:
        staged.unlink(missing_ok=True)


def _place(path: Path, staged: Path, cache: PackageCache, lookup: Lookup) -> Verdict:
    record, reason = _identify(staged, lookup)
    if record is None:
        return Verdict(path, REFUSED, reason=reason)
    try:
        with cache.claimed(record):
            if cache.status(record):
                return Verdict(path, PRESENT, record)
            cache.commit(record, staged)
    except CondaFetchError as exc:
        return Verdict(path, REFUSED, record, str(exc))
    return Verdict(path, ADOPTED, record)


def _adopt_in_place(path: Path, cache: PackageCache, lookup: Lookup) -> Verdict:
    if path.is_symlink() or not path.is_file():
        return Verdict(path, REFUSED, reason="a link or not a regular file; conda needs the file")
    record, reason = _identify(path, lookup)
    if record is None:
        return Verdict(path, REFUSED, reason=reason)
    if path != cache.root / record.fn:
        return Verdict(path, REFUSED, record, f"named {path.name}, conda expects {record.fn}")
    try:
        with cache.claimed(record):
            cache.status(record)
    except CondaFetchError as exc:
        return Verdict(path, REFUSED, record, str(exc))
    return Verdict(path, ADOPTED, record)


def _identify(path: Path, lookup: Lookup) -> tuple[Record | None, str]:
    """The record ``path`` is, else why none is (without ``path``'s own name: the verdict
    names the user's file, and ``path`` may be the staged copy of it)."""
    try:
        identity = read_identity(path)
    except (ArchiveError, OSError) as exc:
        return None, str(exc).removeprefix(f"{path.name}: ")
    return match(path, identity, lookup(identity))


def _implausible(path: Path, lookup: Lookup) -> str | None:
    """Why ``path`` cannot be any record, judged without reading it whole (so a file that
    is no package is refused before it is copied); ``None`` when it may be one."""
    try:
        identity = read_identity(path)
    except (ArchiveError, OSError) as exc:
        return str(exc).removeprefix(f"{path.name}: ")
    candidates = lookup(identity)
    size = path.stat().st_size
    if any(c.size in (None, size) for c in candidates):
        return None
    return match(path, identity, candidates)[1]  # says why, before any hashing


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
    return None, (f"{algorithm} {digests[algorithm]} differs from the record's {expected} "
                  "(tampered or corrupt)")


def _stage(source: Path, staged: Path, move: bool) -> bool:
    """Put ``source``'s bytes at ``staged`` (a new file on the cache's file system); whether
    that was by renaming ``source``. Only a regular file with no other hard link is renamed:
    the cache never shares an inode with a file outside it."""
    if move and not source.is_symlink():
        with suppress(OSError):
            if os.stat(source).st_nlink == 1 and source.is_file():
                os.rename(source, staged)
                return True
    with open_regular(source) as stream:
        copy_new(stream, staged)
    return False
