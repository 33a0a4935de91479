"""A file in the quick lane (see :mod:`~conda_fetch.engine.lane`): its state from request to
last byte, what the lane asks of the rest of the engine, how a try there failed, and which
answers the lane takes as they are."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from conda_fetch.engine.download import Download, Segment, request_most
from conda_fetch.engine.errors import TransferError
from conda_fetch.engine.events import Progress
from conda_fetch.engine.job import Job, Outcome
from conda_fetch.engine.options import Options
from conda_fetch.engine.partfile import PartFile
from conda_fetch.engine.transfer import StallMeter, content_range
from conda_fetch.engine.wire import Headers, Origin
from conda_fetch.units import byte_count


@dataclass(frozen=True)
class Failure:
    """How a file's try in the lane failed: its URL, when it began, and the transfer's
    ``error`` (``kept``: the bytes it brought, left at the start of the part file) or the
    checksum's ``problem``."""

    url: str
    began: float
    error: TransferError | None = None
    kept: int = 0
    problem: str | None = None


class Desk(Protocol):
    """What the lane asks of the rest of the engine."""

    def started(self, progress: Progress) -> None:
        """A file began: the listener hears of it (an error it raises fails the file)."""

    def idle(self) -> bool:
        """Whether the run has room for another connection now."""

    def seat(self, url: str) -> bool:
        """Whether a connection to ``url``'s host may start now (then counted as at work):
        the run has room, and none of the engine's files waits for that host."""

    def unseat(self, url: str) -> None:
        """A connection :meth:`seat` counted ended."""

    def give_back(self, index: int, failure: Failure | None) -> None:
        """Job ``index`` is for the engine's threads, after ``failure`` if there was one."""

    def join(self, index: int, download: Download) -> None:
        """Job ``index`` is for the engine's threads, as ``download``, whose segment the lane
        is fetching (see :meth:`settle`)."""

    def settle(self, download: Download) -> None:
        """A segment the lane fetched for ``download`` ended."""

    def failed(self, download: Download, seg: Segment, error: TransferError) -> None:
        """``seg``, the lane's segment of ``download``, failed with ``error``."""

    def done(self, index: int, outcome: Outcome) -> None:
        """Job ``index`` ended in the lane."""


@dataclass(eq=False)
class LaneFile:
    """One file on one connection, from its request to its last byte."""

    index: int
    job: Job
    url: str
    origin: Origin
    request: bytes
    part: PartFile
    fd: int
    began: float = field(default_factory=time.monotonic)
    conn: http.client.HTTPConnection | None = None
    reused: bool = False  # its connection served a request before
    unsent: bytes = b""
    sent_at: float = 0.0
    head: bytearray = field(default_factory=bytearray)
    answered_at: float | None = None
    last_read: float = 0.0
    pos: int = 0
    total: int = 0  # the file's size, once its answer told it
    end: int = 0  # where its answer's body ends: ``total``, or a first piece's end
    closes: bool = False
    ranged: bool = False  # its answer was a range: others may take part of it
    hasher: Any = None
    meter: StallMeter | None = None
    download: Download | None = None  # the engine's, once the file is found large
    seg: Segment | None = None  # this answer, as a segment of ``download``

    # what a front end reads (see :class:`~conda_fetch.engine.events.Progress`)
    @property
    def name(self) -> str:
        return self.job.name

    @property
    def size(self) -> int | None:
        return self.total or self.job.size

    @property
    def have(self) -> int:
        return self.pos

    @property
    def fetched(self) -> int:
        return self.pos

    @property
    def connections(self) -> int:
        return 0 if self.conn is None else 1

    @property
    def recovered(self) -> int:
        return 0

    def problem(self) -> str | None:
        """Why the bytes are not the file the job describes, or ``None``."""
        return None if self.hasher is None else self.job.digest_problem(self.hasher.hexdigest())


def answer_sizes(job: Job, options: Options, status: int, headers: Headers
                 ) -> tuple[int, int] | None:
    """The file's size and the answer's length, for an answer that brings ``job``'s file
    from its first byte as it is (all of it, or a first piece of a file of unknown
    size too large for one request), with nothing else to act on; else ``None``."""
    length = byte_count(headers.get("content-length"))
    if status not in (200, 206) or length is None or "set-cookie" in headers \
            or "transfer-encoding" in headers \
            or (headers.get("content-encoding") or "identity").strip().lower() \
            not in ("", "identity"):
        return None
    size = length
    if status == 206:
        try:
            first, total = content_range(headers.get("content-range") or "")
        except TransferError:
            return None
        if first != 0 or total is None:
            return None
        size = total
    expected = job.size
    if expected is not None:
        return (size, length) if size == expected == length else None
    if size > options.max_unsized or (length != size and (
            status == 200 or length != request_most(options))):
        return None
    return size, length
