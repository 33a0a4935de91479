"""One connection fetching one segment: a ranged GET streamed to the part file."""

from __future__ import annotations

import errno
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from conda_fetch.engine.download import SAMPLE_BYTES, SILENT_SECONDS, Download, Segment
from conda_fetch.engine.errors import (
    ChangedError,
    ConnectError,
    CutError,
    DiskError,
    HostError,
    PermanentError,
    SlowError,
    StallError,
    TransferError,
    status_error,
)
from conda_fetch.engine.http import failure_kind, loaded_error
from conda_fetch.engine.options import Options
from conda_fetch.engine.session import HttpGetter
from conda_fetch.engine.wire import BadAnswer
from conda_fetch.redact import redact
from conda_fetch.units import byte_count, human_bytes

if TYPE_CHECKING:
    import requests
    import urllib3

_CONTENT_RANGE = re.compile(r"bytes\s+(\d{1,18})-(\d{1,18})/(\d{1,18}|\*)", re.ASCII)
class Cancelled(Exception):
    """The run is stopping (Ctrl-C); the segment stays claimable for next time."""


def fetch_segment(
    session: HttpGetter,
    download: Download,
    seg: Segment,
    stop: threading.Event,
    opened: Callable[[], None] | None = None,
) -> None:
    """Fetch ``seg`` from ``seg.url`` into the part file, raising :class:`TransferError`.

    ``opened`` is called once the answer's headers were accepted. A connection whose
    answer was read to its end goes back to the session's pool for the next request.
    """
    options = download.options
    headers = {"Range": _range_header(seg), "Accept-Encoding": "identity"}
    if download.job.validator is not None:
        headers["If-Range"] = download.job.validator
    try:
        response = session.get(
            seg.url,
            headers=headers,
            stream=True,
            timeout=(options.connect_timeout, options.stall_seconds),
        )
    except Exception as exc:
        raise unanswered(seg.url, exc, options) from None
    seg.answered = True
    hang_up = getattr(response.raw, "hang_up", None)  # the wire's answers have one
    seg.hang_up = hang_up if callable(hang_up) else None
    with response:
        _accept(response, download, seg)
        if opened is not None:
            opened()
        if _stream(response, download, seg, stop, options):
            _reuse(response)


def unanswered(url: str, exc: Exception, options: Options) -> Exception:
    """A request that got no answer, as a :class:`TransferError` with its reason in words
    (see :func:`~conda_fetch.engine.http.failure_kind`); anything else as it is."""
    kind = failure_kind(exc)
    if kind == "connect-timeout":
        return ConnectError(f"{host_name(url)}: no answer to connect within "
                            f"{options.connect_timeout:g} s")
    if kind == "timeout":
        return StallError(f"{host_name(url)}: connected, but no answer within "
                          f"{options.stall_seconds:g} s")
    if kind == "connection":
        return connect_error(url, exc)
    if kind == "request":  # a bad URL or scheme: no retry will mend it
        return PermanentError(redact(f"{type(exc).__name__}: {exc}"))
    return exc


def _range_header(seg: Segment) -> str:
    last = "" if seg.end is None else str(seg.end - 1)
    return f"bytes={seg.pos}-{last}"


def _accept(response: requests.Response, download: Download, seg: Segment) -> None:
    """Check the status and headers; tell the download what they revealed."""
    status = response.status_code
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if status in (200, 206) and encoding not in ("", "identity"):
        raise PermanentError(f"server sent a {encoding}-encoded body for identity")
    if _changed(download.job.validator, status, response.headers):
        raise ChangedError("the file changed on the server since its first byte was fetched")
    if status == 206:
        first, total = content_range(response.headers.get("Content-Range", ""))
        if first != seg.pos:
            raise PermanentError(f"server answered from byte {first}, asked for {seg.pos}")
        download.learn(seg, _bounded(total, download, seg), ranges=True)
    elif status == 200:
        total = byte_count(response.headers.get("Content-Length"))
        download.learn(seg, _bounded(total, download, seg), ranges=False)
    else:
        raise status_error(status, response.reason or "", response.headers.get("Retry-After"))


def _bounded(total: int | None, download: Download, seg: Segment) -> int | None:
    """``total``, unless it is more than a file of unknown size may be."""
    if download.job.size is None and total is not None:
        _check_unsized(total, download, seg)
    return total


