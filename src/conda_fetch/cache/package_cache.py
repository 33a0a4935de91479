"""One conda package cache directory: what it already holds, and putting verified files in.

Files are left exactly as conda leaves them: the archive at ``<root>/<fn>`` and a
line in ``urls.txt`` holding the record's URL (and no stale extracted record that
conda would read first). conda-fetch's own unfinished downloads live in the hidden
``.conda-fetch`` directory, which conda skips (it has no ``info/index.json``); they
never use conda's ``<fn>.partial`` name,
because conda adopts a complete ``.partial`` without checking who wrote it.
"""

from __future__ import annotations

import os
import shutil
from contextlib import suppress
from pathlib import Path
from typing import Any

from conda_fetch.cache.lock import locked
from conda_fetch.cache.urls import URLS_TXT, append_url, read_urls
from conda_fetch.hashing import mismatch
from conda_fetch.jsonfile import read_object
from conda_fetch.plan.records import EXTENSIONS, Record, stem

WORKDIR = ".conda-fetch"
CACHED = "cached"
EXTRACTED = "extracted"


class PackageCache:
    """A conda ``pkgs`` directory at ``root``. It knows nothing of HTTP."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._urls_memo: tuple[tuple[int, int] | None, dict[str, str]] = (None, {})

    @property
    def workdir(self) -> Path:
        """Where conda-fetch keeps its own unfinished downloads (created on demand)."""
        path = self.root / WORKDIR
        path.mkdir(parents=True, exist_ok=True)
        return path

    def part_path(self, record: Record) -> Path:
        """The unfinished download of ``record``."""
        return self.workdir / f"{record.fn}.part"

    def unregistered(self) -> list[Path]:
        """Archives that ``urls.txt`` does not name: conda would download them again."""
        named = read_urls(self.root)
        return sorted(p for p in self.root.iterdir()
                      if p.is_file() and p.name.endswith(EXTENSIONS) and p.name not in named)

    def status(self, record: Record) -> str | None:
        """``"cached"``, ``"extracted"``, or ``None`` when conda would download ``record``.

        A correct archive gets its ``urls.txt`` line if it lacks one, so conda
        matches it; a wrong one reads as ``None`` (:meth:`commit` replaces it).
        """
        if (self.root / record.fn).exists():
            if not self._archive_ok(record):
                return None
            self._note_url(record)
            return CACHED
        return EXTRACTED if self._extracted_ok(record) else None

    def commit(self, record: Record, path: Path) -> Path:
        """Move the verified file ``path`` (same filesystem) to ``<root>/<fn>`` and record its URL.

        The move is atomic and durable. Under a per-file lock, so a second
        conda-fetch does not interleave; if that one already placed a correct
        file, ``path`` is dropped instead.
        """
        target = self.root / record.fn
        with locked(self.workdir / f"{record.fn}.lock"):
            if target.exists() and self._archive_ok(record):
                path.unlink(missing_ok=True)
            else:
                self._drop_extracted(record, replacing=True)
                _replace_durably(path, target)
            self._note_url(record)
        return target

    # -- archives and urls.txt -------------------------------------------------

    def _archive_ok(self, record: Record) -> bool:
        """Whether ``<root>/<fn>`` is ``record``'s file; with nothing to check, whether
        ``urls.txt`` already names its URL."""
        if record.size is None and record.digest is None:
            return self._latest_url(record.fn) == record.url
        return mismatch(self.root / record.fn, record) is None

    def _note_url(self, record: Record) -> None:
        """Make ``record.url`` the latest ``urls.txt`` line for its file name, and make
        sure conda does not take a stale extracted record over that line."""
        if self._latest_url(record.fn) != record.url:
            append_url(self.root, record.url)
        self._drop_extracted(record)

    def _latest_url(self, fn: str) -> str | None:
        """The URL conda would take for ``fn``; ``urls.txt`` is re-read only when it changed."""
        try:
            info = (self.root / URLS_TXT).stat()
        except FileNotFoundError:
            return None
        key = (info.st_size, info.st_mtime_ns)
        seen, urls = self._urls_memo
        if key != seen:
            urls = read_urls(self.root)
            self._urls_memo = (key, urls)
        return urls.get(fn)

    # -- extracted packages ----------------------------------------------------

    def _drop_extracted(self, record: Record, replacing: bool = False) -> None:
        """Remove what conda would take over ``<fn>`` and its ``urls.txt`` line.

        conda reads an extracted folder's ``info/repodata_record.json`` first. One with
        no URL or another URL (conda writes such a file for an unregistered archive it
        sees, even on ``--dry-run``) is removed, and conda rebuilds it from
        ``info/index.json``, ``urls.txt`` and the archive. A folder whose size or
        checksums disagree with ``record``, or that has no record while the archive is
        being replaced (``replacing``), holds another archive's files: it goes entirely,
        as conda removes it before extracting a download.
        """
        folder = self.root / stem(record.fn)
        if not folder.is_dir() or folder.is_symlink():
            return
        meta_path = folder / "info" / "repodata_record.json"
        meta = read_object(meta_path)
        if (meta is None and replacing) or (meta is not None and not _facts_agree(meta, record)):
            shutil.rmtree(folder, ignore_errors=True)
        elif meta is not None and meta.get("url") != record.url:
            meta_path.unlink(missing_ok=True)

    def _extracted_ok(self, record: Record) -> bool:
        """Whether conda would use the extracted directory of ``record`` as it is."""
        meta = read_object(self.root / stem(record.fn) / "info" / "repodata_record.json")
        return meta is not None and meta.get("url") == record.url and _facts_agree(meta, record)


def _facts_agree(meta: dict[str, Any], record: Record) -> bool:
    """Size, md5 and sha256 are equal wherever both sides know them."""
    for key in ("size", "md5", "sha256"):
        ours, theirs = getattr(record, key), meta.get(key)
        if isinstance(theirs, str):
            theirs = theirs.lower()
        if ours is not None and theirs not in (None, "") and theirs != ours:
            return False
    return True


def _replace_durably(source: Path, target: Path) -> None:
    """``os.replace`` with the data flushed before and the directory entry after."""
    fd = os.open(source, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(source, target)
    if os.name != "nt":
        _fsync_directory(target.parent)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        with suppress(OSError):  # some filesystems cannot sync a directory
            os.fsync(fd)
    finally:
        os.close(fd)
