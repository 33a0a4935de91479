"""One conda package cache directory: what it already holds, and putting verified files in.

Files are left exactly as conda leaves them: the archive at ``<root>/<fn>`` and a
line in ``urls.txt`` holding the record's URL (without credentials: :func:`listed_url`),
and no stale extracted record that conda would read first. conda-fetch's own unfinished
downloads live in the hidden ``.conda-fetch`` directory, which conda skips (it has no
``info/index.json``); they never use conda's ``<fn>.partial`` name, because conda adopts a
complete ``.partial`` without checking who wrote it.

One process at a time works on a file: :meth:`PackageCache.claim` holds the file's claim
(its byte of ``.conda-fetch/claims.lock``, see :mod:`~conda_fetch.cache.claims`) for the
whole life of its part file (fetch, verify, place), and placing also takes conda's own
lock on ``<fn>.partial`` when conda has one.

An archive once verified is not hashed again while nothing about it changed: its
size, times, inode and device are noted in ``.conda-fetch/verified`` with the checksum
it matched (``rehash=True`` hashes every archive anyway).
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from conda_fetch.cache.claims import CLAIMS, Claim, Claims
from conda_fetch.cache.lock import NOFOLLOW, locked
from conda_fetch.cache.urls import URLS_TXT, UrlsFile, read_urls
from conda_fetch.engine.partfile import flush
from conda_fetch.errors import CondaFetchError
from conda_fetch.hashing import mismatch
from conda_fetch.jsonfile import read_object
from conda_fetch.plan.records import EXTENSIONS, Record, stem, subdir_of
from conda_fetch.redact import without_credentials

WORKDIR = ".conda-fetch"
VERIFIED = "verified"
CACHED = "cached"
EXTRACTED = "extracted"


class PackageCache:
    """A conda ``pkgs`` directory at ``root``. It knows nothing of HTTP."""

    def __init__(self, root: Path, rehash: bool = False) -> None:
        self.root = Path(root)
        self._root = os.fspath(root)  # strings for what is stat()ed for every file
        self._urls_txt = os.path.join(self._root, URLS_TXT)
        self.rehash = rehash
        self._urls_memo: tuple[tuple[int, int] | None, dict[str, str]] = (None, {})
        self._urls_ours: tuple[int, int] | None = None  # urls.txt as our last append left it
        self._stamps: dict[str, str] | None = None
        self._urls_lock = threading.Lock()  # one appender at a time in this process
        self._urls = UrlsFile(self._root)
        self._grouped = False  # urls.txt lines are flushed in groups (see :meth:`grouped`)
        self._workdir: str | None = None  # made and checked once
        self._verified = -1

    @contextmanager
    def grouped(self) -> Iterator[None]:
        """Within: the ``urls.txt`` lines of files placed close together share an fsync
        (a line written within :data:`~conda_fetch.cache.urls.GROUP_SECONDS` of the last
        one waits for the next), and every line is flushed on leaving. A crash meanwhile
        costs a download again, never a wrong file: each archive is flushed before it
        takes its name."""
        self._grouped = True
        try:
            yield
        finally:
            self._grouped = False
            self._urls.sync()

    @property
    def scratch(self) -> Path:
        """Where conda-fetch keeps its own unfinished downloads (maybe not there yet)."""
        return self.root / WORKDIR

    @property
    def workdir(self) -> Path:
        """:attr:`scratch`, created on demand (once); refused if someone made it a link."""
        return Path(self._made_workdir())

    def _made_workdir(self) -> str:
        if self._workdir is None:
            path = self.scratch
            path.mkdir(parents=True, exist_ok=True)
            if path.is_symlink() or not path.is_dir():
                raise CondaFetchError(f"{path} is not a folder of this cache (a link?); "
                                      "remove it")
            self._workdir = os.fspath(path)
        return self._workdir

    def part_path(self, record: Record) -> Path:
        """The unfinished download of ``record`` (see
        :class:`~conda_fetch.engine.partfile.PartFile` for how it is opened)."""
        return Path(f"{self._made_workdir()}{os.sep}{record.fn}.part")

    @property
    def claims(self) -> Claims:
        """This cache's claims file, as this process holds it."""
        return Claims.at(self.workdir / CLAIMS)

    def claim(self, record: Record) -> Claim | None:
        """The right to fetch and place ``record`` until released, or ``None`` while another
        process (or another claim in this one) has it. (Its part file is opened without
        following links: :class:`~conda_fetch.engine.partfile.PartFile`.)"""
        return self.claims.take(record.fn)

    @contextmanager
    def claimed(self, record: Record) -> Iterator[None]:
        """Hold ``record``'s claim for the block, waiting for it as conda waits for its lock."""
        claim = self.claims.wait(record.fn)
        try:
            yield
        finally:
            claim.release()

    def unregistered(self) -> list[Path]:
        """Archives that ``urls.txt`` does not name: conda would download them again."""
        named = read_urls(self.root)
        return sorted(p for p in self.root.iterdir()
                      if p.is_file() and p.name.endswith(EXTENSIONS) and p.name not in named)

    def status(self, record: Record, *, repair: bool = True) -> str | None:
        """``"cached"``, ``"extracted"``, or ``None`` when conda would download ``record``.

        With ``repair``, a correct archive gets its ``urls.txt`` line if it lacks one, so
        conda matches it; without, nothing is written. A wrong archive, or a link in
        its place, reads as ``None`` (:meth:`commit` replaces it).
        """
        info = _lstat(self._at(record.fn))
        if info is not None:
            if not self._archive_ok(record, info, note=repair):
                return None
            if repair:
                self._note_url(record)
            return CACHED
        return EXTRACTED if self._extracted_ok(record) else None

    def names(self) -> frozenset[str]:
        """What the cache folder holds now (one listing): a record none of whose names is
        there is to fetch, without looking at it further."""
        try:
            return frozenset(os.listdir(self._root))
        except FileNotFoundError:
            return frozenset()

    def placed(self, record: Record) -> bool:
        """Whether :meth:`status` now finds ``record`` where it found nothing before: only
        an archive can have come meanwhile (conda extracts what it placed first), so
        without one nothing more is read."""
        return os.path.lexists(self._at(record.fn)) and self.status(record) is not None

    def _at(self, name: str) -> str:
        return f"{self._root}{os.sep}{name}"

    def foreign(self, record: Record) -> str | None:
        """Why ``<root>/<fn>``, known not to be ``record``'s file (:meth:`status` said so),
        must not be replaced by it: it is the archive of the same name for another platform
        (``python_abi-3.12-5_cp312.conda`` is named alike on every one). ``None`` when
        replacing it is fine."""
        if not _is_file(_lstat(self._at(record.fn))):
            return None
        theirs, ours = self._subdir_of_archive(record.fn), subdir_of(record.url)
        if theirs and ours and theirs != ours:
            return (f"the cache holds another {record.fn} (for {theirs}); not replacing it "
                    f"with {ours}'s (use another --pkgs-dir for {ours})")
        return None

    def _subdir_of_archive(self, fn: str) -> str:
        """The subdir of the archive now at ``<root>/<fn>``: its ``urls.txt`` URL's, else
        its extracted ``info/index.json``'s."""
        url = self._latest_url(fn)
        if url:
            return subdir_of(url)
        index = read_object(self.root / stem(fn) / "info" / "index.json") or {}
        subdir = index.get("subdir")
        return subdir if isinstance(subdir, str) else ""

    def commit(self, record: Record, path: Path) -> Path:
        """Move the verified file ``path`` (same filesystem) to ``<root>/<fn>`` and record its URL.

        The caller holds :meth:`claim` for ``record``. The move is atomic and durable,
        under conda's lock on ``<fn>.partial`` when conda has one, so conda does not
        place its download at the same moment; if a correct file is already there,
        ``path`` is dropped instead. Another platform's archive is never replaced.
        """
        target = self._at(record.fn)
        with locked(f"{target}.partial", create=False):
            info = _lstat(target)
            there = _is_file(info)
            if there and self._archive_ok(record, info):
                path.unlink(missing_ok=True)
                self._note_url(record)
                return Path(target)
            if there and (conflict := self.foreign(record)):
                raise CondaFetchError(conflict)
            self._drop_extracted(record, replacing=True)
            _replace_durably(path, target)
            self._stamp(record)
            self._register(record)
        return Path(target)

    # -- archives and urls.txt -------------------------------------------------

    def _archive_ok(self, record: Record, info: os.stat_result | None,
                    note: bool = True) -> bool:
        """Whether ``<root>/<fn>`` (``info``: its ``lstat`` just taken) is ``record``'s file
        (a regular file, not a link); with nothing to check, whether ``urls.txt`` already
        names its URL."""
        if not _is_file(info):
            return False
        if record.size is None and record.digest is None:
            return self._latest_url(record.fn) == listed_url(record)
        if not self.rehash and self._stamps_of().get(record.fn) == self._stamp_line(record, info):
            return True
        if mismatch(Path(self._at(record.fn)), record) is not None:
            return False
        if note:
            self._stamp(record)
        return True

    # -- archives verified before ------------------------------------------------------

    def _stamp_line(self, record: Record, info: os.stat_result | None = None) -> str | None:
        """What ``<root>/<fn>`` is now (``info``, if just taken), and what it was verified
        against, as one line."""
        if info is None:
            try:
                info = os.stat(self._at(record.fn))
            except OSError:
                return None
        algorithm, digest = record.digest or ("size", "")
        return (f"{record.fn}\t{info.st_size}\t{info.st_mtime_ns}\t{info.st_ctime_ns}\t"
                f"{info.st_ino}\t{info.st_dev}\t{record.size}\t{algorithm}:{digest}")

    def _stamps_of(self) -> dict[str, str]:
        """File name → its latest line in ``.conda-fetch/verified`` (read once)."""
        if self._stamps is None:
            self._stamps = {}
            try:
                text = (self.root / WORKDIR / VERIFIED).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            for line in text.splitlines():
                self._stamps[line.split("\t", 1)[0]] = line
        return self._stamps

    def _stamp(self, record: Record) -> None:
        """Note that ``<root>/<fn>``, as it is now, matched ``record``."""
        line = self._stamp_line(record)
        if line is None or self._stamps_of().get(record.fn) == line:
            return
        self._stamps_of()[record.fn] = line
        with suppress(OSError):  # only a cost: the archive is hashed again next time
            os.write(self._verified_fd(), (line + "\n").encode("utf-8"))

    def _verified_fd(self) -> int:
        """``.conda-fetch/verified``, opened to append once (closed with this object)."""
        if self._verified < 0:
            path = os.path.join(self._made_workdir(), VERIFIED)
            self._verified = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW,
                                     0o644)
            weakref.finalize(self, os.close, self._verified)
        return self._verified

    def _note_url(self, record: Record) -> None:
        """Make ``record``'s URL the latest ``urls.txt`` line for its file name, and make
        sure conda does not take a stale extracted record over that line."""
        self._register(record)
        self._drop_extracted(record)

    def _register(self, record: Record) -> None:
        """Make ``record``'s URL (:func:`listed_url`) the latest ``urls.txt`` line for its
        file name."""
        url = listed_url(record)
        with self._urls_lock:
            named = _lstat(self._urls_txt)
            if self._latest_of(record.fn, named) == url:
                return
            ticket = self._append_url(record.fn, url, named)
        self._urls.flush(ticket, self._grouped)  # outside the lock: commits share it

    def _append_url(self, fn: str, url: str, named: os.stat_result | None) -> int:
        """Append ``url`` (its flush ticket); what was read of ``urls.txt`` stays valid
        when only this line was added, so a run appending thousands of lines reads it once
        (and need not look at its last byte: it wrote it)."""
        seen, urls = self._urls_memo
        ours = seen is not None and seen == self._urls_ours
        appended, info, ticket = self._urls.append(url, named, check_end=not ours)
        if seen is not None and info.st_size == seen[0] + appended:
            urls[fn] = url
            self._urls_ours = (info.st_size, info.st_mtime_ns)
            self._urls_memo = (self._urls_ours, urls)
        return ticket

    def _latest_url(self, fn: str) -> str | None:
        """The URL conda would take for ``fn``; ``urls.txt`` is re-read only when it changed."""
        return self._latest_of(fn, _lstat(self._urls_txt))

    def _latest_of(self, fn: str, named: os.stat_result | None) -> str | None:
        """:meth:`_latest_url`, ``named`` being an ``lstat`` of ``urls.txt`` just taken."""
        info = named
        if info is not None and stat.S_ISLNK(info.st_mode):
            info = _lstat(self._urls_txt, follow=True)  # read, never appended to
        if info is None:
            self._urls_memo = ((0, 0), {})
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
        folder = self._at(stem(record.fn))
        try:
            if not stat.S_ISDIR(os.lstat(folder).st_mode):
                return
        except FileNotFoundError:
            return
        meta_path = Path(folder, "info", "repodata_record.json")
        meta = read_object(meta_path)
        if (meta is None and replacing) or (meta is not None and not _facts_agree(meta, record)):
            shutil.rmtree(folder, ignore_errors=True)
        elif meta is not None and meta.get("url") not in (record.url, listed_url(record)):
            meta_path.unlink(missing_ok=True)

    def _extracted_ok(self, record: Record) -> bool:
        """Whether conda would use the extracted directory of ``record`` as it is."""
        meta = read_object(Path(self._at(stem(record.fn)), "info", "repodata_record.json"))
        return (meta is not None and meta.get("url") in (record.url, listed_url(record))
                and _facts_agree(meta, record))


