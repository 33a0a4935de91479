"""conda's package cache: where it is, what it holds, and how verified files get in."""

from conda_fetch.cache.lock import CacheLockError, locked
from conda_fetch.cache.package_cache import PackageCache
from conda_fetch.cache.pkgs_dirs import all_pkgs_dirs, find_pkgs_dir, find_tool

__all__ = ["CacheLockError", "PackageCache", "all_pkgs_dirs", "find_pkgs_dir", "find_tool",
           "locked"]
