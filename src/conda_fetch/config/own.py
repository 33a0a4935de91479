"""conda-fetch's own configuration file (TOML in the user config directory;
``conda-fetch config path`` prints where).

    presets = ["tuna"]      # written by ``mirrors --preset tuna --save`` or ``config set``

    [mirrors]               # written by ``mirrors --mirror ... --save`` or ``config set``
    "https://conda.anaconda.org/conda-forge" = ["https://mirror.example/conda-forge"]

    [ranking]   # written by ``conda-fetch mirrors --save``
    "https://mirror.example" = { speed = 12500000.0, expires = 1767225600.0 }
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import platformdirs

from conda_fetch.config import condarc
from conda_fetch.errors import InputError
from conda_fetch.files import write_atomically

RANKING_TTL = 7 * 24 * 3600


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """``$CONDA_FETCH_CONFIG``, else ``config.toml`` in the user config directory."""
    if env.get("CONDA_FETCH_CONFIG"):
        return Path(env["CONDA_FETCH_CONFIG"])
    return Path(platformdirs.user_config_dir("conda-fetch")) / "config.toml"


def load(path: Path | None = None) -> dict[str, Any]:
    return read_toml(path or config_path())


def ranking(data: Mapping[str, Any], now: float | None = None) -> dict[str, float]:
    """Saved host speeds that have not expired."""
    now = time.time() if now is None else now
    saved = data.get("ranking") or {}
    return {host: float(entry["speed"]) for host, entry in saved.items()
            if isinstance(entry, Mapping) and float(entry.get("expires", 0)) > now
            and "speed" in entry}


def save_ranking(speeds: Mapping[str, float], path: Path | None = None,
                 ttl: float = RANKING_TTL) -> Path:
    """Store measured host speeds (bytes/s) with an expiry, keeping the rest of the file."""
    expires = time.time() + ttl
    saved = {h: {"speed": float(s), "expires": expires} for h, s in speeds.items()}
    return update(lambda data: data.update(ranking={**data.get("ranking", {}), **saved}), path)


def save_mirrors(mirrors: Mapping[str, Sequence[str]], presets: Sequence[str],
                 path: Path | None = None) -> Path:
    """Add ``mirrors`` (channel base URL → mirror URLs) and ``presets`` to the file."""
    def change(data: dict[str, Any]) -> None:
        table = {k: list(v) for k, v in (data.get("mirrors") or {}).items()}
        for base, urls in mirrors.items():
            table[base] = list(dict.fromkeys([*urls, *table.get(base, [])]))
        if table:
            data["mirrors"] = table
        if presets:
            data["presets"] = list(dict.fromkeys([*presets, *data.get("presets", [])]))

    return update(change, path)


def update(change: Callable[[dict[str, Any]], object], path: Path | None = None) -> Path:
    """Apply ``change`` to the file's data and write it back atomically; returns the path."""
    path = path or config_path()
    data = load(path)
    change(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, dump_toml(data))
    return path


def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML for this file's shapes: top-level scalars and lists, then tables of values."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    for name, table in data.items():
        if isinstance(table, Mapping):
            lines += ["", f"[{_key(name)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a mapping; a missing file is empty, a broken one an error naming it."""
    try:
        with open(path, "rb") as stream:
            return _tomllib().load(stream)
    except FileNotFoundError:
        return {}
    except ValueError as exc:  # TOMLDecodeError, or bytes that are not UTF-8
        raise InputError(f"{path}: {exc}") from None


def _tomllib() -> Any:
    """The TOML reader, imported only where there is a file to read."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def pixi_config(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """pixi's global configuration file, merged from its usual places."""
    home = condarc.home_dir(env)
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    data: dict[str, Any] = {}
    for path in (xdg / "pixi" / "config.toml", home / ".pixi" / "config.toml"):
        data = {**read_toml(path), **data}
    return data
