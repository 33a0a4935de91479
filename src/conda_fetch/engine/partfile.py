"""Which byte ranges of a file are on disk, and the resume state that survives crashes.

Unfinished data lives in a *part* file written at random offsets; beside it a
small JSON *state* file lists the ranges known to be on disk. The state is
written only after the part file is flushed with fsync, and replaced
atomically, so after Ctrl-C, ``kill -9`` or a power cut it never claims bytes
that are not there.
"""

from __future__ import annotations

import bisect
import json
import os
import stat
from collections.abc import Iterable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from conda_fetch.files import NOFOLLOW, NONBLOCK


class RangeSet:
    """Disjoint, sorted half-open byte ranges ``[start, end)``."""

    def __init__(self, ranges: Iterable[Sequence[int]] | None = None) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges or ():
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        """Mark ``[start, end)`` as present, merging with neighbours."""
        if end <= start:
            return
        i = bisect.bisect_left(self._ends, start)
        j = bisect.bisect_right(self._starts, end)
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def remove(self, start: int, end: int) -> None:
        """Mark ``[start, end)`` as missing again."""
        kept = [(s, e) for s, e in zip(self._starts, self._ends, strict=True)]
        self._starts, self._ends = [], []
        for s, e in kept:
            for a, b in ((s, min(e, start)), (max(s, end), e)):
                if a < b:
                    self._starts.append(a)
                    self._ends.append(b)

    def total(self) -> int:
        """Bytes covered."""
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def gaps(self, size: int) -> list[tuple[int, int]]:
        """The ranges of ``[0, size)`` not covered."""
        gaps, pos = [], 0
        for start, end in zip(self._starts, self._ends, strict=True):
            if start > pos:
                gaps.append((pos, min(start, size)))
            pos = max(pos, end)
        if pos < size:
            gaps.append((pos, size))
        return [(s, e) for s, e in gaps if s < e]

    def covered_until(self, start: int) -> int:
        """The end of the covered run containing ``start`` (``start`` if none)."""
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and self._ends[i] > start:
            return self._ends[i]
        return start

    def next_start(self, pos: int) -> int | None:
        """The start of the first covered run after ``pos``, if any."""
        i = bisect.bisect_right(self._starts, pos)
        return self._starts[i] if i < len(self._starts) else None

    def as_list(self) -> list[list[int]]:
        return [[s, e] for s, e in zip(self._starts, self._ends, strict=True)]


