"""The one small request before an index download: is the cached copy still current
(304), does the host have this file, which version is it (its validators and size)?

It asks for the first byte only, with ``If-None-Match``/``If-Modified-Since`` when a
cached copy exists, and tries again after connection failures, 429/5xx and stalls
(bounded, honouring ``Retry-After``) before it gives the host up.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conda_fetch.engine.errors import TransferError, parse_retry_after
from conda_fetch.engine.options import Options
from conda_fetch.engine.session import HttpGetter
from conda_fetch.engine.transfer import unanswered
from conda_fetch.units import byte_count

if TYPE_CHECKING:
    import requests

TRIES = 3
PAUSE_MAX = 8.0
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Answer:
    """What a host said: its status, the version's validators, the file's size."""

    status: int
    etag: str = ""
    mod: str = ""
    cache_control: str = ""
    size: int | None = None
    reason: str = field(default="", compare=False)
    retry_after: float | None = field(default=None, compare=False)

    @property
    def validator(self) -> str | None:
        """What ``If-Range`` may carry: a strong ETag, else the Last-Modified date."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.mod or None

    @property
    def found(self) -> bool:
        return self.status in (200, 206)


def ask(session: HttpGetter, url: str, conditions: dict[str, str], options: Options,
        stop: threading.Event | None = None) -> Answer:
    """The host's answer for ``url``; raises :class:`TransferError` when it never gave one."""
    stop = stop or threading.Event()
    error: TransferError | None = None
    for attempt in range(TRIES):
        try:
            answer = _once(session, url, conditions, options)
        except TransferError as exc:
            if exc.permanent:
                raise
            error, wait = exc, exc.retry_after
        else:
            if answer.status not in _RETRYABLE:
                return answer
            error = TransferError(f"HTTP {answer.status} {answer.reason}".strip())
            wait = answer.retry_after
        if attempt + 1 < TRIES and stop.wait(_pause(attempt, wait, options)):
            break
    assert error is not None
    raise error


def _once(session: HttpGetter, url: str, conditions: dict[str, str],
          options: Options) -> Answer:
    headers = {"Range": "bytes=0-0", "Accept-Encoding": "identity", **conditions}
    try:
        with session.get(url, headers=headers, stream=True,
                         timeout=(options.connect_timeout, options.stall_seconds)) as response:
            return _answer(response)
    except Exception as exc:
        raise unanswered(url, exc, options) from None


def _answer(response: requests.Response) -> Answer:
    headers = response.headers
    size = None
    if response.status_code == 206:
        size = byte_count(headers.get("Content-Range", "").rpartition("/")[2])
    elif response.status_code == 200:
        size = byte_count(headers.get("Content-Length"))
    return Answer(response.status_code, headers.get("ETag", ""), headers.get("Last-Modified", ""),
                  headers.get("Cache-Control", ""), size, response.reason or "",
                  parse_retry_after(headers.get("Retry-After")))


def _pause(attempt: int, retry_after: float | None, options: Options) -> float:
    if retry_after is not None:
        return min(retry_after, PAUSE_MAX)
    base = min(options.backoff_base * 2**attempt, PAUSE_MAX)
    return base * random.uniform(0.5, 1.0)
