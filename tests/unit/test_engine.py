"""The engine's small parts: range sets, resume state, retry rules, the host board."""

from __future__ import annotations

import json
import random
import sys
import time
import types

import pytest
import requests

from conda_fetch.engine.download import Download, Segment
from conda_fetch.engine.errors import (
    ConnectError,
    CutError,
    PermanentError,
    StatusError,
    parse_retry_after,
    status_error,
)
from conda_fetch.engine.hosts import HostBoard, backoff
from conda_fetch.engine.http import failure_kind, loaded_error, request_failed
from conda_fetch.engine.job import Job
from conda_fetch.engine.options import Options
from conda_fetch.engine.partfile import PartFile, RangeSet
from conda_fetch.engine.transfer import _accept


def test_rangeset_merges_and_reports_gaps() -> None:
    ranges = RangeSet()
    ranges.add(10, 20)
    ranges.add(30, 40)
    ranges.add(20, 30)
    ranges.add(5, 12)
    assert ranges.as_list() == [[5, 40]]
    ranges.add(50, 60)
    assert ranges.gaps(70) == [(0, 5), (40, 50), (60, 70)]
    assert ranges.total() == 45
    assert ranges.covered_until(7) == 40
    assert ranges.covered_until(45) == 45


def test_rangeset_random_matches_a_bitmap() -> None:
    rng = random.Random(7)
    ranges, bitmap = RangeSet(), [False] * 500
    for _ in range(200):
        start = rng.randrange(500)
        end = min(500, start + rng.randrange(1, 40))
        ranges.add(start, end)
        bitmap[start:end] = [True] * (end - start)
    assert ranges.total() == sum(bitmap)
    for start, end in ranges.gaps(500):
        assert not any(bitmap[start:end])


def test_partfile_state_round_trip(tmp_path) -> None:
    part = PartFile(tmp_path / "x.part", {"size": 100, "sha256": None, "md5": None})
    fd = part.open()
    import os

    os.pwrite(fd, b"a" * 60, 0)
    part.save(fd, RangeSet([(0, 60)]))
    os.close(fd)
    again = PartFile(tmp_path / "x.part", {"size": 100, "sha256": None, "md5": None})
    assert again.load().as_list() == [[0, 60]]


def test_partfile_state_for_another_file_is_discarded(tmp_path) -> None:
    part = PartFile(tmp_path / "x.part", {"size": 100, "sha256": None, "md5": None})
    fd = part.open()
    part.save(fd, RangeSet([(0, 0)]))
    other = PartFile(tmp_path / "x.part", {"size": 999, "sha256": None, "md5": None})
    assert other.load().total() == 0
    assert not (tmp_path / "x.part").exists()


def test_partfile_state_claiming_more_than_the_file_holds_is_discarded(tmp_path) -> None:
    identity = {"size": 100, "sha256": None, "md5": None}
    (tmp_path / "x.part").write_bytes(b"a" * 10)
    state = {"version": 1, "identity": identity, "done": [[0, 50]]}
    (tmp_path / "x.part.state").write_text(json.dumps(state))
    assert PartFile(tmp_path / "x.part", identity).load().total() == 0


@pytest.mark.parametrize("status", [404, 410, 403, 401, 416])
def test_permanent_statuses_fail_fast(status: int) -> None:
    assert isinstance(status_error(status, "x", None), PermanentError)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 408])
def test_transient_statuses_retry(status: int) -> None:
    error = status_error(status, "x", "3")
    assert isinstance(error, StatusError) and error.retry_after == 3.0


def test_retry_after_as_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("0.5") == 0.5


def test_backoff_grows_with_jitter_and_caps() -> None:
    rng = random.Random(1)
    assert backoff(0, 0.5, 30, rng) == 0.0
    delays = [backoff(n, 0.5, 30, rng) for n in range(1, 12)]
    assert all(0.25 <= d <= 30 for d in delays)
    assert max(delays[-3:]) > 4


A, B = "http://a.example/f.conda", "http://b.example/f.conda"


def test_retry_after_sets_the_host_aside_for_that_long() -> None:
    board = HostBoard(Options())
    assert board.take([A]) == A
    board.release(A, 0, 0.1, status_error(429, "Too Many Requests", "100"))
    assert board.take([A]) is None
    assert 90 < board.wait([A]) <= 100
    assert board.take([A, B]) == B and board.wait([A, B]) == 0.0


