"""conda's hooks: ``conda fetch``, settings, fetching for transactions, a ``conda doctor`` check
and its ``--fix``.

Only conda imports this module (entry point group ``conda``). Every action is
guarded: an error in conda-fetch is reported in one line and conda goes on with
its own downloader.

Fetching happens after the user said yes: a pre-command hook wraps conda's
``ProgressiveFetchExtract.execute``, which conda calls only after the prompt and
never for ``--dry-run`` (its ``prepare`` is no such point: conda calls it to print
the plan, before the prompt and under ``--dry-run``). The wrapper asks conda's own
prepared actions which archives it would download, fetches those into the cache
conda chose, then has conda prepare again, so it finds everything cached. Where
that class is missing, the public post-solve hook fetches instead (before the
prompt, but never for ``--dry-run``).
"""

from __future__ import annotations

import atexit
import dataclasses
import inspect
import os
import sys
from collections.abc import Callable
from contextlib import nullcontext, suppress
from pathlib import Path
from typing import Any

from conda import plugins

try:  # the plugin types live here in every conda with plugins; conda.plugins.CondaX
    from conda.plugins import types as _types  # is deprecated since 26.3, gone in 26.9
except ImportError:  # pragma: no cover - no such conda
    _types = plugins

from conda_fetch.index import IndexFetcher
from conda_fetch.plugin.index import CondaView, IndexWrapper, shards_hint
from conda_fetch.plugin.prefetch import (
    SETTING_NAMES,
    Failures,
    PluginSettings,
    downloads_of,
    header,
    prefetch,
    records_from_precs,
    summary_line,
)

NAME = "conda-fetch"
# conda names a command after its module (main_env_create -> env_create); wrapping is idempotent
COMMANDS = {"install", "create", "update", "upgrade", "remove", "uninstall", "env", "env_create",
            "env_update", "search"}
MARK = "_conda_fetch_wrapped"
_FAILURES = Failures()  # told after conda's own error (error-hint hook), else at exit
_INDEX = IndexWrapper(lambda: _index_fetcher(), lambda fetch: _not_found(fetch))
_HINTING = False


@plugins.hookimpl
def conda_subcommands():
    yield _type("CondaSubcommand")(name="fetch", summary="Fetch packages through bad networks "
                                   "(conda-fetch: get, run, import, export, doctor, bundle, "
                                   "mirrors, demo).", action=_subcommand)


def _subcommand(args: Any) -> int:
    from conda_fetch.cli import main

    argv = list(args) if isinstance(args, (list, tuple)) else sys.argv[2:]
    return main(argv, prog="conda fetch")


@plugins.hookimpl(optionalhook=True)
def conda_settings():
    setting = _type("CondaSetting")  # conda ≥ 24.3
    if setting is None:
        return
    from conda.common.configuration import MapParameter, PrimitiveParameter, SequenceParameter

    defaults = PluginSettings()
    for name, description, parameter in (
        ("fetch_enabled", "Fetch packages with conda-fetch.", PrimitiveParameter(True)),
        ("fetch_files", "Files conda-fetch transfers at once (default: fetch_threads).",
         PrimitiveParameter(0)),
        ("fetch_split", "Connections per large file.", PrimitiveParameter(defaults.split)),
        ("fetch_min_split", "Smallest range worth its own connection, like 4M.",
         PrimitiveParameter("4M")),
        ("fetch_retries", "Failed tries in a row without progress before giving up.",
         PrimitiveParameter(defaults.retries)),
        ("fetch_stall_timeout", "Seconds a connection may stall before it is dropped.",
         PrimitiveParameter(defaults.stall_timeout)),
        ("fetch_mirrors", "Channel URL to a list of mirror base URLs (like mirrored_channels).",
         MapParameter(SequenceParameter(PrimitiveParameter("", element_type=str)))),
    ):
        yield setting(name=name, description=description, parameter=parameter)


@plugins.hookimpl(optionalhook=True)
def conda_pre_commands():
    pre_command = _type("CondaPreCommand")  # conda ≥ 23.7
    if pre_command is not None:
        yield pre_command(name=NAME, action=_guarded(_wrap), run_for=COMMANDS)


