"""Bundles: one tar holding a plan's packages and a manifest, carried to an offline machine.

The first member is ``manifest.json`` (format ``conda-fetch-bundle``, version 1,
records with urls and hashes); then ``pkgs/<fn>`` for each record. Packages are
already compressed, so the tar is not.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO

from conda_fetch.errors import CondaFetchError, InputError
from conda_fetch.files import copy_new, open_regular, replacing, write_atomically
from conda_fetch.hashing import mismatch
from conda_fetch.offline.export import as_explicit_md5
from conda_fetch.plan import deduplicate
from conda_fetch.plan.records import Record, make_record, stem
from conda_fetch.redact import without_credentials

FORMAT = "conda-fetch-bundle"
MANIFEST = "manifest.json"
MAX_MANIFEST = 16 << 20


def write_bundle(path: Path, records: Sequence[Record], pkgs: Path) -> None:
    """Write ``records`` (verified, from the package cache ``pkgs``) into a bundle at ``path``.

    The tar is written under a new name beside ``path`` and renamed over it when complete.
    """
    for record in records:
        problem = mismatch(pkgs / record.fn, record)
        if problem:
            raise CondaFetchError(f"{record.fn} in {pkgs}: {problem}; nothing was written")
    sized = [replace(r, size=(pkgs / r.fn).stat().st_size) for r in records]
    with replacing(path) as stream, tarfile.open(fileobj=stream, mode="w") as tar:
        _add_bytes(tar, MANIFEST, json.dumps(_manifest(sized), indent=1).encode())
        for record in sized:
            with open_regular(pkgs / record.fn) as package:
                info = tar.gettarinfo(arcname=f"pkgs/{record.fn}", fileobj=package)
                tar.addfile(info, package)


def _manifest(records: Sequence[Record]) -> dict:
    return {"format": FORMAT, "version": 1,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "records": [_entry(r) for r in records]}


def _entry(record: Record) -> dict:
    name, version, build = _split_fn(record.fn)
    return {"url": without_credentials(record.url), "fn": record.fn, "size": record.size,
            "sha256": record.sha256, "md5": record.md5, "name": name, "version": version,
            "build": build, "subdir": record.subdir}


def _split_fn(fn: str) -> tuple[str, str, str]:
    name, version, build = [*stem(fn).rsplit("-", 2), "", ""][:3]
    return name, version, build


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def is_bundle(path: Path) -> bool:
    """An uncompressed tar whose first member is named like a conda-fetch manifest."""
    try:
        with tarfile.open(path, "r:") as tar:
            first = tar.next()
    except (tarfile.TarError, OSError):
        return False
    return first is not None and first.name == MANIFEST


def read_manifest(path: Path) -> list[Record]:
    """The records of a bundle's manifest; anything malformed is an :class:`InputError`."""
    try:
        with tarfile.open(path, "r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise InputError(f"{path}: not a conda-fetch bundle")
            if first.size > MAX_MANIFEST:
                raise InputError(f"{path}: manifest larger than {MAX_MANIFEST >> 20} MiB")
            data = json.load(tar.extractfile(first))  # type: ignore[arg-type]
    except (tarfile.TarError, ValueError, RecursionError) as exc:
        raise InputError(f"{path}: not a conda-fetch bundle ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
        raise InputError(f"{path}: not a conda-fetch bundle of version 1")
    entries = data.get("records")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: the manifest lists no packages")
    return deduplicate([_record(entry, f"{path}: manifest record {index}")
                        for index, entry in enumerate(entries)])


def _record(entry: object, where: str) -> Record:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: not an object")
    try:
        return make_record(entry.get("url"), entry.get("fn"), entry.get("size"),
                           entry.get("sha256"), entry.get("md5"))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def unpack(path: Path, records: Sequence[Record], into: Path) -> Iterator[Path]:
    """Stream each package the manifest lists into ``into`` and yield its path.

    Members the manifest does not list are skipped; one larger than the manifest says
    (its header, or its bytes while they are copied) is refused before it is written.
    """
    sizes = {record.fn: record.size for record in records}
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            name = member.name.removeprefix("pkgs/")
            if not member.isfile() or member.name != f"pkgs/{name}" or name not in sizes:
                continue
            limit = sizes.pop(name)
            if limit is not None and member.size != limit:
                raise InputError(f"{path}: {member.name} holds {member.size} bytes, the manifest "
                                 f"says {limit}")
            target = into / name
            with tar.extractfile(member) as source:  # type: ignore[union-attr]
                copy_new(_Bounded(source, member.size), target)
            yield target


class _Bounded:
    """A member's stream that never yields more than its header's size."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream, self.left = stream, size

    def read(self, amount: int = -1) -> bytes:
        amount = self.left if amount < 0 else min(amount, self.left)
        data = self.stream.read(amount)
        self.left -= len(data)
        return data

    def seek(self, offset: int) -> int:
        return self.stream.seek(offset)

    def fileno(self) -> int:
        raise OSError("a tar member has no descriptor of its own")


def write_explicit(bundle: Path, records: Sequence[Record], fallback_dir: Path) -> Path:
    """Write the bundle's environment as an explicit file beside ``bundle`` (in
    ``fallback_dir`` when that folder is read-only); returns its path."""
    text = as_explicit_md5(records, {})
    name = bundle.name.removesuffix(".tar") + ".explicit.txt"
    for folder in (bundle.resolve().parent, fallback_dir):
        target = folder / name
        try:
            write_atomically(target, text)
        except OSError:
            continue
        return target
    raise CondaFetchError(f"cannot write {name} beside {bundle} nor in {fallback_dir}")


def install_command(explicit: Path) -> str:
    """The command that installs a bundle's environment from the filled cache, offline."""
    return f'conda create -n ENV --offline --file "{explicit}"'