def test_retry_after_is_capped() -> None:
    board = HostBoard(Options(retry_after_max=5))
    board.take([A])
    board.release(A, 0, 0.1, status_error(503, "Unavailable", "86400"))
    assert 4 < board.wait([A]) <= 5


def test_a_failing_host_is_set_aside_with_growing_backoff_then_tried_again() -> None:
    board = HostBoard(Options(backoff_base=1000, backoff_max=100_000))
    pauses = []
    for _ in range(4):
        board._state("http://a.example").aside_until = 0.0  # its pause is over
        assert board.take([A]) == A
        board.release(A, 0, 0.0, ConnectError("refused"))  # tries one after another
        pauses.append(board.wait([A]))
    assert all(400 <= p <= 1000 * 2 ** n for n, p in enumerate(pauses))  # with jitter


def test_progress_clears_a_hosts_failures_and_a_cut_after_progress_sets_nothing_aside() -> None:
    board = HostBoard(Options())
    board.take([A])
    board.release(A, 0, 0.1, ConnectError("refused"))
    board._state("http://a.example").aside_until = 0.0
    board.take([A])
    board.release(A, 5000, 0.1, CutError("cut"))
    assert board.wait([A]) == 0.0 and board._state("http://a.example").failures == 0


def test_a_host_set_aside_still_serves_when_no_other_can() -> None:
    board = HostBoard(Options(backoff_base=1000, backoff_max=1000))
    for _ in range(5):
        board.take([A])
    board.release(A, 0, 0.1, CutError("cut before its first byte"))  # the fifth
    assert board.wait([A]) > 400
    assert board.take([A]) == A  # its four connections carry on: it may serve a file alone
    board.release(A, 1000, 0.1, None)
    assert board.take([A, B]) == B  # but another host is preferred meanwhile


def test_a_host_refusing_one_more_connection_keeps_the_others_busy() -> None:
    board = HostBoard(Options(backoff_base=1000, backoff_max=1000))
    for _ in range(5):
        board.take([A])
    board.release(A, 0, 0.1, status_error(503, "Service Unavailable", None))  # the fifth
    assert board.wait([A]) == 0.0  # nothing set aside: no file waits for it
    assert board.take([A]) is None  # it serves four: no fifth request meanwhile
    assert not board.failing(A)
    board.release(A, 1000, 0.1, None)  # one of the four finished its piece
    assert board.take([A]) == A  # at once, the freed connection serves it again
    assert board.take([A]) is None


def test_a_refusal_of_one_more_connection_naming_a_pause_sets_the_host_aside() -> None:
    board = HostBoard(Options())
    for _ in range(5):
        board.take([A])
    board.release(A, 0, 0.1, status_error(503, "Service Unavailable", "30"))
    assert 20 < board.wait([A]) <= 30 and board.failing(A)
    board.release(A, 1000, 0.1, None)
    assert board.take([A]) is None  # no new request before its Retry-After


def test_an_idle_host_set_aside_gets_no_request_until_its_backoff_ends() -> None:
    board = HostBoard(Options(backoff_base=1000, backoff_max=1000))
    board.take([A])
    board.release(A, 0, 0.1, ConnectError("refused"))
    assert board.take([A]) is None  # no tight loop of refused connections
    assert board.wait([A]) > 400


def test_backoff_after_very_many_failures_stays_within_its_cap() -> None:
    assert 0.5 <= backoff(5000, 1.0, 30.0) <= 30.0


def test_a_host_that_failed_comes_after_one_that_did_not() -> None:
    board = HostBoard(Options(backoff_base=0, backoff_max=0))
    assert board.take([A, B]) == A  # both never tried: the first listed
    board.release(A, 0, 0.1, ConnectError("refused"))
    assert board.take([A, B]) == B


def test_permanent_errors_do_not_set_a_host_aside() -> None:
    board = HostBoard(Options())
    board.take([A])
    board.release(A, 0, 0.1, status_error(404, "Not Found", None))
    assert board.take([A]) == A


def test_per_host_cap_and_excluded_hosts() -> None:
    board = HostBoard(Options(per_host=2))
    assert board.has_room([A])
    assert [board.take([A]) for _ in range(3)] == [A, A, None]
    assert not board.has_room([A]) and board.has_room([A, B])
    board.exclude(B, "served corrupt bytes")
    assert board.take([B]) is None and board.usable([A, B]) == [A]