@plugins.hookimpl(optionalhook=True)
def conda_post_solves():
    post_solve = _type("CondaPostSolve")  # conda ≥ 24.1
    if post_solve is not None:
        yield post_solve(name=NAME, action=_guarded(_after_solve))


@plugins.hookimpl(optionalhook=True)
def conda_health_checks():
    health_check = _type("CondaHealthCheck")  # conda ≥ 23.11
    if health_check is None:
        return
    extra = {"fixer": _fix, "summary": "Package cache archives conda would download again or "
             "that no longer verify", "fix": "conda fetch doctor --fix: register what verifies, "
             "remove what is broken"}  # conda ≥ 26.5 (conda doctor --fix)
    fields = inspect.signature(health_check).parameters
    yield health_check(name="conda-fetch-package-cache", action=_guarded(_health),
                       **{k: v for k, v in extra.items() if k in fields})


def _guarded(action):
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            action(*args, **kwargs)
        except Exception as exc:
            from conda_fetch.redact import redact

            print(f"conda-fetch: {redact(str(exc)) or type(exc).__name__}; "
                  "conda continues with its own downloader", file=sys.stderr)

    return run


def _pfe() -> Any:
    try:
        from conda.core.package_cache_data import ProgressiveFetchExtract
    except ImportError:
        return None
    needed = ("prepare", "execute", "cache_actions")
    usable = all(hasattr(ProgressiveFetchExtract, n) for n in needed)
    return ProgressiveFetchExtract if usable else None


def _wrap(command: str = "") -> None:
    """Fetch indexes (also for --dry-run and search) and a transaction's packages."""
    _guarded(_wrap_index)()
    _wrap_execute()


def _repodata_fetch() -> Any:
    try:
        from conda.gateways.repodata import RepodataFetch
    except ImportError:
        return None
    needed = ("fetch_latest", "read_cache", "repo_cache")
    return RepodataFetch if all(hasattr(RepodataFetch, n) for n in needed) else None


def _wrap_index() -> None:
    """Put conda-fetch in ``RepodataFetch.fetch_latest`` (see :mod:`plugin.index`)."""
    fetch_class = _repodata_fetch()
    if fetch_class is None or getattr(fetch_class.fetch_latest, MARK, False):
        return
    original = fetch_class.fetch_latest

    def fetch_latest(self: Any) -> Any:
        return _INDEX.fetch_latest(self, original, _conda_view())

    setattr(fetch_latest, MARK, True)
    fetch_class.fetch_latest = fetch_latest
    _hint_later()


def _conda_view() -> CondaView:
    from conda.base.context import context

    return CondaView(enabled=_settings(context).enabled, offline=bool(context.offline),
                     use_index_cache=bool(context.use_index_cache),
                     tar_bz2_only=bool(context.use_only_tar_bz2))


def _index_fetcher() -> IndexFetcher:
    from conda.base.context import context

    settings = _settings(context)
    session: Any = _OwnRetries()  # what the engine uses of a session: get()
    return IndexFetcher(session, settings.options(context.remote_connect_timeout_secs),
                        settings.mirrors)


def _not_found(fetch: Any) -> Exception:
    """conda's error for an index file a channel does not have (a 404)."""
    from conda.exceptions import UnavailableInvalidChannel
    from conda.models.channel import Channel

    return UnavailableInvalidChannel(Channel(str(fetch.url_w_subdir).rsplit("/", 1)[0]), 404)


def _wrap_execute(command: str = "") -> None:
    """Fetch a transaction's downloads right before conda runs its own."""
    pfe = _pfe()
    if pfe is None or getattr(pfe.execute, MARK, False):
        return
    original = pfe.execute

    def execute(self: Any) -> Any:
        if not getattr(self, "_executed", False):
            _guarded(_before_execute)(self)
        return original(self)

    setattr(execute, MARK, True)
    pfe.execute = execute


def _before_execute(pfe: Any) -> None:
    from conda.base.context import context

    if context.dry_run or not _settings(context).enabled:
        return
    pfe.prepare()  # conda's own decision of what to download (a no-op when already made)
    wanted = downloads_of(pfe.cache_actions)
    if not wanted:
        return
    for pkgs_dir, records in wanted.items():
        _fetch_records(records, pkgs_dir)
    # conda prepared its actions from the cache as it was: prepare them again
    actions = getattr(pfe, "paired_actions", None)
    if isinstance(actions, dict) and isinstance(getattr(pfe, "_prepared", None), bool):
        actions.clear()
        pfe._prepared = False


