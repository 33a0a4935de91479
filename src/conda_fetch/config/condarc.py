"""conda's configuration (``.condarc`` files and ``CONDA_*`` variables), read without conda.

Files are read in conda's search-path order, lowest priority first, and merged
the way conda merges them by default: a later scalar wins, lists are joined
with the higher-priority entries first (duplicates dropped), and mappings are
merged key by key with the same rules. ``CONDA_<KEY>`` environment variables
rank above every file. conda's ``#!final``/``#!top``/``#!bottom`` markers are
not honoured.

``$VAR`` and ``${VAR}`` are expanded in every string value (unknown variables
stay as written) and a leading ``~`` in path settings becomes the home directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from conda_fetch.errors import CondaFetchError, InputError

DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"
DEFAULT_CONNECT_TIMEOUT = 9.15
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_FETCH_THREADS = 5

SYSTEM_DIRS = ("C:/ProgramData/conda",) if os.name == "nt" else ("/etc/conda", "/var/lib/conda")
YAML_SUFFIXES = (".yml", ".yaml")
CONDARC_NAMES = (".condarc", "condarc")

# Settings conda-fetch reads that a CONDA_<KEY> variable may set; lists are comma-separated.
ENV_LISTS = ("pkgs_dirs", "channels")
ENV_SCALARS = (
    "ssl_verify",
    "client_ssl_cert",
    "client_ssl_cert_key",
    "channel_alias",
    "remote_connect_timeout_secs",
    "remote_read_timeout_secs",
    "fetch_threads",
    "add_anaconda_token",
)
PATH_KEYS = ("pkgs_dirs", "ssl_verify", "client_ssl_cert", "client_ssl_cert_key")

_FALSE = frozenset({"false", "no", "off", "0"})
_TRUE = frozenset({"true", "yes", "on", "1", "truststore"})
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")


# -- where conda looks --------------------------------------------------------


def home_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The user's home directory as ``env`` gives it."""
    home = env.get("USERPROFILE" if os.name == "nt" else "HOME")
    return Path(home) if home else Path.home()


def root_prefix(env: Mapping[str, str] = os.environ) -> Path | None:
    """conda's root prefix: ``$CONDA_ROOT``, ``$MAMBA_ROOT_PREFIX``, or ``$CONDA_EXE``'s
    grandparent (``<root>/bin/conda``)."""
    for name in ("CONDA_ROOT", "MAMBA_ROOT_PREFIX"):
        if env.get(name):
            return Path(env[name])
    exe = env.get("CONDA_EXE")
    return Path(exe).parent.parent if exe else None


def search_path(env: Mapping[str, str] = os.environ) -> list[Path]:
    """conda's configuration files and ``condarc.d`` directories, lowest priority first.

    Entries whose variable is unset are left out; nothing is checked for existence.
    """
    home = home_dir(env)
    root = root_prefix(env)
    xdg = env.get("XDG_CONFIG_HOME")
    prefix = env.get("CONDA_PREFIX")
    bases = [Path(d) for d in SYSTEM_DIRS]
    bases += [root] if root else []
    bases += [Path(xdg) / "conda"] if xdg else []
    bases += [home / ".config" / "conda", home / ".conda"]
    paths = [path for base in bases for path in _triple(base)]
    paths.append(home / ".condarc")
    paths += _triple(Path(prefix)) if prefix else []
    paths += [Path(env["CONDARC"])] if env.get("CONDARC") else []
    return _unique(paths)


def _triple(base: Path) -> list[Path]:
    return [base / ".condarc", base / "condarc", base / "condarc.d"]


# -- reading and merging ------------------------------------------------------


def load_condarc(
    env: Mapping[str, str] = os.environ, *, paths: Sequence[Path] | None = None,
    any_name: bool = False,
) -> dict[str, Any]:
    """conda's merged configuration.

    ``paths`` replaces conda's :func:`search_path` (files or ``condarc.d``-style
    directories, lowest priority first). As conda does, a file is read only when named
    ``.condarc``/``condarc`` or ending in ``.yml``/``.yaml`` (``any_name``: whatever its
    name, for other tools' files). A malformed file raises :class:`InputError`.
    """
    config: dict[str, Any] = {}
    for source in _config_files(search_path(env) if paths is None else paths, any_name):
        config = _merge(config, read_config_file(source))
    config = _merge(config, _env_settings(env))
    return _expanded(config, env)


def read_config_file(path: Path) -> dict[str, Any]:
    """One YAML configuration file as a mapping (empty for an empty file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise CondaFetchError(f"cannot read {path}: {exc.strerror or exc}") from None
    from ruamel.yaml import YAML  # only where a file exists: a tenth of the start-up
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise InputError(f"{path}: invalid YAML{_where(exc, text)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def _where(error: Exception, text: str) -> str:
    """Where and why parsing failed, on one line (`` at line L, column C: problem``)."""
    from ruamel.yaml.error import MarkedYAMLError

    if isinstance(error, MarkedYAMLError) and (error.problem_mark or error.context_mark):
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context
        return f" at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    position = getattr(error, "position", None)
    reason = str(error).splitlines()[0]
    if isinstance(position, int):
        line = text.count("\n", 0, position) + 1
        return f" at line {line}: {reason}"
    return f": {reason}"


def _config_files(paths: Iterable[Path], any_name: bool = False) -> Iterable[Path]:
    """Existing files of ``paths`` that conda reads; a directory contributes its YAML files
    in name order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES)
        elif path.is_file() and (any_name or path.name in CONDARC_NAMES
                                 or path.suffix in YAML_SUFFIXES):
            yield path


