"""Channels' repodata read for records: where the record of a hand-fetched file is found."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from conda_fetch.engine import Options
from conda_fetch.engine.session import HttpGetter
from conda_fetch.index import CacheFiles, IndexFetcher, Target
from conda_fetch.jsonfile import read_object
from conda_fetch.plan.records import Record, make_record
from conda_fetch.redact import redact


def conda_cache_key(subdir_url: str) -> str:
    """The file name conda gives its cached ``repodata.json`` of a channel subdir URL."""
    url = subdir_url if subdir_url.endswith("/") else subdir_url + "/"
    return hashlib.md5(url.encode()).hexdigest()[:8] + ".json"


class RepodataIndex:
    """Finds records by subdir and file name across channels.

    conda's own cached repodata (``<pkgs>/cache``) is read first: a package
    file never changes once published, so a cached entry for the name is as
    good as a fresh one, and it works offline. Only when the name is not in the
    cache is the channel's ``repodata.json`` fetched: through the index stage into conda's
    cache in ``pkgs`` when a ``fetcher`` is given. ``problems`` says which indexes could
    not be read, and why.
    """

    def __init__(self, channels: Sequence[str], session: HttpGetter,
                 cache_dirs: Sequence[Path] = (), fetcher: IndexFetcher | None = None,
                 pkgs: Path | None = None) -> None:
        self.channels = [c.rstrip("/") for c in channels]
        self.session = session
        self.cache_dirs = list(cache_dirs)
        self.fetcher = fetcher
        self.pkgs = pkgs
        self.problems: list[str] = []
        self._fetched: dict[str, dict[str, Any]] = {}

    def find(self, subdir: str, fn: str) -> list[Record]:
        """Every channel's record for ``subdir/fn``."""
        found = []
        for channel in self.channels:
            entry = self._entry(f"{channel}/{subdir}", fn)
            if entry is not None:
                found.append(_record(f"{channel}/{subdir}/{fn}", fn, entry))
        return found

    def cached_record(self, url: str, fn: str) -> Record | None:
        """The record of the package at ``url`` from conda's cached repodata only (no network)."""
        subdir_url = url.rsplit("/", 1)[0]
        for repodata in self._cached(subdir_url):
            entry = _lookup(repodata, fn)
            if entry is not None:
                return _record(url, fn, entry)
        return None

    def _entry(self, subdir_url: str, fn: str) -> dict[str, Any] | None:
        for repodata in self._cached(subdir_url):
            entry = _lookup(repodata, fn)
            if entry is not None:
                return entry
        return _lookup(self._fetch(subdir_url), fn)

    def _cached(self, subdir_url: str) -> list[dict[str, Any]]:
        found = []
        for directory in self.cache_dirs:
            data = read_object(directory / "cache" / conda_cache_key(subdir_url))
            if data is not None:
                found.append(data)
        return found

    def _fetch(self, subdir_url: str) -> dict[str, Any]:
        if subdir_url not in self._fetched:
            if self.fetcher is not None and self.pkgs is not None and "://" in subdir_url \
                    and not subdir_url.startswith("file://"):
                self._fetched[subdir_url] = self._through_index_stage(subdir_url)
            else:
                self._fetched[subdir_url] = self._download(f"{subdir_url}/repodata.json")
        return self._fetched[subdir_url]

    def _through_index_stage(self, subdir_url: str) -> dict[str, Any]:
        assert self.fetcher is not None and self.pkgs is not None
        target = Target(subdir_url)
        result = self.fetcher.fetch(target, self.pkgs, force=True)
        if not result.ok:
            if not result.missing:  # a channel without this subdir has nothing to say
                self.problems.append(redact(f"{target.url}: {result.error}"))
            return {}
        return read_object(CacheFiles(self.pkgs, target.key).json) or {}

    def _download(self, url: str) -> dict[str, Any]:
        try:
            if url.startswith("file://"):
                return read_object(Path(url.removeprefix("file://"))) or {}
            response = self.session.get(url, timeout=(Options.connect_timeout, 60))
            if response.status_code == 404:
                return {}
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            self.problems.append(redact(f"{url}: {type(exc).__name__}"))
            return {}


def _record(url: str, fn: str, entry: Mapping[str, Any]) -> Record:
    return make_record(url, fn, entry.get("size"), entry.get("sha256"), entry.get("md5"))


def _lookup(repodata: Mapping[str, Any], fn: str) -> dict[str, Any] | None:
    key = "packages.conda" if fn.endswith(".conda") else "packages"
    entry = (repodata.get(key) or {}).get(fn)
    return entry if isinstance(entry, dict) else None
