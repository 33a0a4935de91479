"""One file from several mirrors: failover, speed, bad data and the blame for it."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from conda_fetch.engine import Engine, Job, Listener, Options, make_session
from conda_fetch.engine.download import SAMPLE_BYTES, Download, Segment
from conda_fetch.engine.hosts import host_of
from conda_fetch.testing.faultserver import Faults, refused_url

MiB = 1 << 20
FAST = Options(min_split=256 << 10, backoff_base=0.01, backoff_max=0.05, stall_seconds=0.5)
SIZE = 4 * MiB + 17


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "root"
    (root / "noarch").mkdir(parents=True)
    (root / "noarch" / "f.conda").write_bytes(hashlib.shake_256(b"mirrors").digest(SIZE))
    return root


def _sha(root: Path) -> str:
    return hashlib.sha256((root / "noarch" / "f.conda").read_bytes()).hexdigest()


def _run(tmp_path: Path, urls: list[str], sha: str, options: Options = FAST,
         listener: Listener | None = None):
    delivered: list[str] = []
    job = Job("f.conda", urls, tmp_path / "work" / "f.conda.part", size=SIZE, sha256=sha)
    engine = Engine(make_session(), options, listener)
    outcome = engine.run([job], lambda j: delivered.append(
        hashlib.sha256(j.part.read_bytes()).hexdigest()))[0]
    return outcome, delivered, engine


def test_refused_primary_fails_over_to_mirrors(tmp_path, root, fault_server) -> None:
    mirror = fault_server(root)
    urls = [refused_url() + "/noarch/f.conda", mirror.url_for("noarch/f.conda")]
    outcome, delivered, _ = _run(tmp_path, urls, _sha(root))
    assert outcome.ok and delivered == [_sha(root)]
    assert outcome.faults["connect"] >= 1
    assert mirror.stats.bytes_sent <= SIZE * 1.02


def test_a_dead_mirror_does_not_use_up_the_retries_of_a_busy_one(
    tmp_path, root, fault_server
) -> None:
    busy = fault_server(root, Faults(status_script=[(503, 0.05), (429, 0.05)]))
    urls = [refused_url() + "/noarch/f.conda", busy.url_for("noarch/f.conda")]
    options = Options(**{**FAST.__dict__, "retries": 2})
    outcome, delivered, _ = _run(tmp_path, urls, _sha(root), options)
    assert outcome.ok, outcome.error
    assert delivered == [_sha(root)]


def test_ranges_come_from_several_mirrors_and_the_fast_one_does_more(
    tmp_path, root, fault_server
) -> None:
    slow = fault_server(root, Faults(throttle=512 << 10))
    fast = fault_server(root, Faults(throttle=16 * MiB))
    urls = [slow.url_for("noarch/f.conda"), fast.url_for("noarch/f.conda")]
    options = Options(**{**FAST.__dict__, "min_split": 128 << 10})
    outcome, delivered, _ = _run(tmp_path, urls, _sha(root), options)
    assert outcome.ok and delivered == [_sha(root)]
    slow_sent, fast_sent = slow.settled().bytes_sent, fast.settled().bytes_sent
    assert slow_sent > 0 and fast_sent > 0
    assert fast_sent > slow_sent


def test_corrupting_mirror_is_found_blamed_and_the_file_completes(
    tmp_path, root, fault_server
) -> None:
    good = [fault_server(root, Faults(throttle=16 * MiB)) for _ in range(2)]
    bad = fault_server(root, Faults(throttle=16 * MiB, corrupt_every=64 << 10))
    urls = [s.url_for("noarch/f.conda") for s in (good[0], bad, good[1])]
    outcome, delivered, engine = _run(tmp_path, urls, _sha(root))
    assert outcome.ok and delivered == [_sha(root)]
    assert outcome.blamed == [host_of(bad.url)]
    assert engine.board.usable([urls[1]]) == []
    assert bad.stats.bytes_sent > 0


def test_the_culprit_is_found_when_other_mirrors_cut_or_refuse(
    tmp_path, root, fault_server
) -> None:
    cutting = [fault_server(root, Faults(cut_every=100_000)) for _ in range(2)]
    bad = fault_server(root, Faults(corrupt_every=64 << 10))
    urls = [refused_url() + "/noarch/f.conda",
            *(s.url_for("noarch/f.conda") for s in (cutting[0], bad, cutting[1]))]
    outcome, delivered, _ = _run(tmp_path, urls, _sha(root))
    assert outcome.ok and delivered == [_sha(root)]
    assert outcome.blamed == [host_of(bad.url)]


def test_with_two_mirrors_the_culprit_is_found_after_the_checksum_fails(
    tmp_path, root, fault_server
) -> None:
    good = fault_server(root, Faults(throttle=16 * MiB))
    bad = fault_server(root, Faults(throttle=16 * MiB, corrupt_every=64 << 10))
    urls = [good.url_for("noarch/f.conda"), bad.url_for("noarch/f.conda")]
    outcome, delivered, _ = _run(tmp_path, urls, _sha(root))
    assert outcome.ok and delivered == [_sha(root)]
    assert outcome.blamed == [host_of(bad.url)]
    assert outcome.faults["verify"] >= 1  # no third source to break the tie early


def test_mirror_missing_the_file_means_try_another(tmp_path, root, fault_server) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = fault_server(empty)
    good = fault_server(root)
    urls = [missing.url_for("noarch/f.conda"), good.url_for("noarch/f.conda")]
    outcome, delivered, _ = _run(tmp_path, urls, _sha(root))
    assert outcome.ok and delivered == [_sha(root)]
    assert missing.stats.status_counts.get(404, 0) >= 1


def test_mirror_with_a_different_size_is_not_used(tmp_path, root, fault_server) -> None:
    liar = fault_server(root, Faults(size_lie=SIZE - 1000))
    good = fault_server(root)
    urls = [liar.url_for("noarch/f.conda"), good.url_for("noarch/f.conda")]
    outcome, delivered, _ = _run(tmp_path, urls, _sha(root))
    assert outcome.ok and delivered == [_sha(root)]
    assert liar.stats.requests == 1
    assert outcome.faults["refused"] == 1


def test_mirror_without_range_support_is_not_used_while_others_split(
    tmp_path, root, fault_server
) -> None:
    ranged = fault_server(root)
    whole = fault_server(root, Faults(no_range=True))
    urls = [ranged.url_for("noarch/f.conda"), whole.url_for("noarch/f.conda")]
    outcome, delivered, _ = _run(tmp_path, urls, _sha(root))
    assert outcome.ok and delivered == [_sha(root)]
    assert outcome.faults["refused"] == 1  # its one answer for the file was set aside
    assert ranged.settled().bytes_sent >= SIZE


def test_a_host_answering_503_beyond_some_connections_serves_with_those(
    tmp_path, root, fault_server
) -> None:
    limited = fault_server(root, Faults(throttle=8 * MiB, max_active=2))
    outcome, delivered, _ = _run(tmp_path, [limited.url_for("noarch/f.conda")], _sha(root))
    assert outcome.ok and delivered == [_sha(root)]
    assert limited.stats.status_counts.get(503, 0) >= 1
    assert limited.stats.status_counts[206] >= 2


def test_per_host_connection_cap(tmp_path, root, fault_server) -> None:
    server = fault_server(root, Faults(throttle=4 * MiB))
    options = Options(**{**FAST.__dict__, "per_host": 2})
    outcome, _, _ = _run(tmp_path, [server.url_for("noarch/f.conda")], _sha(root), options)
    assert outcome.ok
    assert server.stats.max_concurrent == 2


def _first_piece_from(tmp_path: Path, root: Path, urls: list[str]) -> tuple[Download, Segment]:
    """A download of ``f.conda`` from ``urls``, its first 64 KiB on disk from the first."""
    data = (root / "noarch" / "f.conda").read_bytes()[:SAMPLE_BYTES]
    download = Download(Job("f.conda", urls, tmp_path / "f.conda.part", size=SIZE), FAST)
    seg = Segment(pos=0, end=SAMPLE_BYTES, url=urls[0])
    os.pwrite(download.fd, data, 0)
    download.advance(seg, data)
    return download, seg


def test_a_check_that_agrees_vouches_for_both_hosts(tmp_path, root, fault_server) -> None:
    a, b = (fault_server(root).url_for("noarch/f.conda") for _ in range(2))
    engine = Engine(make_session(), FAST)
    download, seg = _first_piece_from(tmp_path, root, [a, b])
    engine._cross_check(download, seg, [b])
    assert engine.board.trusted(a) and engine.board.trusted(b)
    download.close()


def test_a_witness_that_disagrees_is_not_vouched_for(tmp_path, root, fault_server) -> None:
    a = fault_server(root).url_for("noarch/f.conda")
    b = fault_server(root, Faults(corrupt_every=1 << 10)).url_for("noarch/f.conda")
    engine = Engine(make_session(), FAST)
    download, seg = _first_piece_from(tmp_path, root, [a, b])
    engine._cross_check(download, seg, [b])
    assert not engine.board.trusted(b)  # no third host to decide: not trusted for it
    download.close()


def test_a_host_another_check_confirmed_is_not_checked_again(
    tmp_path, root, fault_server
) -> None:
    a, b = (fault_server(root).url_for("noarch/f.conda") for _ in range(2))
    engine = Engine(make_session(), FAST)
    download, seg = _first_piece_from(tmp_path, root, [a, b])
    engine.board.trust(a)
    engine._sample(download, seg)
    assert download.take_check() is None
    engine.board.hosts.clear()  # a host never confirmed: its first bytes are compared
    engine._sample(download, seg)
    check = download.take_check()
    assert check is not None
    check.join()
    assert engine.board.trusted(a) and engine.board.trusted(b)
    download.close()


def test_a_cross_check_counts_as_a_connection_to_its_witness(
    tmp_path, root, fault_server
) -> None:
    seen: list[int] = []
    engine = Engine(make_session(), FAST)
    witness = fault_server(root, Faults(before_request=lambda _: seen.append(
        engine.board.hosts[host_of(witness.url)].active)))
    a = fault_server(root).url_for("noarch/f.conda")
    download, seg = _first_piece_from(tmp_path, root, [a, witness.url_for("noarch/f.conda")])
    engine._cross_check(download, seg, [witness.url_for("noarch/f.conda")])
    assert seen == [1]  # a host limiting connections per client would count it too
    assert engine.board.hosts[host_of(witness.url)].active == 0
    download.close()


def test_a_check_of_a_host_caught_meanwhile_vouches_for_no_one(
    tmp_path, root, fault_server
) -> None:
    a, b = (fault_server(root).url_for("noarch/f.conda") for _ in range(2))
    engine = Engine(make_session(), FAST)
    download, seg = _first_piece_from(tmp_path, root, [a, b])
    engine.board.exclude(a, "served corrupt bytes")  # another file's check caught it
    engine._cross_check(download, seg, [b])
    assert not engine.board.trusted(a) and not engine.board.trusted(b)
    download.close()


def test_the_witness_is_asked_while_the_hosts_first_bytes_arrive(
    tmp_path, root, fault_server
) -> None:
    asked = threading.Event()
    a = fault_server(root).url_for("noarch/f.conda")
    b = fault_server(root, Faults(before_request=lambda _: asked.set())).url_for("noarch/f.conda")
    engine = Engine(make_session(), FAST)
    download = Download(Job("f.conda", [a, b], tmp_path / "f.conda.part", size=SIZE), FAST)
    seg = Segment(pos=0, end=SAMPLE_BYTES, url=a)
    engine._check_early(download, seg)
    assert asked.wait(30)  # the witness was asked before any byte of the host arrived
    data = (root / "noarch" / "f.conda").read_bytes()[:SAMPLE_BYTES]
    os.pwrite(download.fd, data, 0)
    download.advance(seg, data)
    engine._sample(download, seg)  # the host's first bytes are in: they are compared
    check = download.take_check()
    assert check is not None
    check.join()
    assert engine.board.trusted(a) and engine.board.trusted(b)
    download.close()


def test_a_first_segment_that_brought_nothing_leaves_the_check_to_the_next(
    tmp_path, root, fault_server
) -> None:
    a, b = (fault_server(root).url_for("noarch/f.conda") for _ in range(2))
    engine = Engine(make_session(), FAST)
    download = Download(Job("f.conda", [a, b], tmp_path / "f.conda.part", size=SIZE), FAST)
    seg = Segment(pos=0, end=SAMPLE_BYTES, url=a)
    engine._check_early(download, seg)
    assert seg.sample is not None
    seg.sample.set()  # it ended (refused, cut) before its first byte
    check = download.take_check()
    assert check is not None
    check.join()
    assert not engine.board.trusted(a) and engine.board.claim_check(a)
    download.close()