def test_an_answer_from_another_offset_rules_the_source_out_for_the_file(tmp_path) -> None:
    download = Download(Job("f.conda", [A, B], tmp_path / "f.conda.part", size=100), Options())
    response = requests.Response()
    response.status_code = 206
    response.headers["Content-Range"] = "bytes 5-99/100"
    with pytest.raises(PermanentError):
        _accept(response, download, Segment(pos=0, end=100, url=A))
    download.close()


def test_at_the_end_a_piece_that_would_take_long_is_halved_for_an_idle_connection(
    tmp_path,
) -> None:
    MiB = 1 << 20
    download = Download(Job("f.conda", [A], tmp_path / "f.conda.part", size=8 * MiB),
                        Options(min_split=4 * MiB, split=4))
    download.ranges_ok = True
    first, second = download.claim(), download.claim()
    assert (first.pos, first.end, second.pos, second.end) == (0, 4 * MiB, 4 * MiB, 8 * MiB)
    assert download.claim() is None  # nothing left, and no rate known to judge the tail by
    download.best_rate = 1 * MiB  # 4 MiB would take 4 s at the best rate seen
    third = download.claim()
    assert third is not None and (third.pos, third.end) == (2 * MiB, 4 * MiB)
    assert first.end == 2 * MiB
    download.best_rate = 64 * MiB  # on a fast link the same piece is not worth a request
    assert download.claim() is None
    download.close()


@pytest.mark.parametrize(("answer_delay", "halved"), [(0.002, True), (0.5, False)])
def test_how_short_a_tail_is_halved_follows_how_long_answers_take(
    tmp_path, answer_delay: float, halved: bool
) -> None:
    """4 MiB left at 8 MiB/s is half a second: worth a request that is answered in 2 ms,
    not one that waits half a second for its answer."""
    MiB = 1 << 20
    download = Download(Job("f.conda", [A], tmp_path / "f.conda.part", size=8 * MiB),
                        Options(min_split=4 * MiB, split=4))
    download.ranges_ok = True
    first, second = download.claim(), download.claim()
    assert (first.end, second.end) == (4 * MiB, 8 * MiB)
    download.best_rate = 8 * MiB
    assert download.claim() is None  # before any answer: a tail must take a second
    download.learn(Segment(pos=0, end=4 * MiB, began=time.monotonic() - answer_delay),
                   8 * MiB, ranges=True)
    third = download.claim()
    assert (third is not None) == halved
    if halved:
        assert (third.pos, third.end) == (2 * MiB, 4 * MiB)
    download.close()


@pytest.mark.parametrize(("piece_kib", "rate_mib", "halved"), [
    (512, 3, True),  # a sixth of a second on a slow connection: worth it
    (6 << 10, 32, False),  # a fifth of a second on a fast one, where in-flight bytes are lost
    (6 << 10, 20, True),  # over a quarter of a second on a fast one
])
def test_a_slow_connection_has_shorter_tails_halved_than_a_fast_one(
    tmp_path, piece_kib: int, rate_mib: int, halved: bool
) -> None:
    KiB, MiB = 1 << 10, 1 << 20
    piece = piece_kib * KiB
    download = Download(Job("f.conda", [A], tmp_path / "f.conda.part", size=2 * piece),
                        Options(min_split=piece, split=2))
    download.ranges_ok = True
    first, second = download.claim(), download.claim()
    assert (first.end, second.end) == (piece, 2 * piece)
    download.learn(Segment(pos=0, end=piece, began=time.monotonic() - 0.002), 2 * piece,
                   ranges=True)
    download.best_rate = rate_mib * MiB
    assert (download.claim() is not None) == halved
    download.close()


def test_a_host_that_refuses_one_more_connection_is_not_asked_for_it_again() -> None:
    board = HostBoard(Options(per_host=8, backoff_base=0, backoff_max=0))
    for _ in range(4):
        board.take([A])
    board.release(A, 0, 0.1, status_error(503, "Service Unavailable", None))
    assert board.take([A]) is None  # it refused a fourth while serving three: no fourth again


@pytest.mark.parametrize("module", ["requests.exceptions", "urllib3.exceptions"])
def test_errors_are_sorted_while_another_thread_is_still_importing_requests(
    monkeypatch, module: str
) -> None:
    """A module another thread is importing sits in sys.modules half made: sorting an
    error must neither fail on it nor import anything."""
    monkeypatch.setitem(sys.modules, module, types.ModuleType(module))
    assert failure_kind(ConnectionRefusedError(111, "Connection refused")) == "connection"
    assert failure_kind(ValueError("not a request's")) is None
    assert request_failed(ValueError("not a request's")) is False
    assert loaded_error(module, "HTTPError") == ()
