"""The quick lane (one thread's event loop for files of one request) against loopback
servers: what it takes, and how whatever goes wrong there reaches the engine's threads
with its cost counted once. Counts and words, not timings."""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter

from conda_fetch.engine import Engine, HttpSettings, Job, Listener, Options, make_session
from conda_fetch.engine.download import Download
from conda_fetch.testing.faultserver import Faults, FaultServer
from support.files import jobs_for, make_files

KiB = 1 << 10
QUICK = Options(min_split=256 * KiB, backoff_base=0.01, backoff_max=0.02, stall_seconds=2.0,
                connections=4, per_host=4)


class Where(Listener):
    """Which thread started each file, and whether the engine's threads opened it."""

    def __init__(self) -> None:
        self.threads: Counter[str] = Counter()
        self.opened: list[str] = []

    def started(self, download) -> None:
        self.threads[threading.current_thread().name.rstrip("0123456789-")] += 1
        if isinstance(download, Download):
            self.opened.append(download.name)


def _small(tmp_path, count: int = 12) -> dict[str, tuple[int, str]]:
    return make_files(tmp_path / "root", {f"p{n:02d}.conda": 2000 + 997 * n
                                          for n in range(count)})


def test_small_files_go_through_the_loop_over_kept_connections(tmp_path, fault_server) -> None:
    files = _small(tmp_path, 40)
    server = fault_server(tmp_path / "root")
    where = Where()
    whole: list[bool] = []  # each file as delivered: all its bytes on disk
    outcomes = Engine(make_session(), QUICK, where).run(
        jobs_for(tmp_path / "w", server.url, files),
        lambda job: whole.append(job.part.stat().st_size == job.size))
    assert all(o.ok for o in outcomes) and len(outcomes) == 40 and whole == [True] * 40
    assert where.threads == {"quick-lane": 40} and where.opened == []
    assert server.stats.requests == 40 and server.stats.connections <= 4


def test_a_failed_try_in_the_loop_is_counted_once_and_its_host_goes_to_the_threads(
        tmp_path, fault_server) -> None:
    files = _small(tmp_path)
    server = fault_server(tmp_path / "root", Faults(status_script=[(503, 0.0)]))
    where = Where()
    outcomes = Engine(make_session(), QUICK, where).run(
        jobs_for(tmp_path / "w", server.url, files), lambda job: None)
    assert all(o.ok for o in outcomes)
    assert sum(o.faults["http"] for o in outcomes) == 1
    assert sum(o.recovered for o in outcomes) == 1
    assert server.stats.requests == len(files) + 1  # one try again, nothing fetched twice
    assert where.opened  # the file that failed, and the host's files still waiting


def test_a_cut_in_the_loop_is_resumed_from_the_bytes_it_brought(tmp_path, fault_server) -> None:
    files = make_files(tmp_path / "root", {"cut.conda": 200 * KiB})
    server = fault_server(tmp_path / "root", Faults(cut_after=70 * KiB))
    outcome = Engine(make_session(), QUICK).run(
        jobs_for(tmp_path / "w", server.url, files), lambda job: None)[0]
    assert outcome.ok and outcome.faults["cut"] == 2 and outcome.fetched == 200 * KiB
    assert server.settled().bytes_sent == 200 * KiB  # 70 + 70 + 60 KiB: no byte twice


def test_a_checksum_mismatch_in_the_loop_is_one_of_the_files_tries(tmp_path,
                                                                    fault_server) -> None:
    files = make_files(tmp_path / "root", {"bad.conda": 30 * KiB})
    server = fault_server(tmp_path / "root", Faults(corrupt_offsets={100}))
    delivered: list[str] = []
    outcome = Engine(make_session(), QUICK).run(
        jobs_for(tmp_path / "w", server.url, files), lambda job: delivered.append(job.name))[0]
    assert not outcome.ok and "gave up after 3 attempts" in (outcome.error or "")
    assert outcome.faults["verify"] == 3 and delivered == []
    assert server.stats.requests == 3  # the loop's try and two more, as verify_retries says


