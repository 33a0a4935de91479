"""One connection fetching one segment: a ranged GET streamed to the part file."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from conda_fetch.engine.download import SAMPLE_BYTES, Download, Segment
from conda_fetch.engine.errors import (
    ChangedError,
    ConnectError,
    CutError,
    PermanentError,
    StallError,
    TransferError,
    status_error,
)
from conda_fetch.engine.options import Options
from conda_fetch.redact import redact

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_TLS_REASON = re.compile(r"certificate verify failed: ([^(\]')]+?)\s*[(\]')]")


class Cancelled(Exception):
    """The run is stopping (Ctrl-C); the segment stays claimable for next time."""


def fetch_segment(
    session: requests.Session,
    download: Download,
    seg: Segment,
    stop: threading.Event,
    opened: Callable[[], None] | None = None,
) -> None:
    """Fetch ``seg`` from ``seg.url`` into the part file, raising :class:`TransferError`.

    ``opened`` is called once the answer's headers were accepted.
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
    except requests.Timeout as exc:
        raise StallError(f"no answer from {_host(seg.url)} ({type(exc).__name__})") from None
    except requests.exceptions.SSLError as exc:  # the same certificate next time: no retry
        reason = _TLS_REASON.search(str(exc))
        raise PermanentError(
            f"TLS certificate of {_host(seg.url)} failed verification "
            f"({reason.group(1) if reason else 'SSLError'}); if your network inspects TLS, set "
            "ssl_verify to its CA file (conda config --set ssl_verify /path/ca.pem)"
        ) from None
    except requests.ConnectionError as exc:
        raise _connect_error(seg.url, exc) from None
    except requests.RequestException as exc:  # a bad URL or scheme: no retry will mend it
        raise PermanentError(redact(f"{type(exc).__name__}: {exc}")) from None
    except OSError as exc:
        raise _connect_error(seg.url, exc) from None
    with response:
        _accept(response, download, seg)
        if opened is not None:
            opened()
        _stream(response, download, seg, stop, options)


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
        first, total = _content_range(response.headers.get("Content-Range", ""))
        if first != seg.pos:
            raise PermanentError(f"server answered from byte {first}, asked for {seg.pos}")
        download.learn(seg, total, ranges=True)
    elif status == 200:
        length = response.headers.get("Content-Length")
        download.learn(seg, int(length) if length and length.isdigit() else None, ranges=False)
    else:
        raise status_error(status, response.reason or "", response.headers.get("Retry-After"))


def _changed(validator: str | None, status: int, headers: Mapping[str, str]) -> bool:
    """Whether an answer to ``If-Range: validator`` is another version: a 200 that does not
    name the same version (a server without ranges does), or a 206 naming another one (a
    server that ignores ``If-Range``)."""
    if validator is None or status not in (200, 206):
        return False
    named = headers.get("ETag" if validator.startswith(('"', "W/")) else "Last-Modified")
    return named != validator if status == 200 else named not in (None, validator)


def _content_range(value: str) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.match(value.strip())
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
) -> None:
    """Copy the body to the part file until the segment's (moving) end."""
    raw = response.raw
    meter = _StallMeter(options.stall_seconds, options.stall_speed)
    sampled = False
    while seg.end is None or seg.pos < seg.end:
        if stop.is_set():
            raise Cancelled()
        data = _read(raw, options.chunk, seg.url)
        if not data:
            break
        if seg.url in download.distrusted:
            raise Cancelled()
        end = seg.end
        if end is not None and seg.pos + len(data) > end:
            data = memoryview(data)[: max(0, end - seg.pos)]
        _pwrite(download.fd, data, seg.pos)
        download.advance(seg, len(data))
        meter.update(len(data), seg.url)
        if not sampled and seg.pos - seg.start >= SAMPLE_BYTES:
            sampled = True
            download.sampled(seg)
    if seg.end is None:
        download.ended(seg)
    elif seg.pos < seg.end:
        raise CutError(f"connection closed at byte {seg.pos} of {seg.end}")


def _read(raw: urllib3.HTTPResponse, amount: int, url: str) -> bytes:
    try:
        return raw.read1(amount, decode_content=False)
    except urllib3.exceptions.ReadTimeoutError:
        raise StallError(f"{_host(url)} sent nothing for too long") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise CutError(f"connection to {_host(url)} broke ({type(exc).__name__})") from None


class _StallMeter:
    """Raises :class:`StallError` when a window of ``seconds`` carries too few bytes."""

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
            raise StallError(f"{_host(url)} too slow ({rate:.0f} B/s for {elapsed:.0f} s)")
        self.since, self.count = now, 0


def _connect_error(url: str, exc: BaseException) -> TransferError:
    reason = "refused" if "refused" in str(exc).lower() else type(exc).__name__
    return ConnectError(f"cannot connect to {_host(url)} ({reason})")


def _host(url: str) -> str:
    return redact(urlsplit(url).netloc.rsplit("@", 1)[-1])


if hasattr(os, "pwrite"):

    def _pwrite(fd: int, data: bytes | memoryview, offset: int) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written

else:  # pragma: no cover - Windows
    _PWRITE_LOCK = threading.Lock()

    def _pwrite(fd: int, data: bytes | memoryview, offset: int) -> None:
        with _PWRITE_LOCK:
            os.lseek(fd, offset, os.SEEK_SET)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
