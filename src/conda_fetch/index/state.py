"""conda's state file of a cached index (``<key>.info.json``): read, judged, written.

conda writes the state through the locked file and compares its ``size`` and
``mtime_ns`` with the json's; so does this module, under conda's lock.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conda_fetch.cache.lock import locked
from conda_fetch.index.naming import CacheFiles

VALIDATORS = ("etag", "mod", "cache_control")
ZST_CHECK_INTERVAL = datetime.timedelta(days=7)
_MAX_AGE = re.compile(r"max-age=(\d+)")


def load(files: CacheFiles) -> dict[str, Any]:
    """The state conda would load: empty without a cached json; validators cleared when
    the json is not the one the state describes (conda then downloads again)."""
    try:
        state = json.loads(files.state.read_text(encoding="utf-8"))
        stat = files.json.stat()
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict):
        return {}
    if (state.get("size"), state.get("mtime_ns")) != (stat.st_size, stat.st_mtime_ns):
        state.update({key: "" for key in VALIDATORS}, size=0)
    return state


def max_age(state: Mapping[str, Any], local_ttl: int = 1) -> int:
    """Seconds conda trusts the cache: ``local_repodata_ttl`` above 1, the state's
    ``max-age`` at 1 (the default), none at 0."""
    if local_ttl > 1:
        return local_ttl
    if local_ttl == 1:
        found = _MAX_AGE.search(str(state.get("cache_control") or ""))
        return int(found.group(1)) if found else 0
    return 0


def fresh(state: Mapping[str, Any], local_ttl: int = 1, now_ns: int | None = None) -> bool:
    """Whether conda would use the cache without asking the server."""
    if not state.get("size"):
        return False
    now_ns = time.time_ns() if now_ns is None else now_ns
    refreshed = int(state.get("refresh_ns") or 0)
    return now_ns - refreshed <= max_age(state, local_ttl) * 10**9


def commit(files: CacheFiles, verified: Path, fields: Mapping[str, Any]) -> None:
    """Move the verified json ``verified`` (same file system) to conda's name and record
    ``fields`` with its size and mtime, as conda's ``RepodataCache.replace`` does."""
    stat = verified.stat()
    with _rewrite(files) as state:
        state.clear()
        state.update(fields, mtime_ns=stat.st_mtime_ns, size=stat.st_size,
                     refresh_ns=time.time_ns())
        os.replace(verified, files.json)


def refresh(files: CacheFiles, fields: Mapping[str, Any] | None = None) -> None:
    """A 304: the cached json is current; only ``refresh_ns`` (and ``fields``) change."""
    with _rewrite(files) as state:
        state.update(fields or {}, refresh_ns=time.time_ns())


def lacks_zst(state: Mapping[str, Any], now: datetime.datetime | None = None) -> bool:
    """Whether the state says, from a check under a week old, that there is no ``.zst``
    (conda then asks for the ``.json`` alone)."""
    note = state.get("has_zst")
    if not isinstance(note, Mapping) or note.get("value") is not False:
        return False
    try:
        checked = datetime.datetime.fromisoformat(str(note["last_checked"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return False
    now = now or datetime.datetime.now(tz=datetime.timezone.utc)
    return now - checked < ZST_CHECK_INTERVAL


def has_zst_false() -> dict[str, Any]:
    """conda's note that a channel has no ``.json.zst`` (checked now)."""
    now = datetime.datetime.now(tz=datetime.timezone.utc).isoformat()[: -len("+00:00")]
    return {"last_checked": now + "Z", "value": False}


@contextmanager
def _rewrite(files: CacheFiles) -> Iterator[dict[str, Any]]:
    """conda's lock on the state file; the state, read through the locked descriptor, is
    yielded and written back in place (as conda does) when the block succeeds."""
    files.state.parent.mkdir(parents=True, exist_ok=True)
    with locked(files.state) as fd:
        assert fd is not None  # created when missing
        state = _read_fd(fd)
        yield state
        data = json.dumps(state, indent=2).encode()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]


def _read_fd(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    try:
        state = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}