def _merge(low: Any, high: Any) -> Any:
    """``high`` over ``low``: maps merge per key, lists join high-first, scalars are replaced."""
    if isinstance(low, dict) and isinstance(high, dict):
        merged = dict(low)
        for key, value in high.items():
            merged[key] = _merge(low[key], value) if key in low else value
        return merged
    if isinstance(low, list) and isinstance(high, list):
        return _unique([*high, *low])
    return high


def _env_settings(env: Mapping[str, str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key in ENV_LISTS:
        value = env.get(f"CONDA_{key.upper()}")
        if value:
            settings[key] = [item.strip() for item in value.split(",") if item.strip()]
    for key in ENV_SCALARS:
        value = env.get(f"CONDA_{key.upper()}")
        if value:
            settings[key] = value.strip()
    return settings


def _expanded(config: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    config = _expand_vars(config, env)
    home = home_dir(env)
    for key in PATH_KEYS:
        if key in config:
            config[key] = _expand_home(config[key], home)
    return config


def _expand_vars(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: env.get(m[1] or m[2], m[0]), value)
    if isinstance(value, list):
        return [_expand_vars(item, env) for item in value]
    if isinstance(value, dict):
        return {key: _expand_vars(item, env) for key, item in value.items()}
    return value


def _expand_home(value: Any, home: Path) -> Any:
    if isinstance(value, list):
        return [_expand_home(item, home) for item in value]
    if isinstance(value, str) and (value == "~" or value.startswith(("~/", "~" + os.sep))):
        return str(home) + value[1:]
    return value


def _unique(items: Iterable[Any]) -> list[Any]:
    unique: list[Any] = []
    for item in items:
        if item not in unique:
            unique.append(item)
    return unique


# -- typed settings -----------------------------------------------------------


def pkgs_dirs(config: Mapping[str, Any]) -> list[Path]:
    """The configured package caches, highest priority first (empty when unset)."""
    value = config.get("pkgs_dirs") or []
    items = [value] if isinstance(value, str) else value
    return [Path(item) for item in items if isinstance(item, str) and item]


def proxy_servers(config: Mapping[str, Any]) -> dict[str, str]:
    """``proxy_servers``: scheme (or ``scheme://host``) → proxy URL."""
    value = config.get("proxy_servers")
    if not isinstance(value, dict):
        return {}
    return {str(key): str(url) for key, url in value.items() if url}


def ssl_verify(config: Mapping[str, Any]) -> bool | str:
    """``ssl_verify``: ``True``/``False``, or the path of a CA bundle.

    ``truststore`` (conda ≥ 23.9) means the system trust store, which ``True`` selects.
    """
    value = config.get("ssl_verify", True)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _FALSE:
            return False
        return True if word in _TRUE or not word else value
    return True


def client_cert(config: Mapping[str, Any]) -> str | tuple[str, str] | None:
    """``client_ssl_cert`` alone, or with ``client_ssl_cert_key`` as ``(cert, key)``."""
    cert = config.get("client_ssl_cert")
    key = config.get("client_ssl_cert_key")
    if not cert:
        return None
    return (str(cert), str(key)) if key else str(cert)


def remote_timeouts(config: Mapping[str, Any]) -> tuple[float, float]:
    """``(remote_connect_timeout_secs, remote_read_timeout_secs)``."""
    return (
        _positive(config, "remote_connect_timeout_secs", DEFAULT_CONNECT_TIMEOUT, float),
        _positive(config, "remote_read_timeout_secs", DEFAULT_READ_TIMEOUT, float),
    )


def fetch_threads(config: Mapping[str, Any]) -> int:
    """``fetch_threads``: files conda downloads at once."""
    return _positive(config, "fetch_threads", DEFAULT_FETCH_THREADS, int)


def add_anaconda_token(config: Mapping[str, Any]) -> bool:
    """``add_anaconda_token``: whether anaconda-client's stored tokens are added to URLs
    that have none (conda's default: yes)."""
    value = config.get("add_anaconda_token", True)
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE
    return value is None or bool(value)


def channel_alias(config: Mapping[str, Any]) -> str:
    """``channel_alias``: the URL a bare channel name is resolved against (no trailing slash)."""
    value = config.get("channel_alias") or DEFAULT_CHANNEL_ALIAS
    return str(value).rstrip("/")


def _positive(config: Mapping[str, Any], key: str, default: Any, kind: type) -> Any:
    value = config.get(key)
    if value is None or value == "":
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise InputError(f"condarc setting {key}: not a number: {value!r}") from None
    if isinstance(value, bool) or number <= 0:
        raise InputError(f"condarc setting {key}: must be a positive number: {value!r}")
    return number


def mambarc(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Settings from ``~/.mambarc`` and ``$MAMBA_ROOT_PREFIX/.mambarc``."""
    home = home_dir(env)
    paths = [home / ".mambarc"]
    if env.get("MAMBA_ROOT_PREFIX"):
        paths.insert(0, Path(env["MAMBA_ROOT_PREFIX"]) / ".mambarc")
    return load_condarc(env, paths=[p for p in paths if p.exists()], any_name=True)
