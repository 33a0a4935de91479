"""A health report on a package cache, and the fixes that are safe to make."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conda_fetch.cache import PackageCache
from conda_fetch.cache.urls import read_urls
from conda_fetch.errors import InputError
from conda_fetch.hashing import mismatch
from conda_fetch.jsonfile import read_object
from conda_fetch.offline.adopt import ADOPTED, Lookup, adopt
from conda_fetch.plan.records import EXTENSIONS, Record, make_record, stem
from conda_fetch.units import human_bytes

UNREGISTERED = "archive without a urls.txt line"
UNFINISHED = "unfinished download"
BROKEN = "archive that no longer matches its record"
LOOSE = "extracted folder without its archive"
LINKED = "link in place of an archive"
_PLURAL = {
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


@dataclass
class Diagnosis:
    findings: list[Finding] = field(default_factory=list)
    space: dict[str, int] = field(default_factory=dict)

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]


def diagnose(cache: PackageCache, known: Callable[[str, str], Record | None]) -> Diagnosis:
    """Look at every entry of ``cache``. ``known(url, fn)`` gives a record to check an
    archive against when its extracted folder has none (``None`` when unknown)."""
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
                   known: Callable[[str, str], Record | None]) -> list[Finding]:
    if url is None:
        return [Finding(UNREGISTERED, path, "conda would download it again")]
    meta = read_object(cache.root / stem(path.name) / "info" / "repodata_record.json")
    if meta is not None and not meta.get("url"):  # conda reads this before urls.txt
        return [Finding(UNREGISTERED, path, "its extracted record has no URL; conda would "
                                            "download it again")]
    record = _record_of(meta, path.name) or known(url, path.name)
    problem = mismatch(path, record) if record is not None else None
    return [Finding(BROKEN, path, problem)] if problem else []


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
    try:
        state = json.loads(part.with_name(part.name + ".state").read_text())
        have = sum(end - start for start, end in state["done"])
        size = state["identity"].get("size")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "conda-fetch's, no resume state (will restart)"
    share = f" of {human_bytes(size)} ({have / size:.0%})" if size else ""
    return f"conda-fetch's, {human_bytes(have)}{share}; the next run resumes it"


def fix(cache: PackageCache, diagnosis: Diagnosis, lookup: Lookup) -> list[str]:
    """Register what verifies, remove what is broken; returns what was done."""
    done = []
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


def _unlink(path: Path) -> str:
    """Remove a link in place of an archive: its target's bytes were never verified here."""
    path.unlink(missing_ok=True)
    return f"removed the link {path.name} (fetch or import the archive again)"


def _size(path: Path) -> str:
    return human_bytes(path.stat().st_size)


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
