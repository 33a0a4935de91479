"""The record: one package file to fetch, as every plan reader produces it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from conda_fetch.errors import InputError
from conda_fetch.hashing import strongest

#: The file name endings of conda package archives.
EXTENSIONS = (".conda", ".tar.bz2")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Record:
    """A package file: where it lives, its file name, and what it must be.

    ``url`` is the channel URL conda resolved; the cache records it verbatim.
    ``size``, ``sha256`` and ``md5`` are optional but checked whenever known.
    """

    url: str
    fn: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None

    @property
    def digest(self) -> tuple[str, str] | None:
        """The strongest known checksum as ``(algorithm, hexdigest)``."""
        return strongest(self.sha256, self.md5)

    @property
    def subdir(self) -> str:
        """The platform folder the URL names (``linux-64``, ``noarch``), or ``""``."""
        return subdir_of(self.url)


def subdir_of(url: str) -> str:
    """The folder before the file name in ``url``'s path: a channel URL's subdir."""
    parts = urlsplit(url).path.rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 else ""


def stem(fn: str) -> str:
    """``fn`` without its package extension: the name of its extracted directory."""
    for extension in EXTENSIONS:
        if fn.endswith(extension):
            return fn[: -len(extension)]
    return fn


def basename(url: str) -> str:
    """The file name at the end of a URL's path."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def make_record(
    url: str,
    fn: str | None = None,
    size: int | str | None = None,
    sha256: str | None = None,
    md5: str | None = None,
) -> Record:
    """Build a validated record; raises :class:`InputError` on nonsense values."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "file") or not parts.path:
        raise InputError(f"not a package URL: {url!r}")
    fn = fn or basename(url)
    if not fn or "/" in fn or fn in (".", ".."):
        raise InputError(f"no file name in URL: {url!r}")
    if size is not None and size != "":
        try:
            size = int(size)
        except (TypeError, ValueError):
            raise InputError(f"size is not a number: {size!r}") from None
        if size < 0:
            raise InputError(f"negative size: {size}")
    else:
        size = None
    sha256 = _checked(sha256, _SHA256, "sha256")
    md5 = _checked(md5, _MD5, "md5")
    return Record(url=url, fn=fn, size=size, sha256=sha256, md5=md5)


def _checked(value: str | None, pattern: re.Pattern[str], name: str) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    if not pattern.fullmatch(value):
        raise InputError(f"malformed {name}: {value!r}")
    return value
