"""Plain GETs straight over the standard library's ``http.client``: the engine's hot path.

A transfer asks for a range of a file with nothing for requests to add: no proxy, no
credentials, no cookie, no redirect to follow, no body to decode. For those this module
keeps each origin's connections open and speaks HTTP/1.1 over them itself, with the same
headers and TLS verification requests would use. It costs less than half of requests' CPU per
request, and a run whose requests are all plain never imports requests (a fifth of a
second at start-up, and as long again with every thread stopped if it were first
imported to raise an error mid-run). Errors are ``OSError`` subclasses: the cause itself
where the system gave one (refused, name not resolved, certificate verification failed),
:class:`ConnectTimeout` and :class:`AnswerTimeout` for the two waits, :class:`BadAnswer`
for what is not HTTP or a body that ends before its length.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import io
import select
import socket
import ssl
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

from conda_fetch.units import byte_count

Origin = tuple[str, str, int]  # scheme, host, port
Context = Callable[[], ssl.SSLContext]
BROKEN_ON_REUSE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError,
                   http.client.RemoteDisconnected)


class ConnectTimeout(TimeoutError):
    """No connection (TLS included) within the connect timeout."""


class AnswerTimeout(TimeoutError):
    """Connected and asked, but no answer within the read timeout."""


class BadAnswer(OSError):
    """The server's answer is not HTTP, or its body broke off before its length."""


MAX_LINE = 65536  # longest status or header line, as http.client allows
MAX_FIELDS = 100  # most header lines in one answer (folded ones too), as http.client allows
MAX_INTERIM = 10  # most informational (1xx) answers before the real one
READ_BUFFER = 64 * 1024  # an answer's head and a small file's body in one read
MAX_ORIGINS = 256  # origins whose parsing is kept


class Headers:
    """An answer's header fields, looked up without regard to case (the first of a
    repeated name), all of one name with :meth:`get_all` (what a cookie jar reads)."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def get_all(self, name: str, default: Any = None) -> list[str] | Any:
        wanted = name.lower()
        return [value for key, value in self._fields if key.lower() == wanted] or default

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)


class _Answer(http.client.HTTPResponse):
    """``http.client``'s answer, its head read here: the email package it parses headers
    with costs more CPU than the rest of a small file's request. The body is still read
    by ``http.client`` (lengths, chunks, connection close), from the fields set below."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock, method="GET")
        self.fp.close()  # http.client's reader of 8 KiB: a small file took two reads
        self.fp = cast(io.BufferedReader, sock.makefile("rb", buffering=READ_BUFFER))

    def begin(self) -> None:
        if self.headers is not None:
            return
        lines = iter(functools.partial(_read_line, self.fp), None)
        for _ in range(MAX_INTERIM + 1):
            first = next(lines, None)
            if first is None:
                raise http.client.RemoteDisconnected("closed without an answer")
            version, status, reason = _status_line(first)
            headers = _fields(lines)
            if not 100 <= status < 200 or status == 101:
                break
        else:
            raise BadAnswer(f"not an HTTP answer (over {MAX_INTERIM} interim answers)")
        self.version, self.code, self.status, self.reason = version, status, status, reason
        self.headers = self.msg = headers
        self.chunked = (headers.get("transfer-encoding") or "").lower() == "chunked"
        self.chunk_left = None
        self.length = None if self.chunked else byte_count(headers.get("content-length"))
        if status in (204, 304) or status < 200 or self._method == "HEAD":
            self.length = 0
        self.will_close = closes(version, headers) or (self.length is None
                                                         and not self.chunked)


def _read_line(fp: Any) -> str | None:
    """The next line of an answer's head from ``fp``, without its line feed; ``None``
    where the connection ended."""
    line: bytes = fp.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise http.client.LineTooLong("header line")
    return line.decode("iso-8859-1").removesuffix("\n") if line else None


def _status_line(line: str) -> tuple[int, int, str]:
    """The HTTP version (10 or 11), status and reason of an answer's first line."""
    version, _, rest = line.rstrip("\r").partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or len(code) != 3 or not code.isdecimal() \
            or not code.isascii() or code < "100":
        raise http.client.BadStatusLine(line[:80])
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise http.client.UnknownProtocol(version[:20])
    return (10 if version == "HTTP/1.0" else 11), int(code), reason.strip()


def _fields(lines: Iterator[str]) -> Headers:
    """The header fields up to the empty line; a folded line continues the field before.
    Every line counts towards :data:`MAX_FIELDS`, folded or not a field at all."""
    fields: list[tuple[str, str]] = []
    for _ in range(MAX_FIELDS + 1):
        line = next(lines, "")
        if line in ("\r", ""):
            return Headers(fields)
        if line[0] in " \t" and fields:
            name, value = fields.pop()
            fields.append((name, f"{value} {line.strip()}"))
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append((name, value.strip()))
    raise BadAnswer(f"not an HTTP answer (over {MAX_FIELDS} header lines)")


