"""The wrapper of conda's ``RepodataFetch.fetch_latest``, without conda: stand-ins with the
attributes conda's objects have (conda's own are exercised where conda is installed)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from conda_fetch.engine import Options, make_session
from conda_fetch.index import IndexFetcher, cache_key
from conda_fetch.plugin.index import CondaView, IndexWrapper
from conda_fetch.testing.faultserver import Faults, refused_url
from conda_fetch.testing.repodata import write_index

MB = 1 << 20
FAST = Options(min_split=MB, backoff_base=0.01, backoff_max=0.05, retries=2)


class ZstdRepoInterface:
    """Named as conda's interface that asks for .json.zst first."""


class JlapRepoInterface:
    """Named as conda's experimental jlap interface."""


class StandInCache:
    """conda's RepodataCache as far as the wrapper uses it: state, replace, refresh, stale."""

    def __init__(self, cache_dir: Path, key: str) -> None:
        self.cache_dir, self.name, self.state = cache_dir, key, {}
        self.replaced: list[Path] = []

    @property
    def cache_path_json(self) -> Path:
        return self.cache_dir / f"{self.name}.json"

    def load_state(self) -> dict:
        path = self.cache_dir / f"{self.name}.info.json"
        self.state = json.loads(path.read_text()) if path.exists() else {}
        return self.state

    def stale(self) -> bool:
        return time.time_ns() - self.state.get("refresh_ns", 0) > 60 * 10**9

    def replace(self, tmp: Path) -> None:
        self.replaced.append(tmp)
        stat = tmp.stat()
        self.state.update(mtime_ns=stat.st_mtime_ns, size=stat.st_size, refresh_ns=time.time_ns())
        tmp.rename(self.cache_path_json)
        (self.cache_dir / f"{self.name}.info.json").write_text(json.dumps(self.state))

    def refresh(self) -> None:
        self.state["refresh_ns"] = time.time_ns()
        (self.cache_dir / f"{self.name}.info.json").write_text(json.dumps(self.state))


class StandInFetch:
    """conda's RepodataFetch as far as the wrapper uses it."""

    def __init__(self, pkgs: Path, subdir_url: str, interface: type = ZstdRepoInterface,
                 fn: str = "repodata.json") -> None:
        self.url_w_subdir = self.url_w_credentials = subdir_url
        self.repodata_fn = fn
        self.repo_interface_cls = interface
        (pkgs / "cache").mkdir(parents=True, exist_ok=True)
        self.cache = StandInCache(pkgs / "cache", cache_key(subdir_url, fn))

    @property
    def repo_cache(self) -> StandInCache:
        return self.cache

    def read_cache(self) -> tuple[str, dict]:
        return self.cache.cache_path_json.read_text(), self.cache.state


def _wrapper(mirrors=None) -> tuple[IndexWrapper, list]:
    made = []

    def make() -> IndexFetcher:
        made.append(1)
        return IndexFetcher(make_session(), FAST, mirrors)

    return IndexWrapper(make), made


def _original(calls: list, fail: bool = False):
    def original(fetch):
        calls.append(fetch)
        if fail:
            raise ConnectionError(f"CondaHTTPError: HTTP 000 CONNECTION FAILED for url "
                                  f"<{fetch.url_w_subdir}/repodata.json>")
        return "conda's own", {}
    return original


