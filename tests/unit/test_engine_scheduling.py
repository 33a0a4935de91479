"""The engine's choices, without servers: which file a free connection serves, host caps
that fall and recover, hosts given up, resume without sizes, hashing as bytes arrive,
and failures in words."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import ssl
import threading

import requests
import urllib3.exceptions

from conda_fetch.engine import Engine, Job, Options
from conda_fetch.engine.download import Download, Segment
from conda_fetch.engine.errors import ConnectError, HostError, status_error
from conda_fetch.engine.hosts import HostBoard, host_of
from conda_fetch.engine.partfile import PartFile, RangeSet
from conda_fetch.engine.transfer import connect_error

MiB = 1 << 20
A, B = "http://a.example/f.conda", "http://b.example/f.conda"


def _download(tmp_path, name: str, size: int | None, options: Options, **job) -> Download:
    return Download(Job(name, [A], tmp_path / f"{name}.part", size=size, **job), options)


def test_a_free_connection_goes_to_the_file_that_gains_most(tmp_path) -> None:
    options = Options(min_split=1 * MiB, split=8, per_host=16)
    engine = Engine(requests.Session(), options)
    big = _download(tmp_path, "big", 64 * MiB, options)
    big.ranges_ok = True
    running = big.claim()  # one connection already on it
    small = _download(tmp_path, "small", 100_000, options)
    engine._wanting = [small, big]
    task, _ = engine._pick()
    assert task is not None and task[0] is big  # 64 MiB on one connection gains more
    for _ in range(6):
        engine._pick()
    task, _ = engine._pick()  # the big file has its 8 connections: the small one is next
    assert task is not None and task[0] is small
    assert running is not None
    for download in (big, small):
        download.close()


def test_a_file_whose_try_failed_gets_the_next_free_connection(tmp_path) -> None:
    options = Options(min_split=1 * MiB, split=8, per_host=16)
    engine = Engine(requests.Session(), options)
    big = _download(tmp_path, "big", 64 * MiB, options)
    big.ranges_ok = True
    assert big.claim() is not None  # one connection already on it
    small = _download(tmp_path, "small", 100_000, options)
    seg = small.claim()
    assert seg is not None
    seg.url = A
    small.release(seg)
    small.note_failure(seg, status_error(503, "Service Unavailable", None), [A])
    engine._wanting = [big, small]
    task, _ = engine._pick()  # big gains more bytes, but small makes no progress at all
    assert task is not None and task[0] is small
    task, _ = engine._pick()  # it has its connection now: the rest by what they gain
    assert task is not None and task[0] is big
    for download in (big, small):
        download.close()


def test_files_start_largest_first(tmp_path) -> None:
    options = Options(min_split=1 * MiB)
    engine = Engine(requests.Session(), options)
    sizes = {"a": 10, "b": 3000, "c": None, "d": 200}
    downloads = [_download(tmp_path, name, size, options) for name, size in sizes.items()]
    engine._wanting = downloads
    order = []
    for _ in downloads:
        task, _ = engine._pick()
        assert task is not None
        order.append(task[0].name)
    assert order == ["c", "b", "d", "a"]  # an unknown size counts as one piece of min_split
    for download in downloads:
        download.close()


def test_a_refusal_lowers_a_hosts_cap_and_answers_raise_it_back() -> None:
    board = HostBoard(Options(per_host=8, backoff_base=0, backoff_max=0))
    assert [board.take([A]) for _ in range(4)] == [A, A, A, A]
    board.release(A, 0, 0.0, status_error(503, "Service Unavailable", None))
    assert [board.take([A]) for _ in range(1)] == [None]  # three in use: the cap is three
    for _ in range(80):  # the host answers everything from now on
        board.accepted(A)
        board.release(A, 1000, 0.01, None)
        board.take([A])
    held = 3
    while board.take([A]) == A:
        held += 1
    assert held == 8  # back to per_host, not pinned where the refusal put it


def test_one_refusal_is_probed_again_at_once_two_at_one_number_are_a_limit() -> None:
    board = HostBoard(Options(per_host=8, backoff_base=0, backoff_max=0))

    def second_refused() -> list[str | None]:
        """Two in use, the second refused, then the first one's answer comes: what the host
        takes meanwhile."""
        assert [board.take([A]) for _ in range(2)] == [A, A]
        board.release(A, 0, 0.0, status_error(503, "Service Unavailable", None))
        board.accepted(A)
        taken = [board.take([A]) for _ in range(2)]
        board.release(A, 1000, 0.01, None)
        for url in taken:
            if url is not None:
                board.untake(url)
        return taken

    assert second_refused() == [A, None]  # one answer brought the second back
    assert second_refused() == [None, None]  # refused at two again: a limit, kept


def test_an_answer_raises_a_lowered_cap_before_its_body_ends(tmp_path) -> None:
    options = Options(per_host=4, backoff_base=0, backoff_max=0)
    engine = Engine(requests.Session(), options)
    board = engine.board
    assert [board.take([A]) for _ in range(2)] == [A, A]
    board.release(A, 0, 0.0, status_error(503, "Service Unavailable", None))
    assert board.take([A]) is None  # one in use: the cap is one
    download = _download(tmp_path, "f", 10 * MiB, options)
    seg = download.claim()
    assert seg is not None
    seg.url = A
    engine._opened(download, seg)  # its answer came; its body is still on the way
    assert board.take([A]) == A
    download.close()


def test_a_retry_says_when_it_comes_to_the_tenth_of_a_second(tmp_path) -> None:
    engine = Engine(requests.Session(), Options(retries=10))
    download = _download(tmp_path, "f", 1000, engine.options)
    seg = download.claim()
    assert seg is not None
    seg.url = A
    error = status_error(503, "Service Unavailable", "1")
    steps = [engine._next_step(download, seg, error, wait) for wait in (0.0, 0.98, 12.4)]
    assert [step.rsplit("; ", 1)[1] for step in steps] == [
        "try 1 of 11 now", "try 1 of 11 in 1.0 s", "try 1 of 11 in 12 s"]
    download.close()


def test_overlapping_failures_are_one_try_and_a_host_never_answered_is_given_up() -> None:
    board = HostBoard(Options(retries=2, backoff_base=0, backoff_max=0, give_up_after=1e9))
    for _ in range(4):
        board.take([A])
    for _ in range(4):  # four connections refused at once: one try
        board.release(A, 0, 10.0, ConnectError("a.example: connection refused"), answered=False)
    assert board.hosts["http://a.example"].failures == 1 and board.usable([A]) == [A]
    for _ in range(2):
        board.take([A])
        board.release(A, 0, 0.0, ConnectError("a.example: connection refused"), answered=False)
    assert board.usable([A]) == []
    assert board.reasons([A]) == ["a.example: connection refused"]


def test_a_host_that_answered_before_is_not_given_up_for_the_run() -> None:
    board = HostBoard(Options(retries=1, backoff_base=0, backoff_max=0, give_up_after=0))
    board.take([A])
    board.release(A, 1000, 0.1, None)
    for _ in range(5):
        board.take([A])
        board.release(A, 0, 0.0, ConnectError("a.example: connection refused"), answered=False)
    assert board.usable([A]) == [A]


def test_resume_without_a_size_stops_at_the_next_range_on_disk(tmp_path) -> None:
    options = Options(min_split=4 * MiB)
    job = Job("f", [A], tmp_path / "f.part", md5="0" * 32)
    part = PartFile(job.part, {"size": None, "sha256": None, "md5": "0" * 32})
    fd = part.open()

    os.pwrite(fd, b"x" * (3 * MiB), 0)
    part.save(fd, RangeSet([(0, 1 * MiB), (2 * MiB, 3 * MiB)]))
    os.close(fd)
    download = Download(job, options)
    assert download.resumed == 2 * MiB
    seg = download.claim()
    assert seg is not None and (seg.pos, seg.end) == (1 * MiB, 2 * MiB)
    download.close()


def test_bytes_are_hashed_as_they_arrive_and_a_rewrite_below_starts_over(tmp_path) -> None:
    data = hashlib.shake_256(b"h").digest(300_000)
    sha = hashlib.sha256(data).hexdigest()
    download = _download(tmp_path, "h", len(data), Options(min_split=64 << 10), sha256=sha)

    def write(start: int, end: int) -> None:
        os.pwrite(download.fd, data[start:end], start)
        download.advance(Segment(pos=start, end=end, url=A, start=start), data[start:end])

    write(100_000, 300_000)  # out of order: on disk, not hashed yet
    assert download._hashed == 0
    write(0, 100_000)  # the prefix arrives: the rest is caught up from disk
    assert download._hashed == len(data)
    os.pwrite(download.fd, b"X" * 10, 50_000)  # other bytes below the hashed prefix
    download.advance(Segment(pos=50_000, end=50_010, url=A, start=50_000), b"X" * 10)
    assert download.digest() != sha  # the hash follows the disk, not what it saw before
    write(50_000, 50_010)
    assert download.digest() == sha
    download.close()


def test_a_connection_never_waits_while_another_hashes(tmp_path) -> None:
    data = hashlib.shake_256(b"w").digest(200_000)
    sha = hashlib.sha256(data).hexdigest()
    download = _download(tmp_path, "w", len(data), Options(min_split=64 << 10), sha256=sha)
    os.pwrite(download.fd, data, 0)
    with download._hash_lock:  # another connection is hashing
        arrived = threading.Thread(target=download.advance,
                                   args=(Segment(pos=0, end=len(data), url=A), data))
        arrived.start()
        arrived.join(30)
        assert not arrived.is_alive()
    assert download._hashed == 0  # left for later, read back from disk
    assert download.digest() == sha
    download.close()


def test_bytes_another_connection_hashed_from_disk_do_not_start_the_hash_over(
        tmp_path) -> None:
    data = hashlib.shake_256(b"r").digest(200_000)
    sha = hashlib.sha256(data).hexdigest()
    download = _download(tmp_path, "r", len(data), Options(min_split=64 << 10), sha256=sha)
    os.pwrite(download.fd, data, 0)
    resets = []
    download._reset_hash = lambda: resets.append(1)  # type: ignore[method-assign]
    with download.lock:
        download.done.add(100_000, 200_000)  # its bytes counted, not hashed yet...
    download.advance(Segment(pos=0, end=100_000, url=A), data[:100_000])
    assert download._hashed == 200_000  # ...when another connection read them back
    download._hash_written(100_000, data[100_000:], rewrite=False)  # its own turn comes
    assert resets == [] and download._hashed == 200_000
    assert download.digest() == sha
    download.close()


def test_a_connection_never_waits_for_a_checkpoint_and_what_came_meanwhile_is_saved(
        tmp_path) -> None:
    options = Options(min_split=64 << 10, checkpoint_bytes=64 << 10)
    download = _download(tmp_path, "c", 8 * MiB, options)
    flushing, go_on, saved = threading.Event(), threading.Event(), []

    def slow_save(fd: int, ranges: RangeSet) -> None:
        flushing.set()
        go_on.wait(30)
        saved.append(ranges.as_list())

    download.part.save = slow_save  # type: ignore[method-assign]
    data = bytes(128 << 10)
    os.pwrite(download.fd, data, 0)
    download.advance(Segment(pos=0, end=MiB, url=A), data)  # due: returns at once
    assert flushing.wait(30)
    arrived = threading.Thread(target=download.advance,
                               args=(Segment(pos=len(data), end=MiB, url=A), data))
    arrived.start()
    arrived.join(30)
    assert not arrived.is_alive()  # the next bytes went on while the disk flushed
    go_on.set()
    download.saved()
    # what arrived meanwhile was saved before the checkpoint ended: nothing else may come
    assert saved == [[[0, len(data)]], [[0, 2 * len(data)]]]
    download.close()


def test_a_checkpoint_the_disk_refuses_fails_the_file(tmp_path) -> None:
    options = Options(min_split=64 << 10, checkpoint_bytes=64 << 10)
    download = _download(tmp_path, "f", 8 * MiB, options)

    def full(fd: int, ranges: RangeSet) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    download.part.save = full  # type: ignore[method-assign]
    download.advance(Segment(pos=0, end=MiB, url=A), bytes(128 << 10))
    download.saved()
    assert download.error == "cannot save progress: no space left on device"
    download.close()


def test_connection_failures_are_said_in_words() -> None:
    url = "https://user:pw@mirror.example:8443/f.conda"
    refused = requests.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, url, urllib3.exceptions.NewConnectionError(
            None, "failed")))  # type: ignore[arg-type]
    refused.args[0].reason.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    assert str(connect_error(url, refused)) == "mirror.example:8443: connection refused"
    unresolved = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert str(connect_error(url, unresolved)) == (
        "mirror.example:8443: name not resolved (Name or service not known)")
    bad_cert = ssl.SSLCertVerificationError(1, "verify failed")
    bad_cert.verify_message = "self-signed certificate"
    error = connect_error(url, requests.exceptions.SSLError(bad_cert))
    assert isinstance(error, HostError) and error.permanent
    assert "failed verification (self-signed certificate)" in str(error)
    assert "pw" not in str(error)


def _measured(board: HostBoard, url: str, count: int, seconds: float, waited: float) -> None:
    """One connection to ``url``'s host, trusted, that carried ``count`` bytes."""
    board.trust(url)
    assert board.take([url]) == url
    board.release(url, count, seconds, None, waited=waited)