def _check_unsized(count: int, download: Download, seg: Segment) -> None:
    """Fail the source of a file of unknown size that sends (or announces) too much."""
    cap = download.options.max_unsized
    if count > cap:
        raise PermanentError(f"{host_name(seg.url)}: more than {human_bytes(cap)} for a file of "
                             "unknown size (the plan names none); not fetched further")


def _changed(validator: str | None, status: int, headers: Mapping[str, str]) -> bool:
    """Whether an answer to ``If-Range: validator`` is another version: a 200 that does not
    name the same version (a server without ranges does), or a 206 naming another one (a
    server that ignores ``If-Range``)."""
    if validator is None or status not in (200, 206):
        return False
    named = headers.get("ETag" if validator.startswith(('"', "W/")) else "Last-Modified")
    return named != validator if status == 200 else named not in (None, validator)


def content_range(value: str) -> tuple[int, int | None]:
    """The first byte and the file's size (``None``: ``*``) a ``Content-Range`` names."""
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if not match:
        raise PermanentError(f"malformed Content-Range {value!r}")
    total = match.group(3)
    return int(match.group(1)), None if total == "*" else int(total)


def _stream(
    response: requests.Response,
    download: Download,
    seg: Segment,
    stop: threading.Event,
    options: Options,
) -> bool:
    """Copy the body to the part file until the segment's (moving) end; whether the
    body was read to its very end (the connection can serve another request)."""
    raw = response.raw
    meter = StallMeter(options.stall_seconds, options.stall_speed)
    sampled = False
    while seg.end is None or seg.pos < seg.end:
        if stop.is_set():
            raise Cancelled()
        data: bytes | memoryview = _read_for(seg, raw, options.chunk)
        if not data:
            break
        if seg.url in download.distrusted or seg.abandoned:
            raise Cancelled()
        end = seg.end
        if end is not None and seg.pos + len(data) > end:
            data = memoryview(data)[: max(0, end - seg.pos)]
        if download.size is None:
            _check_unsized(seg.pos + len(data), download, seg)
        write_at(download.fd, data, seg.pos)
        download.advance(seg, data)
        meter.update(len(data), seg.url)
        if not sampled and seg.pos - seg.start >= SAMPLE_BYTES:
            sampled = True
            download.sampled(seg)
    if not sampled and seg.pos > seg.start:
        download.sampled(seg)  # a range shorter than a sample: compare what there is
    if seg.end is None:
        download.ended(seg)
        return True
    if seg.pos < seg.end:
        raise CutError(f"{host_name(seg.url)}: connection closed at byte {seg.pos} of {seg.end}")
    return _at_body_end(raw, download, seg)


def _at_body_end(raw: urllib3.HTTPResponse, download: Download, seg: Segment) -> bool:
    """Whether the answer ended where the segment did. An answer that goes on past the
    file's end (a body longer than the file's size) is cut off, and its source fails."""
    remaining = getattr(raw, "length_remaining", None)
    if remaining == 0:
        return True
    if seg.end != download.size or remaining is not None:
        return False  # a range ended early for another connection: the rest is not read
    if _read(raw, 1, seg.url):
        raise PermanentError(f"{host_name(seg.url)}: sent more than the file's {seg.end} bytes")
    return True


def _reuse(response: requests.Response) -> None:
    """Hand the connection of a fully read answer back to the pool."""
    release = getattr(response.raw, "release_conn", None)
    if release is not None:
        release()


def _read_for(seg: Segment, raw: urllib3.HTTPResponse, amount: int) -> bytes:
    """:func:`_read` for ``seg``, adding the time it waits to ``seg.waited``."""
    began = seg.reading_since = time.monotonic()
    try:
        return _read(raw, amount, seg.url)
    finally:
        seg.reading_since = None
        seg.waited += time.monotonic() - began


def _read(raw: urllib3.HTTPResponse, amount: int, url: str) -> bytes:
    try:
        return raw.read1(amount, decode_content=False)
    except Exception as exc:
        raise broken(url, exc) from None


