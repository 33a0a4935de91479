"""Checksums of files on disk, streamed in bounded memory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def strongest(sha256: str | None, md5: str | None) -> tuple[str, str] | None:
    """The strongest known checksum as ``(algorithm, hexdigest)``."""
    if sha256:
        return ("sha256", sha256)
    if md5:
        return ("md5", md5)
    return None


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of ``path`` with ``algorithm`` (``sha256`` or ``md5``)."""
    return file_digests(path, (algorithm,))[algorithm]


def file_digests(path: Path, algorithms: tuple[str, ...] = ("sha256", "md5")) -> dict[str, str]:
    """Several digests of ``path`` in one read."""
    digests = [hashlib.new(name) for name in algorithms]
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        while count := stream.readinto(buffer):
            for digest in digests:
                digest.update(view[:count])
    return {name: digest.hexdigest() for name, digest in zip(algorithms, digests, strict=True)}


@dataclass(frozen=True, kw_only=True)
class Expected:
    """What a file must be: its size and checksums, each maybe unknown. A plan's record and
    an engine's job both are one (by keyword: ``size=``, ``sha256=``, ``md5=``)."""

    size: int | None = None
    sha256: str | None = None
    md5: str | None = None

    @property
    def digest(self) -> tuple[str, str] | None:
        """The strongest known checksum as ``(algorithm, hexdigest)``."""
        return strongest(self.sha256, self.md5)

    def digest_problem(self, actual: str) -> str | None:
        """Why bytes whose :attr:`digest` algorithm gave ``actual`` are not this file, or
        ``None`` (also when no checksum is known)."""
        digest = self.digest
        if digest is None or actual == digest[1]:
            return None
        return f"{digest[0]} mismatch: got {actual}, expected {digest[1]}"

    def expectations(self) -> dict[str, Any]:
        """These fields by name, to make another :class:`Expected` of the same file."""
        return {f.name: getattr(self, f.name) for f in fields(Expected)}


def mismatch(path: Path, record: Expected) -> str | None:
    """Why ``path`` is not the file ``record`` describes, or ``None`` when it is.

    The size is compared first (cheap); then the strongest known checksum.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if record.size is not None and size != record.size:
        return f"size {size} differs from expected {record.size}"
    if record.digest is None:
        return None
    algorithm, expected = record.digest
    actual = file_digest(path, algorithm)
    if actual != expected:
        return f"{algorithm} {actual} differs from expected {expected}"
    return None
