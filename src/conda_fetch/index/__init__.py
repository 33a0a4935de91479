"""The channel index stage: conda's ``repodata.json`` of each channel subdir, fetched
through the engine and written into conda's cache exactly as conda writes it.

:func:`targets` names the index files of channels; :class:`IndexFetcher` fetches one
(thread-safe); :func:`fetch_all` fetches many at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conda_fetch.index.fetch import IndexFetcher, IndexResult, Settings
from conda_fetch.index.naming import CURRENT, REPODATA, CacheFiles, Target, cache_key

__all__ = ["CURRENT", "REPODATA", "SHARDS_NOTE", "CacheFiles", "IndexFetcher", "IndexResult",
           "Settings", "Target", "cache_key", "fetch_all", "targets"]

#: Sharded repodata (CEP-16) is fetched by conda's private code, which conda-fetch cannot
#: reach without private API that changes between releases: it fetches the monolithic index.
SHARDS_NOTE = (
    "conda is set to read sharded repodata (repodata_use_shards, the default from conda "
    "26.5): where a channel has shards and the solver takes them, conda fetches them with its "
    "own code, not through conda-fetch, and does not read the repodata.json conda-fetch "
    "fetches. Set repodata_use_shards: false to plan from it.")


def targets(channel_urls: Iterable[str], subdirs: Sequence[str], zst: bool = True,
            fn: str = REPODATA) -> list[Target]:
    """The index files of every channel (base URLs as conda has them) for ``subdirs``."""
    return [Target(f"{url.rstrip('/')}/{subdir}", fn, zst)
            for url in channel_urls for subdir in dict.fromkeys(subdirs)]


def fetch_all(fetcher: IndexFetcher, wanted: Sequence[Target], pkgs: Path,
              threads: int = 4, force: bool = False) -> list[IndexResult]:
    """Fetch every target (``threads`` at once); results in the order given."""
    if not wanted:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(wanted)))) as pool:
        try:
            return list(pool.map(lambda t: fetcher.fetch(t, pkgs, force), wanted))
        except KeyboardInterrupt:
            fetcher.cancel()
            raise
