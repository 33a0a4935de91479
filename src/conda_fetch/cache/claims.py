"""Per-file claims across processes, through one lock file per cache.

Each package file name locks its own byte of ``.conda-fetch/claims.lock``, at an offset
drawn from a hash of the name, so a run makes and removes no file per package (on ext4,
creating a file where many were just removed costs a scan of them: a lock file made and
removed per package was a fifth of a small file's cost). Two names that draw the same byte
only wait for each other.

POSIX record locks belong to the process and go when it closes *any* descriptor of the
file, so each claims file is opened once per process and kept open; within the process a
registry says which names are held, and a byte is unlocked when its last name goes.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from pathlib import Path
from typing import ClassVar

from conda_fetch.cache.lock import (
    ATTEMPTS,
    NOFOLLOW,
    SLEEP,
    CacheLockError,
    key_of,
    lock_byte,
    unlock_byte,
)

CLAIMS = "claims.lock"
_OFFSET_BITS = 62 if os.name == "posix" else 31  # Windows locks below 2 GiB, to be safe


class Claims:
    """The claims file at ``path`` as this process holds it; get one with :meth:`at`."""

    _open: ClassVar[dict[str, Claims]] = {}
    _registry = threading.Lock()

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd
        self._held: dict[int, set[str]] = {}  # offset -> names held here

    @classmethod
    def at(cls, path: Path) -> Claims:
        """The claims file ``path`` (one per folder, however it is reached), opened once
        per process; a link or other non-file planted there is removed first."""
        key = key_of(path)
        with cls._registry:
            table = cls._open.get(key)
            if table is None or not table._names_its_file():
                table = cls._open[key] = cls(path, _open_claims_file(path))
            return table

    def take(self, name: str) -> Claim | None:
        """``name``'s claim, or ``None`` while another process or claim holds it."""
        offset = _offset(name)
        with self._registry:
            names = self._held.get(offset)
            if names is None:
                try:
                    lock_byte(self._fd, offset)
                except OSError:
                    return None
                names = self._held[offset] = set()
            elif name in names:
                return None
            names.add(name)
        return Claim(self, name, offset)

    def wait(self, name: str, attempts: int = ATTEMPTS, sleep: float = SLEEP) -> Claim:
        """:meth:`take`, retried ``attempts`` times ``sleep`` seconds apart (as conda waits
        for its locks); raises :class:`CacheLockError` naming ``name`` if never taken."""
        for attempt in range(1, max(attempts, 1) + 1):
            claim = self.take(name)
            if claim is not None:
                return claim
            if attempt < attempts:
                time.sleep(sleep)
        raise CacheLockError(f"could not claim {name} in {self.path.parent} after "
                             f"{max(attempts, 1)} attempt(s) (is another conda-fetch using it?)")

    def held(self) -> int:
        """How many names this process holds here."""
        with self._registry:
            return sum(len(names) for names in self._held.values())

    def _release(self, name: str, offset: int) -> None:
        with self._registry:
            names = self._held.get(offset)
            if names is None or name not in names:
                return
            names.discard(name)
            if not names:
                del self._held[offset]
                unlock_byte(self._fd, offset)

    def _names_its_file(self) -> bool:
        """Whether :attr:`path` is still the file this process has open (someone may have
        removed the folder); locks on a removed file would guard nothing."""
        try:
            named = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return False
        opened = os.fstat(self._fd)
        return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


class Claim:
    """One name's claim; :meth:`release` gives it back (twice is harmless)."""

    def __init__(self, table: Claims, name: str, offset: int) -> None:
        self._table, self.name, self._offset = table, name, offset

    def release(self) -> None:
        self._table._release(self.name, self._offset)


def _offset(name: str) -> int:
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - _OFFSET_BITS)


def _open_claims_file(path: Path) -> int:
    """A descriptor of the regular file ``path``, made if missing; never through a link."""
    flags = os.O_RDWR | os.O_CREAT | NOFOLLOW | getattr(os, "O_BINARY", 0)
    for _ in range(2):
        try:
            fd = os.open(path, flags, 0o666)
        except OSError as exc:
            if not os.path.islink(path):
                raise CacheLockError(f"cannot open the lock file {path}: {exc.strerror}") \
                    from None
            os.unlink(path)  # a link planted where the claims file goes: not followed
            continue
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        os.close(fd)
        raise CacheLockError(f"{path} is not a regular file; remove it")
    raise CacheLockError(f"cannot open the lock file {path}: a link keeps coming back")
