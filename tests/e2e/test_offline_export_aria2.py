"""The aria2 export on a bad network: one aria2c run through 503s and cuts, reruns that
resume without renamed copies, and ``import`` naming an unfinished aria2 file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conda_fetch.cli import main
from conda_fetch.testing.faultserver import Faults
from conda_fetch.testing.packages import build_package
from support.channel import build_channel, plan_from_repodata

needs_aria2 = pytest.mark.skipif(not shutil.which("aria2c"),
                                 reason="aria2c is not installed (apt-get install aria2)")


@pytest.fixture(scope="module")
def channel(tmp_path_factory) -> Path:
    built = tmp_path_factory.mktemp("built")
    return build_channel(tmp_path_factory.mktemp("channel"),
                         [build_package(built, "alpha", payload=120_000),
                          build_package(built, "gamma", payload=600_000)])


def _export(tmp_path: Path, channel: Path, url: str, capsys) -> tuple[Path, Path]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"actions": {"FETCH": plan_from_repodata(channel, url, "noarch")}}))
    listing = tmp_path / "todo.txt"
    assert main(["export", str(plan), "-f", "aria2", "-o", str(listing),
                 "--pkgs-dir", str(tmp_path / "pkgs")]) == 0
    assert f"aria2c -i {listing} -d downloads" in capsys.readouterr().err
    return plan, listing


def _aria2c(listing: Path, out: Path) -> int:
    """aria2c on the exported list, its pause between tries cut to 1 s to keep tests fast
    (aria2 retries a 503 only when that pause is above 0)."""
    fast = listing.with_name("fast.txt")
    text = listing.read_text()
    assert "  retry-wait=10\n" in text
    fast.write_text(text.replace("  retry-wait=10\n", "  retry-wait=1\n"))
    return subprocess.run(["aria2c", "-q", "-i", str(fast), "-d", str(out)],
                          capture_output=True, timeout=60).returncode


@needs_aria2
def test_one_aria2c_run_gets_through_503_and_cuts(tmp_path, channel, fault_server,
                                                   capsys) -> None:
    server = fault_server(channel, Faults(status_script=[(503, None)], cut_every=100_000))
    plan, listing = _export(tmp_path, channel, server.url, capsys)
    downloads = tmp_path / "downloads"
    assert _aria2c(listing, downloads) == 0
    assert _aria2c(listing, downloads) == 0  # a rerun: nothing renamed, nothing fetched again
    assert sorted(p.name for p in downloads.iterdir()) == sorted(
        r["fn"] for r in plan_from_repodata(channel, server.url, "noarch"))
    assert main(["import", str(downloads), "--plan", str(plan), "--pkgs-dir",
                 str(tmp_path / "pkgs"), "-q"]) == 0


def test_import_names_an_unfinished_aria2_file(tmp_path, channel, capsys) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    archive = next((channel / "noarch").glob("gamma-*"))
    partial = downloads / archive.name
    partial.write_bytes(archive.read_bytes()[:1000] + bytes(archive.stat().st_size - 1000))
    (downloads / f"{archive.name}.aria2").write_bytes(b"\x00\x01")
    assert main(["import", str(downloads), "--channel", channel.as_uri(), "--pkgs-dir",
                 str(tmp_path / "pkgs")]) == 1
    err = capsys.readouterr().err
    assert f"{archive.name} refused: unfinished aria2 download" in err
    assert not (tmp_path / "pkgs" / archive.name).exists()
