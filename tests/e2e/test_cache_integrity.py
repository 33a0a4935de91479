"""What lands in conda's package cache: only verified bytes under names from URLs, never a
link, never a write through a planted symlink; export and doctor only read."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from conda_fetch.cache.urls import append_url, read_urls
from conda_fetch.cli import main
from conda_fetch.testing.packages import build_package
from support.channel import build_channel, plan_from_repodata

QUICK = ["--quiet", "--stall-timeout", "2", "--retries", "2"]


@pytest.fixture(scope="module")
def packages(channel: Path) -> dict[str, Path]:
    """The session channel's alpha (noarch .conda) and beta (linux-64 .tar.bz2)."""
    return {"alpha": channel / "noarch" / "alpha-1.0-0.conda",
            "beta": channel / "linux-64" / "beta-1.0-0.tar.bz2"}


def _plan(tmp_path: Path, root: Path, url: str, **overrides: object) -> tuple[Path, list[dict]]:
    records = plan_from_repodata(root, url, "noarch") + plan_from_repodata(root, url, "linux-64")
    records = [{**r, **overrides} if r["name"] == "alpha" else r for r in records
               if r["name"] in ("alpha", "beta")]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"success": True, "actions": {"FETCH": records}}))
    return plan, records


def _snapshot(folder: Path) -> list[tuple[str, str]]:
    """Every entry under ``folder`` with its bytes' hash (or link target)."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found.append((str(path.relative_to(folder)), "-> " + os.readlink(path)))
        elif path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found.append((str(path.relative_to(folder)), digest))
        else:
            found.append((str(path.relative_to(folder)), "dir"))
    return found


def _conda_cache(tmp_path: Path, package: Path) -> Path:
    """A cache as conda leaves it: an archive, its urls.txt line, its extracted folder."""
    pkgs = tmp_path / "pkgs"
    (pkgs / "cache").mkdir(parents=True)
    (pkgs / "cache" / "abc.json").write_text("{}")
    shutil.copy(package, pkgs / package.name)
    append_url(pkgs, f"https://conda.example/chan/noarch/{package.name}")
    (pkgs / package.name.removesuffix(".conda") / "info").mkdir(parents=True)
    (pkgs / package.name.removesuffix(".conda") / "info" / "index.json").write_text("{}")
    return pkgs


@pytest.mark.parametrize("fn", ["urls.txt", "cache", "gamma-1.0-0.conda", "..", "x\\..\\y.conda",
                                "a\x00b.conda"])
def test_a_plan_cannot_choose_where_bytes_land(tmp_path, capsys, channel, packages, fault_server,
                                               fn) -> None:
    root = channel
    server = fault_server(root)
    pkgs = _conda_cache(tmp_path, packages["alpha"])
    before = _snapshot(pkgs)
    plan, _ = _plan(tmp_path, root, server.url, fn=fn)
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), *QUICK]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "actions.FETCH[" in err and "fn" in err
    assert _snapshot(pkgs) == before
    assert server.stats.requests == 0


def test_planted_symlinks_in_a_shared_cache_are_not_followed(tmp_path, channel, packages,
                                                              fault_server) -> None:
    root = channel
    server = fault_server(root)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    pkgs = tmp_path / "pkgs"
    work = pkgs / ".conda-fetch"
    work.mkdir(parents=True)
    for record_fn in (packages["alpha"].name, packages["beta"].name):
        for suffix in (".part", ".part.state", ".part.state.tmp"):
            (work / f"{record_fn}{suffix}").symlink_to(victim)
    plan, records = _plan(tmp_path, root, server.url)
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), *QUICK]) == 0
    assert victim.read_text() == "precious\n"
    for record in records:
        path = pkgs / record["fn"]
        assert not path.is_symlink()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"]


def test_an_archive_name_that_is_a_link_is_replaced_by_the_verified_file(tmp_path, channel,
                                                                          packages,
                                                                          fault_server) -> None:
    root = channel
    server = fault_server(root)
    outside = tmp_path / "outside.conda"
    shutil.copy(packages["alpha"], outside)
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    (pkgs / packages["alpha"].name).symlink_to(outside)
    plan, _ = _plan(tmp_path, root, server.url)
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), *QUICK]) == 0
    assert not (pkgs / packages["alpha"].name).is_symlink()
    assert outside.read_bytes() == packages["alpha"].read_bytes()


def test_import_copies_and_resolves_links_and_move_renames(tmp_path, channel, packages) -> None:
    root = channel
    plan, _ = _plan(tmp_path, root, "https://conda.example/chan")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    original = downloads / packages["alpha"].name
    shutil.copy(packages["alpha"], original)
    elsewhere = tmp_path / "elsewhere" / packages["beta"].name
    elsewhere.parent.mkdir()
    shutil.copy(packages["beta"], elsewhere)
    (downloads / packages["beta"].name).symlink_to(elsewhere)
    pkgs = tmp_path / "pkgs"
    assert main(["import", str(downloads), "--plan", str(plan), "--pkgs-dir", str(pkgs), "-q"]) == 0
    for package in packages.values():
        cached = pkgs / package.name
        assert not cached.is_symlink() and cached.stat().st_nlink == 1
        assert cached.read_bytes() == package.read_bytes()
    assert os.stat(pkgs / packages["alpha"].name).st_ino != os.stat(original).st_ino
    original.write_bytes(b"edited later")  # the cache does not change with it
    assert (pkgs / packages["alpha"].name).read_bytes() == packages["alpha"].read_bytes()

    moved_pkgs, source = tmp_path / "moved-pkgs", tmp_path / "to-move"
    source.mkdir()
    shutil.copy(packages["alpha"], source / packages["alpha"].name)
    inode = os.stat(source / packages["alpha"].name).st_ino
    assert main(["import", str(source), "--plan", str(plan), "--pkgs-dir", str(moved_pkgs),
                 "--move", "-q"]) == 0
    assert not (source / packages["alpha"].name).exists()
    assert os.stat(moved_pkgs / packages["alpha"].name).st_ino == inode  # renamed, not copied


def test_a_refused_move_leaves_the_original(tmp_path, channel, packages) -> None:
    root = channel
    plan, _ = _plan(tmp_path, root, "https://conda.example/chan")
    source = tmp_path / "in"
    source.mkdir()
    tampered = bytearray(packages["alpha"].read_bytes())
    tampered[-100] ^= 0xFF
    (source / packages["alpha"].name).write_bytes(tampered)
    pkgs = tmp_path / "pkgs"
    assert main(["import", str(source), "--plan", str(plan), "--pkgs-dir", str(pkgs), "--move",
                 "-q"]) == 1
    assert (source / packages["alpha"].name).read_bytes() == tampered
    assert not (pkgs / packages["alpha"].name).exists()


def test_doctor_reports_links_and_fix_removes_them(tmp_path, capsys, packages) -> None:
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    outside = tmp_path / "outside.conda"
    shutil.copy(packages["alpha"], outside)
    (pkgs / packages["alpha"].name).symlink_to(outside)
    (pkgs / packages["beta"].name).symlink_to(tmp_path / "gone.conda")
    for fn in (packages["alpha"].name, packages["beta"].name):
        append_url(pkgs, f"https://conda.example/chan/noarch/{fn}")
    before = _snapshot(pkgs)
    assert main(["doctor", "--pkgs-dir", str(pkgs), "--channel", "file:///nonexistent"]) == 1
    err = capsys.readouterr().err
    assert "2 links in place of an archive" in err and "dangling link" in err
    assert _snapshot(pkgs) == before  # without --fix, doctor only reads
    main(["doctor", "--pkgs-dir", str(pkgs), "--channel", "file:///nonexistent", "--fix"])
    assert not os.path.lexists(pkgs / packages["alpha"].name)
    assert not os.path.lexists(pkgs / packages["beta"].name)
    assert outside.read_bytes() == packages["alpha"].read_bytes()  # the target is left alone


def test_export_only_reads(tmp_path, capsys, channel, packages) -> None:
    root = channel
    plan, _ = _plan(tmp_path, root, "https://conda.example/chan")
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    shutil.copy(packages["alpha"], pkgs / packages["alpha"].name)  # no urls.txt line
    stale = pkgs / packages["alpha"].name.removesuffix(".conda") / "info"
    stale.mkdir(parents=True)
    (stale / "repodata_record.json").write_text(json.dumps({"url": "https://old/x.conda"}))
    before = _snapshot(pkgs)
    assert main(["export", str(plan), "--pkgs-dir", str(pkgs), "--format", "aria2"]) == 0
    assert capsys.readouterr().out.count("out=") == 1
    assert _snapshot(pkgs) == before
    assert not (tmp_path / "new-pkgs").exists()
    assert main(["export", str(plan), "--pkgs-dir", str(tmp_path / "new-pkgs"), "-q"]) == 0
    assert not (tmp_path / "new-pkgs").exists()


def test_a_pkgs_dir_that_is_a_file_is_bad_input(tmp_path, capsys) -> None:
    not_a_dir = tmp_path / "pkgs"
    not_a_dir.write_text("x")
    url = "http://127.0.0.1:9/noarch/a-1-0.conda"
    assert main(["get", url, "--pkgs-dir", str(not_a_dir), "-q"]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_another_platforms_archive_of_the_same_name_is_never_replaced(tmp_path, capsys,
                                                                       fault_server) -> None:
    mine = build_package(tmp_path / "linux", "python_abi", "3.12", "5_cp312", subdir="linux-64")
    theirs = build_package(tmp_path / "osx", "python_abi", "3.12", "5_cp312", subdir="osx-arm64",
                           seed=1)
    assert mine.fn == theirs.fn and mine.sha256 != theirs.sha256
    root = build_channel(tmp_path / "channel", [theirs])
    server = fault_server(root)
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    shutil.copy(mine.path, pkgs / mine.fn)
    append_url(pkgs, f"https://conda.example/chan/linux-64/{mine.fn}")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"actions": {"FETCH": plan_from_repodata(root, server.url,
                                                                         "osx-arm64")}}))
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), "--platform", "linux-64", "-q"]) == 2
    assert "use --platform osx-arm64" in capsys.readouterr().err
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), "--platform", "osx-arm64",
                 "--json", "-q"]) == 1
    failed = json.loads(capsys.readouterr().out)["failed"]
    assert "for linux-64" in failed[0]["error"]
    assert (pkgs / mine.fn).read_bytes() == mine.path.read_bytes()
    assert read_urls(pkgs)[mine.fn].endswith(f"/linux-64/{mine.fn}")
    assert server.stats.requests == 0


def test_writes_replace_planted_links_instead_of_following_them(tmp_path, channel, packages,
                                                                fault_server,
                                                                capsys) -> None:
    root = channel
    server = fault_server(root)
    plan, _ = _plan(tmp_path, root, server.url)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    for name in ("env.tar", "env.explicit.txt", "list.txt"):
        (out / name).symlink_to(victim)
    pkgs = tmp_path / "pkgs"
    assert main(["bundle", str(plan), "-o", str(out / "env.tar"), "--pkgs-dir", str(pkgs),
                 *QUICK]) == 0
    assert main(["export", str(plan), "-o", str(out / "list.txt"), "--pkgs-dir",
                 str(tmp_path / "empty"), "-q"]) == 0
    offline = tmp_path / "offline"
    assert main(["import", str(out / "env.tar"), "--pkgs-dir", str(offline), "-q"]) == 0
    assert victim.read_text() == "precious\n"
    for name in ("env.tar", "env.explicit.txt", "list.txt"):
        assert not (out / name).is_symlink()
    assert tarfile.is_tarfile(out / "env.tar")


def test_a_claims_file_planted_as_a_link_is_not_followed(tmp_path, capsys, channel, packages,
                                                         fault_server) -> None:
    server = fault_server(channel)
    pkgs = tmp_path / "pkgs"
    (pkgs / ".conda-fetch").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (pkgs / ".conda-fetch" / "claims.lock").symlink_to(victim)
    plan, _ = _plan(tmp_path, channel, server.url)
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), "--json", *QUICK]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(e["fn"] for e in report["fetched"]) == sorted(p.name for p in packages.values())
    assert victim.read_text() == "precious"
    assert not (pkgs / ".conda-fetch" / "claims.lock").is_symlink()


