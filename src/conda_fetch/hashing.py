"""Checksums of files on disk, streamed in bounded memory."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conda_fetch.records import Record

CHUNK = 1 << 20


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
    return {name: digest.hexdigest() for name, digest in zip(algorithms, digests)}


def mismatch(path: Path, record: Record) -> str | None:
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
