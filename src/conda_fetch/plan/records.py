"""The record: one package file to fetch, as every plan reader produces it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from conda_fetch.errors import InputError
from conda_fetch.hashing import Expected

#: The file name endings of conda package archives.
EXTENSIONS = (".conda", ".tar.bz2")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")
SCHEMES = ("http", "https", "file")
MAX_URL = 4096
MAX_FN = 200  # conda's own names stay far below every file system's 255-byte limit
# name-version-build and an extension; only what conda's names use, so no path
# separator of any OS, no control character, no leading dot.
_PACKAGE_FN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+!~=-]*-[^-]+-[^-]+\.(?:conda|tar\.bz2)")
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.+!~=-]+")
_UNSAFE_URL = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class Record(Expected):
    """A package file: where it lives, its file name, and what it must be.

    ``url`` is the channel URL conda resolved; the cache records it without credentials.
    ``fn`` is always the URL's basename and a sane package file name.
    ``size``, ``sha256`` and ``md5`` (:class:`Expected`) are optional but checked whenever
    known.
    """

    url: str
    fn: str

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


def is_package_fn(fn: str) -> bool:
    """Whether ``fn`` is a file name conda could give a package archive."""
    return (len(fn) <= MAX_FN and _PACKAGE_FN.fullmatch(fn) is not None
            and _NAME_CHARS.fullmatch(fn) is not None and ".." not in fn)


def has_unsafe_chars(url: str) -> bool:
    """Whether ``url`` holds whitespace or control characters (never in a package URL; in
    an aria2 input or explicit file they would start new lines or options)."""
    return _UNSAFE_URL.search(url) is not None


def check_url(url: object) -> str:
    """``url`` if it is a usable package URL; raises :class:`InputError` naming what is wrong."""
    return _split_url(url)[0]


def _split_url(url: object) -> tuple[str, SplitResult]:
    """:func:`check_url`, and the parts of the URL."""
    if not isinstance(url, str):
        raise InputError(f"URL is not a string: {type(url).__name__}")
    if len(url) > MAX_URL:
        raise InputError(f"URL longer than {MAX_URL} characters")
    url = url.strip()
    if has_unsafe_chars(url):
        raise InputError(f"URL contains whitespace or control characters: {url!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise InputError(f"not a package URL ({exc}): {url!r}") from None
    if parts.scheme not in SCHEMES or not parts.path or parts.fragment:
        raise InputError(f"not a package URL: {url!r}")
    if parts.scheme != "file" and not parts.hostname:
        raise InputError(f"no host in URL: {url!r}")
    return url, parts


def make_record(
    url: object,
    fn: object = None,
    size: object = None,
    sha256: object = None,
    md5: object = None,
) -> Record:
    """Build a validated record; raises :class:`InputError` on nonsense values.

    The file name comes from the URL: ``fn``, when given, must be the same name.
    """
    url, parts = _split_url(url)
    name = unquote(parts.path.rsplit("/", 1)[-1])  # basename(), the URL parsed once
    if not is_package_fn(name):
        raise InputError(f"not a package file name (.conda or .tar.bz2): {name!r} in {url}")
    if fn not in (None, "") and fn != name:
        raise InputError(f"fn {fn!r} is not the URL's file name {name!r}")
    return Record(url=url, fn=name, size=_size(size), sha256=_checked(sha256, _SHA256, "sha256"),
                  md5=_checked(md5, _MD5, "md5"))


def _size(size: object) -> int | None:
    if size is None or size == "":
        return None
    if isinstance(size, bool) or not isinstance(size, (int, str)):
        raise InputError(f"size is not a number: {size!r}")
    try:
        value = int(size)
    except ValueError:
        raise InputError(f"size is not a number: {size!r}") from None
    if value < 0:
        raise InputError(f"negative size: {value}")
    return value


def _checked(value: object, pattern: re.Pattern[str], name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"{name} is not a string: {value!r}")
    value = value.strip().lower()
    if not pattern.fullmatch(value):
        raise InputError(f"malformed {name}: {value[:80]!r}")
    return value
