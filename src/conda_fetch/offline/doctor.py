"""A health report on a package cache, and the fixes that are safe to make."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conda_fetch.cache import PackageCache
from conda_fetch.cache.urls import read_urls
from conda_fetch.engine.download import part_identity
from conda_fetch.engine.job import Job
from conda_fetch.engine.partfile import PartFile, RangeSet, saved
from conda_fetch.errors import InputError
from conda_fetch.hashing import mismatch
from conda_fetch.jsonfile import read_object
from conda_fetch.offline.adopt import ADOPTED, Lookup, adopt
from conda_fetch.offline.archive import ArchiveError, read_identity
from conda_fetch.plan.records import EXTENSIONS, Record, make_record, stem
from conda_fetch.units import human_bytes

INCOMPLETE = "incomplete archive"
UNREGISTERED = "archive without a urls.txt line"
UNFINISHED = "unfinished download"
BROKEN = "archive that no longer matches its record"
LOOSE = "extracted folder without its archive"
LINKED = "link in place of an archive"
_PLURAL = {
    INCOMPLETE: "incomplete archives",
    LINKED: "links in place of an archive",
    UNREGISTERED: "archives without a urls.txt line",
    BROKEN: "archives that no longer match their record",
    UNFINISHED: "unfinished downloads",
    LOOSE: "extracted folders without their archive",
}


def counted(kind: str, number: int) -> str:
    """``"1 unfinished download"``, ``"2 unfinished downloads"``."""
    return f"{number} {kind if number == 1 else _PLURAL[kind]}"


@dataclass(frozen=True)
class Finding:
    kind: str
    path: Path
    detail: str = ""
    record: Record | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path), "detail": self.detail,
                "url": self.record.url if self.record else None}


@dataclass
class Diagnosis:
    findings: list[Finding] = field(default_factory=list)
    space: dict[str, int] = field(default_factory=dict)

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]


Known = Callable[[str | None, str], Record | None]


def diagnose(cache: PackageCache, known: Known) -> Diagnosis:
    """Look at every entry of ``cache``. ``known(url, fn)`` gives a record to check an
    archive against when its extracted folder has none (``url`` is ``None`` for an
    archive ``urls.txt`` does not name; ``None`` when unknown)."""
    result = Diagnosis(space={"archives": 0, "extracted": 0, "unfinished": 0})
    if not cache.root.is_dir():
        return result
    urls = read_urls(cache.root)
    for entry in sorted(cache.root.iterdir()):
        if entry.is_symlink() and entry.name.endswith(EXTENSIONS):
            result.findings.append(_link(entry))
        elif entry.is_file() and entry.name.endswith(EXTENSIONS):
            result.space["archives"] += entry.stat().st_size
            result.findings += _check_archive(cache, entry, urls.get(entry.name), known)
        elif entry.is_file() and entry.name.endswith(".partial"):
            result.space["unfinished"] += entry.stat().st_size
            result.findings.append(Finding(UNFINISHED, entry, f"conda's, {_size(entry)} so far"))
        elif entry.is_dir() and (entry / "info" / "index.json").exists():
            result.space["extracted"] += _tree_size(entry)
            if not any((cache.root / f"{entry.name}{ext}").exists() for ext in EXTENSIONS):
                result.findings.append(Finding(LOOSE, entry, "conda can still link it"))
    result.findings += _our_parts(cache, result)
    return result


def _link(path: Path) -> Finding:
    """An archive name that is a symlink: conda reads a file outside the cache through it."""
    target = os.readlink(path)
    if not path.exists():
        return Finding(LINKED, path, f"dangling link to {target}; conda would fail on it")
    return Finding(LINKED, path, f"link to {target}; the cached file changes when that one does")


def _check_archive(cache: PackageCache, path: Path, url: str | None,
                   known: Known) -> list[Finding]:
    meta = read_object(cache.root / stem(path.name) / "info" / "repodata_record.json")
    if url is None:
        return [_unregistered(path, meta, known)]
    record = _record_of(meta, path.name) or known(url, path.name)
    short = _incomplete(path, record)
    if short:
        return [Finding(INCOMPLETE, path, short, record)]
    if meta is not None and not meta.get("url"):  # conda reads this before urls.txt
        return [Finding(UNREGISTERED, path, "its extracted record has no URL; conda would "
                                            "download it again")]
    problem = mismatch(path, record) if record is not None else None
    return [Finding(BROKEN, path, problem, record)] if problem else []


def _unregistered(path: Path, meta: dict[str, Any] | None, known: Known) -> Finding:
    """An archive ``urls.txt`` does not name: one to register if it reads as a package,
    else (only then is its record looked up) incomplete or broken."""
    if _readable(path):
        return Finding(UNREGISTERED, path, "conda would download it again")
    record = _record_of(meta, path.name) or known(None, path.name)
    short = _incomplete(path, record)
    if short:
        return Finding(INCOMPLETE, path, short, record)
    if record is None:
        return Finding(INCOMPLETE, path, "cannot be read (truncated or damaged) and no record "
                                         "tells its size")
    return Finding(BROKEN, path, "cannot be read as a package (damaged)", record)


def _incomplete(path: Path, record: Record | None) -> str:
    """``"1.0 MiB of 4.0 MiB (25%), 1048576 of 4194304 bytes"`` for a file shorter than its
    record; empty otherwise."""
    have = path.stat().st_size
    if record is None or not record.size or have >= record.size:
        return ""
    return (f"{human_bytes(have)} of {human_bytes(record.size)} ({have / record.size:.0%}), "
            f"{have} of {record.size} bytes")


def _readable(path: Path) -> bool:
    try:
        read_identity(path)
    except (ArchiveError, OSError):
        return False
    return True


def _record_of(meta: dict[str, Any] | None, fn: str) -> Record | None:
    """The record an extracted folder's ``repodata_record.json`` states, if it is usable."""
    if not meta or not meta.get("url"):
        return None
    try:
        return make_record(str(meta["url"]), fn, meta.get("size"), meta.get("sha256"),
                           meta.get("md5"))
    except (InputError, AttributeError):
        return None


