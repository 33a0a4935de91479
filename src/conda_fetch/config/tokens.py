"""anaconda.org-style tokens (``/t/<token>/`` in a URL's path), found where conda finds them.

conda before 24.11 prints ``/t/<TOKEN>/`` in its ``--dry-run --json`` plans instead of the
token it used. conda's session adds the token anaconda-client stored (``anaconda login``)
to a URL that has none and lies under the stored URL, unless ``add_anaconda_token`` is
false. :class:`TokenFinder` does both without conda: a hidden token comes from the channels
the user named with a token (the longest match), else from the token store.

Tokens leave this module only inside URLs, and every printer redacts those.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from platformdirs import user_config_dir

from conda_fetch.config import condarc
from conda_fetch.config.channels import channel_urls
from conda_fetch.errors import InputError
from conda_fetch.redact import TOKEN_SEGMENT, redact, without_credentials

#: what conda before 24.11 prints in its plans in place of a token
MASK = "<TOKEN>"
STORE_SUFFIX = ".token"
MAX_TOKEN_BYTES = 4096
_TOKEN = re.compile(r"[A-Za-z0-9-]+")  # the characters conda reads as a token
_API = re.compile(r"(?<=[./])api(?=[./]|$)")


def token_of(url: str) -> str | None:
    """The token in ``url``'s path (:data:`MASK` when conda hid it), else ``None``."""
    if "/t/" not in url:
        return None
    match = TOKEN_SEGMENT.search(urlsplit(url).path)
    return match.group(1) if match else None


# -- anaconda-client's token store ----------------------------------------------


