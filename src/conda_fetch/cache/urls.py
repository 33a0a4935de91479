"""``urls.txt``: the append-only list from which conda learns each archive's channel URL."""

from __future__ import annotations

import os
import stat
import threading
import time
import weakref
from pathlib import Path

URLS_TXT = "urls.txt"
NEWLINE = "\r\n" if os.name == "nt" else "\n"
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a urls.txt that is a link is refused, not followed
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # nor does a FIFO there block
GROUP_SECONDS = 0.1  # a lazy flush this soon after the last fsync leaves it to the next


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
    """Append ``url`` to ``pkgs``'s ``urls.txt`` once and flush it to disk (see
    :meth:`UrlsFile.append`); the number of bytes appended."""
    urls = UrlsFile(pkgs)
    try:
        appended, _, ticket = urls.append(url, None, check_end)
        urls.flush(ticket)
        return appended
    finally:
        urls.close()


class UrlsFile:
    """``urls.txt`` of one cache, kept open to append while it is the file named so (a run
    appends a line per file: one write each, no open). Lines reach the disk by
    :meth:`flush`, which threads share: one fsync covers every line written before it."""

    def __init__(self, pkgs: Path | str) -> None:
        self.path = os.path.join(os.fspath(pkgs), URLS_TXT)
        self._fd = -1
        self._id: tuple[int, int] | None = None
        self._closer: weakref.finalize | None = None
        self._written = 0  # lines appended through this object
        self._flushed = 0  # of those, the ones known to be on disk
        self._synced_at = -GROUP_SECONDS  # when the last fsync began (monotonic)
        self._flush_lock = threading.Lock()  # guards the descriptor against a flush

    def append(self, url: str, named: os.stat_result | None,
               check_end: bool = True) -> tuple[int, os.stat_result, int]:
        """Append ``url`` as one line with a single ``O_APPEND`` write, so concurrent
        appenders never tear lines; the number of bytes appended, the file's state after,
        and the ticket to pass to :meth:`flush`. Callers append one at a time.
        ``named``: an ``lstat`` of :attr:`path` just taken (the open descriptor is used
        only if it is still that file). A line break is put first if the file ends
        mid-line (``check_end``: the caller does not know that it ends with one); racing
        another appender, that may leave a blank line, which readers skip."""
        fd = self._open(named)
        data = (url + NEWLINE).encode("utf-8")
        if check_end and _ends_mid_line(fd):
            data = NEWLINE.encode("ascii") + data
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
        self._written += 1
        return written, os.fstat(fd), self._written

    def flush(self, ticket: int, lazy: bool = False) -> None:
        """Make the lines appended up to ``ticket`` durable. A thread that finds its line
        flushed by another's fsync meanwhile returns at once: threads committing together
        wait for one or two fsyncs, not one each in turn. ``lazy``: within
        :data:`GROUP_SECONDS` of the last fsync, leave the line to the next flush (the
        caller calls :meth:`sync` before it reports its work done)."""
        with self._flush_lock:
            if self._flushed >= ticket:
                return
            now = time.monotonic()
            if lazy and now - self._synced_at < GROUP_SECONDS:
                return
            written = self._written  # lines up to here are in the file the fsync flushes
            os.fsync(self._fd)
            self._flushed, self._synced_at = written, now

    def sync(self) -> None:
        """Make every line appended so far durable."""
        self.flush(self._written)

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
        """Flush what is pending, then close the descriptor (closing twice is harmless)."""
        with self._flush_lock:
            if self._fd >= 0 and self._flushed < self._written:
                os.fsync(self._fd)
            self._flushed = self._written
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
