"""``file://`` URLs answered like an HTTP server, ranges included, so local channels
(and explicit files naming them) go through the same engine as remote ones. Only
regular files are served (never a FIFO or a device), and the session never follows a
redirect to a ``file://`` URL (see :mod:`conda_fetch.engine.http`)."""

from __future__ import annotations

import os
import re
from io import BufferedReader, BytesIO
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from conda_fetch.files import open_regular

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class _Slice:
    """Bytes ``[pos, end)`` of an open file, read the way the engine reads a response body."""

    def __init__(self, stream: BufferedReader | BinaryIO, pos: int, end: int) -> None:
        self.stream, self.left = stream, end - pos
        stream.seek(pos)

    def read1(self, amount: int = -1, decode_content: bool = False) -> bytes:
        amount = self.left if amount < 0 else min(amount, self.left)
        data = self.stream.read(amount)
        self.left -= len(data)
        return data

    read = read1

    def close(self) -> None:
        self.stream.close()


class FileAdapter(BaseAdapter):
    """Serves ``GET file:///path`` with 200, 206 for a ``Range``, 404 or 416."""

    def send(self, request: requests.PreparedRequest,  # type: ignore[override]
             **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.url, response.request = request.url or "", request
        path = Path(url2pathname(unquote(urlsplit(response.url).path)))
        try:
            stream = open_regular(path)  # the response owns and closes it
        except OSError as exc:  # missing, a folder, a FIFO, a device: nothing to serve
            return _status(response, 404, exc.strerror or str(exc) or "Not Found")
        size = os.fstat(stream.fileno()).st_size
        start, end = _wanted(request.headers.get("Range"), size)
        if start >= size and size:
            stream.close()
            return _status(response, 416, "Range Not Satisfiable")
        headers = {"Content-Length": str(end - start)}
        if request.headers.get("Range"):
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        _status(response, 206 if "Content-Range" in headers else 200, "OK", headers)
        response.raw = _Slice(stream, start, end)
        return response

    def close(self) -> None:
        """Nothing is pooled."""


def _wanted(header: str | None, size: int) -> tuple[int, int]:
    """The ``[start, end)`` a ``Range: bytes=a-b`` header asks for (all without one)."""
    match = _RANGE.match((header or "").strip())
    if not match:
        return 0, size
    start = int(match.group(1))
    end = int(match.group(2)) + 1 if match.group(2) else size
    return start, min(end, size)


def _status(response: requests.Response, code: int, reason: str,
            headers: dict[str, str] | None = None) -> requests.Response:
    response.status_code, response.reason = code, reason
    response.headers = CaseInsensitiveDict(headers or {})
    response.raw = BytesIO()  # an empty body until the caller gives a real one
    return response
