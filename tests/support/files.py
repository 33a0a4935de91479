"""Files to serve and the engine jobs that fetch them, for the engine's end-to-end tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conda_fetch.engine import Job


def make_files(root: Path, sizes: dict[str, int]) -> dict[str, tuple[int, str]]:
    """Files of the given sizes under ``root``, their bytes drawn from their names:
    name → (size, sha256)."""
    root.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, size in sizes.items():
        data = hashlib.shake_256(name.encode()).digest(size)
        (root / name).write_bytes(data)
        found[name] = (size, hashlib.sha256(data).hexdigest())
    return found


def jobs_for(work: Path, base: str, files: dict[str, tuple[int, str]]) -> list[Job]:
    """One job per file, served at ``base/<name>``, its part file under ``work``."""
    return [Job(name, [f"{base}/{name}"], work / f"{name}.part", size=size, sha256=sha)
            for name, (size, sha) in files.items()]