def test_a_host_several_times_slower_waits_while_a_faster_one_has_room() -> None:
    board = HostBoard(Options(per_host=16))
    _measured(board, A, 8 * MiB, 1.0, 1.0)
    _measured(board, B, 1 * MiB, 1.0, 1.0)
    assert [board.take([A, B]) for _ in range(17)] == [A] * 16 + [B]


def test_a_hosts_speed_is_what_its_bytes_took_on_the_network() -> None:
    board = HostBoard(Options())
    _measured(board, A, 1 * MiB, 2.0, 0.1)  # a late answer, then 10 MiB/s
    _measured(board, B, 1 * MiB, 1.0, 1.0)  # 1 MiB/s from its first byte
    assert board.fastest([B, A]) == [A, B]


def test_a_host_still_failing_takes_free_bytes_but_no_running_connections_rest(
    tmp_path,
) -> None:
    options = Options(min_split=1 * MiB, split=4, backoff_base=0, backoff_max=0)
    engine = Engine(requests.Session(), options)
    download = _download(tmp_path, "f", 2 * MiB, options)
    download.ranges_ok = True
    running = [download.claim(), download.claim()]  # every byte in flight
    download.best_rate = 512 << 10  # each rest would take two seconds: worth halving
    engine._wanting = [download]
    board = engine.board
    board.take([A])
    board.release(A, 0, 0.1, ConnectError("a.example: connection refused"))
    task, _ = engine._pick()
    assert task is None and board.hosts["http://a.example"].active == 0
    assert [(s.pos, s.end) for s in running if s] == [(0, MiB), (MiB, 2 * MiB)]
    board.take([A])
    board.release(A, 1000, 0.1, None)  # it answered again: no longer failing
    task, _ = engine._pick()
    assert task is not None and (task[1].pos, task[1].end) == (MiB // 2, MiB)
    download.close()


def test_a_request_beside_the_connections_holds_a_place_at_its_host() -> None:
    board = HostBoard(Options(per_host=2))
    assert board.take([A]) == A
    with board.borrowed(A):
        assert board.take([A]) is None  # the host takes two at once: one is the borrowed
    assert board.take([A]) == A


def test_a_slow_hosts_piece_takes_as_long_as_one_on_the_fastest(tmp_path) -> None:
    options = Options(min_split=1 * MiB, split=8, per_host=1)
    engine = Engine(requests.Session(), options)
    _measured(engine.board, A, 8 * MiB, 1.0, 1.0)
    _measured(engine.board, B, 1 * MiB, 1.0, 1.0)
    download = Download(Job("f", [A, B], tmp_path / "f.part", size=8 * MiB), options)
    download.ranges_ok = True
    engine._wanting = [download]
    fast, _ = engine._pick()
    slow, _ = engine._pick()  # the fast host has no room left
    assert fast is not None and (fast[1].url, fast[1].pos, fast[1].end) == (A, 0, MiB)
    assert slow is not None and (slow[1].url, slow[1].pos, slow[1].end) == (B, MiB, MiB + MiB // 8)
    download.close()


def _fill(board: HostBoard, url: str) -> int:
    """Take connections to ``url``'s host while it has room; how many were taken."""
    taken = 0
    while board.take([url]) == url:
        taken += 1
    return taken


def _answers(board: HostBoard, delay: float, body: float, count: int = 8,
             in_use: int = 0) -> list[int]:
    """Connections in use after each of ``count`` answers (each answer's connection is
    given back, then the host filled again), ``in_use`` held before."""
    in_use, seen = in_use + _fill(board, A), []
    for _ in range(count):
        board.accepted(A)
        board.release(A, 30_000, delay + body, None, waited=body, delay=delay)
        in_use += _fill(board, A) - 1
        seen.append(in_use)
    return seen


def test_a_far_hosts_room_doubles_per_answer_up_to_far() -> None:
    board = HostBoard(Options(per_host=2, far=5))
    assert _answers(board, delay=0.1, body=0.001) == [4, 5, 5, 5, 5, 5, 5, 5]
    assert board.extra() == 3  # files and connections in all grow with it
    board = HostBoard(Options(per_host=16, far=64))
    assert _answers(board, delay=0.1, body=0.001, count=3) == [32, 64, 64]


def test_a_far_host_grows_on_the_few_answers_that_come_while_long_transfers_run() -> None:
    """Large files hold most connections for long, so answers are rare: the room grows
    in a few of them, and small files waiting behind are asked for meanwhile."""
    board = HostBoard(Options(per_host=16, far=64))
    assert _fill(board, A) == 16
    for held in (16, 32):  # the rest of the room stays busy with long transfers
        board.accepted(A)
        board.release(A, 30_000, 0.101, None, waited=0.001, delay=0.1)
        assert _fill(board, A) == held + 1  # one given back, and `held` more earned
    assert board.extra() == 48


def test_a_far_host_grows_while_files_wait_for_room_though_not_all_of_it_is_in_use() -> None:
    """A file's thread spends part of its time on our side (placing the file), so a far
    host's connections are rarely all in use at once while files still wait."""
    def extra(waiting: bool, held: int = 3) -> int:
        board = HostBoard(Options(per_host=4, far=7))
        for _ in range(4):
            while host_of(A) not in board.hosts or board.hosts[host_of(A)].active < held:
                assert board.take([A]) == A
            board.release(A, 30_000, 0.101, None, waited=0.001, delay=0.1, waiting=waiting)
        return board.extra()
    assert extra(waiting=True) == 3  # at least half its room in use each time
    assert extra(waiting=False) == 0
    assert extra(waiting=True, held=1) == 0  # a mirror given little of the work


def test_a_near_host_or_bulk_transfers_keep_per_host() -> None:
    near = HostBoard(Options(per_host=2, far=5))
    assert _answers(near, delay=0.005, body=0.001) == [2] * 8  # answers come at once
    bulk = HostBoard(Options(per_host=2, far=5))
    assert _answers(bulk, delay=0.1, body=0.5) == [2] * 8  # bodies take longer: no gain
    assert near.extra() == bulk.extra() == 0


def test_fewer_files_are_opened_while_every_host_answers_and_sends_quickly() -> None:
    options = Options(files=8, quick=3)
    engine = Engine(requests.Session(), options)
    assert engine._file_room() == 8  # nothing measured yet
    _answers(engine.board, delay=0.0005, body=0.0005)
    assert engine.board.quick() and engine._file_room() == 3
    engine.board.release(B, 0, 0.0, None)  # a second host, not measured: no longer all quick
    assert not engine.board.quick() and engine._file_room() == 8
    for delay, body in ((0.0005, 0.01), (0.01, 0.0005)):  # slow bodies, or slow answers
        board = HostBoard(options)
        _answers(board, delay=delay, body=body)
        assert not board.quick()


def test_a_refusal_stops_a_far_hosts_growth_below_where_it_refused() -> None:
    board = HostBoard(Options(per_host=2, far=8, backoff_base=0, backoff_max=0))
    assert _answers(board, delay=0.1, body=0.001, count=1) == [4]
    board.release(A, 0, 0.1, status_error(503, "Service Unavailable", None), delay=0.1)
    assert _fill(board, A) == 0  # three in use: the cap is three
    seen = _answers(board, delay=0.1, body=0.001, count=80, in_use=3)
    assert seen[0] == 3 and max(seen) == 4  # back where it refused, never past it


def test_a_far_hosts_pieces_carry_a_few_round_trips_of_bytes(tmp_path) -> None:
    board = HostBoard(Options())
    board.take([A])
    board.release(A, 1_000_000, 0.06, None, waited=0.01, delay=0.05)  # 100 MB/s, 50 ms
    floor = board.piece_floor(A)
    assert floor == 20_000_000  # four answer delays of bytes
    near = HostBoard(Options())
    near.take([A])
    near.release(A, 1_000_000, 0.06, None, waited=0.01, delay=0.005)
    assert near.piece_floor(A) == 0  # a near link keeps short pieces
    options = Options(min_split=1 * MiB, split=8)
    far, plain = (_download(tmp_path, name, 100 * MiB, options) for name in ("far", "plain"))
    seg, short = far.claim(floor=floor), plain.claim()
    assert seg is not None and short is not None
    assert (seg.end, short.end) == (floor, 100 * MiB // 16)
    far.close()
    plain.close()


def test_a_file_of_one_request_running_last_is_halved_at_its_hosts_speed(tmp_path) -> None:
    options = Options(min_split=4 * MiB)
    shares = []
    for name, host_rate in (("unknown", 0.0), ("known", float(4 * MiB))):
        download = _download(tmp_path, name, 3 * MiB, options)
        seg = download.claim(host_rate=host_rate)
        assert seg is not None and (seg.start, seg.end) == (0, 3 * MiB)  # one request
        download.learn(seg, 3 * MiB, ranges=True)
        download.advance(seg, bytes(256 << 10))  # 2.75 MiB left: 0.7 s at 4 MiB/s
        shares.append(download.share())
        download.close()
    assert shares[0] == 0  # no speed known yet: the idle connections would wait
    assert shares[1] > 0


def test_a_long_piece_leaves_half_the_file_for_a_second_connection(tmp_path) -> None:
    download = _download(tmp_path, "f", 8 * MiB, Options(min_split=256 << 10))
    first = download.claim(floor=64 * MiB)  # a far host: pieces of 64 MiB were worth it
    assert first is not None
    download.learn(first, 8 * MiB, ranges=True)
    second = download.claim(floor=64 * MiB)
    assert second is not None
    assert (first.start, first.end, second.start, second.end) == (0, 4 * MiB, 4 * MiB, 8 * MiB)
    download.close()


def test_one_connection_per_file_asks_for_all_that_is_missing_at_once(tmp_path) -> None:
    download = _download(tmp_path, "f", 64 * MiB, Options(min_split=1 * MiB, split=1))
    first = download.claim(floor=256 * MiB)  # a far host: each request costs a round trip
    assert first is not None and (first.start, first.end) == (0, 64 * MiB)
    download.learn(first, 64 * MiB, ranges=True)
    download.advance(first, bytes(1 * MiB))
    download.release(first)  # cut after 1 MiB: the rest, in one request again
    again = download.claim(floor=256 * MiB)
    assert again is not None and (again.start, again.end) == (1 * MiB, 64 * MiB)
    assert download.share() == 0  # and no second connection
    download.close()


def test_a_hunt_left_with_no_other_host_goes_back_to_the_suspect(tmp_path) -> None:
    engine = Engine(requests.Session(), Options())
    download = Download(Job("f", [A, B], tmp_path / "f.part", size=1000, sha256="0" * 64),
                        engine.options)
    download.set_avoid({"http://a.example"})  # hunting: A's ranges are fetched from B
    engine.board.exclude(B, "served corrupt bytes")  # and another file just caught B
    engine._wanting = [download]
    task, _ = engine._pick()
    assert not download.failed()  # not "no source left": A may still be the good one
    assert task is not None and task[1].url == A
    download.close()
