"""A sample channel on loopback servers that cut, throttle, stall and refuse,
fetched with the normal engine and display: the product working with no network."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from conda_fetch.plan.records import Record, make_record
from conda_fetch.testing.faultserver import Faults, FaultServer
from conda_fetch.testing.packages import build_package

MiB = 1 << 20
SUBDIR = "noarch"

#: (name, payload size): a few small packages and one of tens of MB.
PACKAGES = [
    ("demo-tiny", MiB // 4),
    ("demo-small", 2 * MiB),
    ("demo-medium", 6 * MiB),
    ("demo-large", 12 * MiB),
    ("demo-huge", 40 * MiB),
]


def demo_faults() -> Faults:
    """What the demo's server does wrong, and what the engine must survive."""
    return Faults(
        cut_every=5 * MiB,
        throttle=6 * MiB,
        status_script=[(503, 1.0), (429, 0.5)],
        stall_after=1 * MiB,
        stall_count=1,
    )


@dataclass
class SampleChannel:
    """A channel directory holding built packages and its ``repodata.json``."""

    root: Path
    records: list[dict]


def build_channel(root: Path, packages: list[tuple[str, int]] = PACKAGES) -> SampleChannel:
    """Build real ``.conda`` archives under ``root/noarch`` and index them."""
    subdir = root / SUBDIR
    subdir.mkdir(parents=True, exist_ok=True)
    entries = [_build(subdir, name, size) for name, size in packages]
    repodata = {
        "info": {"subdir": SUBDIR},
        "packages": {},
        "packages.conda": {entry["fn"]: entry for entry in entries},
        "repodata_version": 1,
    }
    (subdir / "repodata.json").write_text(json.dumps(repodata, indent=1))
    return SampleChannel(root=root, records=entries)


def _build(subdir: Path, name: str, payload: int) -> dict:
    built = build_package(subdir, name, subdir=SUBDIR, payload=payload)
    return {"name": built.name, "version": built.version, "build": built.build,
            "build_number": 0, "depends": [], "subdir": SUBDIR, "noarch": "generic",
            "fn": built.fn, "size": built.size, "sha256": built.sha256, "md5": built.md5}


def plan_for(channel: SampleChannel, server: FaultServer) -> list[Record]:
    """Records as conda would plan them: URLs on the serving channel."""
    return [
        make_record(server.url_for(f"{SUBDIR}/{e['fn']}"), e["fn"], e["size"], e["sha256"],
                    e["md5"])
        for e in channel.records
    ]
