"""An index file checked before it takes conda's name: it decompresses, parses, and is the
index of the subdir asked for."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any

from conda_fetch.errors import CondaFetchError
from conda_fetch.files import create_new


def zstd_module() -> Any:
    """The zstd conda-package-streaming uses: the standard library's from Python 3.14, else
    its backport; ``None`` without either."""
    for name in ("compression.zstd", "backports.zstd"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None  # pragma: no cover - conda-package-streaming brings one


_zstd = zstd_module()


def can_decompress() -> bool:
    """Whether ``.json.zst`` can be checked here (else only ``.json`` is asked for)."""
    return _zstd is not None

CHUNK = 1 << 20


class BadIndex(CondaFetchError):
    """The bytes fetched are not the index asked for (truncated, not JSON, another subdir)."""


def verified_json(part: Path, compressed: bool, subdir: str, out: Path) -> str:
    """Check the fetched ``part``; the uncompressed index ends up at ``out`` (beside it).

    Returns the blake2b-256 hex digest of the uncompressed index (conda 24.1 to 26.3
    record it). Raises :class:`BadIndex`, leaving no ``out`` behind.
    """
    try:
        if compressed:
            _decompress(part, out)
        else:
            os.replace(part, out)
        data = out.read_bytes()
        _check(data, subdir)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def _decompress(part: Path, out: Path) -> None:
    if _zstd is None:  # pragma: no cover - conda-package-streaming brings one
        raise BadIndex("no zstd decompressor in this Python")
    try:
        out.unlink(missing_ok=True)  # a link planted there goes, it is not written through
        with _zstd.open(part, "rb") as source, create_new(out) as target:
            while chunk := source.read(CHUNK):
                target.write(chunk)
    except (_zstd.ZstdError, EOFError) as exc:
        raise BadIndex(f"not a complete zstd stream ({exc})") from None


def _check(data: bytes, subdir: str) -> None:
    """It parses, is a channel index, and names ``subdir`` when it names one. Parsed with
    every large nested object (a package record) reduced to one shared marker as soon as it
    is read, so the check costs about the file's size in memory, not the many times a full
    parse would."""
    try:
        index = json.loads(data, object_pairs_hook=_reduced)
    except ValueError as exc:
        raise BadIndex(f"not JSON ({exc})") from None
    if not isinstance(index, dict) or not any(
        isinstance(index.get(k), dict) for k in ("packages", "packages.conda")
    ):
        raise BadIndex("JSON, but no channel index (no packages)")
    info = index.get("info")
    named = info.get("subdir") if isinstance(info, dict) else None
    if named is not None and named != subdir:
        raise BadIndex(f"the index of {named!r}, not of {subdir!r}")


_TOP = frozenset({"packages", "packages.conda", "info", "repodata_version", "removed"})
_SMALL = 6  # ``info`` has a few keys; a package record has many more
_OBJECT: dict[str, Any] = {}  # what a large nested object becomes (never changed)


def _reduced(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(pairs) <= _SMALL:
        return dict(pairs)
    for key, _ in pairs:
        if key in _TOP:
            return dict(pairs)
    return _OBJECT