class PartFile:
    """A part file and its state file, identified by what the finished file must be.

    Both are opened without following links: a link (or other non-file) planted under
    either name is removed, never written through. A state file exists only beside its
    part file (it is removed first), so a part file this process had to create anew has
    no progress to trust, and is created with ``O_EXCL`` in one call.

    After :meth:`load`, the descriptor :meth:`open` hands out is known by the part file's
    name until :meth:`close`: :func:`flush` finds it there, so whoever places the finished
    file flushes it without opening it again.
    """

    VERSION = 1

    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self._path = os.fspath(path)  # strings: these are used once or twice per file
        self._state = self._path + ".state"
        self.identity = identity
        self._stated = False  # a state file may be there (loaded, saved, or unreadable)
        self._fd = -1  # the part file's descriptor, once opened after load()
        self._loaded = False

    @property
    def state_path(self) -> Path:
        return Path(self._state)

    def load(self) -> RangeSet:
        """Ranges already on disk from an earlier run, or none if they can't be trusted.
        (Without a state file nothing is trusted, and every byte is written again: a part
        file left there is simply overwritten.) A missing part file is created here."""
        if self.create() is None:
            return self._resume()
        return RangeSet()

    def create(self) -> int | None:
        """Make the part file anew and open it, as :meth:`load` does where none is there
        (known by its name until :meth:`close`); ``None``, touching nothing, where
        something already is."""
        self._loaded = True
        try:
            self._fd = _OPEN[self._path] = _open(self._path, os.O_EXCL)
        except FileExistsError:
            return None
        if not self._verifiable():  # a state orphaned by a crash could claim bytes
            _unlink(self._state)   # that nothing would check
        return self._fd

    def _verifiable(self) -> bool:
        return bool(self.identity.get("sha256") or self.identity.get("md5"))

    def _resume(self) -> RangeSet:
        """:meth:`load` where a part file already is (one ``lstat``, one read)."""
        try:
            info = os.lstat(self._path)
        except FileNotFoundError:
            info = None
        if info is not None and not stat.S_ISREG(info.st_mode):
            os.unlink(self._path)  # planted: removed, not followed
            info = None
        try:
            fd = os.open(self._state, os.O_RDONLY | NOFOLLOW | NONBLOCK)
        except FileNotFoundError:
            return RangeSet()
        except OSError:  # a link planted where the state goes
            self._stated = True
            self.discard()
            return RangeSet()
        self._stated = True
        try:
            with os.fdopen(fd, "rb") as stream:
                if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                    raise ValueError("state is not a file")
                state = json.loads(stream.read())
            if state.get("version") != self.VERSION or state.get("identity") != self.identity:
                raise ValueError("state is for another file")
            ranges = RangeSet([(int(s), int(e)) for s, e in state["done"]])
            if info is None or info.st_size < _extent(ranges):
                raise ValueError("part file shorter than its state")
            return ranges
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.discard()
            return RangeSet()

    def open(self) -> int:
        """A raw file descriptor for positional writes, creating the part file (and its
        folder, when missing); close it with :meth:`close`."""
        if self._fd < 0:
            fd = _open(self._path, 0)
            if not self._loaded:
                return fd
            self._fd = _OPEN[self._path] = fd
        return self._fd

    def close(self, fd: int) -> None:
        """Close ``fd``, the descriptor :meth:`open` returned."""
        if fd == self._fd:
            _OPEN.pop(self._path, None)
            _SYNCED.discard(self._path)
            self._fd = -1
        os.close(fd)

    def sync(self) -> None:
        """Flush the part file's data to disk once it is complete (nothing is written to
        it after): :func:`flush` then has nothing left to do."""
        os.fsync(self._fd)
        _SYNCED.add(self._path)

    def save(self, fd: int, ranges: RangeSet) -> None:
        """Flush the data, then atomically record ``ranges`` as present."""
        os.fsync(fd)
        payload = {"version": self.VERSION, "identity": self.identity, "done": ranges.as_list()}
        self._stated = True
        tmp = self._state + ".tmp"
        _unlink(tmp)  # a fresh file: a link planted there is not followed
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o644)
        try:
            with os.fdopen(fd, "w") as stream:
                json.dump(payload, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(tmp, self._state)
        except BaseException:
            _unlink(tmp)  # a full disk leaves no empty state file behind
            raise

    def discard(self) -> None:
        """Remove the part file and its state (the state first: never one without the other)."""
        for path in (self._state, self._path):
            _unlink(path)

    def forget_state(self) -> None:
        """Drop the state file once the part file is complete and verified (a file fetched
        in one request never had one)."""
        if self._stated:
            _unlink(self._state)


_OPEN: dict[str, int] = {}  # part file name -> its descriptor, between load() and close()
_SYNCED: set[str] = set()  # part files flushed complete, while still open (see sync())


def flush(path: Path) -> None:
    """Flush the part file ``path`` to disk: through the descriptor a :class:`PartFile`
    of it has open in this process, else through a new one; nothing to do when
    :meth:`PartFile.sync` flushed it complete."""
    name = os.fspath(path)
    if name in _SYNCED:
        return
    fd = _OPEN.get(name)
    if fd is not None:
        os.fsync(fd)
        return
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open(path: str, exclusive: int) -> int:
    """``path`` opened for reading and writing, created if missing (never through a link;
    ``exclusive``: ``os.O_EXCL`` or 0), its folder made when missing."""
    flags = os.O_RDWR | os.O_CREAT | exclusive | NOFOLLOW | getattr(os, "O_BINARY", 0)
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, flags, 0o644)


def _unlink(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)


def _extent(ranges: RangeSet) -> int:
    listed = ranges.as_list()
    return listed[-1][1] if listed else 0


def state_path(part: Path) -> Path:
    """Where the resume state of the part file ``part`` lives."""
    return Path(os.fspath(part) + ".state")


def saved(part: Path) -> tuple[int, int | None] | None:
    """Bytes the resume state of ``part`` records as on disk, and the size of the file they
    are for when known; ``None`` without a readable state."""
    try:
        state = json.loads(state_path(part).read_text())
        done = RangeSet([(int(s), int(e)) for s, e in state["done"]]).total()
        size = state["identity"].get("size")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return done, size if isinstance(size, int) else None

