"""conda's index fetch through conda-fetch, without conda: the logic behind the wrapper of
``conda.gateways.repodata.RepodataFetch.fetch_latest`` that :mod:`hooks` installs.

conda asks ``fetch_latest`` for every index file it reads, from one worker thread per
subdir. Where conda would go to the network (an ``http(s)`` channel, not offline, not
``use_index_cache``, a missing or stale cache) the wrapper fetches the file with the
index stage and hands it to conda through conda's own cache object (``replace``,
``refresh``), then returns conda's ``read_cache()``. Everywhere else, and after any
error of ours (told in one line), conda's own code runs.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conda_fetch.index import SHARDS_NOTE, CacheFiles, IndexFetcher, IndexResult, Target
from conda_fetch.index.naming import REPODATA
from conda_fetch.redact import redact


@dataclass(frozen=True)
class CondaView:
    """What the wrapper needs of conda's context."""

    enabled: bool = True
    offline: bool = False
    use_index_cache: bool = False
    tar_bz2_only: bool = False


#: conda's ways of fetching an index the wrapper stands in for, and whether each asks
#: for ``.json.zst`` first (another, such as the experimental jlap, is left to conda)
INTERFACES = {"CondaRepoInterface": False, "ZstdRepoInterface": True}


class CondaCacheSink:
    """Writes through conda's ``RepodataCache``, so conda stores the index as its own."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def commit(self, files: CacheFiles, verified: Path, fields: Mapping[str, Any]) -> None:
        tmp = Path(self.cache.cache_dir) / f"{self.cache.name}.{os.urandom(2).hex()}.tmp"
        os.replace(verified, tmp)
        try:
            self.cache.state.clear()
            self.cache.state.update(fields)
            self.cache.replace(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def refresh(self, files: CacheFiles, fields: Mapping[str, Any] | None = None) -> None:
        self.cache.state.update(fields or {})
        self.cache.refresh()


class IndexWrapper:
    """The replacement of ``fetch_latest``: thread-safe, one fetcher per process."""

    def __init__(self, make_fetcher: Callable[[], IndexFetcher],
                 not_found: Callable[[Any], Exception] | None = None) -> None:
        self._make_fetcher = make_fetcher
        self._not_found = not_found
        self._fetcher: IndexFetcher | None = None
        self._lock = threading.Lock()
        self.failures = IndexFailures()

    def fetch_latest(self, fetch: Any, original: Callable[[Any], Any], view: CondaView) -> Any:
        """conda's ``fetch_latest(fetch)``, through conda-fetch where conda would download."""
        if not _network_bound(fetch, view):
            return original(fetch)
        try:
            cache = fetch.repo_cache
            cache.load_state()
            if cache.cache_path_json.exists() and not cache.stale():
                return original(fetch)
            result = self._fetch(fetch, cache, view)
        except Exception as exc:  # conda goes on with its own fetch
            _tell(f"{redact(str(exc)) or type(exc).__name__}; conda fetches the index itself")
            return original(fetch)
        if result is None or result.missing:  # conda's own code says what a 4xx means
            return original(fetch)
        if result.absent and result.target.fn != REPODATA and self._not_found is not None:
            # a mirror says there is no current_repodata.json where the channel's host cannot
            # be reached: conda's answer to a 404, so that conda goes on to repodata.json
            raise self._not_found(fetch)
        if not result.ok:
            _tell(f"could not fetch {redact(result.target.url)} ({redact(result.error)}); "
                  "conda tries itself")
            self.failures.add(result)
            answer = original(fetch)
            self.failures.remove(result)  # conda got it after all
            return answer
        return fetch.read_cache()

    def fetcher(self) -> IndexFetcher:
        with self._lock:
            if self._fetcher is None:
                self._fetcher = self._make_fetcher()
            return self._fetcher

    def _fetch(self, fetch: Any, cache: Any, view: CondaView) -> IndexResult | None:
        zst = INTERFACES[_interface(fetch)]
        target = Target(str(fetch.url_w_credentials), str(fetch.repodata_fn), zst=zst)
        pkgs = Path(cache.cache_dir).parent
        files = CacheFiles(pkgs, target.key, view.tar_bz2_only)
        if files.json != Path(cache.cache_path_json):  # conda names it otherwise: its call
            return None
        return self.fetcher().fetch(target, pkgs, force=True, sink=CondaCacheSink(cache))


def _network_bound(fetch: Any, view: CondaView) -> bool:
    """Whether conda's ``fetch_latest`` could go to the network for ``fetch``."""
    url = str(getattr(fetch, "url_w_subdir", "") or "")
    return (view.enabled and not view.offline and not view.use_index_cache
            and _interface(fetch) in INTERFACES and url.startswith(("http://", "https://")))


def _interface(fetch: Any) -> str:
    return str(getattr(getattr(fetch, "repo_interface_cls", None), "__name__", ""))


def _tell(message: str) -> None:
    print(f"conda-fetch: {message}", file=sys.stderr)


class IndexFailures:
    """The indexes conda-fetch could not fetch in this process, for the hint after conda's
    own error (``HTTP 000``, ``ProtocolError``/``IncompleteRead`` on a repodata URL)."""

    MARKERS = ("repodata", "HTTP 000", "ProtocolError", "IncompleteRead", "CONNECTION FAILED")

    def __init__(self) -> None:
        self.failed: list[IndexResult] = []
        self.told: set[str] = set()
        self._lock = threading.Lock()

    def add(self, result: IndexResult) -> None:
        with self._lock:
            self.failed.append(result)

    def remove(self, result: IndexResult) -> None:
        with self._lock:
            self.failed = [r for r in self.failed if r is not result]

    def hint_for(self, error_text: str) -> str | None:
        """The hint for conda's error, once per error text; ``None`` when it is not about
        an index conda-fetch failed to fetch."""
        with self._lock:
            if not self.failed or error_text in self.told:
                return None
            if error_text and not any(m in error_text for m in self.MARKERS):
                return None
            self.told.add(error_text)
            return hint(self.failed)

    def leftover(self) -> str | None:
        with self._lock:
            return hint(self.failed) if self.failed and not self.told else None


SHARDS_HINT = f"{SHARDS_NOTE} Then fetch it ahead: conda fetch index CHANNEL ... --max-age 3600"


def shards_hint(error_text: str, uses_shards: bool) -> str | None:
    """The hint for an error fetching sharded repodata, which conda-fetch cannot reach
    (conda's shard fetchers are private and bypass ``fetch_latest``)."""
    if not uses_shards or not any(m in error_text for m in ("shard", ".msgpack")):
        return None
    return SHARDS_HINT


def hint(failed: list[IndexResult]) -> str:
    """What to tell the user when neither conda-fetch nor conda could fetch an index."""
    lines = ["conda-fetch could not fetch these channel indexes (then conda tried itself):"]
    for result in failed:
        lines.append(f"  {redact(result.target.url)}")
        lines += [f"    tried {redact(line)}" for line in result.tried]
    lines += [
        "Run the same command again: a cut index resumes where it stopped. Or add mirrors",
        "(plugins.fetch_mirrors in .condarc, or once: conda fetch index --preset china) and",
        "fetch the indexes ahead with:  conda fetch index CHANNEL ... --max-age 3600",
    ]
    return "\n".join(lines)