def test_a_stale_index_comes_through_conda_fetch_and_condas_cache(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    source = write_index(channel, "linux-64", 3 * MB)
    server = fault_server(channel, Faults(cut_every=MB, cache_control="max-age=30"))
    fetch = StandInFetch(tmp_path / "pkgs", f"{server.url}/linux-64")
    wrapper, _ = _wrapper()
    calls: list = []
    text, state = wrapper.fetch_latest(fetch, _original(calls), CondaView())
    assert not calls and text.encode() == source.read_bytes()
    assert [p.parent for p in fetch.cache.replaced] == [tmp_path / "pkgs" / "cache"]
    assert state["url"] == f"{server.url}/linux-64" and state["cache_control"] == "max-age=30"
    assert state["etag"] and state["size"] == len(source.read_bytes())
    server.reset_stats()
    assert wrapper.fetch_latest(fetch, _original(calls), CondaView()) == ("conda's own", {})
    assert len(calls) == 1 and server.stats.requests == 0  # fresh: conda's own code reads it


@pytest.mark.parametrize("view, url, interface", [
    (CondaView(offline=True), "{server}/noarch", ZstdRepoInterface),
    (CondaView(use_index_cache=True), "{server}/noarch", ZstdRepoInterface),
    (CondaView(enabled=False), "{server}/noarch", ZstdRepoInterface),
    (CondaView(), "file:///somewhere/noarch", ZstdRepoInterface),
    (CondaView(), "{server}/noarch", JlapRepoInterface),
])
def test_where_conda_would_not_download_condas_code_runs(tmp_path, fault_server, view, url,
                                                          interface) -> None:
    channel = tmp_path / "channel"
    write_index(channel, "noarch", MB)
    server = fault_server(channel)
    fetch = StandInFetch(tmp_path / "pkgs", url.format(server=server.url), interface)
    wrapper, made = _wrapper()
    calls: list = []
    assert wrapper.fetch_latest(fetch, _original(calls), view) == ("conda's own", {})
    assert calls == [fetch] and server.stats.requests == 0 and not made


def test_our_failure_hands_over_to_conda_and_hints_only_if_conda_fails(tmp_path,
                                                                        capsys) -> None:
    dead = refused_url()
    fetch = StandInFetch(tmp_path / "pkgs", f"{dead}/linux-64")
    wrapper, _ = _wrapper()
    calls: list = []
    assert wrapper.fetch_latest(fetch, _original(calls), CondaView()) == ("conda's own", {})
    assert calls == [fetch] and wrapper.failures.leftover() is None  # conda got it after all
    assert "conda tries itself" in capsys.readouterr().err
    with pytest.raises(ConnectionError) as failure:
        wrapper.fetch_latest(fetch, _original(calls, fail=True), CondaView())
    text = wrapper.failures.hint_for(str(failure.value))
    assert text is not None and f"{dead}/linux-64/repodata.json" in text
    assert "connection refused" in text and "conda fetch index" in text
    assert wrapper.failures.hint_for(str(failure.value)) is None  # told once
    assert wrapper.failures.hint_for("PackagesNotFoundError: zlib") is None


def test_dead_channel_host_then_a_mirror_from_worker_threads(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    subdirs = ["linux-64", "noarch", "osx-64", "win-64"]
    sources = {s: write_index(channel, s, MB, zst=False) for s in subdirs}
    mirror = fault_server(channel, Faults(cut_every=MB // 2))
    origin = refused_url()
    wrapper, made = _wrapper({origin: [mirror.url]})
    results: dict[str, tuple] = {}

    def conda_worker(subdir: str) -> None:
        fetch = StandInFetch(tmp_path / "pkgs", f"{origin}/{subdir}")
        results[subdir] = wrapper.fetch_latest(fetch, _original([]), CondaView())

    threads = [threading.Thread(target=conda_worker, args=(s,)) for s in subdirs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [1]
    for subdir in subdirs:
        text, state = results[subdir]
        assert text.encode() == sources[subdir].read_bytes()
        assert state["url"] == f"{origin}/{subdir}" and state["etag"] == ""
        assert state["has_zst"]["value"] is False


def test_an_index_the_channel_does_not_have_is_left_to_conda_quietly(tmp_path, fault_server,
                                                                      capsys) -> None:
    channel = tmp_path / "channel"
    write_index(channel, "noarch", MB)
    server = fault_server(channel)
    # the classic solver asks for current_repodata.json; a 404 there is normal
    fetch = StandInFetch(tmp_path / "pkgs", f"{server.url}/noarch", fn="current_repodata.json")
    wrapper, _ = _wrapper()
    calls: list = []
    with pytest.raises(ConnectionError):
        wrapper.fetch_latest(fetch, _original(calls, fail=True), CondaView())
    assert calls == [fetch] and wrapper.failures.leftover() is None
    assert "conda-fetch" not in capsys.readouterr().err
    assert server.stats.per_path == {"/noarch/current_repodata.json.zst": 1,
                                     "/noarch/current_repodata.json": 1}


def test_a_network_error_under_sharded_repodata_gets_the_shards_hint() -> None:
    from conda_fetch.plugin.index import shards_hint

    error = ("CondaHTTPError: HTTP 000 CONNECTION FAILED for url "
             "<https://c.example/x/linux-64/repodata_shards.msgpack.zst>")
    assert "repodata_use_shards: false" in (shards_hint(error, uses_shards=True) or "")
    assert shards_hint(error, uses_shards=False) is None
    assert shards_hint("PackagesNotFoundError: zlib", uses_shards=True) is None
    plain = "CondaHTTPError: HTTP 000 CONNECTION FAILED for url <https://c/x/noarch/repodata.json>"
    assert shards_hint(plain, uses_shards=True) is None  # conda 26.5 and later: on by default
