"""A sample channel on loopback servers that cut, throttle, stall and refuse,
fetched with the normal engine and display: the product working with no network."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conda_package_handling import api as cph

from conda_fetch.testing.faultserver import Faults, FaultServer
from conda_fetch.plan.records import Record, make_record

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
    version, build = "1.0", "0"
    fn = f"{name}-{version}-{build}.conda"
    with tempfile.TemporaryDirectory() as work:
        prefix = Path(work)
        (prefix / "info").mkdir()
        index = {"name": name, "version": version, "build": build, "build_number": 0,
                 "depends": [], "subdir": SUBDIR, "noarch": "generic"}
        (prefix / "info" / "index.json").write_text(json.dumps(index))
        (prefix / "info" / "files").write_text("share/demo/payload.bin\n")
        (prefix / "share" / "demo").mkdir(parents=True)
        (prefix / "share" / "demo" / "payload.bin").write_bytes(
            hashlib.shake_256(name.encode()).digest(payload)
        )
        files = ["info/index.json", "info/files", "share/demo/payload.bin"]
        cph.create(str(prefix), files, fn, out_folder=str(subdir), compression_level=1)
    blob = (subdir / fn).read_bytes()
    return {**index, "fn": fn, "size": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(), "md5": hashlib.md5(blob).hexdigest()}


def plan_for(channel: SampleChannel, server: FaultServer) -> list[Record]:
    """Records as conda would plan them: URLs on the serving channel."""
    return [
        make_record(server.url_for(f"{SUBDIR}/{e['fn']}"), e["fn"], e["size"], e["sha256"],
                    e["md5"])
        for e in channel.records
    ]
