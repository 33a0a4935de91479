"""``conda-fetch index [CHANNEL ...]``: the channels' indexes into conda's cache, so that
"Collecting package metadata" finds them there."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console

from conda_fetch import channels, condarc, settings
from conda_fetch.cache import find_pkgs_dir
from conda_fetch.cli.options import (
    add_fetch_options,
    console,
    engine_options,
    http_settings,
    mirror_map,
)
from conda_fetch.display import Display
from conda_fetch.engine import make_session
from conda_fetch.index import IndexFetcher, IndexResult, Settings, fetch_all, targets
from conda_fetch.plan.lockfile import current_subdir
from conda_fetch.redact import redact
from conda_fetch.units import human_bytes

SHARDS_HINT = ("conda is set to use sharded repodata (repodata_use_shards); conda-fetch "
               "fetches the monolithic repodata.json, which conda then does not read. Set "
               "repodata_use_shards: false for conda to use what conda-fetch fetched.")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "index",
        help="fetch channels' indexes (repodata) into conda's cache",
        description="Fetch the index (repodata.json, or .json.zst) of each CHANNEL (names or "
        "URLs, as conda expands them; default: your configured channels) for the platform "
        "and noarch, resuming and through mirrors, and write it into conda's repodata "
        "cache as conda would, so conda plans without downloading it.",
    )
    parser.add_argument("channels", nargs="*", metavar="CHANNEL")
    parser.add_argument("--max-age", type=_seconds, metavar="N",
                        help="let conda use these indexes N seconds without asking the server "
                             "(written as Cache-Control: max-age=N)")
    parser.add_argument("--force", action="store_true",
                        help="ask the servers even when conda would trust its cache")
    add_fetch_options(parser)


def run(args: argparse.Namespace) -> int:
    config = condarc.load_condarc()
    subdirs = [args.platform or current_subdir(), "noarch"]
    urls = channel_urls(args.channels, config)
    out = console(args)
    results, _ = fetch_indexes(args, config, urls, subdirs, out, max_age=args.max_age)
    if args.json:
        json.dump({"success": all(r.ok for r in results),
                   "indexes": [r.as_json() for r in results]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0 if all(r.ok for r in results) else 1


def channel_urls(names: Sequence[str], config: Mapping[str, Any]) -> list[str]:
    """Base URLs of channel names as conda expands them (``custom_channels`` first)."""
    custom = config.get("custom_channels") or {}
    listed = list(names) or list(config.get("channels") or ["defaults"])
    urls = [f"{str(custom[n]).rstrip('/')}/{n}" if n in custom else n for n in listed]
    return channels.channel_urls(urls, config)


def fetch_indexes(args: argparse.Namespace, config: Mapping[str, Any], urls: Sequence[str],
                  subdirs: Sequence[str], out: Console,
                  max_age: int | None = None) -> tuple[list[IndexResult], Path]:
    """Fetch the indexes of ``urls`` for ``subdirs`` into conda's first writable cache, with
    the live display; print what happened; the results and the pkgs dir."""
    pkgs = find_pkgs_dir(args.pkgs_dir, config=dict(config), tool=getattr(args, "tool", None))
    options = engine_options(args, dict(config))
    session = make_session(http_settings(args, dict(config)), pool_size=options.connections)
    wanted = [t for t in targets(urls, subdirs, zst=_flag(config, "repodata_use_zst", True))
              if not t.subdir_url.startswith("file://")]
    display = None if args.quiet else Display(out, len(wanted), None)
    fetcher = IndexFetcher(session, options, mirror_map(args, dict(config), settings.load()),
                           display, Settings(max_age=max_age, local_ttl=_ttl(config),
                                             tar_bz2_only=_flag(config, "use_only_tar_bz2",
                                                                False)))
    with display or nullcontext():
        results = fetch_all(fetcher, wanted, pkgs, threads=options.files)
    print_results(out, results, pkgs)
    if _flag(config, "repodata_use_shards", False):
        out.print(f"[yellow]note[/]: {SHARDS_HINT}")
    return results, pkgs


def print_results(out: Console, results: Sequence[IndexResult], pkgs: Path) -> None:
    """One line per index, then what to do about the failed ones."""
    for result in results:
        name = redact(result.target.url)
        if result.action == "fetched":
            out.print(f"[green]✓[/] {name}: {human_bytes(result.size)} fetched from "
                      f"{redact(result.host)} ({human_bytes(result.fetched)} over the wire, "
                      f"{result.seconds:.1f}s)", highlight=False)
        elif result.ok:
            how = "fresh in the cache" if result.action == "fresh" else "unchanged (304)"
            out.print(f"[green]✓[/] {name}: {how}", highlight=False)
        else:
            out.print(f"[red]✗[/] {name}: could not be fetched", highlight=False)
            for line in result.tried:
                out.print(f"    {redact(line)}", highlight=False)
    failed = sum(not r.ok for r in results)
    out.print(f"[bold]{len(results) - failed} indexes ready, {failed} failed[/]  →  "
              f"{pkgs / 'cache'}", highlight=False)
    if failed:
        out.print("Next: run the same command again (a cut index resumes), or add mirrors "
                  "with --preset china or --mirror CHANNEL=URL.")


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


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value
