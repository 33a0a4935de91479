"""Options shared by the commands that fetch, and what they turn into."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console

from conda_fetch import condarc, mirrormap, settings
from conda_fetch.cache import PackageCache, find_pkgs_dir
from conda_fetch.display import Display
from conda_fetch.engine import HttpSettings, Listener, MiB, Options, make_session
from conda_fetch.fetch import Report, fetch_into_cache
from conda_fetch.records import Record
from conda_fetch.redact import redact
from conda_fetch.units import human_bytes, parse_size


def add_fetch_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that fetches into a package cache."""
    defaults = Options()
    group = parser.add_argument_group("where and how")
    group.add_argument("--pkgs-dir", metavar="DIR",
                       help="package cache to fill (default: conda's first writable pkgs_dirs)")
    group.add_argument("-j", "--files", type=_positive, default=defaults.files, metavar="N",
                       help=f"files fetched at once (default {defaults.files})")
    group.add_argument("-s", "--split", type=_positive, default=defaults.split, metavar="N",
                       help=f"connections per large file (default {defaults.split})")
    group.add_argument("--connections", type=_positive, default=defaults.connections,
                       metavar="N", help=f"connections in all (default {defaults.connections})")
    group.add_argument("--per-host", type=_positive, default=defaults.per_host, metavar="N",
                       help=f"connections to one host at once (default {defaults.per_host})")
    group.add_argument("--min-split", type=_size, default=defaults.min_split, metavar="SIZE",
                       help=f"smallest range worth its own connection (default "
                            f"{defaults.min_split // MiB}M)")
    group.add_argument("--retries", type=_count, default=defaults.retries, metavar="N",
                       help=f"failed tries in a row without progress, at each of a file's "
                            f"hosts, before the file is given up (default {defaults.retries})")
    group.add_argument("--stall-timeout", type=_seconds, default=defaults.stall_seconds,
                       metavar="S", help=f"drop a connection this long without progress "
                                         f"(default {defaults.stall_seconds:g})")
    group.add_argument("--connect-timeout", type=_seconds, default=None, metavar="S",
                       help="seconds to wait for a connection (default: conda's "
                            "remote_connect_timeout_secs, 9.15)")
    group.add_argument("--insecure", action="store_true",
                       help="do not verify TLS certificates (explicit opt-out)")
    group.add_argument("--platform", metavar="SUBDIR",
                       help="platform to take from a lock file (default: this machine's)")
    sources = parser.add_argument_group("mirrors")
    sources.add_argument("--mirror", action="append", default=[], metavar="CHANNEL=URL",
                         help="another base URL serving CHANNEL's files (repeatable)")
    sources.add_argument("--preset", action="append", default=[], metavar="NAME",
                         help=f"built-in mirror set: {', '.join(mirrormap.PRESETS)}")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    out.add_argument("-q", "--quiet", action="store_true", help="print errors only")


def engine_options(args: argparse.Namespace, config: dict) -> Options:
    connect = args.connect_timeout or condarc.remote_timeouts(config)[0]
    return Options(
        files=args.files,
        split=args.split,
        connections=max(args.connections, args.files),
        per_host=args.per_host,
        min_split=args.min_split,
        retries=args.retries,
        stall_seconds=args.stall_timeout,
        connect_timeout=connect,
    )


def http_settings(args: argparse.Namespace, config: dict) -> HttpSettings:
    verify = False if args.insecure else condarc.ssl_verify(config)
    return HttpSettings(
        verify=verify,
        proxies=condarc.proxy_servers(config),
        client_cert=condarc.client_cert(config),
    )


def fetch_records(args: argparse.Namespace, records: list[Record]) -> int:
    """Fetch ``records`` as the options say, print the outcome, return the exit code."""
    report, root = fetch_report(args, records)
    return finish(args, report, root)


def fetch_report(args: argparse.Namespace, records: list[Record]) -> tuple[Report, Path]:
    """Fetch ``records`` into the package cache the options name, with the live display."""
    config = condarc.load_condarc()
    cache = PackageCache(find_pkgs_dir(args.pkgs_dir, config=config,
                                       tool=getattr(args, "tool", None)))
    options = engine_options(args, config)
    session = make_session(http_settings(args, config), pool_size=options.connections)
    listener = _listener(args, console(args), records)
    own = settings.load()
    with listener if isinstance(listener, Display) else nullcontext():
        report = fetch_into_cache(records, cache, session, options, listener,
                                  mirror_map(args, config, own), settings.ranking(own))
    return report, cache.root


def mirror_map(args: argparse.Namespace, config: dict, own: dict) -> mirrormap.MirrorMap:
    """Every mirror the user configured, highest priority first."""
    presets = [*args.preset, *own.get("presets", [])]
    return mirrormap.merge(
        mirrormap.from_specs(args.mirror, config),
        mirrormap.from_toml_section(own),
        mirrormap.from_mirrored_channels(config),
        mirrormap.from_mirrored_channels(mirrormap.mambarc()),
        mirrormap.from_toml_section(mirrormap.pixi_config()),
        *(mirrormap.preset(name) for name in presets),
    )


def finish(args: argparse.Namespace, report: Report, root: Path) -> int:
    """Print the JSON and the human summary; the exit code."""
    if args.json:
        json.dump(report.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    print_summary(console(args), report, root)
    return 0 if report.ok else 1


def console(args: argparse.Namespace) -> Console:
    """Where people read: standard error, silent with ``--quiet``."""
    return Console(stderr=True, quiet=args.quiet, highlight=False, soft_wrap=True)


def _listener(args: argparse.Namespace, console: Console, records: list[Record]) -> Listener:
    if args.quiet:
        return Listener()
    sizes = [r.size for r in records]
    total = sum(s for s in sizes if s) if all(s is not None for s in sizes) else None
    return Display(console, len(records), total)


def print_summary(out: Console, report: Report, root: Path) -> None:
    """The closing lines: counts, then every failure with what to do next."""
    out.print(
        f"[bold]{len(report.fetched)} fetched[/] ({human_bytes(report.bytes_fetched)} "
        f"in {report.seconds:.1f}s), {len(report.cached)} already cached, "
        f"{len(report.failed)} failed  →  {root}"
    )
    for record, error in report.failed:
        out.print(f"[red]failed[/] {record.fn}: {redact(error)}", highlight=False)
        out.print(f"    url:    {redact(record.url)}", highlight=False)
        out.print(f"    sha256: {record.sha256 or '?'}  size: {record.size or '?'}",
                      highlight=False)
    for host in sorted({h for _, outcome in report.fetched for h in outcome.blamed}):
        out.print(f"[yellow]{host} served corrupt bytes[/]; it was not used again in this run")
    if report.failed:
        out.print(
            "Next: run the same command again to resume (try --preset china or --mirror "
            "for more sources), or list what is missing with 'conda-fetch export PLAN "
            "--format aria2', fetch it by any means, and adopt it with 'conda-fetch import "
            "FOLDER', which checks each file's sha256."
        )


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
