"""Which source served bad bytes: compare what it served with what others serve.

After a checksum mismatch, each source's ranges are fetched again, piece by
piece, from a different source and compared with the part file. At the first
difference a third source, when there is one, breaks the tie on that one byte.
Sources are interleaved so that one corrupting often is caught within its first
pieces, long before the whole file has been fetched again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

from conda_fetch.engine.mirrors import host_of
from conda_fetch.engine.pieces import RangeSet

PIECE = 1 << 20
WORKERS = 4


def suspects(
    session: requests.Session,
    served: dict[str, RangeSet],
    others: Callable[[str], list[str]],
    fd: int,
    timeout: float,
) -> list[str]:
    """The URLs to blame, most likely first: one when a third source decided, two when
    only two sources disagree, none when every compared byte agreed."""
    found: list[list[str]] = []
    done = threading.Event()

    def check(url: str, start: int, end: int) -> None:
        if done.is_set():
            return
        witnesses = others(url)
        if not witnesses:
            return
        difference = first_difference(session, witnesses[0], fd, start, end, timeout)
        if difference is not None and not done.is_set():
            found.append(decide(session, url, witnesses, difference, timeout))
            done.set()

    with ThreadPoolExecutor(WORKERS) as pool:
        for url, start, end in _interleaved(served):
            pool.submit(check, url, start, end)
    return found[0] if found else []


def _interleaved(served: dict[str, RangeSet]) -> list[tuple[str, int, int]]:
    """Pieces of every source's ranges, taking turns between sources."""
    queues = {url: [(s, min(e, s + PIECE)) for a, b in ranges.as_list()
                    for s, e in ((x, b) for x in range(a, b, PIECE))]
              for url, ranges in served.items()}
    order = []
    while any(queues.values()):
        for url, pieces in queues.items():
            if pieces:
                start, end = pieces.pop(0)
                order.append((url, start, end))
    return order


def decide(session: requests.Session, url: str, witnesses: list[str],
           difference: tuple[int, int], timeout: float) -> list[str]:
    """``url`` (its byte was on disk) and ``witnesses[0]`` disagree at an offset: a third
    source decides when there is one (one URL returned), else both are suspects."""
    offset, seen = difference
    first = witnesses[0]
    third = [w for w in witnesses[1:] if host_of(w) != host_of(first)]
    if third:
        try:
            vote = _fetch(session, third[0], offset, offset + 1, timeout)
        except requests.RequestException:
            vote = b""
        if len(vote) == 1:
            return [first] if vote[0] == seen else [url]
    return [url, first]


def first_difference(session: requests.Session, url: str, fd: int, start: int, end: int,
                     timeout: float) -> tuple[int, int] | None:
    """The first offset in ``[start, end)`` where ``url`` serves other bytes than the part
    file holds, with the byte the file held there; ``None`` when all agree or ``url``
    could not answer."""
    try:
        with session.get(url, headers={"Range": f"bytes={start}-{end - 1}",
                                       "Accept-Encoding": "identity"},
                         stream=True, timeout=(timeout, timeout)) as response:
            if response.status_code != 206:
                return None
            pos = start
            for data in response.iter_content(64 << 10):
                disk = os.pread(fd, len(data), pos)
                if disk != data:
                    index = next(i for i, (a, b) in enumerate(zip(disk, data)) if a != b)
                    return pos + index, disk[index]
                pos += len(data)
    except (requests.RequestException, StopIteration):
        return None
    return None


def _fetch(session: requests.Session, url: str, start: int, end: int, timeout: float) -> bytes:
    response = session.get(url, headers={"Range": f"bytes={start}-{end - 1}",
                                         "Accept-Encoding": "identity"}, timeout=(timeout, timeout))
    return response.content if response.status_code == 206 else b""
