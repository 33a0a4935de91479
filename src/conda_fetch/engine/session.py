"""What the engine needs of an HTTP session: ``get``, as ``requests.Session`` offers it."""

from __future__ import annotations

from typing import Any, Protocol

import requests


class HttpGetter(Protocol):
    """Anything that answers ``get(url, **kwargs)`` with a :class:`requests.Response`
    (``headers``, ``stream``, ``timeout`` are passed): a session, or a wrapper of one."""

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response: ...
