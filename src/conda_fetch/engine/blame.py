"""Which source served bad bytes: compare what it served with what others serve.

After a checksum mismatch, each source's ranges are fetched again, piece by
piece, from a different source and compared with the part file. At the first
difference a third source, when there is one, breaks the tie on that one byte.
Sources are interleaved so that one corrupting often is caught within its first
pieces, long before the whole file has been fetched again.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

from conda_fetch.engine.hosts import host_of
from conda_fetch.engine.http import request_failed
from conda_fetch.engine.partfile import RangeSet
from conda_fetch.engine.session import HttpGetter

PIECE = 1 << 20
WORKERS = 4


Difference = tuple[int, int]
"""A file offset where two sources disagree, and the byte the part file holds there."""

Hold = Callable[[str], contextlib.AbstractContextManager[object]]
"""What to hold while a URL's host is asked for a range to compare."""


Held = Callable[[], int]
"""Waits until the part file holds the bytes to compare; the offset where they end."""


def _unheld(url: str) -> contextlib.AbstractContextManager[object]:
    """Nothing to hold."""
    return contextlib.nullcontext()


def suspects(
    session: HttpGetter,
    served: dict[str, RangeSet],
    others: Callable[[str], list[str]],
    fd: int,
    timeout: float,
    hold: Hold = _unheld,
) -> list[str]:
    """The URLs to blame, most likely first: one when a third source decided, two when
    only two sources disagree, none when every compared byte agreed (``hold``: see
    :func:`cross_check`)."""
    found: list[list[str]] = []
    done = threading.Event()

    def check(url: str, start: int, end: int) -> None:
        if done.is_set():
            return
        culprits, _ = cross_check(session, url, others(url), fd, start, end, timeout, hold)
        if culprits and not done.is_set():
            found.append(culprits)
            done.set()

    from concurrent.futures import ThreadPoolExecutor  # a hunt is rare: not at start-up

    with ThreadPoolExecutor(WORKERS) as pool:
        for url, start, end in _interleaved(served):
            pool.submit(check, url, start, end)
    return found[0] if found else []


def cross_check(session: HttpGetter, url: str, witnesses: list[str], fd: int,
                start: int, end: int, timeout: float, hold: Hold = _unheld,
                held: Held | None = None) -> tuple[list[str], str | None]:
    """Compare ``[start, end)`` of the part file, served by ``url``, with the first witness
    able to serve it all (``hold``-ing it meanwhile; ``held``: see
    :func:`first_difference`); the URLs to blame (see :func:`decide`), none when they
    agree or no witness could answer, and the witness that answered (``None``: none
    could)."""
    for n, witness in enumerate(witnesses):
        try:
            with hold(witness):
                difference = first_difference(session, witness, fd, start, end, timeout,
                                               held)
        except NoAnswer:
            continue
        if difference is None:
            return [], witness
        found = decide(session, url, [witness, *witnesses[n + 1:]], difference, timeout, hold)
        return found, witness
    return [], None


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


def decide(session: HttpGetter, url: str, witnesses: list[str],
           difference: Difference, timeout: float,
           hold: Hold = _unheld) -> list[str]:
    """``url`` (its byte was on disk) and ``witnesses[0]`` disagree at an offset: another
    source decides when one can answer (one URL returned), else both are suspects."""
    offset, seen = difference
    first = witnesses[0]
    for third in (w for w in witnesses[1:] if host_of(w) not in {host_of(first), host_of(url)}):
        try:
            with hold(third):
                vote = _fetch(session, third, offset, offset + 1, timeout)
        except Exception as exc:
            if not request_failed(exc):
                raise
            continue
        if len(vote) == 1:
            return [first] if vote[0] == seen else [url]
    return [url, first]


class NoAnswer(Exception):
    """A witness could not serve the range to compare."""


def first_difference(session: HttpGetter, url: str, fd: int, start: int, end: int,
                     timeout: float, held: Held | None = None) -> Difference | None:
    """The first offset in ``[start, end)`` where ``url`` serves other bytes than the part
    file holds, ``None`` when all agree; :class:`NoAnswer` when ``url`` stops sending.
    A cut answer is asked again from where it stopped, as long as each answer brings bytes.
    ``held``, once ``url`` answered, waits until the part file holds what it will hold of
    the range and says where that ends: ``url`` is asked while those bytes still arrive."""
    pos = start
    while pos < end:
        before = pos
        try:
            with session.get(url, headers={"Range": f"bytes={pos}-{end - 1}",
                                           "Accept-Encoding": "identity"},
                             stream=True, timeout=(timeout, timeout)) as response:
                if response.status_code != 206 or not response.headers.get(
                        "Content-Range", "").startswith(f"bytes {pos}-"):
                    raise NoAnswer(url)
                end = end if held is None else min(end, held())
                for data in response.iter_content(64 << 10):
                    if pos >= end:
                        break
                    data = data[: end - pos]
                    disk = os.pread(fd, len(data), pos)
                    if len(disk) < len(data):
                        raise NoAnswer(url)  # the part file does not hold it: nothing to compare
                    if disk != data:
                        pairs = enumerate(zip(disk, data, strict=True))
                        index = next(i for i, (a, b) in pairs if a != b)
                        return pos + index, disk[index]
                    pos += len(data)
        except Exception as exc:
            if not request_failed(exc):
                raise
        if pos == before:
            raise NoAnswer(url)
    return None


def _fetch(session: HttpGetter, url: str, start: int, end: int, timeout: float) -> bytes:
    with session.get(url, headers={"Range": f"bytes={start}-{end - 1}",
                                   "Accept-Encoding": "identity"}, stream=True,
                     timeout=(timeout, timeout)) as response:
        return response.raw.read(end - start) if response.status_code == 206 else b""