def broken(url: str, exc: Exception) -> Exception:
    """A body that could not be read on, as a :class:`TransferError` (``OSError`` from the
    wire, urllib3's exceptions from requests); anything else as it is."""
    if isinstance(exc, (TimeoutError, loaded_error("urllib3.exceptions", "ReadTimeoutError"))):
        return StallError(f"{host_name(url)} sent nothing for too long")
    if isinstance(exc, (OSError, loaded_error("urllib3.exceptions", "HTTPError"))):
        return CutError(f"connection to {host_name(url)} broke ({_why(exc)})")
    return exc


def _why(exc: BaseException) -> str:
    """A broken read in a few words: the wire's own, the system's, or the error's name."""
    if isinstance(exc, BadAnswer):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in _ERRNO_WORDS:
        return _ERRNO_WORDS[exc.errno]
    return type(exc).__name__


def silence(seg: Segment, options: Options) -> StallError:
    """The failed try of a segment hung up after ``SILENT_SECONDS`` of silence (its rest
    went to another connection): a stall, or below the floor of speed over its life (a
    source that drips counts as failing, as :class:`StallMeter` has it)."""
    rate = seg.network_rate(time.monotonic())
    if rate < options.stall_speed:
        return SlowError(f"{host_name(seg.url)}: too slow ({rate:.0f} B/s, below the floor of "
                         f"{options.stall_speed} B/s); another connection took its range")
    return StallError(f"{host_name(seg.url)} sent nothing for {SILENT_SECONDS:g} s; another "
                      "connection took its range")


class StallMeter:
    """Raises :class:`SlowError` when a window of ``seconds`` carries too few bytes."""

    def __init__(self, seconds: float, speed: int) -> None:
        self.seconds = seconds
        self.speed = speed
        self.since = time.monotonic()
        self.count = 0

    def update(self, count: int, url: str) -> None:
        self.count += count
        now = time.monotonic()
        elapsed = now - self.since
        if elapsed < self.seconds:
            return
        if self.count < self.speed * elapsed:
            rate = self.count / elapsed
            raise SlowError(f"{host_name(url)}: too slow ({rate:.0f} B/s for {elapsed:.0f} s, "
                            f"below the floor of {self.speed} B/s)")
        self.since, self.count = now, 0


_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ETIMEDOUT: "connection timed out",
}


def connect_error(url: str, exc: BaseException) -> TransferError:
    """The error for a connection that could not be made, its reason in words. A
    certificate that fails verification fails every URL of its host at once."""
    root = _root_cause(exc)
    host = host_name(url)
    if isinstance(exc, BadAnswer):
        return ConnectError(f"{host}: {exc}")
    if isinstance(root, ssl.SSLCertVerificationError):
        detail = root.verify_message or root.reason or "unknown reason"
        return HostError(f"TLS certificate of {host} failed verification ({detail}); if your "
                         "network inspects TLS, set ssl_verify to its CA file (conda config "
                         "--set ssl_verify /path/ca.pem)")
    if isinstance(root, socket.gaierror):
        return ConnectError(f"{host}: name not resolved ({root.strerror or root})")
    if isinstance(root, ssl.SSLError):
        return ConnectError(f"{host}: TLS failed ({root.reason or root})")
    if isinstance(root, OSError) and root.errno in _ERRNO_WORDS:
        return ConnectError(f"{host}: {_ERRNO_WORDS[root.errno]}")
    if isinstance(root, OSError) and root.strerror:
        return ConnectError(f"{host}: {root.strerror.lower()}")
    return ConnectError(f"{host}: connection failed ({type(root).__name__})")


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception under requests' and urllib3's wrappers."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in exc.args if isinstance(a, BaseException)), None)
        inner = inner or exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def host_name(url: str) -> str:
    """``url``'s host and port as messages name it: no credentials, no token."""
    return redact(urlsplit(url).netloc.rsplit("@", 1)[-1])


def write_at(fd: int, data: bytes | memoryview, offset: int) -> None:
    """Write ``data`` at ``offset``; a failing disk is this file's failure, in words."""
    try:
        _pwrite_all(fd, data, offset)
    except OSError as exc:
        raise DiskError(f"cannot write the file: {(exc.strerror or str(exc)).lower()}") from None


if hasattr(os, "pwrite"):

    def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written

else:  # pragma: no cover - Windows
    _PWRITE_LOCK = threading.Lock()

    def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
        with _PWRITE_LOCK:
            os.lseek(fd, offset, os.SEEK_SET)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
