"""Bundles: one tar holding a plan's packages and a manifest, carried to an offline machine.

The first member is ``manifest.json`` (format ``conda-fetch-bundle``, version 1,
records with urls and hashes); then ``pkgs/<fn>`` for each record. Packages are
already compressed, so the tar is not.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from conda_fetch.errors import CondaFetchError, InputError
from conda_fetch.offline.export import as_explicit_md5
from conda_fetch.hashing import mismatch
from conda_fetch.plan.records import Record, make_record, stem

FORMAT = "conda-fetch-bundle"
MANIFEST = "manifest.json"


def write_bundle(path: Path, records: Sequence[Record], pkgs: Path) -> None:
    """Write ``records`` (verified, from the package cache ``pkgs``) into a bundle at ``path``."""
    for record in records:
        problem = mismatch(pkgs / record.fn, record)
        if problem:
            raise CondaFetchError(f"{record.fn} in {pkgs}: {problem}; nothing was written")
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tarfile.open(tmp, "w") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(_manifest(records), indent=1).encode())
            for record in records:
                tar.add(pkgs / record.fn, arcname=f"pkgs/{record.fn}", recursive=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _manifest(records: Sequence[Record]) -> dict:
    return {"format": FORMAT, "version": 1,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "records": [_entry(r) for r in records]}


def _entry(record: Record) -> dict:
    name, version, build = _split_fn(record.fn)
    return {"url": record.url, "fn": record.fn, "size": record.size, "sha256": record.sha256,
            "md5": record.md5, "name": name, "version": version, "build": build,
            "subdir": record.subdir}


def _split_fn(fn: str) -> tuple[str, str, str]:
    name, version, build = (stem(fn).rsplit("-", 2) + ["", ""])[:3]
    return name, version, build


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def is_bundle(path: Path) -> bool:
    """A tar whose first member is a conda-fetch manifest."""
    try:
        read_manifest(path)
    except (InputError, OSError):
        return False
    return True


def read_manifest(path: Path) -> list[Record]:
    """The records of a bundle's manifest."""
    try:
        with tarfile.open(path) as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise InputError(f"{path}: not a conda-fetch bundle")
            data = json.load(tar.extractfile(first))  # type: ignore[arg-type]
    except (tarfile.TarError, ValueError) as exc:
        raise InputError(f"{path}: not a conda-fetch bundle ({exc})") from None
    if data.get("format") != FORMAT or data.get("version") != 1:
        raise InputError(f"{path}: not a conda-fetch bundle of version 1")
    return [make_record(e["url"], e.get("fn"), e.get("size"), e.get("sha256"), e.get("md5"))
            for e in data.get("records", [])]


def unpack(path: Path, into: Path) -> Iterator[Path]:
    """Stream each package of the bundle into ``into`` and yield its path."""
    with tarfile.open(path) as tar:
        for member in tar:
            name = member.name.removeprefix("pkgs/")
            if not member.isfile() or member.name == MANIFEST or "/" in name:
                continue
            target = into / name
            with tar.extractfile(member) as source, open(target, "wb") as out:  # type: ignore[union-attr]
                while block := source.read(1 << 20):
                    out.write(block)
            yield target


def write_explicit(bundle: Path, records: Sequence[Record], fallback_dir: Path) -> Path:
    """Write the bundle's environment as an explicit file beside ``bundle`` (in
    ``fallback_dir`` when that folder is read-only); returns its path."""
    text = as_explicit_md5(records, {})
    name = bundle.name.removesuffix(".tar") + ".explicit.txt"
    for folder in (bundle.resolve().parent, fallback_dir):
        target = folder / name
        try:
            target.write_text(text, encoding="utf-8")
        except OSError:
            continue
        return target
    raise CondaFetchError(f"cannot write {name} beside {bundle} nor in {fallback_dir}")


def install_command(explicit: Path) -> str:
    """The command that installs a bundle's environment from the filled cache, offline."""
    return f'conda create -n ENV --offline --file "{explicit}"'
