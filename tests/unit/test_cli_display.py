"""The live display's frames, rendered at 60 and 120 columns from real downloads."""

from __future__ import annotations

import io
import time
from collections import Counter

import pytest
from rich.console import Console

from conda_fetch.cli.display import Display
from conda_fetch.engine import Job, Options, Outcome
from conda_fetch.engine.download import Download

LONG = "pytorch-2.5.1-cuda12.4_cudnn9.1.0_py3.12_linux_x86_64_0.conda"


def _render(display: Display) -> list[str]:
    display.console.print(display.__rich__())
    text = display.console.file.getvalue()
    display.console.file.seek(0)
    display.console.file.truncate()
    return text.splitlines()


@pytest.fixture(params=[60, 120])
def width(request) -> int:
    return request.param


def _display(width: int) -> Display:
    return Display(Console(file=io.StringIO(), width=width, color_system=None))


def test_sizes_from_the_server_give_percent_total_and_eta(tmp_path, width) -> None:
    display = _display(width)
    jobs = [Job(LONG, ["http://127.0.0.1:9/a"], tmp_path / "a.part"),
            Job("tzdata-2024a-0.conda", ["http://127.0.0.1:9/b"], tmp_path / "b.part", size=4000)]
    display.queued(jobs)
    downloads = [Download(job, Options()) for job in jobs]
    for download in downloads:
        display.started(download)
    first = _render(display)
    assert "?" in first[0] and "/ ?" not in first[-1] and "2 files" in first[-1]
    downloads[0].size = 8 << 20  # what Content-Length told the engine
    downloads[0].done.add(0, 2 << 20)
    downloads[0].fetched = 2 << 20
    display.total_speed.samples.clear()  # a second ago, nothing: a speed to go by
    display.total_speed.samples.append((time.monotonic() - 1.0, 0))
    lines = _render(display)
    assert " 25%" in lines[0] and ("2.0 MiB / 8.0 MiB" in lines[0] or (width < 80
                                   and "2.0 MiB/8.0 MiB" in lines[0]))
    assert "/ 8.0 MiB (25%)" in lines[-1] and "ETA " in lines[-1]
    assert all(len(line) <= width - 3 for line in lines), lines
    assert ("█" in lines[0]) == (width >= 100)
    assert ("conn" in lines[0]) == (width >= 80)
    if width == 60:
        assert "…" in lines[0] and lines[0].startswith("pytorch-")
    for download in downloads:
        download.close()


def test_finished_lines_fit_and_keep_the_numbers(tmp_path, width) -> None:
    display = _display(width)
    job = Job(LONG, ["http://127.0.0.1:9/a"], tmp_path / "a.part")
    display.queued([job])
    display.finished(Outcome(job, ok=True, size=3 << 20, seconds=2.0,
                             faults=Counter(cut=2), recovered=2))
    line = _render(display)[0]
    assert line.endswith("3.0 MiB in 2.0s, recovered from 2 faults")
    assert len(line) <= width - 3
    total = _render(display)[-1]
    assert total.startswith("total  1/1 files  ·  3.0 MiB / 3.0 MiB (100%)")


def test_bytes_from_an_earlier_run_count_as_done_not_as_speed(tmp_path) -> None:
    display = _display(120)
    job = Job("a-1-0.conda", ["http://127.0.0.1:9/a"], tmp_path / "a.part", size=4 << 20)
    display.queued([job])
    download = Download(job, Options())
    download.done.add(0, 3 << 20)  # resumed: on disk before this run, nothing received yet
    display.started(download)
    display.total_speed.samples.append((time.monotonic() - 1.0, 0))
    total = _render(display)[-1]
    assert "3.0 MiB / 4.0 MiB (75%)" in total and "ETA" not in total and "0 B/s" in total
    download.close()


def test_faults_not_followed_by_progress_are_not_called_recovered(tmp_path) -> None:
    display = _display(120)
    job = Job("a-1.0-0.conda", ["http://127.0.0.1:9/a"], tmp_path / "a.part")
    display.queued([job])
    display.finished(Outcome(job, ok=True, size=3 << 20, seconds=2.0,
                             faults=Counter(connect=3, cut=1), recovered=1))
    assert _render(display)[0].endswith("3.0 MiB in 2.0s, recovered from 1 fault")
    assert "1 faults recovered" in _render(display)[-1]


def test_a_file_waiting_to_retry_says_for_what_and_a_pipe_gets_each_retry_as_a_line(
    tmp_path,
) -> None:
    display = _display(120)  # a StringIO console: not a terminal, as through a pipe
    job = Job("a-1.0-0.conda", ["http://127.0.0.1:9/a"], tmp_path / "a.part", size=4000)
    display.queued([job])
    download = Download(job, Options())
    display.started(download)
    said = "127.0.0.1:9: connection refused; try 3 of 11 in 8 s"
    display.fault(download, "connect", said)
    frame = _render(display)
    assert frame[0] == f"a-1.0-0.conda: {said}"  # the line logged for the pipe
    assert frame[1].startswith("a-1.0-0.conda") and frame[1].endswith(f"waiting: {said}")
    download.close()


def test_many_files_in_flight_show_the_first_rows_and_count_the_rest(tmp_path) -> None:
    from conda_fetch.cli.display import ROWS

    display = _display(120)
    jobs = [Job(f"p{n:02d}-1.0-0.conda", [f"http://127.0.0.1:9/{n}"], tmp_path / f"{n}.part",
                size=1000) for n in range(ROWS + 5)]
    display.queued(jobs)
    downloads = [Download(job, Options()) for job in jobs]
    for download in downloads:
        display.started(download)
    lines = _render(display)
    assert len(lines) == ROWS + 2  # the rows, the count of the rest, the total
    assert lines[ROWS].strip() == "… and 5 more files in flight"
    assert f"{ROWS + 5} files" in lines[-1]
    for download in downloads:
        download.close()
