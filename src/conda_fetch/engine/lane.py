"""The quick lane: files of one request, all on one thread's event loop.

Many small files are where a fetcher's own work shows. A request to a near host is over
before our side has written its file, and threads that hand the interpreter's lock to one
another at every blocking call spend more on the handing than on the work. Here one
thread sends every request, reads every answer, hashes and writes every body, over the
kept-alive connections of the session's wire (see
:meth:`~conda_fetch.engine.http.Session.plain_request`), as aria2 and rattler work. Only
what blocks for long leaves it: a new connection is made on a thread of its own (name
lookup, TLS handshake), and ``FLUSHERS`` threads flush verified files to disk; the loop
then hands each to ``deliver``, which finds nothing left to flush but ``urls.txt`` now and
then (a shared flush) and names the file. Threads each doing a little of every file would
hand the interpreter's lock to one another at each of their system calls: the loop then
waits, and every file costs more CPU.

The lane takes the plain case only: a file of one request (or of unknown size: it asks for
as much as one request carries, and the answer tells the size), from one URL, with no
validator. The rest of the engine handles everything else already, so anything unusual goes
back to it (:class:`~conda_fetch.engine.lanefile.Desk`): an answer that is not the whole
file as expected (a redirect, a cookie, another size, an encoding) untouched; a file found
larger than one request as soon as its answer says so, its first piece still fetched here as
one of its segments while the engine's connections split the rest; a failed try (refused, an
HTTP error, a cut, a stall, a checksum mismatch) with its error and the bytes it brought,
counted on the host board as any try is. After an answer or a failure of either kind, the
files of that host still waiting go back too: a host with trouble is served the careful way.
Connections are counted as the engine's own: a host gets no more than the board allows, and
a file of the engine's threads that waits for a connection to a host has the next one that
host frees.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from conda_fetch.engine.download import (
    STEAL_MIN,
    Download,
    Segment,
    one_request,
    part_identity,
    request_most,
)
from conda_fetch.engine.errors import (
    ConnectError,
    CutError,
    TransferError,
    in_words,
    status_error,
)
from conda_fetch.engine.flushers import Flushers
from conda_fetch.engine.hosts import HostBoard
from conda_fetch.engine.job import Job, Outcome
from conda_fetch.engine.lanefile import Desk, Failure, LaneFile, answer_sizes
from conda_fetch.engine.options import Options
from conda_fetch.engine.partfile import PartFile
from conda_fetch.engine.transfer import (
    StallMeter,
    broken,
    host_name,
    unanswered,
    write_at,
)
from conda_fetch.engine.wire import (
    BROKEN_ON_REUSE,
    AnswerTimeout,
    BadAnswer,
    Origin,
    Wire,
    closes,
    parse_head,
)

FLUSHERS = 4  # threads flushing verified files: a flush waits for the disk
PLACING = 64  # files in flight or not yet placed, at most: their descriptors stay open
BUFFER = 256 << 10  # one read's most: the loop's only buffer
MAX_HEAD = 128 << 10  # an answer's head longer than this is not HTTP
EXPIRY = 0.1  # seconds between looks at the transfers that may have waited too long
AWAY = 0.5  # seconds: a round of the loop this long was held up on our side
TAIL_SHARE = 2 * STEAL_MIN  # bytes left that idle connections may share at the run's end
END = b"\r\n\r\n"

Deliver = Callable[[Job], object]


class Lane:
    """Fetches the files it takes (:meth:`take`) when :meth:`run`; thread-safe only as the
    engine uses it: one thread takes, then runs."""

    def __init__(self, wire_of: Callable[[str, dict[str, str]], Any], board: HostBoard,
                 options: Options, stop: threading.Event, desk: Desk,
                 deliver: Deliver) -> None:
        self._wire_of = wire_of
        self._board, self._options, self._stop = board, options, stop
        self._desk, self._deliver = desk, deliver
        self._wire: Wire | None = None
        self._queues: dict[Origin, deque[tuple[int, Job, bytes]]] = {}
        self._running: dict[LaneFile, None] = {}  # begun and not ended, in order
        self._spare: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._selector = selectors.DefaultSelector()
        self._buffer = memoryview(bytearray(BUFFER))
        self._dialed: list[tuple[LaneFile, http.client.HTTPConnection | None,
                                 Exception | None]] = []
        self._lock = threading.Lock()  # guards what other threads hand the loop
        self._over = False
        self._places = threading.BoundedSemaphore(PLACING)
        self._flushers: Flushers[LaneFile]  # made by run()
        self._turned = 0.0  # when the loop last went round
        self._expire_at = 0.0
        self._wake_r: socket.socket  # the loop's wake-up call, a pair made by run()
        self._wake_w: socket.socket

    def take(self, index: int, job: Job) -> bool:
        """Queue job ``index`` if it is the lane's kind (see the module); whether it was."""
        size = job.size
        if len(job.urls) != 1 or job.validator is not None or (size is not None and (
                size <= 0 or not one_request(size, self._options))):
            return False
        url = job.urls[0]
        asked = size if size is not None else request_most(self._options)
        plain = self._wire_of(url, {"Range": f"bytes=0-{asked - 1}",
                                    "Accept-Encoding": "identity"})
        if plain is None:
            return False
        wire, origin, request = plain
        if self._wire is not None and wire is not self._wire:
            return False
        self._wire = wire
        self._queues.setdefault(origin, deque()).append((index, job, request))
        return True

    def __bool__(self) -> bool:
        return bool(self._queues)

    # -- the loop -------------------------------------------------------------------
    def run(self) -> None:
        """Fetch every file taken, until each is done or given back (or the run stops)."""
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._flushers = Flushers(lambda t: t.part.sync(), self._wake, FLUSHERS)
        self._turned = time.monotonic()
        try:
            while (self._running or any(self._queues.values())) and not self._stop.is_set():
                self._start()
                for key, mask in self._selector.select(EXPIRY):
                    if key.data is None:
                        self._woken()
                    else:
                        self._ready(key.data, mask)
                self._expire()
        finally:
            self._end()
            self._flushers.close()
            self._place()
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _start(self) -> None:
        """Begin queued files while the run has room for them (spare connections first)."""
        for origin, waiting in self._queues.items():
            while waiting:
                if not self._places.acquire(blocking=False):
                    break  # the loop frees one when it places a file
                if not self._begin(origin, waiting):
                    self._places.release()
                    break
        for origin, conns in self._spare.items():
            for conn in conns:
                self._unwatch(conn)
                self._wire_put(origin, conn)
        self._spare.clear()
        if not any(self._queues.values()) and self._desk.idle():
            for t in list(self._running):
                if t.download is None and t.ranged and t.end - t.pos >= TAIL_SHARE:
                    self._join(t)  # the end of the run: idle connections may take half

    def _begin(self, origin: Origin, waiting: deque[tuple[int, Job, bytes]]) -> bool:
        """Begin the first of ``waiting``; whether its host had room (else it waits)."""
        index, job, request = waiting[0]
        url = job.urls[0]
        if not self._desk.seat(url):
            return False
        if self._board.take([url]) is None:
            self._desk.unseat(url)
            if not self._board.usable([url]) or self._board.wait([url]) > 0:
                self._give_back_all(origin)  # given up or set aside: the careful way
            return False
        waiting.popleft()
        part = PartFile(job.part, part_identity(job))
        try:
            fd = part.create()
        except OSError:
            fd = None  # the engine's threads meet it again and say so
        if fd is None:  # an earlier run's part file: theirs to resume or replace
            self._board.untake(url)
            self._desk.unseat(url)
            self._places.release()
            self._desk.give_back(index, None)
            return True
        digest = job.digest
        t = LaneFile(index, job, url, origin, request, part, fd,
                      hasher=hashlib.new(digest[0]) if digest else None)
        self._running[t] = None
        try:
            self._desk.started(t)
        except Exception as exc:
            self._end_early(t, in_words(exc))
            return True
        spare = self._spare.get(origin)
        conn = spare.pop() if spare else self._wire_take(origin)
        if conn is None:
            self._dial(t)
        else:
            self._attach(t, conn, reused=True)
        return True

    def _wire_take(self, origin: Origin) -> http.client.HTTPConnection | None:
        assert self._wire is not None
        return self._wire.take(origin)

    def _wire_put(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        assert self._wire is not None
        self._wire.put(origin, conn)

    # -- connections ------------------------------------------------------------------
    def _dial(self, t: LaneFile) -> None:
        """Connect for ``t`` on a thread of its own (see :meth:`_woken`)."""
        t.conn, t.reused = None, False
        threading.Thread(target=self._connect, args=(t,), name="connect", daemon=True).start()

    def _connect(self, t: LaneFile) -> None:
        options = self._options
        conn: http.client.HTTPConnection | None = None
        error: Exception | None = None
        try:
            assert self._wire is not None
            conn = self._wire.connect(t.origin, (options.connect_timeout,
                                                 options.stall_seconds))
        except Exception as exc:
            error = exc
        with self._lock:
            if not self._over:
                self._dialed.append((t, conn, error))
                self._wake()
                return
        if conn is not None:
            conn.close()

    def _wake(self) -> None:
        """Wake the loop from another thread (it may be waiting for its sockets)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _woken(self) -> None:
        """Files flushed, and connections made (or not), on their threads: each file is
        placed, each connection serves its transfer."""
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass
        self._place()
        with self._lock:
            dialed, self._dialed = self._dialed, []
        for t, conn, error in dialed:
            if t not in self._running:
                if conn is not None:
                    conn.close()
            elif conn is None:
                assert error is not None
                self._fail(t, _as_transfer_error(t.url, unanswered(t.url, error,
                                                                    self._options)))
            else:
                self._attach(t, conn, reused=False)

    def _attach(self, t: LaneFile, conn: http.client.HTTPConnection, reused: bool) -> None:
        """Send ``t``'s request over ``conn``."""
        sock = conn.sock
        t.conn, t.reused = conn, reused
        if sock.gettimeout() != 0.0:
            sock.setblocking(False)
        t.sent_at = t.last_read = time.monotonic()
        t.unsent = t.request
        self._send(t, watched=sock in self._selector.get_map())

    def _send(self, t: LaneFile, watched: bool = True) -> None:
        """Send what is left of ``t``'s request, then watch its connection for what comes
        next: room to send the rest, or the answer (``watched``: the connection is watched
        already, for another file or an earlier part of this request)."""
        assert t.conn is not None
        sock = t.conn.sock
        try:
            sent = sock.send(t.unsent)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            sent = 0
        except OSError as exc:
            self._unanswered(t, exc)  # unwatched there
            return
        t.unsent = t.unsent[sent:]
        events = selectors.EVENT_WRITE if t.unsent else selectors.EVENT_READ
        if watched:
            self._selector.modify(sock, events, t)
        else:
            self._selector.register(sock, events, t)

    def _unwatch(self, conn: http.client.HTTPConnection) -> None:
        if conn.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(conn.sock)

    def _hang_up(self, t: LaneFile) -> None:
        if t.conn is not None:
            self._unwatch(t.conn)
            t.conn.close()
            t.conn = None

    # -- answers ----------------------------------------------------------------------
    def _ready(self, t: LaneFile, mask: int) -> None:
        if t not in self._running or t.conn is None:
            return  # ended by an earlier event of the same round
        if t.unsent:
            self._send(t)
            return
        sock = t.conn.sock
        while t.conn is not None and t.conn.sock is sock:
            try:
                count = sock.recv_into(self._buffer)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError as exc:
                self._broke(t, exc)
                return
            if not count:
                self._closed(t)
                return
            self._received(t, self._buffer[:count])
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                return

    def _received(self, t: LaneFile, data: memoryview) -> None:
        now = t.last_read = time.monotonic()
        try:
            if t.answered_at is None:
                seen = len(t.head)
                t.head += data
                end = t.head.find(END, max(0, seen - 3))
                if end < 0:
                    if len(t.head) > MAX_HEAD:
                        raise _as_transfer_error(t.url, unanswered(
                            t.url, BadAnswer("not an HTTP answer (a head over 128 KiB)"),
                            self._options))
                    return
                head, data = bytes(t.head[:end + 4]), memoryview(bytes(t.head[end + 4:]))
                t.answered_at = now
                if not self._accept(t, head) or (t.end < t.total and not self._join(t)):
                    return
                t.head = bytearray()
            if data:
                self._body(t, data)
        except TransferError as exc:
            self._fail(t, exc)

    def _accept(self, t: LaneFile, head: bytes) -> bool:
        """Whether the answer brings ``t``'s file from its first byte (then ``t.total`` and
        ``t.end`` say how far); else ``t`` went back to the engine, with the error a failed
        status is."""
        try:
            version, status, reason, headers = parse_head(head)
        except BadAnswer as exc:
            raise _as_transfer_error(t.url, unanswered(t.url, exc, self._options)) from None
        if status >= 200 and status not in (200, 206) and status not in _REDIRECTS:
            raise status_error(status, reason, headers.get("Retry-After"))
        sizes = answer_sizes(t.job, self._options, status, headers)
        if sizes is None:
            self._give_back(t, None)
            return False
        t.total, t.end = sizes
        t.ranged = status == 206
        self._board.accepted(t.url)
        t.closes = closes(version, headers)
        t.meter = StallMeter(self._options.stall_seconds, self._options.stall_speed)
        return True

    def _join(self, t: LaneFile) -> bool:
        """``t``'s file becomes a file of the engine's threads, and the rest of its answer
        one of its segments, fetched on here while their connections take what they can
        of the rest: a file larger than one request, so found at its answer, or one of the
        last files while connections are free (they may halve it). Whether it did (else it
        went back)."""
        with contextlib.suppress(OSError):
            t.part.close(t.fd)
        t.fd = -1
        try:
            download = Download(t.job, self._options)
        except OSError:
            self._give_back(t, None)  # they meet the error again and say so
            return False
        assert t.answered_at is not None
        delay = t.answered_at - t.sent_at
        download.started_at = t.began
        download.adopt(t.url, t.pos, t.total, ranged=True, delay=delay,
                       host_rate=self._board.speed(t.url))
        seg = Segment(pos=t.pos, end=t.end, url=t.url, start=t.pos, began=t.began,
                      answered=True, delay=delay)
        download.enter(seg)
        t.download, t.seg, t.hasher = download, seg, None
        self._desk.join(t.index, download)
        return True

    def _body(self, t: LaneFile, data: memoryview) -> None:
        end = t.end if t.seg is None else min(t.end, t.seg.end or t.end)  # it may shrink
        left = max(0, end - t.pos)
        if len(data) > left:  # more than asked: the connection is not reused
            data, t.closes = data[:left], True
        if data:
            self._write(t, data)
        assert t.meter is not None
        t.meter.update(len(data), t.url)
        if t.pos >= end:
            self._complete(t)

    def _write(self, t: LaneFile, data: memoryview) -> None:
        if t.download is None:
            write_at(t.fd, data, t.pos)
            if t.hasher is not None:
                t.hasher.update(data)
        else:
            assert t.seg is not None
            write_at(t.download.fd, data, t.pos)
            t.download.advance(t.seg, data)
        t.pos += len(data)

    def _complete(self, t: LaneFile) -> None:
        """All of ``t``'s answer arrived: free its connection and its seat; then check the
        file and hand it to the flushers, or hand it over to the engine's threads, knowing
        its size, where it is larger than one request."""
        now = time.monotonic()
        assert t.conn is not None and t.answered_at is not None
        conn, t.conn = t.conn, None
        del self._running[t]
        if t.closes or t.pos < t.end:
            self._unwatch(conn)
            conn.close()
        else:
            self._spare.setdefault(t.origin, []).append(conn)
        self._release(t, None, now)
        if t.download is not None:
            self._unjoin(t, None)
            return
        problem = t.problem()
        if problem is None:
            self._flushers.put(t)
            return
        self._drop(t)
        self._desk.give_back(t.index, Failure(t.url, t.began, problem=problem))
        self._give_back_all(t.origin)

    def _closed(self, t: LaneFile) -> None:
        """The server closed ``t``'s connection: a kept one closed while idle is made
        anew; else the try failed."""
        if t.answered_at is None:
            self._unanswered(t, http.client.RemoteDisconnected("closed"))
        else:
            self._fail(t, CutError(f"{host_name(t.url)}: connection closed at byte {t.pos} "
                                   f"of {t.total}"))

    def _broke(self, t: LaneFile, exc: OSError) -> None:
        if t.answered_at is None:
            self._unanswered(t, exc)
        else:
            self._fail(t, _as_transfer_error(t.url, broken(t.url, exc)))

    def _unanswered(self, t: LaneFile, exc: BaseException) -> None:
        """No answer came on ``t``'s connection: one kept from an earlier request that the
        server had closed gets a fresh try at once, as the wire gives it."""
        self._hang_up(t)
        if t.reused and not t.head and isinstance(exc, BROKEN_ON_REUSE):
            self._dial(t)
            return
        reason = BadAnswer(f"connection closed before an answer ({type(exc).__name__})")
        self._fail(t, _as_transfer_error(t.url, unanswered(t.url, reason, self._options)))

    def _expire(self) -> None:
        """Fail the transfers that waited for an answer, or for bytes, too long. Time the
        loop itself was held up (placing a file on a slow disk) is not theirs."""
        now = time.monotonic()
        away, self._turned = now - self._turned, now
        if away > AWAY:
            for t in self._running:
                t.last_read += away
        if now < self._expire_at:
            return
        self._expire_at = now + EXPIRY
        limit = self._options.stall_seconds
        for t in list(self._running):
            if t.conn is None or now - t.last_read <= limit:
                continue
            if t.answered_at is None:
                error = unanswered(t.url, AnswerTimeout("late"), self._options)
            else:
                error = broken(t.url, TimeoutError())
            self._fail(t, _as_transfer_error(t.url, error))

    # -- endings ------------------------------------------------------------------
    def _release(self, t: LaneFile, error: TransferError | None, now: float) -> None:
        """Count ``t``'s try on the board as the engine's threads count theirs."""
        answered = t.answered_at
        self._board.release(
            t.url, t.pos, now - t.began, error, answered is not None,
            None if answered is None else max(now - answered, 1e-6),
            None if answered is None else answered - t.sent_at,
            waiting=any(self._queues.values()))
        self._desk.unseat(t.url)

    def _fail(self, t: LaneFile, error: TransferError) -> None:
        """``t``'s try failed: its file goes back with the error, and its host's files
        waiting with it."""
        if t not in self._running:
            return  # ended already
        del self._running[t]
        self._hang_up(t)
        self._release(t, error, time.monotonic())
        if t.download is not None:
            self._unjoin(t, error)
        else:
            self._drop(t, keep=t.pos > 0)
            self._desk.give_back(t.index, Failure(t.url, t.began, error=error, kept=t.pos))
        self._give_back_all(t.origin)

    def _unjoin(self, t: LaneFile, error: TransferError | None) -> None:
        """``t``'s segment of a file of the engine's threads ended, with ``error`` if it
        failed: counted as theirs are."""
        assert t.download is not None and t.seg is not None
        t.download.release(t.seg)
        if error is not None:
            self._desk.failed(t.download, t.seg, error)
        elif t.seg.pos > t.seg.start:
            t.download.succeeded()
        self._desk.settle(t.download)
        self._places.release()

    def _give_back(self, t: LaneFile, failure: Failure | None) -> None:
        """``t`` goes back to the engine untouched, with its host's files waiting."""
        del self._running[t]
        self._hang_up(t)
        self._board.release(t.url, 0, time.monotonic() - t.began, None,
                            t.answered_at is not None)
        self._desk.unseat(t.url)
        self._drop(t)
        self._desk.give_back(t.index, failure)
        self._give_back_all(t.origin)

    def _end_early(self, t: LaneFile, error: str) -> None:
        """``t``'s file fails with ``error`` before its request was sent."""
        del self._running[t]
        self._board.untake(t.url)
        self._desk.unseat(t.url)
        self._drop(t)
        self._desk.done(t.index, Outcome(job=t.job, ok=False, error=error,
                                         seconds=time.monotonic() - t.began))

    def _give_back_all(self, origin: Origin) -> None:
        waiting = self._queues.get(origin)
        while waiting:
            self._desk.give_back(waiting.popleft()[0], None)

    def _drop(self, t: LaneFile, keep: bool = False) -> None:
        """Close ``t``'s part file, and remove it unless its bytes are to be ``keep``t for
        the engine's threads to go on from."""
        if t.fd >= 0:
            with contextlib.suppress(OSError):
                t.part.close(t.fd)
        if not keep:
            t.part.discard()
        self._places.release()

    def _end(self) -> None:
        """The loop ended: transfers still running end as interrupted when the run stops
        (else they go back, with the files waiting); no connection made later is used."""
        with self._lock:
            self._over = True
            dialed, self._dialed = self._dialed, []
        for _, conn, _ in dialed:
            if conn is not None:
                conn.close()
        for t in list(self._running):
            del self._running[t]
            self._hang_up(t)
            self._release(t, None, time.monotonic())
            if t.download is not None:
                self._unjoin(t, None)
                continue
            self._drop(t)
            if self._stop.is_set():
                self._desk.done(t.index, Outcome(job=t.job, ok=False, error="interrupted",
                                                 seconds=time.monotonic() - t.began))
            else:
                self._desk.give_back(t.index, None)
        for origin in self._queues:
            if not self._stop.is_set():
                self._give_back_all(origin)
        for origin, conns in self._spare.items():
            for conn in conns:
                self._unwatch(conn)
                self._wire_put(origin, conn)
        self._spare.clear()

    # -- placing ----------------------------------------------------------------------
    def _place(self) -> None:
        """Deliver the files flushed meanwhile (their flush already done, ``deliver`` only
        names them), and say how each ended."""
        for t, unflushed in self._flushers.take():
            error = None
            try:
                if unflushed is not None:
                    raise unflushed
                self._deliver(t.job)
            except Exception as exc:
                error = f"verified, but could not be placed: {in_words(exc)}"
            finally:
                with contextlib.suppress(OSError):
                    t.part.close(t.fd)
                self._places.release()
            self._desk.done(t.index, Outcome(
                job=t.job, ok=error is None, error=error, size=t.total, fetched=t.total,
                seconds=time.monotonic() - t.began))


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _as_transfer_error(url: str, error: BaseException) -> TransferError:
    if isinstance(error, TransferError):
        return error
    return ConnectError(f"{host_name(url)}: {in_words(error)}")
