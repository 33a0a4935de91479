"""The index stage against loopback servers: validators, 304, zst or not, changes, faults,
mirrors, and a tens-of-MB index."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conda_fetch.engine import Options, make_session
from conda_fetch.index import CacheFiles, IndexFetcher, Settings, Target, fetch_all
from conda_fetch.index import ask as ask_module
from conda_fetch.testing.faultserver import Faults, refused_url
from conda_fetch.testing.repodata import repodata, write_index
from support.hostile import HostileServer, serve

MB = 1 << 20
BIG = 20 * MB
FAST = Options(min_split=2 * MB, backoff_base=0.01, backoff_max=0.05, stall_seconds=1.0)


@pytest.fixture(scope="module")
def big_channel(tmp_path_factory) -> Path:
    """A channel whose linux-64 repodata.json is tens of MB (no .zst)."""
    channel = tmp_path_factory.mktemp("big")
    write_index(channel, "linux-64", BIG, zst=False)
    return channel


def _fetch(server_url: str, pkgs: Path, options: Options = FAST, mirrors=None, force=False,
           settings: Settings | None = None, subdir: str = "linux-64"):
    fetcher = IndexFetcher(make_session(), options, mirrors, settings=settings or Settings())
    return fetch_all(fetcher, [Target(f"{server_url}/{subdir}")], pkgs, force=force)[0]


def _state(pkgs: Path, result) -> dict:
    return json.loads(CacheFiles(pkgs, result.target.key).state.read_text())


def _json(pkgs: Path, result) -> bytes:
    return CacheFiles(pkgs, result.target.key).json.read_bytes()


def test_zst_is_fetched_decompressed_and_recorded_as_conda_does(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    source = write_index(channel, "noarch", 2 * MB)
    server = fault_server(channel, Faults(cache_control="public, max-age=1200"))
    result = _fetch(server.url, tmp_path / "pkgs", subdir="noarch")
    assert result.action == "fetched", result.error
    assert _json(tmp_path / "pkgs", result) == source.read_bytes()
    state = _state(tmp_path / "pkgs", result)
    stat = CacheFiles(tmp_path / "pkgs", result.target.key).json.stat()
    assert state["url"] == f"{server.url}/noarch"
    assert state["etag"].startswith('"') and state["mod"] and "has_zst" not in state
    assert state["cache_control"] == "public, max-age=1200"
    assert (state["size"], state["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)
    assert "/noarch/repodata.json.zst" in server.stats.per_path
    assert "/noarch/repodata.json" not in server.stats.per_path
    assert not list((tmp_path / "pkgs" / "cache").glob("*.tmp"))
    assert not list((tmp_path / "pkgs" / ".conda-fetch" / "index").glob("*.part*"))


def test_without_zst_it_falls_back_and_says_so(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    source = write_index(channel, "noarch", MB, zst=False)
    server = fault_server(channel)
    result = _fetch(server.url, tmp_path / "pkgs", subdir="noarch")
    assert result.action == "fetched"
    assert _json(tmp_path / "pkgs", result) == source.read_bytes()
    state = _state(tmp_path / "pkgs", result)
    assert state["has_zst"]["value"] is False and state["cache_control"] == ""


def test_a_stale_cache_is_revalidated_by_etag(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    write_index(channel, "noarch", MB)
    server = fault_server(channel)
    first = _fetch(server.url, tmp_path / "pkgs", subdir="noarch")
    before = _state(tmp_path / "pkgs", first)
    server.reset_stats()
    again = _fetch(server.url, tmp_path / "pkgs", subdir="noarch")
    assert again.action == "unchanged" and again.fetched == 0
    assert server.stats.status_counts == {304: 1}
    after = _state(tmp_path / "pkgs", again)
    assert after["refresh_ns"] > before["refresh_ns"]
    assert {k: v for k, v in after.items() if k != "refresh_ns"} == \
        {k: v for k, v in before.items() if k != "refresh_ns"}


def test_last_modified_alone_revalidates_and_guards_resume(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    source = write_index(channel, "noarch", 3 * MB, zst=False)
    server = fault_server(channel, Faults(etag=False, cut_every=MB))
    first = _fetch(server.url, tmp_path / "pkgs", subdir="noarch")
    assert first.action == "fetched" and _json(tmp_path / "pkgs", first) == source.read_bytes()
    assert _state(tmp_path / "pkgs", first)["etag"] == ""
    server.reset_stats()
    assert _fetch(server.url, tmp_path / "pkgs", subdir="noarch").action == "unchanged"
    assert server.stats.status_counts == {304: 1}


def test_fresh_cache_asks_nothing_and_max_age_is_written(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    write_index(channel, "noarch", MB)
    server = fault_server(channel)
    first = _fetch(server.url, tmp_path / "pkgs", subdir="noarch", settings=Settings(max_age=600))
    assert _state(tmp_path / "pkgs", first)["cache_control"] == "public, max-age=600"
    server.reset_stats()
    assert _fetch(server.url, tmp_path / "pkgs", subdir="noarch").action == "fresh"
    assert server.stats.requests == 0


def test_big_index_through_cuts_every_5mb_with_few_extra_bytes(tmp_path, fault_server,
                                                               big_channel) -> None:
    server = fault_server(big_channel, Faults(cut_every=5 * MB))
    result = _fetch(server.url, tmp_path / "pkgs")
    assert result.action == "fetched", result.error
    size = (big_channel / "linux-64" / "repodata.json").stat().st_size
    assert _json(tmp_path / "pkgs", result) == (big_channel / "linux-64/repodata.json").read_bytes()
    assert server.stats.bytes_sent <= size * 1.05 + 2 * MB


def test_an_index_changing_between_requests_is_never_spliced(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    old = write_index(channel, "linux-64", 6 * MB, zst=False, seed="old")
    new = repodata("linux-64", 6 * MB, seed="new")
    seen = []

    def change(path: str) -> None:
        seen.extend([path] if path.endswith(".json") else [])
        if len(seen) == 3:  # the probe, the first range (cut), then the file changes upstream
            tmp = old.with_name("next.json")
            tmp.write_bytes(new)
            os.utime(tmp, ns=(old.stat().st_mtime_ns + 10**9,) * 2)
            os.replace(tmp, old)

    options = Options(split=1, min_split=2 * MB, backoff_base=0.01, backoff_max=0.05)
    server = fault_server(channel, Faults(cut_every=2 * MB, before_request=change))
    result = _fetch(server.url, tmp_path / "pkgs", options=options)
    assert result.action == "fetched", result.error
    assert _json(tmp_path / "pkgs", result) == new
    assert server.stats.status_counts.get(200) == 1  # the If-Range that caught the change
    assert len(seen) > 3  # the change came after a cut, on the resuming request


def test_stalls_and_503s_are_survived(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    source = write_index(channel, "noarch", 3 * MB, zst=False)
    faults = Faults(status_script=[(503, 0), (503, None), (200, None)][:2], stall_after=MB,
                    stall_count=1)
    server = fault_server(channel, faults)
    options = Options(min_split=4 * MB, backoff_base=0.01, backoff_max=0.05, stall_seconds=0.5)
    result = _fetch(server.url, tmp_path / "pkgs", options=options, subdir="noarch")
    assert result.action == "fetched", result.error
    assert _json(tmp_path / "pkgs", result) == source.read_bytes()
    assert server.stats.status_counts.get(503) == 2


def test_dead_host_then_a_cutting_mirror_keeps_the_channel_url(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    source = write_index(channel, "noarch", 3 * MB, zst=False)
    mirror = fault_server(channel, Faults(cut_every=MB))
    origin = refused_url()
    mirrors = {origin: [mirror.url]}
    result = _fetch(origin, tmp_path / "pkgs", mirrors=mirrors, subdir="noarch")
    assert result.action == "fetched", result.error
    assert result.host == f"{mirror.url}/noarch" and "connection refused" in result.tried[0]
    assert _json(tmp_path / "pkgs", result) == source.read_bytes()
    state = _state(tmp_path / "pkgs", result)
    assert state["url"] == f"{origin}/noarch"
    assert state["etag"] == "" and state["mod"] == ""  # the mirror's are not the channel's
    mirror.reset_stats()
    again = _fetch(origin, tmp_path / "pkgs", mirrors=mirrors, subdir="noarch")
    assert again.action == "unchanged" and mirror.stats.status_counts == {304: 1}


def test_a_mirror_serving_another_index_is_passed_over(tmp_path, fault_server) -> None:
    good = tmp_path / "good"
    source = write_index(good, "noarch", MB, zst=False)
    wrong = tmp_path / "wrong"
    write_index(wrong, "linux-64", MB, zst=False)
    shutil.copytree(wrong / "linux-64", wrong / "noarch")  # claims to be noarch, is not
    bad_server = fault_server(wrong)
    good_server = fault_server(good)
    result = _fetch(bad_server.url, tmp_path / "pkgs", mirrors={bad_server.url: [good_server.url]},
                    subdir="noarch")
    assert result.action == "fetched", result.error
    assert "did not verify" in result.tried[0] and "linux-64" in result.tried[0]
    assert _json(tmp_path / "pkgs", result) == source.read_bytes()


def test_nowhere_to_be_found_fails_naming_every_host(tmp_path, fault_server) -> None:
    server = fault_server(tmp_path)
    dead = refused_url()
    result = _fetch(server.url, tmp_path / "pkgs", mirrors={server.url: [dead]}, subdir="noarch")
    assert not result.ok
    assert "HTTP 404" in result.tried[0] and "connection refused" in result.tried[1]
    cache = tmp_path / "pkgs" / "cache"
    assert not cache.exists() or not list(cache.iterdir())


def test_an_interrupted_download_resumes_in_the_next_run(tmp_path, fault_server,
                                                         big_channel) -> None:
    requests: list[str] = []

    def break_down(path: str) -> None:  # the probe, two ranges, then the host refuses
        if path.endswith(".json"):
            requests.append(path)
            if len(requests) == 3:
                server.faults.fail_status = {"repodata.json": 410}

    server = fault_server(big_channel, Faults(cut_every=5 * MB, before_request=break_down))
    first = _fetch(server.url, tmp_path / "pkgs", options=Options(split=1, min_split=20 * MB))
    assert not first.ok and "410" in first.error
    assert server.settled().bytes_sent == 5 * MB + 1
    server.faults.fail_status = {}
    before = len(server.stats.ranges)
    second = _fetch(server.url, tmp_path / "pkgs")
    assert second.action == "fetched", second.error
    asked = [start for path, start, end in server.stats.ranges[before:]
             if path.endswith("repodata.json") and end - start > 1]  # the probe's byte aside
    assert asked and min(asked) == 5 * MB  # what the first run saved is not asked again


def test_a_dead_host_costs_its_retries_once_not_once_per_index(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    for subdir in ("linux-64", "noarch"):
        write_index(channel, subdir, MB // 4, zst=False)
    mirror = fault_server(channel)
    origin = refused_url()
    fetcher = IndexFetcher(make_session(), FAST, {origin: [mirror.url]})
    first = fetcher.fetch(Target(f"{origin}/linux-64"), tmp_path / "pkgs")
    second = fetcher.fetch(Target(f"{origin}/noarch"), tmp_path / "pkgs")
    assert first.action == second.action == "fetched"
    assert "connection refused" in first.tried[0] and "not asked again" not in first.tried[0]
    assert "connection refused" in second.tried[0] and "not asked again" in second.tried[0]


def test_an_index_another_process_is_fetching_is_left_to_it(tmp_path, fault_server,
                                                             monkeypatch) -> None:
    from conda_fetch.cache.lock import FileLock
    from conda_fetch.index import fetch as index_fetch

    channel = tmp_path / "channel"
    write_index(channel, "noarch", MB // 4)
    server = fault_server(channel)
    target = Target(f"{server.url}/noarch")
    files = CacheFiles(tmp_path / "pkgs", target.key)
    held = FileLock.take(files.claim_path)
    assert held is not None
    monkeypatch.setattr(index_fetch, "CLAIM_ATTEMPTS", 1)
    result = IndexFetcher(make_session(), FAST).fetch(target, tmp_path / "pkgs")
    assert not result.ok and "could not lock" in result.error and server.stats.requests == 0
    held.release()
    assert IndexFetcher(make_session(), FAST).fetch(target, tmp_path / "pkgs").ok


def test_a_planted_link_for_the_index_folder_is_refused(tmp_path, fault_server) -> None:
    channel = tmp_path / "channel"
    write_index(channel, "noarch", MB // 4)
    server = fault_server(channel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "pkgs" / ".conda-fetch").mkdir(parents=True)
    (tmp_path / "pkgs" / ".conda-fetch" / "index").symlink_to(elsewhere)
    result = IndexFetcher(make_session(), FAST).fetch(Target(f"{server.url}/noarch"),
                                                      tmp_path / "pkgs")
    assert not result.ok and "a link?" in result.error
    assert list(elsewhere.iterdir()) == [] and server.stats.requests == 0


def test_an_index_behind_a_certificate_that_fails_is_asked_once(tmp_path, tls,
                                                                monkeypatch) -> None:
    """As for packages: a certificate that fails verification is not retried, and the
    reason says what failed and what to set."""
    attempts: list[str] = []
    real_once = ask_module._once
    monkeypatch.setattr(ask_module, "_once", lambda *a, **k: (attempts.append(a[1]),
                                                              real_once(*a, **k))[1])
    with HostileServer(serve(b"{}"), tls=tls) as server:
        result = _fetch(server.url, tmp_path / "pkgs", subdir="noarch")
        assert server.requests == 0
    assert not result.ok
    assert len(attempts) == 1
    assert "certificate" in result.tried[0] and "ssl_verify" in result.tried[0]
