"""conda's hooks: ``conda fetch``, settings, fetching for transactions, a ``conda doctor`` check.

Only conda imports this module (entry point group ``conda``). Every action is
guarded: an error in conda-fetch is reported in one line and conda goes on with
its own downloader.

Fetching happens after the user said yes: a pre-command hook wraps conda's
``ProgressiveFetchExtract.prepare`` (which runs after the prompt and never for
``--dry-run``) so the engine fills the cache first and conda then finds every
package there. Where that class is missing, the public post-solve hook fetches
instead (before the prompt, but never for ``--dry-run``).
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from conda import plugins

from conda_fetch.plugin.prefetch import PluginSettings, hint, prefetch, records_from_precs

NAME = "conda-fetch"
COMMANDS = {"install", "create", "update", "remove", "env_create", "env_update"}
MARK = "_conda_fetch_wrapped"
_FAILED: list[str] = []  # the hint for the last transaction's failures, for conda's error


@plugins.hookimpl
def conda_subcommands():  # type: ignore[no-untyped-def]
    yield plugins.CondaSubcommand(name="fetch", summary="Fetch packages through bad networks "
                                  "(conda-fetch: get, run, import, export, doctor, bundle, "
                                  "mirrors, demo).", action=_subcommand)


def _subcommand(args: Any) -> int:
    from conda_fetch.cli import main

    argv = list(args) if isinstance(args, (list, tuple)) else sys.argv[2:]
    return main(argv, prog="conda fetch")


@plugins.hookimpl(optionalhook=True)
def conda_settings():  # type: ignore[no-untyped-def]
    setting = getattr(plugins, "CondaSetting", None)
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
def conda_pre_commands():  # type: ignore[no-untyped-def]
    yield plugins.CondaPreCommand(name=NAME, action=_guarded(_wrap_prepare), run_for=COMMANDS)


@plugins.hookimpl(optionalhook=True)
def conda_post_solves():  # type: ignore[no-untyped-def]
    post_solve = getattr(plugins, "CondaPostSolve", None)
    if post_solve is not None:
        yield post_solve(name=NAME, action=_guarded(_after_solve))


@plugins.hookimpl(optionalhook=True)
def conda_health_checks():  # type: ignore[no-untyped-def]
    yield plugins.CondaHealthCheck(name="conda-fetch package cache", action=_guarded(_health))


def _guarded(action):  # type: ignore[no-untyped-def]
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            action(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - conda must go on whatever we do wrong
            from conda_fetch.redact import redact

            print(f"conda-fetch: {redact(str(exc)) or type(exc).__name__}; "
                  "conda continues with its own downloader", file=sys.stderr)

    return run


def _pfe() -> Any:
    try:
        from conda.core.package_cache_data import ProgressiveFetchExtract
    except ImportError:
        return None
    return ProgressiveFetchExtract if hasattr(ProgressiveFetchExtract, "prepare") else None


def _wrap_prepare(command: str = "") -> None:
    """Fetch a transaction's packages right before conda prepares its own downloads."""
    pfe = _pfe()
    if pfe is None or getattr(pfe.prepare, MARK, False):
        return
    original = pfe.prepare

    def prepare(self: Any) -> Any:
        _guarded(_fetch)(getattr(self, "link_precords", ()))
        return original(self)

    setattr(prepare, MARK, True)
    pfe.prepare = prepare


def _after_solve(repodata_fn: str, unlink_precs: Any, link_precs: Any) -> None:
    if _pfe() is None:  # no later point to fetch at: fetch now, before the prompt
        _fetch(link_precs)


def _fetch(precs: Any) -> None:
    from conda.base.context import context
    from conda.core.package_cache_data import PackageCacheData

    settings = _settings(context)
    if not settings.enabled or context.dry_run or not precs:
        return
    pkgs_dir = Path(PackageCacheData.first_writable().pkgs_dir)
    records = records_from_precs(precs)
    display = None if context.json or context.quiet else _display(len(records))
    with display or nullcontext():
        report = prefetch(records, pkgs_dir, _Sessions(), settings,
                          context.remote_connect_timeout_secs, display)
    if hasattr(PackageCacheData, "clear"):
        PackageCacheData.clear()  # conda read urls.txt before we wrote to it
    _FAILED[:] = [] if report.ok else [hint(report)]
    if _FAILED and _error_hint_type() is None:
        print(_FAILED[0], file=sys.stderr)  # no error-hint hook: say it now


def _display(files: int) -> Any:
    from rich.console import Console

    from conda_fetch.display import Display

    return Display(Console(stderr=True), files, None)


@plugins.hookimpl(optionalhook=True)
def conda_error_hints(error: Any):  # type: ignore[no-untyped-def]
    """After conda's own error, what conda-fetch could not fetch and the way out (conda ≥ 26)."""
    hint_type = _error_hint_type()
    if hint_type is None or not _FAILED:
        return
    try:
        yield hint_type(text=_FAILED[0], hint_code="conda_fetch")
    except TypeError:  # the field was called name in some releases
        yield hint_type(text=_FAILED[0], name="conda_fetch")


def _error_hint_type() -> Any:
    return getattr(getattr(plugins, "types", None), "CondaErrorHint", None)


def _settings(context: Any) -> PluginSettings:
    values = {}
    for name in ("enabled", "files", "split", "min_split", "retries", "stall_timeout", "mirrors"):
        values[f"fetch_{name}"] = getattr(getattr(context, "plugins", None), f"fetch_{name}", None)
    if values["fetch_files"] in (0, "0"):
        values["fetch_files"] = None
    return PluginSettings.from_mapping(values, fetch_threads=int(context.fetch_threads or 5))


class _Sessions:
    """conda's own session for each URL, so its proxies, certificates and auth plugins apply."""

    def get(self, url: str, **kwargs: Any) -> Any:
        from conda.gateways.connection.session import get_session

        return get_session(url).get(url, **kwargs)


def _health(prefix: str, verbose: bool = False) -> None:
    from conda.core.package_cache_data import PackageCacheData

    from conda_fetch.cache import PackageCache
    from conda_fetch.doctor import BROKEN, UNFINISHED, UNREGISTERED, diagnose

    cache = PackageCache(Path(PackageCacheData.first_writable().pkgs_dir))
    diagnosis = diagnose(cache, lambda url, fn: None)
    counts = {kind: len(diagnosis.of(kind)) for kind in (UNREGISTERED, BROKEN, UNFINISHED)}
    mark = "✅" if not counts[UNREGISTERED] and not counts[BROKEN] else "❌"
    print(f"{mark} package cache {cache.root}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if counts[UNREGISTERED] or counts[BROKEN]:
        print("   fix with: conda fetch doctor --fix")
