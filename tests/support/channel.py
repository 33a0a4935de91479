"""Real channels for tests: archives laid out by subdir and indexed by conda-index.

conda-index imports two names from conda (``conda.models.version.VersionOrder``
and ``conda.base.constants.PLATFORM_DIRECTORIES``), and conda itself cannot be
installed from the registries CI reaches. ``conda_shim/`` provides just those
names, and is put on ``PYTHONPATH`` only for the conda-index subprocess, so the
test process never sees a ``conda`` module (the plugin's tests check for real
conda). The repodata.json files are conda-index's own output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conda_fetch.testing.packages import Built

SHIM = Path(__file__).with_name("conda_shim")


def build_channel(root: Path, packages: list[Built]) -> Path:
    """Copy ``packages`` into ``root/<subdir>/`` and index the channel; returns ``root``."""
    (root / "noarch").mkdir(parents=True, exist_ok=True)
    for package in packages:
        target = root / package.subdir
        target.mkdir(exist_ok=True)
        shutil.copy2(package.path, target / package.fn)
    path = os.pathsep.join([str(SHIM), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    subprocess.run(
        [sys.executable, "-m", "conda_index", "--no-current-repodata", "--no-channeldata",
         str(root)],
        check=True, env=env, capture_output=True, text=True,
    )
    return root


def load_repodata(channel: Path, subdir: str) -> dict:
    """The ``repodata.json`` conda-index wrote for ``subdir``."""
    return json.loads((channel / subdir / "repodata.json").read_text())


def plan_from_repodata(channel: Path, base_url: str, subdir: str) -> list[dict]:
    """FETCH records as conda's solver would give them for every package of ``subdir``."""
    repodata = load_repodata(channel, subdir)
    records = []
    for key in ("packages", "packages.conda"):
        for fn, entry in repodata.get(key, {}).items():
            records.append({**entry, "fn": fn, "url": f"{base_url}/{subdir}/{fn}",
                            "channel": base_url, "subdir": subdir})
    return records
