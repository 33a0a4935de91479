"""conda's names and state for a cached index, without a server."""

from __future__ import annotations

import json
import os
import time

import pytest

from conda_fetch.index import CacheFiles, Target, cache_key, targets
from conda_fetch.index import state as conda_state


@pytest.mark.parametrize(("url", "fn", "key"), [
    # values conda 26.7.1's own cache_fn_url gives
    ("https://conda.anaconda.org/conda-forge/linux-64", "repodata.json", "497deca9"),
    ("https://conda.anaconda.org/conda-forge/linux-64/", "repodata.json", "497deca9"),
    ("https://conda.anaconda.org/conda-forge/noarch", "current_repodata.json", "62c98390"),
    ("http://localhost:8080/t/tk-123/chan/linux-64", "repodata.json", "5372f762"),
    ("http://127.0.0.1:8080/t/tk-123/chan/linux-64", "repodata.json", "19991fc3"),
])
def test_cache_key_is_condas(url: str, fn: str, key: str) -> None:
    assert cache_key(url, fn) == key


def test_cache_files_names(tmp_path) -> None:
    files = CacheFiles(tmp_path, "497deca9")
    assert files.json == tmp_path / "cache" / "497deca9.json"
    assert files.state == tmp_path / "cache" / "497deca9.info.json"
    only_bz2 = CacheFiles(tmp_path, "497deca9", tar_bz2_only=True)
    assert only_bz2.json.name == "497deca91.json" and only_bz2.state.name == "497deca91.info.json"
    assert files.workdir == tmp_path / ".conda-fetch" / "index"


def test_targets_for_channels() -> None:
    found = targets(["https://c.example/x/", "https://c.example/y"], ["linux-64", "noarch"])
    assert [t.url for t in found] == [
        "https://c.example/x/linux-64/repodata.json", "https://c.example/x/noarch/repodata.json",
        "https://c.example/y/linux-64/repodata.json", "https://c.example/y/noarch/repodata.json"]
    assert Target("https://c.example/x/linux-64/").subdir == "linux-64"


def _cached(tmp_path, **fields) -> CacheFiles:
    files = CacheFiles(tmp_path, "abcdef12")
    files.json.parent.mkdir(parents=True)
    files.json.write_text('{"packages": {}}')
    stat = files.json.stat()
    files.state.write_text(json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                       "etag": '"e1"', **fields}))
    return files


def test_fresh_follows_max_age_and_local_ttl(tmp_path) -> None:
    files = _cached(tmp_path, cache_control="public, max-age=60", refresh_ns=time.time_ns())
    loaded = conda_state.load(files)
    assert conda_state.fresh(loaded)
    assert not conda_state.fresh(loaded, local_ttl=0)
    later = time.time_ns() + 120 * 10**9
    assert not conda_state.fresh(loaded, now_ns=later)
    assert conda_state.fresh(loaded, local_ttl=3600, now_ns=later)


def test_a_touched_json_loses_its_validators(tmp_path) -> None:
    files = _cached(tmp_path, cache_control="max-age=60", refresh_ns=time.time_ns())
    os.utime(files.json, ns=(1, 1))
    loaded = conda_state.load(files)
    assert loaded["etag"] == "" and loaded["cache_control"] == "" and loaded["size"] == 0
    assert not conda_state.fresh(loaded)


def test_commit_writes_condas_fields_in_place(tmp_path) -> None:
    files = _cached(tmp_path, refresh_ns=1)
    inode = files.state.stat().st_ino
    verified = tmp_path / "new.json"
    verified.write_text('{"packages": {"a": {}}}')
    conda_state.commit(files, verified, {"url": "https://c.example/x/linux-64", "etag": '"e2"'})
    written = json.loads(files.state.read_text())
    stat = files.json.stat()
    assert written["size"] == stat.st_size and written["mtime_ns"] == stat.st_mtime_ns
    assert written["etag"] == '"e2"' and written["refresh_ns"] > 1
    assert files.json.read_text() == '{"packages": {"a": {}}}' and not verified.exists()
    assert files.state.stat().st_ino == inode  # rewritten through conda's locked file
    conda_state.refresh(files)
    assert json.loads(files.state.read_text())["refresh_ns"] >= written["refresh_ns"]
    assert json.loads(files.state.read_text())["mtime_ns"] == stat.st_mtime_ns
