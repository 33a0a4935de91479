"""Real conda package archives, built with conda-package-handling, for the demo and the tests."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from conda_package_handling import api as cph


@dataclass(frozen=True)
class Built:
    """A package archive on disk with the facts a channel index would list."""

    path: Path
    name: str
    version: str
    build: str
    subdir: str
    size: int
    sha256: str
    md5: str

    @property
    def fn(self) -> str:
        return self.path.name


def build_package(
    out_dir: Path,
    name: str = "demo",
    version: str = "1.0",
    build: str = "0",
    subdir: str = "noarch",
    payload: int = 1024,
    ext: str = ".conda",
    seed: int = 0,
) -> Built:
    """Write ``name-version-build{ext}`` into ``out_dir`` with ``payload`` random-ish bytes.

    The payload is incompressible so the archive is about ``payload`` bytes.
    """
    work = out_dir / f".build-{name}-{version}-{build}-{seed}"
    (work / "info").mkdir(parents=True, exist_ok=True)
    index = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": [],
        "subdir": subdir,
        "arch": None,
        "platform": None,
    }
    if subdir == "noarch":
        index["noarch"] = "generic"
    (work / "info" / "index.json").write_text(json.dumps(index))
    (work / "info" / "files").write_text("share/payload.bin\n")
    (work / "share").mkdir(exist_ok=True)
    data = _payload(payload, f"{name}{version}{build}{seed}".encode())
    (work / "share" / "payload.bin").write_bytes(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    fn = f"{name}-{version}-{build}{ext}"
    files = ["info/index.json", "info/files", "share/payload.bin"]
    kwargs = {"compression_level": 1} if ext == ".conda" else {}
    cph.create(str(work), files, fn, out_folder=str(out_dir), **kwargs)
    _rmtree(work)
    path = out_dir / fn
    blob = path.read_bytes()
    return Built(
        path=path,
        name=name,
        version=version,
        build=build,
        subdir=subdir,
        size=len(blob),
        sha256=hashlib.sha256(blob).hexdigest(),
        md5=hashlib.md5(blob).hexdigest(),
    )


def _payload(size: int, seed: bytes) -> bytes:
    """Deterministic incompressible bytes (SHAKE-256 stream)."""
    return hashlib.shake_256(seed).digest(size) if size else b""


def _rmtree(path: Path) -> None:
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            os.unlink(os.path.join(root, name))
        for name in dirs:
            os.rmdir(os.path.join(root, name))
    os.rmdir(path)
