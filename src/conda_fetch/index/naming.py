"""Where conda keeps a channel subdir's index, by the names conda gives it.

conda names the cache files of an index after the MD5 of its subdir URL exactly as
it has it (credentials, scheme, host and port included; ``localhost`` and
``127.0.0.1`` differ), with a trailing slash, plus the index file name when it is
not ``repodata.json``. ``use_only_tar_bz2`` adds a ``1`` to the names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from conda_fetch.cache import PackageCache
from conda_fetch.errors import CondaFetchError

REPODATA = "repodata.json"
CURRENT = "current_repodata.json"
CACHE_DIR = "cache"
INDEX_DIR = "index"  # in conda-fetch's own folder of the package cache


def cache_key(subdir_url: str, fn: str = REPODATA) -> str:
    """conda's eight hex digits for the index ``fn`` of ``subdir_url``."""
    url = subdir_url if subdir_url.endswith("/") else subdir_url + "/"
    if fn != REPODATA:
        url += fn
    return hashlib.md5(url.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]


@dataclass(frozen=True)
class Target:
    """One index file conda reads: ``fn`` of a channel subdir, as conda names its URL.

    ``zst``: ask for ``fn + ".zst"`` first, as conda does where it uses zstd.
    """

    subdir_url: str
    fn: str = REPODATA
    zst: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "subdir_url", self.subdir_url.rstrip("/"))

    @property
    def subdir(self) -> str:
        """The platform the index must name (``linux-64``, ``noarch`` ...)."""
        return self.subdir_url.rsplit("/", 1)[-1]

    @property
    def url(self) -> str:
        return f"{self.subdir_url}/{self.fn}"

    @property
    def key(self) -> str:
        return cache_key(self.subdir_url, self.fn)


@dataclass(frozen=True)
class CacheFiles:
    """An index's files in a package cache ``pkgs``: conda's two, and conda-fetch's own."""

    pkgs: Path
    key: str
    tar_bz2_only: bool = False

    @property
    def json(self) -> Path:
        """``<pkgs>/cache/<key>.json``: the uncompressed index, as the server has it."""
        return self.pkgs / CACHE_DIR / f"{self.key}{self._suffix}.json"

    @property
    def state(self) -> Path:
        """``<pkgs>/cache/<key>.info.json``: conda's record of the download."""
        return self.pkgs / CACHE_DIR / f"{self.key}{self._suffix}.info.json"

    @property
    def workdir(self) -> Path:
        """conda-fetch's folder for unfinished index data (created on demand; refused if
        someone made it a link)."""
        path = PackageCache(self.pkgs).workdir / INDEX_DIR
        path.mkdir(exist_ok=True)
        if path.is_symlink() or not path.is_dir():
            raise CondaFetchError(f"{path} is not a folder of this cache (a link?); remove it")
        return path

    @property
    def claim_path(self) -> Path:
        """The lock one process holds while it fetches this index."""
        return self.workdir / f"{self.key}{self._suffix}.lock"

    def part(self, host_tag: str, name: str) -> Path:
        """The unfinished download of ``name`` from the host ``host_tag`` names."""
        return self.workdir / f"{self.key}{self._suffix}.{host_tag}.{name}.part"

    @property
    def validators(self) -> Path:
        """conda-fetch's record of each mirror's validators for this index."""
        return self.workdir / f"{self.key}{self._suffix}.mirrors.json"

    @property
    def _suffix(self) -> str:
        return "1" if self.tar_bz2_only else ""


def host_tag(base: str) -> str:
    """A short, stable, file-name-safe tag for a host's base URL (no secrets in names)."""
    return hashlib.sha256(base.encode()).hexdigest()[:10]
