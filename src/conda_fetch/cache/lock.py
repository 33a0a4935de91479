"""conda's lock on a cache file: one byte at offset 21, exclusive, non-blocking, retried.

POSIX record locks belong to the process and go when it closes *any* descriptor of the
file, so each lock file is opened once per process: :class:`FileLock` keeps a registry
of the files this process holds, and a second claim of one of them fails at once.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from conda_fetch.errors import CondaFetchError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None  # type: ignore[assignment]

LOCK_BYTE = 21
ATTEMPTS = 10
SLEEP = 1.0
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class CacheLockError(CondaFetchError):
    """Another process kept a cache file locked through every attempt."""


class FileLock:
    """An exclusive lock on ``path`` held until :meth:`release` (or the process ends)."""

    _held: ClassVar[set[str]] = set()
    _registry = threading.Lock()

    def __init__(self, path: Path | str, fd: int, key: str) -> None:
        self.path, self._fd, self._key = path, fd, key

    @classmethod
    def take(cls, path: Path | str, *, create: bool = True) -> FileLock | None:
        """The lock on ``path`` if no one holds it now, else ``None``. Never follows a
        symlink; with ``create`` false, a missing file is ``None`` too."""
        key = key_of(path)
        with cls._registry:
            if key in cls._held:
                return None
            flags = os.O_RDWR | NOFOLLOW | (os.O_CREAT if create else 0)
            try:
                fd = os.open(path, flags, 0o666)
            except FileNotFoundError:
                if create:
                    raise
                return None
            except OSError as exc:  # ELOOP: a symlink planted where the lock file goes
                raise CacheLockError(f"cannot open the lock file {path}: {exc.strerror}") \
                    from None
            try:
                lock_byte(fd)
            except OSError:
                os.close(fd)
                return None
            if not _still_named(fd, path):  # removed by its last holder: take the new one
                unlock_byte(fd)
                os.close(fd)
                return None
            cls._held.add(key)
        return cls(path, fd, key)

    @classmethod
    def wait(cls, path: Path | str, *, attempts: int = ATTEMPTS, sleep: float = SLEEP,
             create: bool = True) -> FileLock | None:
        """:meth:`take`, retried ``attempts`` times ``sleep`` seconds apart, as conda does;
        raises :class:`CacheLockError` naming ``path`` if it never gets the lock."""
        for attempt in range(1, max(attempts, 1) + 1):
            if not create and not os.path.lexists(path):
                return None
            claim = cls.take(path, create=create)
            if claim is not None:
                return claim
            if attempt < attempts:
                time.sleep(sleep)
        raise CacheLockError(f"could not lock {path} after {max(attempts, 1)} attempt(s) "
                             "(is another conda or conda-fetch using it?)")

    @property
    def fd(self) -> int:
        """The locked descriptor: read and write the file through it while the claim lasts."""
        return self._fd

    def release(self) -> None:
        """Unlock and close; releasing twice does nothing."""
        with self._registry:
            if self._fd < 0:
                return
            try:
                unlock_byte(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1
                self._held.discard(self._key)


def key_of(path: Path | str) -> str:
    """``path`` with its folder's links resolved: one key however the folder is reached."""
    folder, name = os.path.split(os.fspath(path))
    return os.path.join(_real_folder(folder), name)


@functools.lru_cache(maxsize=64)
def _real_folder(folder: str) -> str:
    return os.path.realpath(folder)


def _still_named(fd: int, path: Path | str) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


@contextmanager
def locked(path: Path | str, *, attempts: int = ATTEMPTS, sleep: float = SLEEP,
           create: bool = True) -> Iterator[int | None]:
    """Hold conda's lock on ``path`` for the ``with`` block (see :meth:`FileLock.wait`); yields
    the locked descriptor, the only one to read or write ``path`` through meanwhile (closing
    any other descriptor of the file would release a POSIX lock). Without ``create``, a
    missing file means there is nothing to lock, and ``None`` is yielded."""
    claim = FileLock.wait(path, attempts=attempts, sleep=sleep, create=create)
    try:
        yield claim.fd if claim is not None else None
    finally:
        if claim is not None:
            claim.release()


def lock_byte(fd: int, offset: int = LOCK_BYTE) -> None:
    """Lock the byte at ``offset`` of ``fd``'s file, exclusively, without waiting
    (``OSError`` when another process holds it)."""
    if fcntl is not None:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
    elif msvcrt is not None:
        os.lseek(fd, offset, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def unlock_byte(fd: int, offset: int = LOCK_BYTE) -> None:
    if fcntl is not None:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
    elif msvcrt is not None:
        os.lseek(fd, offset, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
