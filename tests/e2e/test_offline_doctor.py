"""conda-fetch doctor on a cache holding every kind of problem, before and after --fix."""

from __future__ import annotations

import json
import os
import shutil

from conda_fetch.cache.urls import append_url, read_urls
from conda_fetch.cli import main
from conda_fetch.engine.partfile import PartFile, RangeSet
from conda_fetch.plan.records import stem
from conda_fetch.testing.packages import build_package
from support.channel import build_channel


def test_doctor_reports_and_fixes(tmp_path, fault_server, capsys) -> None:
    built = tmp_path / "built"
    alpha = build_package(built, "alpha", payload=10_000)
    beta = build_package(built, "beta", payload=20_000)
    gamma = build_package(built, "gamma", payload=5_000)
    delta = build_package(built, "delta", payload=3_000)
    zeta = build_package(tmp_path / "other", "zeta", payload=1_000)
    server = fault_server(build_channel(tmp_path / "channel", [alpha, beta, gamma, delta]))
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    # registered nowhere: one the channel knows, one it does not
    shutil.copy(alpha.path, pkgs / alpha.fn)
    shutil.copy(zeta.path, pkgs / zeta.fn)
    # registered, but the archive was damaged after conda extracted it
    beta_url = f"{server.url}/noarch/{beta.fn}"
    damaged = bytearray(beta.path.read_bytes())
    damaged[-100] ^= 0xFF
    (pkgs / beta.fn).write_bytes(damaged)
    append_url(pkgs, beta_url)
    info = pkgs / stem(beta.fn) / "info"
    info.mkdir(parents=True)
    (info / "index.json").write_text("{}")
    (info / "repodata_record.json").write_text(json.dumps(
        {"url": beta_url, "size": beta.size, "sha256": beta.sha256, "md5": beta.md5}))
    # registered after conda saw it unregistered: its extracted record has no URL, and
    # conda reads that record before urls.txt
    shutil.copy(delta.path, pkgs / delta.fn)
    append_url(pkgs, f"{server.url}/noarch/{delta.fn}")
    delta_record = pkgs / stem(delta.fn) / "info" / "repodata_record.json"
    delta_record.parent.mkdir(parents=True)
    (delta_record.parent / "index.json").write_text("{}")
    delta_record.write_text(json.dumps({"channel": "<unknown>", "url": "", "md5": delta.md5}))
    # an extracted folder whose archive is gone
    (pkgs / stem(gamma.fn) / "info").mkdir(parents=True)
    (pkgs / stem(gamma.fn) / "info" / "index.json").write_text("{}")
    # unfinished downloads: conda's, ours with resume state, ours without
    (pkgs / "big-1-0.conda.partial").write_bytes(b"x" * 1000)
    part = PartFile(pkgs / ".conda-fetch" / "huge-1-0.conda.part", {"size": 4000})
    fd = part.open()
    os.pwrite(fd, b"y" * 1000, 0)
    part.save(fd, RangeSet([(0, 1000)]))
    os.close(fd)
    (pkgs / ".conda-fetch" / "orphan-1-0.conda.part").write_bytes(b"z")

    assert main(["doctor", "--pkgs-dir", str(pkgs)]) == 1
    report = capsys.readouterr().err
    assert "3 archives without a urls.txt line" in report
    assert f"{delta.fn}: its extracted record has no URL" in report
    assert "1 archive that no longer matches its record" in report
    assert "3 unfinished downloads" in report and "(25%)" in report
    assert "1 extracted folder without its archive" in report

    assert main(["doctor", "--pkgs-dir", str(pkgs), "--fix", "--channel", server.url]) == 1
    fixed = capsys.readouterr().err
    assert f"registered {alpha.fn}" in fixed
    assert f"registered {delta.fn}" in fixed and not delta_record.exists()
    assert f"left {zeta.fn}" in fixed
    assert f"removed {beta.fn}" in fixed
    assert read_urls(pkgs)[alpha.fn] == f"{server.url}/noarch/{alpha.fn}"
    assert not (pkgs / beta.fn).exists()
    assert not (pkgs / ".conda-fetch" / "orphan-1-0.conda.part").exists()
    assert (pkgs / ".conda-fetch" / "huge-1-0.conda.part").exists()
    assert (pkgs / "big-1-0.conda.partial").exists()

    (pkgs / zeta.fn).unlink()
    assert main(["doctor", "--pkgs-dir", str(pkgs)]) == 0