def listed_url(record: Record) -> str:
    """The URL ``urls.txt`` holds for ``record``: its own, without credentials (no token
    or password is written to the cache; conda matches by channel, not credentials)."""
    return without_credentials(record.url)


def _facts_agree(meta: dict[str, Any], record: Record) -> bool:
    """Size, md5 and sha256 are equal wherever both sides know them."""
    for key in ("size", "md5", "sha256"):
        ours, theirs = getattr(record, key), meta.get(key)
        if isinstance(theirs, str):
            theirs = theirs.lower()
        if ours is not None and theirs not in (None, "") and theirs != ours:
            return False
    return True


def _lstat(path: str, follow: bool = False) -> os.stat_result | None:
    """``path``'s ``lstat`` (``stat`` with ``follow``), ``None`` if it is missing."""
    try:
        return os.stat(path, follow_symlinks=follow)
    except FileNotFoundError:
        return None


def _is_file(info: os.stat_result | None) -> bool:
    """Whether an ``lstat`` found a regular file (not a link, not missing)."""
    return info is not None and stat.S_ISREG(info.st_mode)


def _replace_durably(source: Path, target: str) -> None:
    """``os.replace`` with the data flushed first, so the name never points at bytes
    that a crash could lose. (A rename lost in a crash only means fetching again.)"""
    flush(source)
    os.replace(source, target)
