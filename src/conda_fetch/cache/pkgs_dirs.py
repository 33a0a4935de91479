"""Which package cache conda would write to: the first writable entry of ``pkgs_dirs``."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conda_fetch.cache.urls import NOFOLLOW, URLS_TXT
from conda_fetch.config import condarc
from conda_fetch.errors import CondaFetchError, InputError

CONDA_INFO_TIMEOUT = 60.0


def find_pkgs_dir(
    explicit: str | Path | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    run_conda: bool = True,
    config: Mapping[str, Any] | None = None,
    tool: str | None = None,
    create: bool = True,
) -> Path:
    """The package cache to fill: ``explicit`` (``--pkgs-dir``), else conda's first writable one.

    ``tool`` is the conda, mamba or micromamba executable whose caches count
    (default: conda). With ``create``, the chosen directory is created if missing, with
    an empty ``urls.txt`` as conda creates it; without, nothing is written (for commands
    that only read). ``config`` is :func:`condarc.load_condarc` of ``env`` unless given.
    Raises :class:`InputError` when ``explicit`` is not a directory and
    :class:`CondaFetchError` when nothing is writable.
    """
    usable = make_writable if create else _looks_writable
    if explicit is not None:
        path = Path(explicit).expanduser()
        if os.path.lexists(path) and not path.is_dir():
            raise InputError(f"--pkgs-dir {path}: not a directory")
        if not usable(path):
            raise CondaFetchError(f"package cache {path} is not a writable directory")
        return path
    candidates = all_pkgs_dirs(env=env, run_conda=run_conda, config=config, tool=tool)
    for path in candidates:
        if usable(path):
            return path
    listed = ", ".join(str(path) for path in candidates)
    raise CondaFetchError(f"none of conda's pkgs_dirs is writable ({listed}); use --pkgs-dir DIR")


def all_pkgs_dirs(
    *,
    env: Mapping[str, str] = os.environ,
    run_conda: bool = True,
    config: Mapping[str, Any] | None = None,
    tool: str | None = None,
) -> list[Path]:
    """conda's whole ``pkgs_dirs`` list, read-only entries included, highest priority first.

    From ``<tool> info --json`` when ``run_conda`` and the tool (default: conda)
    is found; otherwise from ``CONDA_PKGS_DIRS`` and ``.condarc``, else conda's defaults.
    """
    listed = conda_info_pkgs_dirs(env, tool) if run_conda else None
    if listed is None:
        settings = condarc.load_condarc(env) if config is None else config
        listed = condarc.pkgs_dirs(settings) or default_pkgs_dirs(env)
    return list(dict.fromkeys(listed))


def default_pkgs_dirs(env: Mapping[str, str] = os.environ) -> list[Path]:
    """conda's defaults: ``<root prefix>/pkgs`` (when known), then ``~/.conda/pkgs``."""
    root = condarc.root_prefix(env)
    user = condarc.home_dir(env) / ".conda" / "pkgs"
    return [root / "pkgs", user] if root else [user]


def make_writable(pkgs: Path) -> bool:
    """conda's test of a package cache: its ``urls.txt`` opens for appending,
    creating the directory and the file if they are missing."""
    try:
        pkgs.mkdir(parents=True, exist_ok=True)
        os.close(os.open(pkgs / URLS_TXT, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW,
                         0o666))
    except OSError:
        return False
    return True


def _looks_writable(pkgs: Path) -> bool:
    """Whether conda could write to ``pkgs`` (or create it), without writing anything."""
    while not os.path.lexists(pkgs) and pkgs.parent != pkgs:
        pkgs = pkgs.parent
    return pkgs.is_dir() and os.access(pkgs, os.W_OK | os.X_OK)


def conda_info_pkgs_dirs(env: Mapping[str, str] = os.environ,
                         tool: str | None = None) -> list[Path] | None:
    """The caches ``<tool> info --json`` lists (conda and mamba 1 call them ``pkgs_dirs``,
    mamba and micromamba 2 ``package cache``); ``None`` without a working tool."""
    exe = find_tool(tool, env)
    if exe is None:
        return None
    import subprocess  # only here: a run given its cache never starts a tool

    try:
        done = subprocess.run(
            [exe, "info", "--json"],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CONDA_INFO_TIMEOUT,
            check=True,
        )
        info = json.loads(done.stdout)
        dirs = info.get("pkgs_dirs") or info["package cache"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError,
            AttributeError):
        return None
    if not isinstance(dirs, list) or not dirs or not all(isinstance(d, str) for d in dirs):
        return None
    return [Path(d) for d in dirs]


def find_tool(tool: str | None, env: Mapping[str, str] = os.environ) -> str | None:
    """The executable of ``tool`` on ``PATH``; for conda (``None``), ``CONDA_EXE`` first."""
    return shutil.which(tool, path=env.get("PATH", "")) if tool else _conda_executable(env)


def _conda_executable(env: Mapping[str, str]) -> str | None:
    exe = env.get("CONDA_EXE")
    if exe and os.path.isfile(exe):
        return exe
    return shutil.which("conda", path=env.get("PATH", ""))
