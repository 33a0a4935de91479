"""A failed mirror probe in words people can act on, not an exception's class name."""

from __future__ import annotations

import pytest
import requests

from conda_fetch.engine.probe import reason


@pytest.mark.parametrize("exc, words", [
    (requests.exceptions.SSLError("certificate verify failed"), "TLS failed"),
    (requests.exceptions.ProxyError("407"), "proxy failed"),
    (requests.exceptions.ConnectTimeout("slow"), "no connection (timed out)"),
    (requests.exceptions.ReadTimeout("slow"), "no answer (timed out)"),
    (requests.ConnectionError("NameResolutionError: Failed to resolve 'x'"), "(DNS)"),
    (requests.ConnectionError("[Errno 111] Connection refused"), "connection refused"),
])
def test_reason(exc, words) -> None:
    assert words in reason(exc)
