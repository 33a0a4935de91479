"""An index file checked before it takes conda's name: it decompresses, parses, and is the
index of the subdir asked for."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from conda_fetch.errors import CondaFetchError

try:  # the zstd conda-package-streaming uses: the standard library's from Python 3.14
    from compression import zstd as _zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the Python
    try:
        from backports import zstd as _zstd  # type: ignore[import-not-found,no-redef]
    except ImportError:
        _zstd = None  # type: ignore[assignment]

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
        with _zstd.open(part, "rb") as source, open(out, "wb") as target:
            while chunk := source.read(CHUNK):
                target.write(chunk)
    except (_zstd.ZstdError, EOFError) as exc:
        raise BadIndex(f"not a complete zstd stream ({exc})") from None


def _check(data: bytes, subdir: str) -> None:
    try:
        index = json.loads(data)
    except ValueError as exc:
        raise BadIndex(f"not JSON ({exc})") from None
    if not isinstance(index, dict) or not any(
        isinstance(index.get(k), dict) for k in ("packages", "packages.conda")
    ):
        raise BadIndex("JSON, but no channel index (no packages)")
    named = (index.get("info") or {}).get("subdir") if isinstance(index.get("info"), dict) else None
    if named is not None and named != subdir:
        raise BadIndex(f"the index of {named!r}, not of {subdir!r}")
