"""What the engine needs of an HTTP session: ``get``, as ``requests.Session`` offers it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import requests


class HttpGetter(Protocol):
    """Anything with ``requests.Session.get``'s way of fetching one URL: a session, or
    a wrapper of one (the conda plugin's). A failed request raises one of requests'
    exceptions or an ``OSError`` (see :func:`~conda_fetch.engine.http.failure_kind`)."""

    def get(self, url: str, *, headers: Mapping[str, str] = ..., stream: bool = ...,
            timeout: tuple[float, float] = ...) -> requests.Response: ...
