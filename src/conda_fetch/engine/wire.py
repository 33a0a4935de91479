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

import http.client
import select
import ssl
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

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
        self.headers = answer.msg  # looked up without regard to case, as requests does
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
        self._headers = dict(headers)
        self._context_of = context
        self._context: ssl.SSLContext | None = None
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        weakref.finalize(self, _close_all, self._idle)  # a session dropped unclosed

    def get(self, url: str, headers: Mapping[str, str],
            timeout: tuple[float, float]) -> Response:
        """GET ``url`` (an ``http`` or ``https`` URL without credentials whose path
        requests would send as written) with the session's headers and ``headers``."""
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname or "", parts.port or _PORTS[parts.scheme])
        target = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        sent = {name.lower(): (name, value) for name, value in self._headers.items()}
        sent.update((name.lower(), (name, value)) for name, value in headers.items())
        lines = list(sent.values())
        conn = self._take(origin)
        if conn is not None:
            try:
                return Response(self, origin, conn, _ask(conn, target, lines, timeout[1]), url)
            except BROKEN_ON_REUSE:
                conn.close()  # the server closed it while it was idle: one fresh try
        conn = self._connect(origin, timeout)
        try:
            return Response(self, origin, conn, _ask(conn, target, lines, timeout[1]), url)
        except BROKEN_ON_REUSE as exc:
            raise BadAnswer(f"connection closed before an answer ({type(exc).__name__})") \
                from exc

    def _take(self, origin: Origin) -> http.client.HTTPConnection | None:
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

    def _connect(self, origin: Origin, timeout: tuple[float, float]
                 ) -> http.client.HTTPConnection:
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


def _ask(conn: http.client.HTTPConnection, target: str, headers: list[tuple[str, str]],
         read_timeout: float) -> http.client.HTTPResponse:
    """Send the GET on ``conn`` and read the answer's status line and headers (``conn`` is
    closed if that fails). A connection the server had closed raises as it is."""
    try:
        if conn.sock is not None:
            conn.sock.settimeout(read_timeout)
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        return conn.getresponse()
    except BaseException as exc:
        conn.close()
        if isinstance(exc, TimeoutError):
            raise AnswerTimeout(f"no answer within {read_timeout:g} s") from exc
        if isinstance(exc, http.client.HTTPException) and not isinstance(exc, OSError):
            raise BadAnswer(f"not an HTTP answer ({type(exc).__name__})") from exc
        raise


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
