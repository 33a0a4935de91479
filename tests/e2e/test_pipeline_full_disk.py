"""A disk that fills mid-run (a small tmpfs): nothing unverified under conda's names, the
run fails, and what was verified is kept."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.channel import plan_from_repodata

MiB = 1 << 20


@pytest.fixture
def small_disk(tmp_path):  # type: ignore[no-untyped-def]
    """A 3 MiB tmpfs, where the machine lets this user mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.name != "posix" or shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small file system")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not permitted'})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _run(tmp_path: Path, channel: Path, url: str, pkgs: Path) -> tuple[int, dict, str, list[dict]]:
    records = plan_from_repodata(channel, url, "noarch")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"actions": {"FETCH": records}}))
    done = subprocess.run([sys.executable, "-m", "conda_fetch", "get", str(plan), "--pkgs-dir",
                           str(pkgs), "--json", "--quiet", "--retries", "1",
                           "--stall-timeout", "2"],
                          capture_output=True, text=True, timeout=90)
    return done.returncode, json.loads(done.stdout), done.stderr, records


def test_a_full_disk_leaves_only_verified_archives(tmp_path, small_disk, channel,
                                                   fault_server) -> None:
    server = fault_server(channel)
    pkgs = small_disk / "pkgs"
    code, report, _, records = _run(tmp_path, channel, server.url, pkgs)
    assert code == 1 and report["success"] is False
    by_fn = {r["fn"]: r for r in records}
    for path in pkgs.iterdir():
        if path.name.endswith(".conda"):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == by_fn[path.name]["sha256"]
    assert not (pkgs / "gamma-1.0-0.conda").exists()


def test_a_full_disk_is_reported_for_every_file(tmp_path, small_disk, channel,
                                                fault_server) -> None:
    server = fault_server(channel)
    _, report, err, records = _run(tmp_path, channel, server.url, small_disk / "pkgs")
    named = {e["fn"] for kind in ("fetched", "cached", "failed") for e in report[kind]}
    assert named == {r["fn"] for r in records}
    assert any("space" in e["error"] for e in report["failed"])
    assert "Traceback" not in err


def test_a_resume_state_that_does_not_fit_leaves_no_file_behind(small_disk) -> None:
    from conda_fetch.engine.partfile import PartFile, RangeSet

    part = PartFile(small_disk / "f.conda.part", {"size": MiB})
    part.load()
    fd = part.open()
    filler = small_disk / "filler"
    with open(filler, "wb") as stream, pytest.raises(OSError):
        while True:  # until the disk is full
            stream.write(bytes(64 << 10))
            stream.flush()
    with pytest.raises(OSError):
        part.save(fd, RangeSet([(0, 1000)]))
    part.close(fd)
    assert sorted(p.name for p in small_disk.iterdir()) == ["f.conda.part", "filler"]