def parse_head(head: bytes) -> tuple[int, int, str, Headers]:
    """The HTTP version (10 or 11), status, reason and fields of an answer's head (its
    bytes up to the empty line), as :meth:`Wire.get` reads them from a connection;
    :class:`BadAnswer` when it is not HTTP."""
    lines = head.decode("iso-8859-1").split("\n")
    try:
        if max(map(len, lines)) >= MAX_LINE:  # as read, each line ends with its "\n"
            raise http.client.LineTooLong("header line")
        return (*_status_line(lines[0]), _fields(iter(lines[1:])))
    except http.client.HTTPException as exc:
        raise _not_http(exc) from exc


def _not_http(exc: http.client.HTTPException) -> BadAnswer:
    why = _WHY.get(type(exc).__name__, type(exc).__name__)
    return BadAnswer(f"not an HTTP answer ({why})")  # the server's own bytes are never shown


def closes(version: int, headers: Headers) -> bool:
    """Whether the server closes the connection after this answer."""
    tokens = (headers.get("connection") or "").lower()
    if version == 11:
        return "close" in tokens
    return "keep-alive" not in tokens and not headers.get("keep-alive")


class Response:
    """An answer to a plain GET, with the parts of ``requests.Response`` the engine uses:
    ``status_code``, ``reason``, ``headers``, ``iter_content``, and as ``raw`` what urllib3's
    streamed answer offers (``read``, ``read1``, ``length_remaining``, ``release_conn``)."""

    def __init__(self, wire: Wire, origin: Origin, conn: http.client.HTTPConnection,
                 answer: http.client.HTTPResponse, url: str) -> None:
        self._wire, self._origin, self._conn, self._answer = wire, origin, conn, answer
        self.url = url
        self.status_code = answer.status
        self.reason = answer.reason
        self.headers: Headers = answer.msg  # type: ignore[assignment]
        self.raw = self
        self._done = False

    @property
    def original(self) -> Any:
        """What requests' cookie jar reads a response's headers from."""
        return _Original(self._answer)

    @property
    def length_remaining(self) -> int | None:
        """Body bytes still to come, when the answer said how many."""
        return self._answer.length

    def read1(self, amount: int = -1, decode_content: bool = False) -> bytes:
        """Up to ``amount`` body bytes from one read of the connection (``b""`` at the end).
        A body that ends before its announced length raises :class:`BadAnswer`, as
        urllib3 raises for it; a read that times out raises ``TimeoutError``."""
        try:
            data = self._answer.read1(amount)
        except http.client.HTTPException as exc:
            raise BadAnswer(f"broken body ({type(exc).__name__})") from exc
        if not data and amount and self._answer.length:
            raise BadAnswer(f"the body ended {self._answer.length} bytes early")
        return data

    def read(self, amount: int | None = None) -> bytes:
        """The rest of the body, or up to ``amount`` bytes of it."""
        parts, left = [], amount
        while left is None or left > 0:
            data = self.read1(-1 if left is None else left)
            if not data:
                break
            parts.append(data)
            left = None if left is None else left - len(data)
        return b"".join(parts)

    def iter_content(self, chunk_size: int = 1) -> Iterator[bytes]:
        while data := self.read1(chunk_size):
            yield data

    def hang_up(self) -> None:
        """End the connection from another thread: a read blocked on it returns at once
        (and the connection is not kept for another request)."""
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def release_conn(self) -> None:
        """Give the connection back for the next request if the whole body was read and
        the server keeps it open; close it otherwise."""
        if self._done:
            return
        self._done = True
        answer = self._answer
        reusable = (answer.length == 0 or answer.isclosed()) and not answer.will_close
        answer.close()
        if reusable:
            self._wire.put(self._origin, self._conn)
        else:
            self._conn.close()

    def close(self) -> None:
        """Close the connection unless it was given back."""
        if not self._done:
            self._done = True
            self._answer.close()  # it holds the socket when the server closes after it
            self._conn.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Original:
    def __init__(self, answer: http.client.HTTPResponse) -> None:
        self._original_response = answer