def _after_solve(repodata_fn: str, unlink_precs: Any, link_precs: Any) -> None:
    if _pfe() is None:  # no later point to fetch at: fetch now, before the prompt
        _fetch(link_precs)


def _fetch(precs: Any) -> None:
    from conda.base.context import context
    from conda.core.package_cache_data import PackageCacheData

    if context.dry_run or not _settings(context).enabled or not precs:
        return
    _fetch_records(records_from_precs(precs), Path(PackageCacheData.first_writable().pkgs_dir))


def _fetch_records(records: list[Any], pkgs_dir: Path) -> None:
    from conda.base.context import context
    from conda.core.package_cache_data import PackageCacheData

    if not records:
        return
    settings = _settings(context)
    display = None if context.json or context.quiet else _display()
    if display is not None:
        display.console.print(header(records, pkgs_dir), highlight=False)
    with display or nullcontext():
        report = prefetch(records, pkgs_dir, _Sessions(), settings,
                          context.remote_connect_timeout_secs, display)
    if display is not None:
        display.console.print(summary_line(report), highlight=False)
    if hasattr(PackageCacheData, "clear"):
        PackageCacheData.clear()  # conda read urls.txt before we wrote to it
    if not report.ok:
        _hint_later()
        _FAILURES.add(report, pkgs_dir)


def _hint_later() -> None:
    """Have :func:`_hint_at_exit` run when the process ends (once)."""
    global _HINTING
    if not _HINTING:
        _HINTING = True
        atexit.register(_hint_at_exit)


def _hint_at_exit() -> None:
    """conda has no error-hint hook before 26.7, and not every error reaches it: the hint
    comes after conda's output, when conda could not fetch the files either."""
    for text in (_INDEX.failures.leftover(), _FAILURES.leftover()):
        if text:
            print(f"\n{text}", file=sys.stderr)


def _display() -> Any:
    from rich.console import Console

    from conda_fetch.cli.display import Display

    return Display(Console(stderr=True, highlight=False, soft_wrap=True, emoji=False))


@plugins.hookimpl(optionalhook=True)
def conda_error_hints(error: Any):
    """After conda's own error, what conda-fetch could not fetch and the way out (conda ≥ 26.7)."""
    hint_type = _error_hint_type()
    if hint_type is None:
        return
    for failures in (_INDEX.failures, _FAILURES):
        text = failures.hint_for(str(error))
        if text is None:
            continue
        try:
            yield hint_type(text=text, hint_code="conda_fetch")
        except TypeError:  # fields of another release: the hint comes at exit instead
            failures.told.discard(str(error))
    from conda.base.context import context

    shards = shards_hint(str(error), bool(getattr(context, "repodata_use_shards", False)))
    if shards is not None:
        with suppress(TypeError):
            yield hint_type(text=shards, hint_code="conda_fetch_shards")


def _error_hint_type() -> Any:
    return _type("CondaErrorHint")  # conda ≥ 26.7


def _type(name: str) -> Any:
    """conda's plugin type ``name``, or ``None`` where this conda lacks it."""
    return getattr(_types, name, None)


def _settings(context: Any) -> PluginSettings:
    """``plugins.fetch_*`` from conda's settings (conda ≥ 24.3); on an older conda,
    where ``context.plugins`` does not exist, from ``CONDA_PLUGINS_FETCH_*`` variables."""
    plugins_ns = getattr(context, "plugins", None)
    values = {}
    for name in SETTING_NAMES:
        value = getattr(plugins_ns, name, None)
        if plugins_ns is None or not hasattr(plugins_ns, name):
            value = os.environ.get(f"CONDA_PLUGINS_{name.upper()}")
        values[name] = value
    if values["fetch_files"] in (0, "0"):
        values["fetch_files"] = None
    if isinstance(values["fetch_mirrors"], str):
        values["fetch_mirrors"] = None  # a map cannot come from a variable
    found = PluginSettings.from_mapping(values, fetch_threads=int(context.fetch_threads or 5))
    return dataclasses.replace(found, mirrors=_mirrors(found.mirrors))