def store_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where anaconda-client keeps its tokens: ``$BINSTAR_CONFIG_DIR/data``, else its
    per-user configuration folder."""
    if "BINSTAR_CONFIG_DIR" in env:
        return Path(env["BINSTAR_CONFIG_DIR"]) / "data"
    return Path(user_config_dir("binstar", "ContinuumIO"))


def read_store(folder: Path) -> dict[str, str]:
    """URL → token, from the ``<quoted URL>.token`` files in ``folder`` (none if it is
    missing). As in conda, each URL also stands with its first ``api`` made ``conda``
    (a login to ``https://api.anaconda.org`` serves ``https://conda.anaconda.org``)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return {}
    tokens: dict[str, str] = {}
    for entry in entries:
        if not entry.name.endswith(STORE_SUFFIX) or not entry.is_file():
            continue
        token = _read_token(Path(entry.path))
        if token is not None:
            url = unquote_plus(entry.name.removesuffix(STORE_SUFFIX)).rstrip("/")
            tokens[url] = tokens[_API.sub("conda", url, count=1)] = token
    return tokens


def _read_token(path: Path) -> str | None:
    """The token in ``path``, or ``None`` when it is unreadable or not a token."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_TOKEN_BYTES + 1)
    except OSError:
        return None
    token = data.decode("ascii", "replace").strip()
    return token if len(data) <= MAX_TOKEN_BYTES and _TOKEN.fullmatch(token) else None


# -- channels the user named with a token ---------------------------------------


def channel_tokens(config: Mapping[str, Any], names: Sequence[str] = ()) -> dict[str, str]:
    """Token-less channel URL → token for every channel named with a token: ``names``
    (a command line's ``-c``) first, then ``channels``, ``default_channels``,
    ``custom_channels`` and ``channel_alias`` of conda's settings."""
    urls = channel_urls([*names, *_strings(config.get("channels"))], config)
    urls += _strings(config.get("default_channels"))
    urls += [f"{location.rstrip('/')}/{name}" for name, location in _custom_channels(config)]
    urls.append(condarc.channel_alias(config))
    found: dict[str, str] = {}
    for url in urls:
        token = token_of(url)
        if token is not None and _TOKEN.fullmatch(token):
            found.setdefault(without_credentials(url).rstrip("/"), token)
    return found


def _strings(value: object) -> list[str]:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [str(item) for item in items if item]


def _custom_channels(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    custom = config.get("custom_channels")
    if not isinstance(custom, dict):
        return []
    return [(str(name), str(location)) for name, location in custom.items() if location]


# -- where a token goes ---------------------------------------------------------


def _longest_prefix(url: str, table: Mapping[str, str]) -> str | None:
    """The token of the longest URL in ``table`` that ``url`` lies under (whole path
    segments: a token for ``https://host`` never goes to ``https://host.evil``)."""
    matches = [prefix for prefix in table if url == prefix or url.startswith(prefix + "/")]
    return table[max(matches, key=len)] if matches else None


def with_token(url: str, token: str, config: Mapping[str, Any]) -> str:
    """``url`` with ``/t/<token>`` where conda's channel model puts it: after the location
    of the custom channel or channel alias ``url`` lies under, else after its host
    (and a first ``/conda`` path segment)."""
    parts = urlsplit(url)
    location = _location_path(parts.hostname, parts.port, parts.path, config)
    path = f"{location}/t/{token}{parts.path[len(location):]}"
    return urlunsplit(parts._replace(path=path))


def _location_path(host: str | None, port: int | None, path: str,
                   config: Mapping[str, Any]) -> str:
    custom = sorted(_custom_channels(config), key=lambda item: -len(item[0]))
    candidates = [(location, f"/{name}") for name, location in custom]
    candidates.append((condarc.channel_alias(config), ""))
    for location, name in candidates:
        base = urlsplit(without_credentials(location))
        prefix = base.path.rstrip("/")
        if (base.hostname, base.port) == (host, port) and _under(path, prefix + name):
            return prefix
    return "/conda" if _under(path, "/conda") else ""


def _under(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


class TokenFinder:
    """The URL conda would request for each plan URL, its token in place."""

    def __init__(self, config: Mapping[str, Any], names: Sequence[str] = (),
                 env: Mapping[str, str] = os.environ) -> None:
        self._config = config
        self._channels = channel_tokens(config, names)
        self._use_store = condarc.add_anaconda_token(config)
        self._env = env

    @cached_property
    def _store(self) -> dict[str, str]:
        """The token store, read once and only when a URL needs it."""
        return read_store(store_dir(self._env)) if self._use_store else {}

    def resolve(self, url: str) -> str | None:
        """``url`` with the token conda would send: a hidden one (``/t/<TOKEN>/``) found,
        a stored one added where there is none; ``None`` when a hidden token is nowhere."""
        token = token_of(url)
        clean = without_credentials(url)
        if token == MASK:
            found = _longest_prefix(clean, self._channels) or _longest_prefix(clean, self._store)
            return url.replace(f"/t/{MASK}", f"/t/{found}", 1) if found else None
        if token is None and url.partition(":")[0].lower() in ("http", "https"):
            stored = _longest_prefix(clean, self._store)
            return with_token(url, stored, self._config) if stored else url
        return url

    def resolve_all(self, urls: Iterable[str], source: str) -> list[str]:
        """:meth:`resolve` for each URL of the plan ``source``; a hidden token found nowhere
        is an :class:`InputError` naming the plan, the channel and the ways out."""
        resolved = []
        for url in urls:
            found = self.resolve(url)
            if found is None:
                raise InputError(hidden_token_message(source, url))
            resolved.append(found)
        return resolved


def hidden_token_message(source: str, url: str) -> str:
    """One line: ``url``'s token was hidden by conda in the plan ``source`` and found nowhere."""
    channel = url.rsplit("/", 2)[0]
    return (f"{source}: conda hid the token of channel {redact(channel)} in its plan "
            f"(conda before 24.11 prints /t/{MASK}/) and no token for it was found: name the "
            "channel with its token in .condarc (channels: or custom_channels:), run "
            "'anaconda login', or make the plan with conda >= 24.11")
