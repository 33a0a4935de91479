"""A loopback HTTP server that misbehaves on purpose: the one used by the demo,
the tests and the benchmark.

It serves files under a root with ranges (206, 416), keep-alive, and faults
that bad networks produce: cut connections, per-connection throttling,
latency, 429/503 with ``Retry-After``, stalls, no range support, corrupt bytes
and a different file size. It counts what it did in :class:`Stats`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import Message
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

CHUNK = 64 << 10
SENDFILE_SLICE = 4 << 20
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass
class Faults:
    """What goes wrong. Every fault is off by default.

    ``cut_after``: each response body is cut after this many bytes.
    ``cut_every``: a response is cut where it crosses a multiple of this file offset.
    ``throttle``: bytes per second per connection. ``latency``: seconds before each answer.
    ``status_script``: the next requests get these ``(status, retry_after)`` answers.
    ``fail_status``: path suffix → permanent status. ``stall_after``: a response
    stops sending after this many bytes (``stall_count`` responses, all if ``None``).
    ``no_range``: ignore ``Range``. ``corrupt_offsets``: file offsets whose byte is
    flipped; ``corrupt_every``: flip the byte at every multiple of this offset.
    ``size_lie``: serve the file as if it had this size. ``basic_auth``:
    ``"user:password"`` required, else 401. ``max_active``: requests beyond this many
    at once are answered 503, as mirrors limiting connections per client do.
    ``status_rate``: this share of requests, drawn at random (seeded), answered 503.
    ``drip``: seconds between bytes, each response sent one byte at a time.
    ``endless``: answer 200 without ``Content-Length`` and follow the file with bytes
    that never end (until the client hangs up).

    Files carry validators as web servers send them: an ``ETag`` (unless ``etag`` is
    off) and ``Last-Modified``, honouring ``If-None-Match``/``If-Modified-Since`` (304)
    and ``If-Range`` (the whole file when it does not match). ``cache_control`` is sent
    as ``Cache-Control``. ``before_request`` is called with each request's path before it
    is answered (a test changes a file there, between two requests).
    """

    cut_after: int | None = None
    cut_every: int | None = None
    throttle: int | None = None
    latency: float = 0.0
    status_script: list[tuple[int, float | None]] = field(default_factory=list)
    fail_status: dict[str, int] = field(default_factory=dict)
    stall_after: int | None = None
    stall_count: int | None = None
    no_range: bool = False
    corrupt_offsets: set[int] = field(default_factory=set)
    corrupt_every: int | None = None
    size_lie: int | None = None
    basic_auth: str | None = None
    max_active: int | None = None
    status_rate: float = 0.0
    drip: float | None = None
    endless: bool = False
    etag: bool = True
    cache_control: str | None = None
    before_request: Callable[[str], None] | None = None

    def describe(self) -> str:
        """The active faults in a few words, for people."""
        mb = 1 << 20
        parts = [
            f"cut every {self.cut_every / mb:g} MiB" if self.cut_every else "",
            f"cut after {self.cut_after} bytes" if self.cut_after is not None else "",
            f"{self.throttle / mb:g} MiB/s per connection" if self.throttle else "",
            f"{self.latency * 1000:g} ms latency" if self.latency else "",
            ", ".join(f"{code} (Retry-After {after:g}s)" if after is not None else str(code)
                      for code, after in self.status_script),
            f"a stall after {self.stall_after / mb:g} MiB" if self.stall_after is not None else "",
            "no Range support" if self.no_range else "",
            f"{len(self.corrupt_offsets)} corrupt bytes" if self.corrupt_offsets else "",
            f"a corrupt byte every {self.corrupt_every} bytes" if self.corrupt_every else "",
            f"503 beyond {self.max_active} requests at once" if self.max_active else "",
            f"{self.status_rate:.0%} of requests 503" if self.status_rate else "",
            f"one byte every {self.drip:g} s" if self.drip else "",
            "a body that never ends" if self.endless else "",
        ]
        return ", ".join(p for p in parts if p) or "none"

    def alters_body(self) -> bool:
        return any(
            (self.cut_after is not None, self.cut_every, self.throttle,
             self.stall_after is not None, self.corrupt_offsets, self.corrupt_every,
             self.size_lie is not None, self.drip)
        )


@dataclass
class Stats:
    """What the server did; guarded by the server's lock."""

    requests: int = 0
    connections: int = 0
    bytes_sent: int = 0
    max_concurrent: int = 0
    active: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)
    per_path: dict[str, int] = field(default_factory=dict)
    ranges: list[tuple[str, int, int]] = field(default_factory=list)