def _mirrors(fetch_mirrors: dict[str, list[str]]) -> dict[str, list[str]]:
    """``plugins.fetch_mirrors`` first (read from ``.condarc`` by conda-fetch where conda,
    before 24.3, has no plugin settings), then the mirrors conda-fetch's own command line
    would use: its config file and ``mirrored_channels``."""
    from conda_fetch.config import condarc
    from conda_fetch.config import own as own_config
    from conda_fetch.sources import mirrors as mirrormap

    try:
        own, config = own_config.load(), condarc.load_condarc()
    except Exception:  # a broken file is the command line's to report
        return fetch_mirrors
    presets = [mirrormap.PRESETS[p] for p in own.get("presets", []) if p in mirrormap.PRESETS]
    plugins_section = config.get("plugins")  # conda before 24.3 leaves it to us
    section = plugins_section.get("fetch_mirrors") if isinstance(plugins_section, dict) else None
    written = {str(k): [str(u) for u in v] for k, v in section.items()
               if isinstance(v, list)} if isinstance(section, dict) else {}
    return mirrormap.merge(fetch_mirrors, written, mirrormap.from_toml_section(own),
                           mirrormap.from_mirrored_channels(config), *presets)


class _Sessions:
    """conda's own session for each URL, so its proxies, certificates and auth plugins apply."""

    def get(self, url: str, **kwargs: Any) -> Any:
        from conda.gateways.connection.session import get_session

        return get_session(url).get(url, **kwargs)


class _OwnRetries:
    """conda's settings for each URL (auth, proxies, certificates, headers) on a session
    without conda's retries: conda-fetch retries itself, and retries of retries make a
    dead host cost minutes."""

    def __init__(self) -> None:
        from conda_fetch.engine import Options, make_session

        self._session = make_session(pool_size=Options().most)

    def get(self, url: str, **kwargs: Any) -> Any:
        from conda.gateways.connection.session import get_session

        conda = get_session(url)
        headers = {**conda.headers, **kwargs.pop("headers", {})}
        return self._session.get(url, headers=headers, auth=conda.auth, proxies=conda.proxies,
                                 verify=conda.verify, cert=conda.cert, **kwargs)


def _health(prefix: str, verbose: bool = False) -> None:
    root, counts = _cache_counts()
    from conda_fetch.offline.doctor import counted

    print(f"{'❌' if _fixable(counts) else '✅'} package cache {root}: "
          + ", ".join(counted(k, n) for k, n in counts.items()))
    if _fixable(counts):
        has_fixers = "fixer" in inspect.signature(_type("CondaHealthCheck")).parameters
        print(f"   fix with: {'conda doctor' if has_fixers else 'conda fetch doctor'} --fix")


def _fix(prefix: str, args: Any, confirm: Callable[[str], object]) -> int:
    """``conda doctor --fix``: what ``conda fetch doctor --fix`` does, after conda's confirm
    (which stops here under ``--dry-run`` or on a no)."""
    from conda_fetch.cli import main

    root, counts = _cache_counts()
    if not _fixable(counts):
        print(f"Nothing to fix in the package cache {root}.")
        return 0
    confirm(f"Register what verifies and remove what is broken in {root}?")
    return main(["doctor", "--fix", "--pkgs-dir", str(root)], prog="conda fetch")


def _cache_counts() -> tuple[Path, dict[str, int]]:
    """conda's first writable package cache and how many of each finding it has."""
    from conda.core.package_cache_data import PackageCacheData

    from conda_fetch.cache import PackageCache
    from conda_fetch.offline.doctor import BROKEN, INCOMPLETE, UNFINISHED, UNREGISTERED, diagnose

    cache = PackageCache(Path(PackageCacheData.first_writable().pkgs_dir))
    diagnosis = diagnose(cache, lambda url, fn: None)
    kinds = (INCOMPLETE, UNREGISTERED, BROKEN, UNFINISHED)
    return cache.root, {kind: len(diagnosis.of(kind)) for kind in kinds}


def _fixable(counts: dict[str, int]) -> bool:
    from conda_fetch.offline.doctor import BROKEN, INCOMPLETE, UNREGISTERED

    return bool(counts[INCOMPLETE] or counts[UNREGISTERED] or counts[BROKEN])