def _our_parts(cache: PackageCache, result: Diagnosis) -> list[Finding]:
    found = []
    for part in sorted(cache.scratch.glob("*.part")):
        result.space["unfinished"] += part.stat().st_size
        found.append(Finding(UNFINISHED, part, _progress(part)))
    return found


def _progress(part: Path) -> str:
    found = saved(part)
    if found is None:
        return "conda-fetch's, no resume state (will restart)"
    have, size = found
    share = f" of {human_bytes(size)} ({have / size:.0%})" if size else ""
    return f"conda-fetch's, {human_bytes(have)}{share}; the next run resumes it"


def fix(cache: PackageCache, diagnosis: Diagnosis, lookup: Lookup) -> list[str]:
    """Register what verifies, remove what is broken, keep incomplete archives of a known
    record for the next fetch to resume (remove the others); returns what was done."""
    done = [_fix_incomplete(cache, finding) for finding in diagnosis.of(INCOMPLETE)]
    for finding in diagnosis.of(UNREGISTERED):
        verdict = adopt(finding.path, cache, lookup, "in-place")
        done.append(f"registered {finding.path.name}" if verdict.status == ADOPTED
                    else f"left {finding.path.name}: {verdict.reason}")
    for finding in diagnosis.of(BROKEN):
        finding.path.unlink(missing_ok=True)
        done.append(f"removed {finding.path.name} ({finding.detail})")
    for finding in diagnosis.of(LINKED):
        done.append(_unlink(finding.path))
    for finding in diagnosis.of(UNFINISHED):
        if "no resume state" in finding.detail:
            finding.path.unlink(missing_ok=True)
            done.append(f"removed {finding.path.name} (no resume state)")
    return done


def _fix_incomplete(cache: PackageCache, finding: Finding) -> str:
    """Move an incomplete archive to its record's part file, its bytes marked as fetched, so
    the next fetch asks only for the rest (its checksum still decides); else remove it."""
    record, path = finding.record, finding.path
    if record is None or path.is_symlink():  # a link's target is not ours to move
        path.unlink(missing_ok=True)
        return f"removed {path.name} ({finding.detail})"
    job = Job(name=record.fn, urls=[record.url], part=cache.part_path(record),
              **record.expectations())
    part = PartFile(job.part, part_identity(job))
    part.discard()
    have = path.stat().st_size
    os.replace(path, part.path)
    fd = part.open()
    try:
        part.save(fd, RangeSet([(0, have)]))
    finally:
        os.close(fd)
    return (f"kept {path.name}'s {human_bytes(have)} as an unfinished download: the next "
            f"fetch of it resumes (conda-fetch get, run, or conda with the plugin)")


def _unlink(path: Path) -> str:
    """Remove a link in place of an archive: its target's bytes were never verified here."""
    path.unlink(missing_ok=True)
    return f"removed the link {path.name} (fetch or import the archive again)"


def _size(path: Path) -> str:
    return human_bytes(path.stat().st_size)


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
