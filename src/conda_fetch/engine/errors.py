"""The failures of a transfer, and which of them are worth another try."""

from __future__ import annotations

import email.utils
import time

PERMANENT_STATUS = frozenset({400, 401, 403, 404, 405, 410, 411, 414, 416, 451, 501})


class TransferError(Exception):
    """A failed attempt at a range; ``permanent`` ones are not retried on that URL."""

    permanent = False
    kind = "error"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(TransferError):
    """The URL will not serve this file (404, 410, wrong size, ...)."""

    permanent = True
    kind = "refused"


class ChangedError(PermanentError):
    """The file is no longer the version the job's validator names."""

    kind = "changed"


class StallError(TransferError):
    """The connection sent too little for too long."""

    kind = "stall"


class SlowError(StallError):
    """The connection kept sending, but below the floor of bytes per second: counted as a
    failed try of its source even after progress, so a dripping source is given up."""

    kind = "slow"


class CutError(TransferError):
    """The connection broke before its range was complete."""

    kind = "cut"


class ConnectError(TransferError):
    """No connection could be made (refused, unreachable, DNS)."""

    kind = "connect"


class HostError(PermanentError):
    """No URL on this host can work in this run (a certificate that fails verification)."""


class DiskError(PermanentError):
    """Writing the file here failed (disk full, file too large): no source can mend it."""

    kind = "disk"


class StatusError(TransferError):
    """A retryable HTTP status such as 429, 500 or 503."""

    kind = "http"


def status_error(status: int, reason: str, retry_after: str | None) -> TransferError:
    """The error for a non-success HTTP status."""
    message = f"HTTP {status} {reason}".strip()
    if status in PERMANENT_STATUS or (400 <= status < 500 and status not in (408, 425, 429)):
        return PermanentError(message)
    return StatusError(message, parse_retry_after(retry_after))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def in_words(exc: BaseException) -> str:
    """An unexpected error as a short reason, e.g. "no space left on device"."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror[0].lower()}{exc.strerror[1:]}{where}"
    return str(exc) or type(exc).__name__
