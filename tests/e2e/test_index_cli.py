"""``conda-fetch index`` end to end: channels expanded as conda does, conda's files written,
the JSON summary and the exit codes."""

from __future__ import annotations

import json
import shutil

import pytest

from conda_fetch.cli import main
from conda_fetch.index import CacheFiles, cache_key
from conda_fetch.testing.faultserver import Faults, refused_url
from conda_fetch.testing.repodata import write_index

MB = 1 << 20


@pytest.fixture
def index_channel(tmp_path):
    root = tmp_path / "channel" / "forge"
    write_index(root, "linux-64", 2 * MB)
    write_index(root, "noarch", MB, zst=False)
    return root


def test_index_writes_condas_cache_with_max_age(tmp_path, fault_server, index_channel,
                                                capsys) -> None:
    server = fault_server(index_channel.parent, Faults(cut_every=MB))
    pkgs = tmp_path / "pkgs"
    code = main(["index", f"{server.url}/forge", "--platform", "linux-64", "--max-age", "900",
                 "--pkgs-dir", str(pkgs), "--json", "--min-split", "1M"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["success"] and [i["action"] for i in report["indexes"]] == ["fetched"] * 2
    for subdir in ("linux-64", "noarch"):
        files = CacheFiles(pkgs, cache_key(f"{server.url}/forge/{subdir}"))
        assert files.json.read_bytes() == (index_channel / subdir / "repodata.json").read_bytes()
        assert json.loads(files.state.read_text())["cache_control"] == "public, max-age=900"
    server.reset_stats()
    assert main(["index", f"{server.url}/forge", "--platform", "linux-64", "-q",
                 "--pkgs-dir", str(pkgs)]) == 0
    assert server.stats.requests == 0  # fresh: conda would not ask either


def test_channel_names_use_channel_alias_and_custom_channels(tmp_path, fault_server,
                                                             index_channel, monkeypatch,
                                                             capsys) -> None:
    server = fault_server(index_channel.parent)
    other = tmp_path / "other" / "mine"
    write_index(other, "linux-64", MB)
    write_index(other, "noarch", MB)
    custom = fault_server(other.parent)
    (tmp_path / "home").mkdir(exist_ok=True)
    condarc = tmp_path / "condarc"
    condarc.write_text(f"channel_alias: {server.url}\ncustom_channels:\n  mine: {custom.url}\n"
                       "channels: [forge, mine]\n")
    monkeypatch.setenv("CONDARC", str(condarc))
    pkgs = tmp_path / "pkgs"
    assert main(["index", "--platform", "linux-64", "--pkgs-dir", str(pkgs), "--json"]) == 0
    urls = [i["url"] for i in json.loads(capsys.readouterr().out)["indexes"]]
    assert urls == [f"{server.url}/forge/linux-64/repodata.json",
                    f"{server.url}/forge/noarch/repodata.json",
                    f"{custom.url}/mine/linux-64/repodata.json",
                    f"{custom.url}/mine/noarch/repodata.json"]


def test_an_unreachable_channel_fails_with_what_was_tried(tmp_path, capsys) -> None:
    dead = refused_url()
    code = main(["index", f"{dead}/forge", "--platform", "linux-64", "--pkgs-dir",
                 str(tmp_path / "pkgs"), "--retries", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "could not be fetched" in err and "connection refused" in err
    assert "0 indexes ready" in err


def test_quiet_says_only_which_indexes_failed_and_why(tmp_path, capsys) -> None:
    dead = refused_url()
    code = main(["index", f"{dead}/forge", "--platform", "linux-64", "--pkgs-dir",
                 str(tmp_path / "pkgs"), "--retries", "1", "--quiet"])
    assert code == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"{dead}/forge/linux-64/repodata.json: could not be fetched"
    assert any("connection refused" in line for line in lines[1:])
    assert not any("indexes ready" in line for line in lines)


def test_a_bad_max_age_is_refused(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["index", "--max-age", "soon", "--pkgs-dir", str(tmp_path / "pkgs")])
    assert stop.value.code == 2
    assert not (tmp_path / "pkgs").exists()


def test_run_fetches_the_index_before_conda_plans(tmp_path, fault_server, index_channel) -> None:
    server = fault_server(index_channel.parent, Faults(cut_every=MB))
    pkgs = tmp_path / "pkgs"
    info = tmp_path / "info.json"
    info.write_text(json.dumps({"pkgs_dirs": [str(pkgs)]}))
    index = CacheFiles(pkgs, cache_key(f"{server.url}/forge/noarch")).json
    # A stand-in for conda: it plans only with the index in its cache, told to trust it and
    # to skip current_repodata.json.
    exe = tmp_path / "bin" / "conda"
    exe.parent.mkdir()
    exe.write_text(
        "#!/bin/sh\n"
        f'case "$*" in info*) cat "{info}"; exit 0;; esac\n'
        f'test -f "{index}" && test "$CONDA_LOCAL_REPODATA_TTL" = 3600 || exit 1\n'
        'test "$CONDA_REPODATA_FNS" = repodata.json || exit 1\n'
        f'case "$*" in *--dry-run*) echo \'{{"success": true, "actions": {{}}}}\'; exit 0;; esac\n'
        f'echo installed > "{tmp_path / "ran"}"\n'
    )
    exe.chmod(0o755)
    code = main(["run", "-q", "--min-split", "1M", "--", str(exe), "create", "-n", "x",
                 "--override-channels", "--channel", f"{server.url}/forge", "zlib"])
    assert code == 0
    assert (tmp_path / "ran").read_text().strip() == "installed"
    assert index.read_bytes() == (index_channel / "noarch" / "repodata.json").read_bytes()


def test_with_sharded_repodata_on_the_monolithic_index_comes_with_a_note(
        tmp_path, fault_server, index_channel, monkeypatch, capsys) -> None:
    server = fault_server(index_channel.parent)
    condarc = tmp_path / "condarc"
    condarc.write_text("repodata_use_shards: true\n")
    monkeypatch.setenv("CONDARC", str(condarc))
    assert main(["index", f"{server.url}/forge", "--platform", "linux-64", "--pkgs-dir",
                 str(tmp_path / "pkgs")]) == 0
    assert "repodata_use_shards: false" in capsys.readouterr().err


def test_for_the_classic_solver_current_repodata_comes_too(tmp_path, fault_server, index_channel,
                                                            monkeypatch, capsys) -> None:
    shutil.copy(index_channel / "noarch" / "repodata.json",
                index_channel / "noarch" / "current_repodata.json")  # linux-64 has none
    server = fault_server(index_channel.parent)
    condarc = tmp_path / "condarc"
    condarc.write_text("solver: classic\n")
    monkeypatch.setenv("CONDARC", str(condarc))
    pkgs = tmp_path / "pkgs"
    assert main(["index", f"{server.url}/forge", "--platform", "linux-64", "--pkgs-dir",
                 str(pkgs), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    actions = {i["url"].split("/forge/")[1]: i["action"] for i in report["indexes"]}
    assert actions == {"linux-64/current_repodata.json": "failed",
                       "noarch/current_repodata.json": "fetched",
                       "linux-64/repodata.json": "fetched", "noarch/repodata.json": "fetched"}
    assert report["success"] and report["indexes"][0]["not_on_server"]
    current = CacheFiles(pkgs, cache_key(f"{server.url}/forge/noarch", "current_repodata.json"))
    assert current.json.read_bytes() == (index_channel / "noarch" / "repodata.json").read_bytes()
