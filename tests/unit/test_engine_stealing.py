"""Which running segment an idle connection may take half of: only one the network
proves slow, never one whose answer is late or whose thread was busy elsewhere."""

from __future__ import annotations

import time

import pytest

from conda_fetch.engine.download import Download, Segment
from conda_fetch.engine.job import Job
from conda_fetch.engine.options import Options

MiB = 1 << 20
KiB = 1 << 10
URL = "http://a.example/f.conda"


@pytest.fixture
def download(tmp_path):
    """A 2 MiB file in two running 1 MiB segments, after a fast one set the best rate."""
    download = Download(Job("f.conda", [URL], tmp_path / "f.conda.part", size=2 * MiB),
                        Options(min_split=1 * MiB, split=2))
    download.ranges_ok = True
    assert download.claim() is not None and download.claim() is not None
    download.best_rate = 100 * MiB
    yield download
    download.close()


def _running(download: Download, received: int, waited: float) -> Segment:
    """The first segment, claimed ten seconds ago, ``received`` bytes in after ``waited``
    seconds spent reading."""
    seg = download.segments[0]
    seg.began = time.monotonic() - 10
    seg.answered = received > 0
    download.done.add(seg.pos, seg.pos + received)
    seg.pos += received
    seg.waited = waited
    return seg


def test_a_segment_still_waiting_for_its_answer_is_not_taken(download) -> None:
    seg = _running(download, received=0, waited=0.0)
    assert download.claim() is None
    assert (seg.pos, seg.end) == (0, 1 * MiB)


def test_a_segment_whose_thread_was_busy_elsewhere_is_not_taken(download) -> None:
    seg = _running(download, received=32 * KiB, waited=0.01)  # 3 MiB/s, but over 0.01 s
    assert download.claim() is None
    assert seg.end == 1 * MiB


def test_a_segment_the_network_keeps_slow_gives_half_of_its_rest(download) -> None:
    seg = _running(download, received=128 * KiB, waited=2.0)  # 64 KiB/s against 100 MiB/s
    stolen = download.claim()
    middle = 128 * KiB + (1 * MiB - 128 * KiB) // 2
    assert stolen is not None and (stolen.pos, stolen.end) == (middle, 1 * MiB)
    assert seg.end == middle


def test_a_read_under_way_counts_as_time_on_the_network(download) -> None:
    seg = _running(download, received=128 * KiB, waited=0.0)
    seg.reading_since = time.monotonic() - 2.0  # blocked in a read for two seconds already
    stolen = download.claim()
    assert stolen is not None and stolen.end == 1 * MiB and seg.end == stolen.pos
