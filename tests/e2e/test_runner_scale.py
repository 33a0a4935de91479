"""The engine at scale, against loopback servers: one request per small file over kept-alive
connections, largest files first, caps that recover, and the cache's cost per file."""

from __future__ import annotations

import hashlib
import os

from conda_fetch.cache import PackageCache
from conda_fetch.engine import Engine, Job, Options, make_session
from conda_fetch.plan.records import Record
from conda_fetch.testing.faultserver import Faults
from support.files import jobs_for, make_files

KiB, MiB = 1 << 10, 1 << 20


def test_small_files_cost_one_request_each_over_one_kept_alive_connection(
    tmp_path, fault_server
) -> None:
    files = make_files(tmp_path / "root", {f"p{n:02d}.conda": 5000 + 100 * n for n in range(30)})
    server = fault_server(tmp_path / "root")
    states: list[bool] = []

    def deliver(job: Job) -> None:
        states.append(job.part.with_name(job.part.name + ".state").exists())

    options = Options(files=1, connections=1)
    outcomes = Engine(make_session(), options).run(jobs_for(tmp_path / "w", server.url, files),
                                                   deliver)
    assert all(o.ok for o in outcomes)
    assert server.stats.requests == 30 and server.stats.connections == 1
    assert states == [False] * 30  # no resume state for a file of one request


def test_small_files_of_unknown_size_cost_one_request_each_too(tmp_path, fault_server) -> None:
    files = make_files(tmp_path / "root", {f"p{n:02d}.conda": 5000 + 100 * n for n in range(30)})
    server = fault_server(tmp_path / "root")
    jobs = [Job(job.name, job.urls, job.part, sha256=job.sha256)  # a plan without sizes
            for job in jobs_for(tmp_path / "w", server.url, files)]
    outcomes = Engine(make_session(), Options(files=4, connections=4)).run(jobs, lambda j: None)
    assert all(o.ok for o in outcomes)
    assert server.stats.requests == 30 and server.stats.connections <= 4


def test_a_large_file_of_unknown_size_is_split_once_its_answer_tells_its_size(
    tmp_path, fault_server
) -> None:
    files = make_files(tmp_path / "root", {"big.conda": MiB + 64 * KiB})
    server = fault_server(tmp_path / "root", Faults(throttle=512 * KiB))
    jobs = [Job(job.name, job.urls, job.part, sha256=job.sha256)
            for job in jobs_for(tmp_path / "w", server.url, files)]
    options = Options(min_split=MiB, split=4)
    outcomes = Engine(make_session(), options).run(jobs, lambda j: None)
    assert all(o.ok for o in outcomes)
    # the first request asks for 1 MiB; others join while it runs, not after it
    assert server.stats.max_concurrent > 1


def test_the_largest_files_start_first(tmp_path, fault_server) -> None:
    sizes = {"a.conda": 1000, "b.conda": 90_000, "c.conda": 5000, "d.conda": 40_000}
    files = make_files(tmp_path / "root", sizes)
    server = fault_server(tmp_path / "root")
    outcomes = Engine(make_session(), Options(files=1, connections=1)).run(
        jobs_for(tmp_path / "w", server.url, files), lambda job: None)
    assert [o.job.name for o in outcomes] == list(sizes)  # reported in the order given
    assert [path for path, _, _ in server.stats.ranges] == [
        "/b.conda", "/d.conda", "/c.conda", "/a.conda"]


def test_a_mirror_refusing_beyond_its_limit_keeps_serving_at_that_limit(
    tmp_path, fault_server
) -> None:
    files = make_files(tmp_path / "root", {f"p{n:02d}.conda": 20 * KiB for n in range(60)})
    server = fault_server(tmp_path / "root", Faults(max_active=3, latency=0.01))
    options = Options(per_host=8, backoff_base=0.01, backoff_max=0.02)
    outcomes = Engine(make_session(), options).run(jobs_for(tmp_path / "w", server.url, files),
                                                   lambda job: None)
    assert all(o.ok for o in outcomes)
    refused = server.stats.status_counts.get(503, 0)
    assert refused <= 30  # learned: not one refusal per file, nor one in two


def test_small_files_over_a_long_round_trip_get_more_requests_in_flight(
    tmp_path, fault_server
) -> None:
    files = make_files(tmp_path / "root", {f"p{n:02d}.conda": 5000 + n for n in range(24)})
    server = fault_server(tmp_path / "root", Faults(latency=0.1))
    options = Options(files=2, connections=2, per_host=2, far=6)
    outcomes = Engine(make_session(pool_size=6), options).run(
        jobs_for(tmp_path / "w", server.url, files), lambda job: None)
    assert all(o.ok for o in outcomes)
    assert server.stats.requests == 24  # one each
    assert 2 < server.stats.max_concurrent <= 6  # grown past per_host, never past far


def test_a_cached_archive_is_hashed_once_until_it_changes(tmp_path) -> None:
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    data = os.urandom(5000)
    url = "https://conda.example/noarch/a-1.0-0.conda"
    record = Record(url=url, fn="a-1.0-0.conda", size=len(data),
                    sha256=hashlib.sha256(data).hexdigest())
    staged = tmp_path / "staged"
    staged.write_bytes(data)
    PackageCache(pkgs).commit(record, staged)
    stamps = pkgs / ".conda-fetch" / "verified"
    assert len(stamps.read_text().splitlines()) == 1
    assert PackageCache(pkgs).status(record) == "cached"  # a new run: the stamp holds
    assert len(stamps.read_text().splitlines()) == 1
    archive = pkgs / record.fn
    verified = archive.stat().st_mtime_ns
    archive.write_bytes(b"X" + data[1:])  # same size, new bytes
    # written later, as any real change is (within one tick of the file system's coarse
    # clock, a rewrite of the same size keeps every stamp and looks unchanged)
    os.utime(archive, ns=(verified + 10**9, verified + 10**9))
    assert PackageCache(pkgs).status(record) is None  # changed since: hashed, and wrong
    archive.write_bytes(data)
    assert PackageCache(pkgs).status(record) == "cached"
    assert len(stamps.read_text().splitlines()) == 2
    assert (pkgs / "urls.txt").read_text().splitlines() == [url]


def test_urls_txt_gets_one_line_per_new_archive(tmp_path) -> None:
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    cache = PackageCache(pkgs)
    urls = []
    for n in range(20):
        data = n.to_bytes(2, "big") * 100
        url = f"https://conda.example/noarch/p{n}-1.0-0.conda"
        staged = tmp_path / f"staged{n}"
        staged.write_bytes(data)
        cache.commit(Record(url=url, fn=f"p{n}-1.0-0.conda", size=len(data),
                            sha256=hashlib.sha256(data).hexdigest()), staged)
        urls.append(url)
    assert (pkgs / "urls.txt").read_text().splitlines() == urls
    assert not list((pkgs / ".conda-fetch").glob("*.part*"))