def test_a_loop_held_up_by_a_slow_disk_fails_no_transfer(tmp_path, fault_server) -> None:
    """Placing the first file takes twice the stall timeout: the transfers whose answers
    came meanwhile waited for the loop, not for the network."""
    files = _small(tmp_path, 8)
    server = fault_server(tmp_path / "root", Faults(latency=0.2))
    options = Options(**{**QUICK.__dict__, "stall_seconds": 1.0})
    placed: list[str] = []

    def slow_disk(job) -> None:
        if not placed:
            time.sleep(2.0)
        placed.append(job.name)

    outcomes = Engine(make_session(), options).run(
        jobs_for(tmp_path / "w", server.url, files), slow_disk)
    assert all(o.ok for o in outcomes) and len(placed) == 8
    assert sum(sum(o.faults.values()) for o in outcomes) == 0
    assert server.stats.requests == 8


def test_stopping_ends_the_files_in_flight_as_interrupted_and_leaves_no_part(
        tmp_path, fault_server) -> None:
    files = _small(tmp_path, 6)
    server = fault_server(tmp_path / "root", Faults(latency=60.0))
    engine = Engine(make_session(), QUICK)
    result: list = []
    runner = threading.Thread(target=lambda: result.extend(engine.run(
        jobs_for(tmp_path / "w", server.url, files), lambda job: None)))
    runner.start()
    while server.stats.active < 4:  # every connection is waiting for its answer
        time.sleep(0.01)
    engine.stop()
    runner.join(30)
    assert not runner.is_alive()
    assert [o.error for o in result] == ["interrupted"] * 4  # the two waiting never began
    assert not list((tmp_path / "w").glob("*.part*"))


def test_the_last_files_of_the_loop_are_shared_with_idle_connections(tmp_path,
                                                                      fault_server) -> None:
    """Two files of 1 MiB run last, on two of four connections: the other two each take
    half of what one of them has left, as the engine's end game does for its own files."""
    sizes = {f"s{n}.conda": 64 * KiB for n in range(4)}
    files = make_files(tmp_path / "root", {**sizes, "big0.conda": 1 << 20, "big1.conda": 1 << 20})
    server = fault_server(tmp_path / "root", Faults(throttle=256 * KiB))
    jobs = jobs_for(tmp_path / "w", server.url, files)
    ordered = [*jobs[:4], *jobs[4:]]  # the small ones first: their host's speed is known
    outcomes = Engine(make_session(), Options(**{**QUICK.__dict__, "min_split": 4 << 20})).run(
        ordered, lambda job: None)
    assert all(o.ok for o in outcomes)
    assert server.stats.requests > len(files)  # the big ones' rests split


def _tls_server(root, tls) -> FaultServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[0]), str(tls[1]))
    return FaultServer(root, tls=context).start()


def test_files_over_tls_go_through_the_loop(tmp_path, tls) -> None:
    """Bodies of many TLS records each, read without blocking; a file of unknown size
    larger than one request joins the engine's threads after its first answer."""
    files = make_files(tmp_path / "root", {f"t{n}.conda": 40 * KiB * (n + 1) for n in range(6)})
    files.update(make_files(tmp_path / "root", {"big.conda": 700 * KiB}))
    server = _tls_server(tmp_path / "root", tls)
    try:
        jobs = jobs_for(tmp_path / "w", server.url, files)
        jobs[-1] = Job(jobs[-1].name, jobs[-1].urls, jobs[-1].part, sha256=jobs[-1].sha256)
        where = Where()
        whole: list[bool] = []
        options = Options(**{**QUICK.__dict__, "split": 4})
        outcomes = Engine(make_session(HttpSettings(verify=str(tls[0]))), options, where).run(
            jobs, lambda job: whole.append(job.part.stat().st_size == files[job.name][0]))
    finally:
        server.close()
    assert all(o.ok for o in outcomes) and whole == [True] * 7
    assert where.threads["quick-lane"] == 7  # a slow last file may join the threads too
    assert "big.conda" in where.opened
    assert server.stats.requests > 7  # the large one split
    assert server.settled().bytes_sent == sum(size for size, _ in files.values())
