"""The engine's small parts: range sets, resume state, retry rules."""

from __future__ import annotations

import json
import random

import pytest

from conda_fetch.engine.pieces import PartFile, RangeSet
from conda_fetch.engine.retry import PermanentError, StatusError, backoff, parse_retry_after, status_error


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
