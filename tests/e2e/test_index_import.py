"""import reads channel indexes through the index stage, and says which it could not read."""

from __future__ import annotations

import json
import shutil

from conda_fetch.cache.urls import read_urls
from conda_fetch.cli import main
from conda_fetch.index import CacheFiles, cache_key
from conda_fetch.testing.faultserver import Faults, refused_url


def test_import_reads_an_index_through_cuts_into_condas_cache(tmp_path, channel, fault_server,
                                                                capsys) -> None:
    repodata = json.loads((channel / "noarch" / "repodata.json").read_text())
    fn = next(iter(repodata["packages.conda"]))
    server = fault_server(channel, Faults(cut_after=300))
    folder = tmp_path / "downloads"
    folder.mkdir()
    shutil.copy(channel / "noarch" / fn, folder / fn)
    pkgs = tmp_path / "pkgs"
    assert main(["import", str(folder), "--channel", server.url, "--pkgs-dir", str(pkgs),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [f["status"] for f in report["files"]] == ["adopted"]
    assert report["unreadable_indexes"] == []
    assert read_urls(pkgs)[fn] == f"{server.url}/noarch/{fn}"
    cached = CacheFiles(pkgs, cache_key(f"{server.url}/noarch")).json
    assert cached.read_bytes() == (channel / "noarch" / "repodata.json").read_bytes()


def test_import_names_the_indexes_it_could_not_read(tmp_path, channel, capsys) -> None:
    repodata = json.loads((channel / "noarch" / "repodata.json").read_text())
    fn = next(iter(repodata["packages.conda"]))
    folder = tmp_path / "downloads"
    folder.mkdir()
    shutil.copy(channel / "noarch" / fn, folder / fn)
    dead = refused_url()
    assert main(["import", str(folder), "--channel", dead, "--pkgs-dir",
                 str(tmp_path / "pkgs"), "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["files"][0]["status"] == "refused"
    assert len(report["unreadable_indexes"]) == 1
    assert report["unreadable_indexes"][0].startswith(f"{dead}/noarch/repodata.json: ")
    assert "connection refused" in report["unreadable_indexes"][0]
    assert "could not be read" in captured.err
