"""``urls.txt``: the append-only list from which conda learns each archive's channel URL."""

from __future__ import annotations

import os
from pathlib import Path

URLS_TXT = "urls.txt"
NEWLINE = "\r\n" if os.name == "nt" else "\n"
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a urls.txt that is a link is refused, not followed


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
    """Append ``url`` as one line with a single ``O_APPEND`` write, so concurrent
    appenders never tear lines, and flush it to disk; the number of bytes appended.
    A line break is put first if the file ends mid-line (``check_end``: the caller does not
    know that it ends with one); racing another appender, that may leave a blank line,
    which readers skip."""
    path = pkgs / URLS_TXT
    data = (url + NEWLINE).encode("utf-8")
    if check_end and _ends_mid_line(path):
        data = NEWLINE.encode("ascii") + data
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW, 0o666)
    try:
        written = os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if written != len(data):
        raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
    return written


def _ends_mid_line(path: Path) -> bool:
    """Whether ``path`` is non-empty and its last byte is not a line break."""
    try:
        with open(path, "rb") as stream:
            if stream.seek(0, os.SEEK_END) == 0:
                return False
            stream.seek(-1, os.SEEK_END)
            return stream.read(1) not in (b"\n", b"\r")
    except FileNotFoundError:
        return False
