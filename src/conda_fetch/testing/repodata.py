"""Generated channel indexes of any size, as conda-index lays them out: ``repodata.json``
per subdir, optionally with ``repodata.json.zst`` beside it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conda_fetch.index.verify import zstd_module

ENTRY_BYTES = 420  # about what one generated record takes in the JSON


def repodata(subdir: str, size: int, seed: str = "") -> bytes:
    """A valid ``repodata.json`` for ``subdir`` of about ``size`` bytes (``seed`` varies it)."""
    packages = {}
    for n in range(max(1, size // ENTRY_BYTES)):
        digest = hashlib.sha256(f"{seed}{subdir}{n}".encode()).hexdigest()
        packages[f"pkg{n % 997}-{n // 997}.0-h{digest[:7]}_0.tar.bz2"] = {
            "name": f"pkg{n % 997}", "version": f"{n // 997}.0", "build": f"h{digest[:7]}_0",
            "build_number": 0, "depends": ["python >=3.8"], "license": "BSD-3-Clause",
            "md5": digest[:32], "sha256": digest, "size": 1000 + n, "subdir": subdir,
            "timestamp": 1700000000000 + n,
        }
    document = {"info": {"subdir": subdir}, "packages": packages, "packages.conda": {},
                "removed": [], "repodata_version": 1}
    return json.dumps(document, indent=1, sort_keys=True).encode()


def write_index(channel: Path, subdir: str, size: int, zst: bool = True, seed: str = "") -> Path:
    """Write ``channel/subdir/repodata.json`` (and its ``.zst`` when ``zst``); returns the json."""
    folder = channel / subdir
    folder.mkdir(parents=True, exist_ok=True)
    data = repodata(subdir, size, seed)
    target = folder / "repodata.json"
    target.write_bytes(data)
    compressed = folder / "repodata.json.zst"
    if zst:
        compressed.write_bytes(compress(data))
    else:
        compressed.unlink(missing_ok=True)
    return target


def compress(data: bytes) -> bytes:
    """zstd, as channels serve ``repodata.json.zst``."""
    return bytes(zstd_module().compress(data, 3))
