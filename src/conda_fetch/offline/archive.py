"""What a package archive says about itself: its ``info/index.json``, read by content."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from conda_package_streaming.package_streaming import stream_conda_info

from conda_fetch.errors import CondaFetchError

MAX_INDEX = 1 << 20  # real ones are well under 10 KB


class ArchiveError(CondaFetchError):
    """The file is not a readable conda package."""


@dataclass(frozen=True)
class PackageIdentity:
    """Name, version, build and subdir from ``info/index.json``, plus the archive format."""

    name: str
    version: str
    build: str
    subdir: str
    ext: str

    @property
    def fn(self) -> str:
        """The file name conda gives this package."""
        return f"{self.name}-{self.version}-{self.build}{self.ext}"


def archive_format(path: Path) -> str:
    """``.conda`` (a zip) or ``.tar.bz2``, judged by the first bytes, not the name."""
    with open(path, "rb") as stream:
        magic = stream.read(4)
    if magic.startswith(b"PK"):
        return ".conda"
    if magic.startswith(b"BZh"):
        return ".tar.bz2"
    raise ArchiveError(f"{path.name}: not a conda package (neither .conda nor .tar.bz2)")


def read_identity(path: Path) -> PackageIdentity:
    """The package's identity from its own ``info/index.json``."""
    ext = archive_format(path)
    index = _read_index(path, ext)
    try:
        return PackageIdentity(str(index["name"]), str(index["version"]), str(index["build"]),
                               str(index.get("subdir") or "noarch"), ext)
    except KeyError as exc:
        raise ArchiveError(f"{path.name}: info/index.json lacks {exc}") from None


def _read_index(path: Path, ext: str) -> dict:
    try:
        with open(path, "rb") as stream:
            for tar, member in stream_conda_info(_stream_name(stream, ext), stream):
                if member.name == "info/index.json":
                    return _parse_index(path, tar.extractfile(member), member.size)
    except ArchiveError:
        raise
    except Exception as exc:
        raise ArchiveError(f"{path.name}: cannot read the archive ({type(exc).__name__}: {exc})") \
            from None
    raise ArchiveError(f"{path.name}: no info/index.json in the archive")


def _parse_index(path: Path, data: BinaryIO | None, size: int) -> dict:
    """The JSON object of ``info/index.json``, read only if it is of a sane size."""
    if data is None or size > MAX_INDEX:
        raise ArchiveError(f"{path.name}: info/index.json is not a small regular file "
                           f"({size} bytes)")
    index = json.loads(data.read(MAX_INDEX + 1))
    if not isinstance(index, dict):
        raise ArchiveError(f"{path.name}: info/index.json is not a JSON object")
    return index


def _stream_name(stream: BinaryIO, ext: str) -> str:
    """The name conda-package-streaming needs: it finds a ``.conda``'s parts by its stem,
    so take the stem from the ``info-<stem>.tar.zst`` member, not from the file name."""
    if ext != ".conda":
        return f"package{ext}"
    with zipfile.ZipFile(stream) as archive:
        names = [n for n in archive.namelist() if n.startswith("info-") and n.endswith(".tar.zst")]
    stream.seek(0)
    if not names:
        raise ArchiveError("no info-*.tar.zst member")
    return names[0].removeprefix("info-").removesuffix(".tar.zst") + ".conda"