class _Cut(Exception):
    """The fault plan says: drop this connection now."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultServer._Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def setup(self) -> None:
        super().setup()
        if self.connection.family in (socket.AF_INET, socket.AF_INET6):
            # small answers on a kept-alive connection must not wait for Nagle's delayed ACK
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._count(connections=1)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        owner = self.server.owner
        faults = owner.faults
        active = owner._begin()
        try:
            if faults.latency:
                time.sleep(faults.latency)
            path = unquote(urlsplit(self.path).path)
            owner._count(path=path)
            if faults.before_request is not None:
                faults.before_request(path)
            scripted = owner._next_scripted()
            if scripted is None and faults.max_active and active > faults.max_active:
                scripted = (503, None)
            if scripted is None and faults.status_rate and owner._draw() < faults.status_rate:
                scripted = (503, None)
            if scripted is not None:
                self._status(*scripted)
                return
            if faults.basic_auth and not self._authorized(faults.basic_auth):
                self._status(401, None)
                return
            permanent = next((s for k, s in faults.fail_status.items() if path.endswith(k)), None)
            file = owner._resolve(path)
            if permanent is not None or file is None:
                self._status(permanent or 404, None)
                return
            if faults.endless:
                self._send_endless(file)
                return
            self._send_file(file, path, faults, body)
        except (_Cut, ConnectionError, BrokenPipeError, TimeoutError):
            self.close_connection = True
        finally:
            owner._end()

    def _authorized(self, credentials: str) -> bool:
        expected = "Basic " + base64.b64encode(credentials.encode()).decode()
        return self.headers.get("Authorization") == expected

    def _status(self, status: int, retry_after: float | None) -> None:
        self.server.owner._count(status=status)
        self.send_response(status)
        if retry_after is not None:
            value = int(retry_after) if float(retry_after).is_integer() else retry_after
            self.send_header("Retry-After", str(value))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send_file(self, file: Path, path: str, faults: Faults, body: bool) -> None:
        stat = file.stat()
        size = faults.size_lie if faults.size_lie is not None else stat.st_size
        validators = _validators(stat, faults)
        if _not_modified(self.headers, validators):
            self.server.owner._count(status=304)
            self.send_response(304)
            self._send_validators(validators)
            self.end_headers()
            return
        ranged = not faults.no_range and _if_range_holds(self.headers.get("If-Range"), validators)
        span = _parse_range(self.headers.get("Range"), size) if ranged else None
        if span == "unsatisfiable":
            self.server.owner._count(status=416)
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end = span if isinstance(span, tuple) else (0, size)
        status = 206 if isinstance(span, tuple) else 200
        self.server.owner._count(status=status, span=(path, start, end))
        self.send_response(status)
        self.send_header("Content-Length", str(end - start))
        if not faults.no_range:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self._send_validators(validators)
        self.end_headers()
        if not body or end <= start:
            return
        self.wfile.flush()
        if faults.alters_body() or not hasattr(os, "sendfile") \
                or isinstance(self.connection, ssl.SSLSocket):  # sendfile would bypass TLS
            self._send_faulty(file, start, end, faults)
        else:
            self._send_fast(file, start, end)

    def _send_endless(self, file: Path) -> None:
        """The file, then zeros until the client hangs up; no length, so no end."""
        self.close_connection = True
        self.server.owner._count(status=200)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(file.read_bytes())
        while not self.server.owner.closing.is_set():
            self.wfile.write(bytes(CHUNK))
            self.server.owner._count(sent=CHUNK)

    def _send_validators(self, validators: dict[str, str]) -> None:
        for name, value in validators.items():
            self.send_header(name, value)

    def _send_fast(self, file: Path, start: int, end: int) -> None:
        """Zero-copy ``sendfile`` in slices, counting each, until ``end``."""
        with open(file, "rb") as stream:
            pos = start
            while pos < end:
                sent = os.sendfile(self.connection.fileno(), stream.fileno(), pos,
                                   min(SENDFILE_SLICE, end - pos))
                if sent == 0:
                    raise _Cut()
                self.server.owner._count(sent=sent)
                pos += sent

    def _send_faulty(self, file: Path, start: int, end: int, faults: Faults) -> None:
        limit = _cut_point(start, end, faults)
        stall_at = None
        if faults.stall_after is not None and self.server.owner._take_stall():
            stall_at = start + faults.stall_after
        pace = _Pace(faults.throttle)
        pos = start
        with open(file, "rb") as stream:
            while pos < limit:
                if stall_at is not None and pos >= stall_at:
                    self.server.owner.closing.wait()
                    raise _Cut()
                if faults.drip and self.server.owner.closing.wait(faults.drip):
                    raise _Cut()
                count = min(1 if faults.drip else CHUNK, limit - pos,
                            (stall_at - pos) if stall_at else CHUNK)
                data = _read_at(stream, pos, count)
                data = _corrupt(data, pos, faults)
                pace.wait(len(data))
                self.wfile.write(data)
                self.server.owner._count(sent=len(data))
                pos += len(data)
        if limit < end:
            with contextlib.suppress(OSError):  # the client may have gone already
                self.connection.shutdown(socket.SHUT_RDWR)
            raise _Cut()


def _validators(stat: os.stat_result, faults: Faults) -> dict[str, str]:
    """The headers naming this version of a file (and how long it may be cached)."""
    headers = {"Last-Modified": formatdate(stat.st_mtime, usegmt=True)}
    if faults.etag:
        headers["ETag"] = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    if faults.cache_control:
        headers["Cache-Control"] = faults.cache_control
    return headers


def _not_modified(request: Message, validators: dict[str, str]) -> bool:
    """Whether a conditional GET names the current version (a 304)."""
    tags = request.get("If-None-Match")
    if tags is not None:
        return validators.get("ETag") in [t.strip() for t in tags.split(",")]
    since, modified = _date(request.get("If-Modified-Since")), _date(validators["Last-Modified"])
    return since is not None and modified is not None and since >= modified


def _if_range_holds(value: str | None, validators: dict[str, str]) -> bool:
    """``If-Range`` absent or naming the current version: the range may be served."""
    if value is None:
        return True
    if value.startswith(('"', "W/")):
        return not value.startswith("W/") and value == validators.get("ETag")
    return value == validators["Last-Modified"]


def _date(value: str | None) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError):
        return None


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(start, end)`` half-open, ``"unsatisfiable"``, or ``None`` for the whole file."""
    match = _RANGE.match((header or "").strip())
    if not match:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        return (max(0, size - int(last)), size) if int(last) else "unsatisfiable"
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    return (start, end) if start < size and start < end else "unsatisfiable"


