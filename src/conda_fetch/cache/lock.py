"""conda's lock on a cache file: one byte at offset 21, exclusive, non-blocking, retried."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


class CacheLockError(CondaFetchError):
    """Another process kept a cache file locked through every attempt."""


@contextmanager
def locked(path: Path, *, attempts: int = ATTEMPTS, sleep: float = SLEEP) -> Iterator[int]:
    """Hold conda's lock on ``path`` (created if missing) for the ``with`` block; yields the
    locked descriptor, the only one to read or write ``path`` through meanwhile (closing
    any other descriptor of the file would release a POSIX lock).

    Tries ``attempts`` times, ``sleep`` seconds apart, as conda does; raises
    :class:`CacheLockError` naming ``path`` if it never gets the lock. Where the
    platform has no byte-range locks this does nothing.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _acquire(fd, path, attempts, sleep)
        try:
            yield fd
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, attempts: int, sleep: float) -> None:
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            _lock(fd)
            return
        except OSError as exc:
            if attempt >= attempts:
                raise CacheLockError(
                    f"could not lock {path} after {attempt} attempt(s): "
                    f"{exc.strerror or exc} (is another conda or conda-fetch using it?)"
                ) from None
        time.sleep(sleep)


def _lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, LOCK_BYTE)
    elif msvcrt is not None:
        os.lseek(fd, LOCK_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, LOCK_BYTE)
    elif msvcrt is not None:
        os.lseek(fd, LOCK_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
