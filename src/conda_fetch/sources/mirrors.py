"""Mirror maps: channel base URL → equivalent base URLs, from every place users keep them.

Highest first: the command line (``--mirror CHANNEL=URL``), conda-fetch's own
config file, mamba's ``mirrored_channels`` (``.condarc``/``.mambarc``), pixi's
``[mirrors]``, then the built-in presets (``--preset tuna`` ...). A record's URL
is mapped by the longest matching base (:mod:`conda_fetch.sources`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conda_fetch.config import condarc
from conda_fetch.errors import InputError

MirrorMap = dict[str, list[str]]

DEFAULTS_BASE = "https://repo.anaconda.com/pkgs"
CLOUD_BASE = "https://conda.anaconda.org"

#: The public mirror networks of mainland China and where they keep Anaconda's
#: ``defaults`` channels (``/anaconda/pkgs``) and anaconda.org's channels
#: (``/anaconda/cloud``, only the channels each mirror carries: a 404 means
#: "try another").
_SITES = {
    "tuna": "https://mirrors.tuna.tsinghua.edu.cn",
    "bfsu": "https://mirrors.bfsu.edu.cn",
    "ustc": "https://mirrors.ustc.edu.cn",
    "sjtu": "https://mirror.sjtu.edu.cn",
    "nju": "https://mirror.nju.edu.cn",
}


def _network(sites: Iterable[str]) -> MirrorMap:
    """The official bases and their copies on ``sites``, each mapped to all the others:
    a record whose channel is configured as a mirror's URL may use the rest too."""
    sites = list(sites)
    groups = ([DEFAULTS_BASE, *(f"{s}/anaconda/pkgs" for s in sites)],
              [CLOUD_BASE, *(f"{s}/anaconda/cloud" for s in sites)])
    return {base: [other for other in group if other != base]
            for group in groups for base in group}


def merge(*maps: Mapping[str, Iterable[str]]) -> MirrorMap:
    """Union of mirror maps, earlier maps first for each channel base."""
    merged: MirrorMap = {}
    for mapping in maps:
        for base, mirrors in mapping.items():
            listed = merged.setdefault(base.rstrip("/"), [])
            listed += [m.rstrip("/") for m in mirrors if m.rstrip("/") not in listed]
    return merged


PRESETS: dict[str, MirrorMap] = {name: _network([site]) for name, site in _SITES.items()}
PRESETS["china"] = _network(_SITES.values())


def preset(name: str) -> MirrorMap:
    """A built-in preset by name."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown mirror preset {name!r} (known: {', '.join(PRESETS)})") from None


def from_specs(specs: Iterable[str], config: Mapping[str, Any]) -> MirrorMap:
    """``CHANNEL=MIRROR`` pairs from the command line; CHANNEL may be a name or a URL."""
    pairs: list[tuple[str, str]] = []
    for spec in specs:
        channel, sep, mirror = spec.partition("=")
        if not sep or not channel or "://" not in mirror:
            raise InputError(f"--mirror expects CHANNEL=MIRROR_URL, got {spec!r}")
        pairs.append((_channel_url(channel, config), mirror))
    return merge(*({c: [m]} for c, m in pairs))


def _channel_url(channel: str, config: Mapping[str, Any]) -> str:
    return channel if "://" in channel else f"{condarc.channel_alias(config)}/{channel}"


def from_mirrored_channels(config: Mapping[str, Any]) -> MirrorMap:
    """mamba's ``mirrored_channels``: channel name → list of mirror base URLs."""
    section = config.get("mirrored_channels") or {}
    if not isinstance(section, Mapping):
        return {}
    return merge(*({_channel_url(str(name), config): [str(u) for u in urls or []]}
                   for name, urls in section.items()))


def from_toml_section(data: Mapping[str, Any]) -> MirrorMap:
    """A ``[mirrors]`` table (pixi's format, and ours): base URL → list of mirror URLs."""
    section = data.get("mirrors") or {}
    return merge(*({str(base): [str(u) for u in urls]} for base, urls in section.items()
                   if isinstance(urls, list)))
