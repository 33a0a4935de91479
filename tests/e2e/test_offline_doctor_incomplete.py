"""doctor names a truncated archive as incomplete (bytes of expected), reports in JSON, and
--fix keeps its bytes so the next fetch asks the server only for the rest."""

from __future__ import annotations

import json
import shutil

from conda_fetch.cache.urls import append_url
from conda_fetch.cli import main
from conda_fetch.offline.repodata import conda_cache_key
from conda_fetch.testing.packages import build_package
from support.channel import build_channel, load_repodata, plan_from_repodata


def test_truncated_archive_found_kept_and_resumed(tmp_path, fault_server, capsys) -> None:
    built = tmp_path / "built"
    big = build_package(built, "big", payload=400_000)
    loose = build_package(built, "loose", payload=50_000)
    junk = build_package(built, "junk", payload=10_000)
    early = build_package(built, "early", payload=80_000, ext=".tar.bz2")
    channel = build_channel(tmp_path / "channel", [big, loose, early])
    server = fault_server(channel)
    pkgs = tmp_path / "pkgs"
    (pkgs / "cache").mkdir(parents=True)
    (pkgs / "cache" / conda_cache_key(f"{server.url}/noarch")).write_text(
        json.dumps(load_repodata(channel, "noarch")))
    # conda's download of big was cut (it has its urls.txt line); loose and junk were
    # copied in by hand and cut short; junk is known to no channel
    (pkgs / big.fn).write_bytes(big.path.read_bytes()[:100_000])
    append_url(pkgs, f"{server.url}/noarch/{big.fn}")
    (pkgs / loose.fn).write_bytes(loose.path.read_bytes()[:20_000])
    (pkgs / junk.fn).write_bytes(junk.path.read_bytes()[:3_000])
    # a .tar.bz2 cut after its info/: unreadable all the same
    (pkgs / early.fn).write_bytes(early.path.read_bytes()[: early.size - 2_000])
    doctor = ["doctor", "--pkgs-dir", str(pkgs), "--channel", server.url]

    assert main([*doctor, "--json"]) == 1
    captured = capsys.readouterr()
    assert "4 incomplete archives" in captured.err
    assert f"{big.fn}: 97.7 KiB of {big.size / 1024:.1f} KiB" in captured.err
    assert f"100000 of {big.size} bytes" in captured.err
    assert f"{junk.fn}: cannot be read (truncated or damaged)" in captured.err
    report = json.loads(captured.out)
    kinds = {f["path"].rsplit("/", 1)[-1]: f["kind"] for f in report["findings"]}
    assert kinds == {big.fn: "incomplete archive", loose.fn: "incomplete archive",
                     junk.fn: "incomplete archive", early.fn: "incomplete archive"}
    assert report["ok"] is False

    assert main([*doctor, "--fix"]) == 0
    fixed = capsys.readouterr().err
    assert f"kept {big.fn}'s 97.7 KiB" in fixed and f"removed {junk.fn}" in fixed
    assert f"kept {early.fn}'s" in fixed
    assert not any((pkgs / p.fn).exists() for p in (big, loose, junk, early))

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"actions": {"FETCH": plan_from_repodata(channel, server.url,
                                                                        "noarch")}}))
    sent_before = server.settled().bytes_sent
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), "-q"]) == 0
    assert (pkgs / big.fn).read_bytes() == big.path.read_bytes()
    assert (pkgs / early.fn).read_bytes() == early.path.read_bytes()
    kept = 100_000 + 20_000 + early.size - 2_000  # what --fix kept is not asked again
    payload = big.size + loose.size + early.size
    assert server.settled().bytes_sent - sent_before <= payload - kept + 3 * 4096
    shutil.rmtree(pkgs / "cache")
    assert main(["doctor", "--pkgs-dir", str(pkgs)]) == 0


def test_fix_removes_a_link_and_never_writes_through_it(tmp_path, fault_server, capsys) -> None:
    big = build_package(tmp_path / "built", "big", payload=100_000)
    channel = build_channel(tmp_path / "channel", [big])
    server = fault_server(channel)
    pkgs = tmp_path / "pkgs"
    (pkgs / "cache").mkdir(parents=True)
    (pkgs / "cache" / conda_cache_key(f"{server.url}/noarch")).write_text(
        json.dumps(load_repodata(channel, "noarch")))
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(big.path.read_bytes()[:10_000])
    (pkgs / big.fn).symlink_to(outside)
    append_url(pkgs, f"{server.url}/noarch/{big.fn}")
    assert main(["doctor", "--pkgs-dir", str(pkgs), "--fix"]) == 0
    assert f"removed the link {big.fn}" in capsys.readouterr().err
    assert not (pkgs / big.fn).is_symlink() and outside.stat().st_size == 10_000
    assert not list((pkgs / ".conda-fetch").glob("*.part"))