class Wire:
    """Each origin's idle connections (at most ``pool_size``), and plain GETs over them;
    thread-safe. ``context`` makes the TLS context, once, when an ``https`` origin is
    first asked."""

    def __init__(self, pool_size: int, headers: Mapping[str, str], context: Context) -> None:
        self._pool_size = pool_size
        self._sent = {name.lower(): (name, value) for name, value in headers.items()}
        self._origins: dict[str, Origin] = {}  # scheme://host:port as written -> its origin
        self._context_of = context
        self._context: ssl.SSLContext | None = None
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        weakref.finalize(self, _close_all, self._idle)  # a session dropped unclosed

    def get(self, url: str, headers: Mapping[str, str],
            timeout: tuple[float, float]) -> Response:
        """GET ``url`` (an ``http`` or ``https`` URL without credentials whose path
        requests would send as written) with the session's headers and ``headers``."""
        origin, request = self.prepare(url, headers)
        conn = self.take(origin)
        if conn is not None:
            try:
                return Response(self, origin, conn, _ask(conn, request, timeout[1]), url)
            except BROKEN_ON_REUSE:
                conn.close()  # the server closed it while it was idle: one fresh try
        conn = self.connect(origin, timeout)
        try:
            return Response(self, origin, conn, _ask(conn, request, timeout[1]), url)
        except BROKEN_ON_REUSE as exc:
            raise BadAnswer(f"connection closed before an answer ({type(exc).__name__})") \
                from exc

    def prepare(self, url: str, headers: Mapping[str, str]) -> tuple[Origin, bytes]:
        """The origin to ask and the request to send for a GET of ``url`` (as :meth:`get`
        takes it) with the session's headers and ``headers``. (Each origin is parsed once:
        a plan of a thousand files asks this a thousand times before its first request.)"""
        end = url.find("/", url.find("://") + 3)
        base, target = (url, "/") if end < 0 else (url[:end], url[end:].partition("#")[0])
        origin = self._origins.get(base)
        if origin is None:
            if len(self._origins) >= MAX_ORIGINS:
                self._origins.clear()
            parts = urlsplit(base)
            origin = self._origins[base] = (parts.scheme, parts.hostname or "",
                                            parts.port or _PORTS[parts.scheme])
        sent = self._sent.copy()
        sent.update((name.lower(), (name, value)) for name, value in headers.items())
        return origin, _request(target, origin, sent.values())

    def take(self, origin: Origin) -> http.client.HTTPConnection | None:
        """An idle connection to ``origin`` the server has not closed, if there is one."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                conn = idle.pop() if idle else None
            if conn is None or _still_open(conn):
                return conn
            conn.close()

    def put(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        """Keep ``conn`` for ``origin``'s next request (closed if enough are kept)."""
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._pool_size:
                idle.append(conn)
                return
        conn.close()

    def connect(self, origin: Origin, timeout: tuple[float, float]
                ) -> http.client.HTTPConnection:
        """A new connection to ``origin`` (TLS done), within ``timeout[0]`` seconds."""
        scheme, host, port = origin
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout[0],
                                               context=self._tls())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout[0])
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise ConnectTimeout(f"no connection within {timeout[0]:g} s") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                self._context = self._context_of()
            return self._context

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle = dict(self._idle)
            self._idle.clear()
        _close_all(idle)


def _close_all(idle: dict[Origin, list[http.client.HTTPConnection]]) -> None:
    for conns in idle.values():
        for conn in conns:
            conn.close()


_PORTS = {"http": 80, "https": 443}


def _request(target: str, origin: Origin, headers: Iterable[tuple[str, str]]) -> bytes:
    """A GET of ``target`` as sent: Host first (its port only when not the scheme's own),
    then ``headers`` as given."""
    scheme, host, port = origin
    name = f"[{host}]" if ":" in host else host
    authority = name if port == _PORTS[scheme] else f"{name}:{port}"
    lines = [f"GET {target} HTTP/1.1", f"Host: {authority}",
             *(f"{key}: {value}" for key, value in headers), "", ""]
    return "\r\n".join(lines).encode("iso-8859-1")


def _ask(conn: http.client.HTTPConnection, request: bytes, read_timeout: float) -> _Answer:
    """Send ``request`` on ``conn`` and read the answer's status line and headers (``conn``
    is closed if that fails). A connection the server had closed raises as it is."""
    answer = None
    try:
        sock = conn.sock
        if sock.gettimeout() != read_timeout:
            sock.settimeout(read_timeout)
        sock.sendall(request)
        answer = _Answer(sock)
        answer.begin()
        return answer
    except BaseException as exc:
        if answer is not None:
            answer.close()  # it holds the socket open too
        conn.close()
        if isinstance(exc, TimeoutError):
            raise AnswerTimeout(f"no answer within {read_timeout:g} s") from exc
        if isinstance(exc, http.client.HTTPException) and not isinstance(exc, OSError):
            raise _not_http(exc) from exc
        raise


_WHY = {"LineTooLong": "a line over 64 KiB", "BadStatusLine": "no status line",
        "UnknownProtocol": "not HTTP/1.0 or 1.1"}


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection may carry a request: the server has not closed it nor
    sent anything unasked (either makes its socket readable)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        return not select.select([sock], [], [], 0)[0]
    except (OSError, ValueError):
        return False


def headers_of(extra: Mapping[str, Any] | None) -> dict[str, str] | None:
    """``extra`` as headers to send, or ``None`` when one is not a plain string (requests
    has its own rules for those)."""
    sent: dict[str, str] = {}
    for name, value in (extra or {}).items():
        if not (isinstance(name, str) and isinstance(value, str)) or "\r" in value + name \
                or "\n" in value + name:
            return None
        sent[name] = value
    return sent
