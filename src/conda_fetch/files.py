"""Files without following links someone else planted: an output is written under a fresh
``O_EXCL`` name in its folder, flushed, then renamed over its target (a symlink there is
replaced, not followed); a scratch file is created with ``O_EXCL | O_NOFOLLOW``; an input is
read only if it is a regular file, so a FIFO or a device never blocks or floods a reader."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Protocol

from conda_fetch.errors import CondaFetchError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
FICLONE = 0x40049409  # Linux ioctl: share the source's blocks (copy-on-write) where supported
CHUNK = 1 << 20


class WriteError(CondaFetchError, OSError):
    """A named output could not be written (one line for the user, exit code 1)."""


@contextmanager
def replacing(target: Path) -> Iterator[BinaryIO]:
    """A new, exclusive file in ``target``'s folder, renamed to ``target`` when the block
    ends without an error (removed otherwise). Raises :class:`WriteError` when the folder
    cannot take it."""
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:80]}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise WriteError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(f"cannot write {target}: {exc.strerror or exc}") from None
        raise


def write_atomically(target: Path, text: str) -> None:
    """``target`` holds ``text`` (UTF-8), or is left as it was."""
    with replacing(target) as stream:
        stream.write(text.encode("utf-8"))


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file (a symlink to one is fine);
    never blocks on or reads a FIFO or a device."""
    fd = os.open(path, os.O_RDONLY | NONBLOCK | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name}: not a regular file")
        if NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class Source(Protocol):
    """What :func:`copy_new` reads: an open file, or a stream standing for one."""

    def read(self, amount: int = -1, /) -> bytes: ...

    def seek(self, offset: int, /) -> int: ...

    def fileno(self) -> int: ...


def create_new(target: Path) -> BinaryIO:
    """``target`` created here and now for writing (``O_EXCL``, never through a link);
    fails if anything is at that name."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW
                 | getattr(os, "O_BINARY", 0), 0o644)
    return os.fdopen(fd, "wb")


def copy_new(source: Source, target: Path) -> None:
    """Copy the open file ``source`` into ``target`` (see :func:`create_new`): a reflink
    where the file system can, else the bytes."""
    with create_new(target) as out:
        if not _reflink(source, out):
            source.seek(0)
            shutil.copyfileobj(source, out, CHUNK)
        out.flush()
        os.fsync(out.fileno())


def _reflink(source: Source, out: BinaryIO) -> bool:
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fcntl.ioctl(out.fileno(), FICLONE, source.fileno())
    except OSError:
        return False
    return True
