"""The engine under real failure patterns, against loopback servers: dead hosts, TLS
failures, full disks, dripping and endless sources. Counts and words, never timings."""

from __future__ import annotations

import errno
import os
import shutil
import ssl
import subprocess
import uuid
from dataclasses import replace

import pytest

from conda_fetch.engine import Engine, Job, Listener, Options, make_session
from conda_fetch.testing.faultserver import Faults, FaultServer, refused_url
from support.files import jobs_for, make_files

KiB, MiB = 1 << 10, 1 << 20
QUICK = Options(min_split=256 * KiB, backoff_base=0.01, backoff_max=0.02, stall_seconds=2.0)


class Said(Listener):
    """What the engine said about faults, in order."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def fault(self, download, kind: str, message: str) -> None:
        self.messages.append(message)


def test_a_dead_host_fails_every_file_together_with_the_reason_in_words(tmp_path) -> None:
    base = refused_url()
    files = {f"p{n}.conda": (1000, "0" * 64) for n in range(5)}
    said = Said()
    options = Options(**{**QUICK.__dict__, "retries": 3, "give_up_after": 3600.0})
    outcomes = Engine(make_session(), options, said).run(jobs_for(tmp_path, base, files),
                                                         lambda job: None)
    assert [o.ok for o in outcomes] == [False] * 5
    assert all("connection refused" in (o.error or "") for o in outcomes)
    assert any("connection refused; try 2 of 4" in m for m in said.messages)
    assert all(o.recovered == 0 for o in outcomes)  # nothing recovered from


def test_a_host_never_answered_is_given_up_for_the_run_after_its_time(tmp_path) -> None:
    base = refused_url()
    files = {f"p{n}.conda": (1000, "0" * 64) for n in range(3)}
    options = Options(**{**QUICK.__dict__, "retries": 1000, "give_up_after": 0.0})
    outcomes = Engine(make_session(), options).run(jobs_for(tmp_path, base, files),
                                                   lambda job: None)
    assert all("no source left" in (o.error or "") and "connection refused" in (o.error or "")
               for o in outcomes)
    assert sum(o.faults["connect"] for o in outcomes) <= 3  # one try each at most


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed here: no certificate to serve")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_a_certificate_that_fails_verification_is_not_retried(tmp_path, self_signed) -> None:
    files = make_files(tmp_path / "root", {"a.conda": 5000, "b.conda": 6000})
    server = FaultServer(tmp_path / "root", tls=self_signed).start()
    try:
        options = Options(**{**QUICK.__dict__, "files": 1, "connections": 1})
        outcomes = Engine(make_session(), options).run(jobs_for(tmp_path / "w", server.url, files),
                                                       lambda job: None)
    finally:
        server.close()
    assert all("failed verification" in (o.error or "") for o in outcomes)
    assert all("ssl_verify" in (o.error or "") for o in outcomes)  # and how to configure it
    assert sum(sum(o.faults.values()) for o in outcomes) == 1  # one try, for both files


def test_a_source_that_drips_is_dropped_and_given_up_after_its_retries(
    tmp_path, fault_server
) -> None:
    files = make_files(tmp_path / "root", {"drip.conda": 100 * KiB})
    server = fault_server(tmp_path / "root", Faults(drip=0.02))
    options = Options(**{**QUICK.__dict__, "stall_seconds": 0.3, "stall_speed": 1024,
                         "retries": 1})
    outcome = Engine(make_session(), options).run(jobs_for(tmp_path / "w", server.url, files),
                                                  lambda job: None)[0]
    assert not outcome.ok and "too slow" in (outcome.error or "")
    assert outcome.faults["slow"] + outcome.faults["stall"] == 2  # retries + 1 tries
    assert outcome.fetched > 0  # it failed after progress, and still counts


def test_a_body_longer_than_the_file_is_cut_off_and_its_source_fails(
    tmp_path, fault_server
) -> None:
    files = make_files(tmp_path / "root", {"long.conda": 50 * KiB})
    server = fault_server(tmp_path / "root", Faults(endless=True))
    delivered: list[str] = []
    outcome = Engine(make_session(), QUICK).run(jobs_for(tmp_path / "w", server.url, files),
                                                lambda job: delivered.append(job.name))[0]
    assert not outcome.ok and "sent more than the file's 51200 bytes" in (outcome.error or "")
    assert delivered == []
    assert os.path.getsize(tmp_path / "w" / "long.conda.part") <= 51200 + MiB  # one chunk over


def test_faults_recovered_count_only_faults_followed_by_progress(tmp_path, fault_server) -> None:
    files = make_files(tmp_path / "root", {"cut.conda": 200 * KiB})
    server = fault_server(tmp_path / "root", Faults(status_script=[(503, 0.0), (503, 0.0)]))
    outcome = Engine(make_session(), QUICK).run(jobs_for(tmp_path / "w", server.url, files),
                                                lambda job: None)[0]
    assert outcome.ok and outcome.faults["http"] == 2 and outcome.recovered == 2


def test_an_error_in_a_file_thread_is_that_files_failure_and_the_run_goes_on(
    tmp_path, fault_server
) -> None:
    files = make_files(tmp_path / "root", {"a.conda": 1000, "b.conda": 2000, "c.conda": 3000})
    server = fault_server(tmp_path / "root")

    class Breaks(Listener):
        def started(self, download) -> None:
            if download.name == "b.conda":
                raise RuntimeError("the display broke")

    class Wrapped:  # a session the quick lane cannot speak through: every file on a thread
        def __init__(self) -> None:
            self.session = make_session()

        def get(self, url, **kwargs):
            return self.session.get(url, **kwargs)

    outcomes = Engine(Wrapped(), QUICK, Breaks()).run(
        jobs_for(tmp_path / "w", server.url, files), lambda job: None)
    assert [(o.job.name, o.ok) for o in outcomes] == [
        ("a.conda", True), ("b.conda", False), ("c.conda", True)]
    assert outcomes[1].error == "the display broke"


def test_a_failing_placement_is_the_files_failure_in_words(tmp_path, fault_server) -> None:
    files = make_files(tmp_path / "root", {"a.conda": 1000})
    server = fault_server(tmp_path / "root")

    def full(job: Job) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    outcome = Engine(make_session(), QUICK).run(jobs_for(tmp_path / "w", server.url, files),
                                                full)[0]
    assert outcome.error == "verified, but could not be placed: no space left on device"


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, where the machine lets us mount one."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): no full disk to test on")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_that_fills_fails_each_file_in_words_and_keeps_what_was_fetched(
    tmp_path, fault_server, small_disk
) -> None:
    # both larger than one request: the engine's threads, one file at a time, largest first
    files = make_files(tmp_path / "root", {"big.conda": 3 * MiB, "small.conda": 300 * KiB})
    server = fault_server(tmp_path / "root")
    placed: list[str] = []
    options = Options(**{**QUICK.__dict__, "files": 1, "connections": 1})
    outcomes = Engine(make_session(), options).run(jobs_for(small_disk, server.url, files),
                                                   lambda job: placed.append(job.name))
    assert [o.job.name for o in outcomes] == ["big.conda", "small.conda"]  # none dropped
    assert all(not o.ok and "no space left on device" in (o.error or "") for o in outcomes)
    assert placed == [] and os.path.getsize(small_disk / "big.conda.part") > MiB


def test_a_disk_that_fills_under_the_quick_lane_fails_files_in_words(tmp_path, fault_server,
                                                                      small_disk) -> None:
    """Files of one request on a disk that fills: each is placed whole or fails in words,
    whichever comes first (the lane writes many at once)."""
    files = make_files(tmp_path / "root", {f"p{n:02d}.conda": 200 * KiB for n in range(16)})
    server = fault_server(tmp_path / "root")
    placed: list[str] = []

    def place(job: Job) -> None:
        assert job.part.stat().st_size == job.size
        placed.append(job.name)

    outcomes = Engine(make_session(), QUICK).run(jobs_for(small_disk, server.url, files),
                                                 place)
    failed = [o for o in outcomes if not o.ok]
    assert len(outcomes) == 16 and failed and len(placed) + len(failed) == 16
    assert all("no space left on device" in (o.error or "") for o in failed)
    assert sorted(placed) == sorted(o.job.name for o in outcomes if o.ok)


@pytest.mark.parametrize("announced", [False, True])
def test_a_file_of_unknown_size_may_not_grow_past_the_cap(
    tmp_path, fault_server, announced: bool
) -> None:
    """A plan without sizes cannot make a hostile source fill the disk: an endless body, or
    one announced larger than the cap, fails its source once past it."""
    files = make_files(tmp_path / "root", {"big.conda": 300 * KiB})
    faults = Faults() if announced else Faults(endless=True)
    server = fault_server(tmp_path / "root", faults)
    options = replace(QUICK, max_unsized=100 * KiB, min_split=1 * MiB)
    jobs = [replace(job, size=None) for job in jobs_for(tmp_path / "w", server.url, files)]
    outcome = Engine(make_session(), options).run(jobs, lambda job: None)[0]
    assert not outcome.ok and "for a file of unknown size" in (outcome.error or "")
    part = tmp_path / "w" / "big.conda.part"
    assert not part.exists() or part.stat().st_size <= 100 * KiB