def _cut_point(start: int, end: int, faults: Faults) -> int:
    limit = end
    if faults.cut_after is not None:
        limit = min(limit, start + faults.cut_after)
    if faults.cut_every:
        limit = min(limit, (start // faults.cut_every + 1) * faults.cut_every)
    return limit


def _read_at(stream: BinaryIO, pos: int, count: int) -> bytes:
    stream.seek(pos)
    data = stream.read(count)
    return data + bytes(count - len(data))  # past the real end when the size is a lie


def _corrupt(data: bytes, pos: int, faults: Faults) -> bytes:
    end = pos + len(data)
    hits = {o for o in faults.corrupt_offsets if pos <= o < end}
    if faults.corrupt_every:
        step = faults.corrupt_every
        hits.update(range(-(-pos // step) * step, end, step))
    if not hits:
        return data
    flipped = bytearray(data)
    for offset in hits:
        flipped[offset - pos] ^= 0xFF
    return bytes(flipped)


class _Pace:
    """Sleeps so that a connection averages at most ``rate`` bytes per second."""

    def __init__(self, rate: int | None) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.sent = 0

    def wait(self, count: int) -> None:
        """Sleep until ``count`` more bytes fit within the rate."""
        if not self.rate:
            return
        self.sent += count
        ahead = self.sent / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)


class FaultServer:
    """Serves ``root`` on 127.0.0.1 (random port) with :class:`Faults`; a context manager."""

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        # a backlog as web servers have: with the default of 5, a burst of connections
        # overflows the accept queue, and each one dropped there is answered a second late
        request_queue_size = 128
        owner: FaultServer

        def handle_error(self, request: object, client_address: object) -> None:
            """Clients hang up on purpose here (stolen ranges, stalls): not worth a traceback."""
            if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                super().handle_error(request, client_address)  # type: ignore[arg-type]

    def __init__(self, root: Path, faults: Faults | None = None, name: str = "server",
                 tls: ssl.SSLContext | None = None) -> None:
        self.root = Path(root).resolve()
        self.faults = faults or Faults()
        self.name = name
        self.stats = Stats()
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when no request is answered
        self._stalls = 0
        self._random = random.Random(0)
        self._httpd = self._Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def settled(self, timeout: float = 10.0) -> Stats:
        """The statistics once no request is being answered: a client may read an answer's
        last bytes before the server has counted them."""
        with self._idle:
            self._idle.wait_for(lambda: not self.stats.active, timeout)
        return self.stats

    def url_for(self, relpath: str) -> str:
        return f"{self.url}/{relpath.lstrip('/')}"

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; stalled and throttled handlers end with the process (daemon threads)."""
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = Stats()

    # -- used by the handler --------------------------------------------------------
    def _resolve(self, path: str) -> Path | None:
        file = (self.root / path.lstrip("/")).resolve()
        if file != self.root and self.root not in file.parents:
            return None
        return file if file.is_file() else None

    def _next_scripted(self) -> tuple[int, float | None] | None:
        with self._lock:
            script = self.faults.status_script
            return script.pop(0) if script else None

    def _draw(self) -> float:
        with self._lock:
            return self._random.random()

    def _take_stall(self) -> bool:
        with self._lock:
            faults = self.faults
            if faults.stall_after is None:
                return False
            if faults.stall_count is not None and self._stalls >= faults.stall_count:
                return False
            self._stalls += 1
            return True

    def _begin(self) -> int:
        """Count a request; the number of requests now being answered."""
        with self._lock:
            self.stats.requests += 1
            self.stats.active += 1
            self.stats.max_concurrent = max(self.stats.max_concurrent, self.stats.active)
            return self.stats.active

    def _end(self) -> None:
        with self._lock:
            self.stats.active -= 1
            if not self.stats.active:
                self._idle.notify_all()

    def _count(self, *, connections: int = 0, sent: int = 0, path: str | None = None,
               status: int | None = None, span: tuple[str, int, int] | None = None) -> None:
        with self._lock:
            stats = self.stats
            stats.connections += connections
            stats.bytes_sent += sent
            if path is not None:
                stats.per_path[path] = stats.per_path.get(path, 0) + 1
            if status is not None:
                stats.status_counts[status] = stats.status_counts.get(status, 0) + 1
            if span is not None:
                stats.ranges.append(span)


def refused_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> int:
    """Serve a directory until SIGTERM/SIGINT; print the base URL first."""
    parser = argparse.ArgumentParser(description="loopback server with injected faults")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--throttle", type=int, help="bytes/s per connection")
    parser.add_argument("--cut-every", type=int, help="cut at multiples of this file offset")
    parser.add_argument("--cut-after", type=int, help="cut each response after N bytes")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--no-range", action="store_true")
    parser.add_argument("--corrupt-every", type=int, help="flip a byte at multiples of N")
    parser.add_argument("--max-active", type=int, help="503 beyond N requests at once")
    parser.add_argument("--status-rate", type=float, default=0.0,
                        help="answer this share of requests 503, at random")
    parser.add_argument("--stats-file", type=Path, help="write statistics here as JSON on exit")
    args = parser.parse_args(argv)
    faults = Faults(cut_after=args.cut_after, cut_every=args.cut_every, throttle=args.throttle,
                    latency=args.latency, no_range=args.no_range,
                    corrupt_every=args.corrupt_every, max_active=args.max_active,
                    status_rate=args.status_rate)
    server = FaultServer(args.root, faults).start()
    print(server.url, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.2):
        pass
    server.close()
    if args.stats_file:
        stats = asdict(server.stats)
        stats["ranges"] = len(stats["ranges"])
        args.stats_file.write_text(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
