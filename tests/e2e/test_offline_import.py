"""conda-fetch import: files fetched by hand, verified against plans or channel repodata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conda_fetch.cache.urls import append_url, read_urls
from conda_fetch.cli import main
from conda_fetch.hashing import file_digest
from conda_fetch.offline.repodata import conda_cache_key
from conda_fetch.testing.faultserver import refused_url
from conda_fetch.testing.packages import build_package
from support.channel import build_channel, load_repodata, plan_from_repodata

MiB = 1 << 20


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("built")
    packages = {
        "alpha": build_package(out, "alpha", payload=200_000),
        "beta": build_package(out, "beta", payload=300_000, ext=".tar.bz2", subdir="linux-64"),
        "gamma": build_package(out, "gamma", payload=1 * MiB),
    }
    channel = build_channel(tmp_path_factory.mktemp("channel"), list(packages.values()))
    unknown = build_package(tmp_path_factory.mktemp("other"), "zeta", payload=1000)
    return {"packages": packages, "channel": channel, "unknown": unknown}


def _downloads(tmp_path: Path, built: dict) -> Path:
    """A folder as a user leaves it: good, renamed, tampered, truncated, unknown, duplicate."""
    folder = tmp_path / "downloads"
    (folder / "again").mkdir(parents=True)
    p = built["packages"]
    shutil.copy(p["alpha"].path, folder / "alpha-1.0-0.conda")
    shutil.copy(p["alpha"].path, folder / "again" / "alpha-1.0-0.conda")
    shutil.copy(p["beta"].path, folder / "beta (1).tar.bz2")
    tampered = bytearray(p["gamma"].path.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    (folder / "gamma-1.0-0.conda").write_bytes(tampered)
    beta = p["beta"].path.read_bytes()
    (folder / "beta-truncated.tar.bz2").write_bytes(beta[: len(beta) // 2])
    shutil.copy(built["unknown"].path, folder / built["unknown"].fn)
    return folder


def _verdicts(capsys) -> dict[str, tuple[str, str]]:
    return {name: found[-1] for name, found in _all_verdicts(capsys).items()}


def _all_verdicts(capsys) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for entry in json.loads(capsys.readouterr().out)["files"]:
        found.setdefault(Path(entry["path"]).name, []).append((entry["status"], entry["reason"]))
    return found


def test_import_folder_against_channel(tmp_path, built, fault_server, capsys) -> None:
    server = fault_server(built["channel"])
    folder = _downloads(tmp_path, built)
    pkgs = tmp_path / "pkgs"
    code = main(["import", str(folder), "--channel", server.url, "--pkgs-dir", str(pkgs),
                 "--json"])
    assert code == 1
    found = _all_verdicts(capsys)
    verdicts = {name: entries[-1] for name, entries in found.items()}
    assert verdicts["beta (1).tar.bz2"][0] == "adopted"
    assert sorted(s for s, _ in found["alpha-1.0-0.conda"]) == ["adopted", "already present"]
    assert verdicts["gamma-1.0-0.conda"] == ("refused", verdicts["gamma-1.0-0.conda"][1])
    assert "tampered" in verdicts["gamma-1.0-0.conda"][1]
    assert verdicts["beta-truncated.tar.bz2"][0] == "refused"
    assert "no known record" in verdicts["zeta-1.0-0.conda"][1]
    urls = read_urls(pkgs)
    p = built["packages"]
    assert urls == {
        p["alpha"].fn: f"{server.url}/noarch/{p['alpha'].fn}",
        p["beta"].fn: f"{server.url}/linux-64/{p['beta'].fn}",
    }
    assert file_digest(pkgs / p["beta"].fn, "sha256") == p["beta"].sha256
    assert not (pkgs / p["gamma"].fn).exists()
    assert (folder / "beta (1).tar.bz2").exists()  # copied, not moved


def test_import_with_a_plan_and_move(tmp_path, built, capsys) -> None:
    p = built["packages"]
    records = plan_from_repodata(built["channel"], "https://conda.example/chan", "noarch")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"actions": {"FETCH": records}}))
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(p["gamma"].path, source / p["gamma"].fn)
    pkgs = tmp_path / "pkgs"
    assert main(["import", str(source), "--plan", str(plan), "--pkgs-dir", str(pkgs), "--move",
                 "-q"]) == 0
    assert not (source / p["gamma"].fn).exists()
    assert read_urls(pkgs)[p["gamma"].fn] == f"https://conda.example/chan/noarch/{p['gamma'].fn}"


def test_in_place_registers_files_dropped_into_pkgs(tmp_path, built, fault_server, capsys) -> None:
    server = fault_server(built["channel"])
    p = built["packages"]
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    append_url(pkgs, f"{server.url}/noarch/other-1-0.conda")
    for name in ("alpha", "beta"):
        shutil.copy(p[name].path, pkgs / p[name].fn)
    assert main(["import", "--in-place", "--channel", server.url, "--pkgs-dir", str(pkgs),
                 "--json"]) == 0
    assert {s for s, _ in _verdicts(capsys).values()} == {"adopted"}
    urls = read_urls(pkgs)
    assert urls[p["beta"].fn] == f"{server.url}/linux-64/{p['beta'].fn}"
    assert urls[p["alpha"].fn] == f"{server.url}/noarch/{p['alpha'].fn}"


def test_conda_cached_repodata_works_offline(tmp_path, built, capsys) -> None:
    channel = refused_url() + "/chan"
    pkgs = tmp_path / "pkgs"
    (pkgs / "cache").mkdir(parents=True)
    repodata = load_repodata(built["channel"], "noarch")
    (pkgs / "cache" / conda_cache_key(f"{channel}/noarch")).write_text(json.dumps(repodata))
    p = built["packages"]
    assert main(["import", str(p["alpha"].path), "--channel", channel, "--pkgs-dir", str(pkgs),
                 "-q"]) == 0
    assert read_urls(pkgs)[p["alpha"].fn] == f"{channel}/noarch/{p['alpha'].fn}"


def test_refusals_leave_the_cache_unchanged(tmp_path, built, fault_server) -> None:
    server = fault_server(built["channel"])
    folder = _downloads(tmp_path, built)
    for name in ("alpha-1.0-0.conda", "beta (1).tar.bz2"):
        (folder / name).unlink()
    shutil.rmtree(folder / "again")
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    (pkgs / "urls.txt").write_text("")
    assert main(["import", str(folder), "--channel", server.url, "--pkgs-dir", str(pkgs),
                 "-q"]) == 1
    # the channel's index is now in conda's index cache (cache/), as conda would put it
    kept = {".conda-fetch", "cache"}
    assert sorted(p.name for p in pkgs.iterdir() if p.name not in kept) == ["urls.txt"]
    assert (pkgs / "urls.txt").read_text() == ""
    assert list((pkgs / ".conda-fetch").glob("*.import-*")) == []
