"""Measuring mirrors: latency and throughput on a real file of the channel."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from conda_fetch.engine.hosts import host_of
from conda_fetch.engine.session import HttpGetter
from conda_fetch.redact import redact


@dataclass(frozen=True)
class Probe:
    """One base URL measured: seconds to the first byte, bytes per second, or the error."""

    base: str
    latency: float | None = None
    speed: float | None = None
    error: str = ""

    @property
    def host(self) -> str:
        return host_of(self.base)


def probe(session: HttpGetter, base: str, path: str, amount: int,
          timeout: float = 10.0) -> Probe:
    """GET the first ``amount`` bytes of ``base/path`` and time it. The speed is over the
    whole request, its wait for the answer included: what a file of ``amount`` bytes
    costs from there, and no measure of ours taken late (a busy machine looking at the
    answer only once its body was already in) can make a mirror look fast."""
    started = time.monotonic()
    try:
        with session.get(f"{base}/{path}", headers={"Range": f"bytes=0-{amount - 1}"},
                         stream=True, timeout=(timeout, timeout)) as response:
            first = time.monotonic()
            if response.status_code not in (200, 206):
                return Probe(base, first - started, error=f"HTTP {response.status_code}")
            count = _drain(response, amount, first + timeout)
            elapsed = max(time.monotonic() - started, 1e-6)
            return Probe(base, first - started, count / elapsed)
    except requests.RequestException as exc:
        return Probe(base, error=redact(reason(exc)))


def reason(exc: requests.RequestException) -> str:
    """A failed request in a few words people can act on."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed (certificate or ssl_verify)"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "proxy failed (proxy_servers)"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "no connection (timed out)"
    if isinstance(exc, requests.Timeout):
        return "no answer (timed out)"
    if "NameResolution" in text or "getaddrinfo" in text or "not known" in text:
        return "host name not found (DNS)"
    if "refused" in text.lower():
        return "connection refused"
    return type(exc).__name__


def _drain(response: requests.Response, amount: int, deadline: float) -> int:
    count = 0
    for chunk in response.iter_content(64 << 10):
        count += len(chunk)
        if count >= amount or time.monotonic() > deadline:
            break
    return count


def ranked(probes: list[Probe]) -> list[Probe]:
    """Working mirrors fastest first, then the failing ones."""
    return sorted(probes, key=lambda p: (bool(p.error), -(p.speed or 0.0)))
