"""Each mirror's validators for a cached index, kept apart from the channel's own.

conda's state holds the channel host's ``etag``/``mod`` (conda revalidates there). An
index that came from a mirror gets none in conda's state, and the mirror's are kept
here, tied to the json they validate (its size and mtime), for conda-fetch's next
conditional request to that mirror.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conda_fetch.files import write_atomically
from conda_fetch.index.naming import CacheFiles, host_tag
from conda_fetch.jsonfile import read_object


def conditions(etag: str, mod: str) -> dict[str, str]:
    """The headers of a conditional request for a copy with these validators."""
    headers = {"If-None-Match": etag} if etag else {}
    if mod:
        headers["If-Modified-Since"] = mod
    return headers


def of_host(files: CacheFiles, state: dict[str, Any], base: str, origin: bool) -> dict[str, str]:
    """The conditional headers for asking ``base`` about the cached json, if any."""
    if not state.get("size"):
        return {}
    if origin:
        return conditions(str(state.get("etag") or ""), str(state.get("mod") or ""))
    entry = (read_object(files.validators) or {}).get(host_tag(base))
    if not isinstance(entry, dict) or not _same_json(entry, state):
        return {}
    return conditions(str(entry.get("etag") or ""), str(entry.get("mod") or ""))


def remember(files: CacheFiles, base: str, etag: str, mod: str) -> None:
    """Record a mirror's validators for the json now in conda's cache (others are dropped:
    they validated the json this one replaced)."""
    stat = files.json.stat()
    kept = {b: e for b, e in (read_object(files.validators) or {}).items()
            if isinstance(e, dict) and _same_json(e, {"size": stat.st_size,
                                                      "mtime_ns": stat.st_mtime_ns})}
    kept[host_tag(base)] = {"etag": etag, "mod": mod, "size": stat.st_size,
                            "mtime_ns": stat.st_mtime_ns}
    _write(files.validators, kept)


def _same_json(entry: dict[str, Any], state: dict[str, Any]) -> bool:
    return (entry.get("size"), entry.get("mtime_ns")) == (state.get("size"), state.get("mtime_ns"))


def _write(path: Path, data: dict[str, Any]) -> None:
    write_atomically(path, json.dumps(data, indent=1))
