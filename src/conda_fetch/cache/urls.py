"""``urls.txt``: the append-only list from which conda learns each archive's channel URL."""

from __future__ import annotations

import os
import stat
import weakref
from pathlib import Path

URLS_TXT = "urls.txt"
NEWLINE = "\r\n" if os.name == "nt" else "\n"
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a urls.txt that is a link is refused, not followed
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # nor does a FIFO there block


def read_urls(pkgs: Path) -> dict[str, str]:
    """File name → the most recently appended URL ending in that name (empty if no file)."""
    try:
        text = (pkgs / URLS_TXT).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    urls: dict[str, str] = {}
    for line in text.splitlines():
        url = line.strip()
        if url:
            urls[url.rsplit("/", 1)[-1]] = url
    return urls


def append_url(pkgs: Path, url: str, check_end: bool = True) -> int:
    """Append ``url`` to ``pkgs``'s ``urls.txt`` once (see :meth:`UrlsFile.append`); the
    number of bytes appended."""
    urls = UrlsFile(pkgs)
    try:
        return urls.append(url, None, check_end)[0]
    finally:
        urls.close()


class UrlsFile:
    """``urls.txt`` of one cache, kept open to append while it is the file named so (a run
    appends a line per file: one write and one flush each, no open)."""

    def __init__(self, pkgs: Path | str) -> None:
        self.path = os.path.join(os.fspath(pkgs), URLS_TXT)
        self._fd = -1
        self._id: tuple[int, int] | None = None
        self._closer: weakref.finalize | None = None

    def append(self, url: str, named: os.stat_result | None,
               check_end: bool = True) -> tuple[int, os.stat_result]:
        """Append ``url`` as one line with a single ``O_APPEND`` write, so concurrent
        appenders never tear lines, and flush it to disk; the number of bytes appended and
        the file's state after. ``named``: an ``lstat`` of :attr:`path` just taken (the open
        descriptor is used only if it is still that file). A line break is put first if the
        file ends mid-line (``check_end``: the caller does not know that it ends with one);
        racing another appender, that may leave a blank line, which readers skip."""
        fd = self._open(named)
        data = (url + NEWLINE).encode("utf-8")
        if check_end and _ends_mid_line(fd):
            data = NEWLINE.encode("ascii") + data
        written = os.write(fd, data)
        os.fsync(fd)
        if written != len(data):
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
        return written, os.fstat(fd)

    def _open(self, named: os.stat_result | None) -> int:
        if self._fd >= 0 and named is not None and (named.st_dev, named.st_ino) == self._id:
            return self._fd
        self.close()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | NOFOLLOW | NONBLOCK,
                     0o666)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise OSError(f"{self.path} is not a regular file")
        self._fd, self._id = fd, (info.st_dev, info.st_ino)
        self._closer = weakref.finalize(self, os.close, fd)
        return fd

    def close(self) -> None:
        """Close the descriptor (closing twice is harmless)."""
        if self._closer is not None:
            self._closer()
        self._fd, self._id, self._closer = -1, None, None


def _ends_mid_line(fd: int) -> bool:
    """Whether ``fd``'s file is non-empty and its last byte is not a line break."""
    size = os.fstat(fd).st_size
    if size == 0:
        return False
    os.lseek(fd, size - 1, os.SEEK_SET)  # appends still go to the end (O_APPEND)
    return os.read(fd, 1) not in (b"\n", b"\r")
