"""``conda-fetch index [CHANNEL ...]``: the channels' indexes into conda's cache, so that
"Collecting package metadata" finds them there."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console

from conda_fetch.cli.context import Context
from conda_fetch.cli.display import Display
from conda_fetch.cli.options import add_fetch, command, count
from conda_fetch.config import channels
from conda_fetch.index import (
    CURRENT,
    REPODATA,
    SHARDS_NOTE,
    IndexFetcher,
    IndexResult,
    Settings,
    fetch_all,
    targets,
)
from conda_fetch.plan.platform import current_subdir
from conda_fetch.redact import redact
from conda_fetch.units import human_bytes


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = command(
        commands, "index",
        "Fetch the index (repodata.json, or .json.zst) of each CHANNEL (names or URLs, as "
        "conda expands them; default: your configured channels) for the platform and noarch, "
        "resuming and through mirrors, and write it into conda's repodata cache as conda "
        "would, so conda plans without downloading it.",
        ["{prog} index                        # your configured channels",
         "{prog} index conda-forge --preset tuna",
         "{prog} index conda-forge --max-age 86400   # plain conda trusts it for a day",
         "{prog} index https://mirror.example/conda-forge --platform linux-aarch64"],
    )
    parser.add_argument("channels", nargs="*", metavar="CHANNEL",
                        help="channel names or URLs (default: your conda channels)")
    parser.add_argument("--platform", metavar="SUBDIR",
                        help="platform whose index to fetch besides noarch (default: this "
                             "machine's)")
    parser.add_argument("--max-age", type=count, metavar="N",
                        help="let conda use these indexes N seconds without asking the server "
                             "(written as Cache-Control: max-age=N)")
    parser.add_argument("--force", action="store_true",
                        help="ask the servers even when conda would trust its cache")
    add_fetch(parser, platform=False)


def run(args: argparse.Namespace) -> int:
    context = Context(args)
    subdirs = [args.platform or current_subdir(), "noarch"]
    results = fetch_indexes(context, channel_urls(args.channels, context.config), subdirs,
                            _files_conda_reads(context.config), args.max_age, args.force)
    if args.json:
        json.dump({"success": all(map(_ready, results)),
                   "indexes": [r.as_json() for r in results]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0 if all(map(_ready, results)) else 1


def _files_conda_reads(config: Mapping[str, Any]) -> list[str]:
    """``repodata.json``, after ``current_repodata.json`` for the classic solver (the one
    that asks for it first)."""
    solver = os.environ.get("CONDA_SOLVER") or str(config.get("solver") or "")
    return [CURRENT, REPODATA] if solver == "classic" else [REPODATA]


def _ready(result: IndexResult) -> bool:
    """Fetched, fresh or unchanged; or a ``current_repodata.json`` the channel does not have
    (conda then reads ``repodata.json``)."""
    return result.ok or (result.target.fn == CURRENT and result.missing)


def channel_urls(names: Sequence[str], config: Mapping[str, Any]) -> list[str]:
    """Base URLs of channel names as conda expands them (``custom_channels`` first; the
    user's ``channels`` when none are named)."""
    custom = config.get("custom_channels") or {}
    listed = list(names) or list(config.get("channels") or ["defaults"])
    urls = [f"{str(custom[n]).rstrip('/')}/{n}" if n in custom else n for n in listed]
    return channels.channel_urls(urls, config)


def fetch_indexes(context: Context, urls: Sequence[str], subdirs: Sequence[str],
                  files: Sequence[str] = (REPODATA,), max_age: int | None = None,
                  force: bool = False) -> list[IndexResult]:
    """Fetch the index ``files`` of ``urls`` for ``subdirs`` into conda's cache with the
    live display, and print what happened."""
    config = context.config
    zst = _flag(config, "repodata_use_zst", True)
    wanted = [t for fn in files for t in targets(urls, subdirs, zst, fn)
              if not t.subdir_url.startswith("file://")]  # conda reads those itself, always
    display = None if context.args.quiet else Display(context.console)
    settings = Settings(max_age=max_age, local_ttl=_ttl(config),
                        tar_bz2_only=_flag(config, "use_only_tar_bz2", False))
    fetcher = IndexFetcher(context.session, context.options, context.mirrors(), display,
                           settings)
    with display or nullcontext():
        results = fetch_all(fetcher, wanted, context.cache.root, context.options.files, force)
    if context.args.quiet:  # errors only
        for line in (line for r in results if not _ready(r) for line in _failure(r)):
            print(line, file=sys.stderr)
    else:
        print_results(context.console, results, context.cache.root)
    if _flag(config, "repodata_use_shards", False):
        context.console.print(f"[yellow]note[/]: {SHARDS_NOTE}")
    return results


def print_results(out: Console, results: Sequence[IndexResult], pkgs: Path) -> None:
    """A line per index the live display did not tell of, the counts, and what to do about
    the failed ones."""
    for result in results:
        name = redact(result.target.url)
        if result.action == "fetched":  # the live display told the transfer; a mirror is news
            if result.host != result.target.subdir_url:
                out.print(f"[green]✓[/] {name}: {human_bytes(result.size)} from the mirror "
                          f"{redact(result.host)}", highlight=False)
        elif result.ok:
            how = "fresh in the cache" if result.action == "fresh" else "unchanged (304)"
            out.print(f"[green]✓[/] {name}: {how}", highlight=False)
        elif _ready(result):
            out.print(f"[dim]-[/] {name}: not on the server (conda reads repodata.json "
                      "instead)", highlight=False)
        else:
            head, *tried = _failure(result)
            out.print(f"[red]✗[/] {head}", highlight=False)
            for line in tried:
                out.print(line, highlight=False)
    failed = sum(not _ready(r) for r in results)
    out.print(f"[bold]{len(results) - failed} indexes ready, {failed} failed[/]  →  "
              f"{pkgs / 'cache'}", highlight=False)
    if failed:
        out.print("Next: run the same command again (a cut index resumes), or add mirrors "
                  "with --preset china or --mirror CHANNEL=URL.")


def _failure(result: IndexResult) -> list[str]:
    """An index that could not be fetched, and what was tried."""
    return [f"{redact(result.target.url)}: could not be fetched",
            *(f"    {redact(line)}" for line in result.tried)]


def _flag(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _ttl(config: Mapping[str, Any]) -> int:
    try:
        return int(config.get("local_repodata_ttl", 1))
    except (TypeError, ValueError):
        return 1
