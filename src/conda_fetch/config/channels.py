"""Channel names as conda resolves them: ``defaults``, names under ``channel_alias``, URLs,
paths."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conda_fetch.config import condarc

DEFAULT_CHANNELS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")
WINDOWS_EXTRA = ("https://repo.anaconda.com/pkgs/msys2",)


def channel_urls(names: Sequence[str], config: Mapping[str, Any]) -> list[str]:
    """Base URLs for channel names as conda resolves them (``defaults``, names, URLs, paths)."""
    urls: list[str] = []
    for name in names:
        if name == "defaults":
            urls += config.get("default_channels") or _default_channels()
        elif "://" in name:
            urls.append(name)
        elif name.startswith(("/", "~", ".")):
            urls.append(Path(name).expanduser().resolve().as_uri())
        else:
            urls.append(f"{condarc.channel_alias(config)}/{name}")
    return list(dict.fromkeys(url.rstrip("/") for url in urls))


def configured_channels(config: Mapping[str, Any]) -> list[str]:
    """The user's ``channels`` from ``.condarc`` (``defaults`` when none)."""
    return channel_urls(list(config.get("channels") or ["defaults"]), config)


def _default_channels() -> list[str]:
    extra = WINDOWS_EXTRA if sys.platform == "win32" else ()
    return [*DEFAULT_CHANNELS, *extra]
