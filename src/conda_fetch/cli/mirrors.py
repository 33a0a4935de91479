"""``conda-fetch mirrors``: probe each channel's mirrors, rank them, optionally save it."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_mirrors, add_network, add_output, command, size
from conda_fetch.config import own
from conda_fetch.engine.probe import Probe, probe, ranked
from conda_fetch.redact import redact
from conda_fetch.sources import candidates
from conda_fetch.sources import mirrors as mirrormap
from conda_fetch.units import human_bytes


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = command(
        commands, "mirrors",
        "For each channel, measures its own URL and every known mirror (latency, throughput "
        "on the start of the channel's repodata.json, errors) and prints them ranked. --save "
        "keeps the --mirror and --preset given, for every later run, and the speeds (for a "
        "week) so the next runs start on the fastest; 'config' shows the file.",
        ["{prog} mirrors conda-forge --preset china",
         "{prog} mirrors conda-forge --preset tuna --save      # use TUNA from now on",
         "{prog} mirrors conda-forge --mirror conda-forge=https://mirrors.bfsu.edu.cn/"
         "anaconda/cloud/conda-forge --save"],
    )
    parser.add_argument("channels", nargs="*", metavar="CHANNEL",
                        help="channel names or URLs (default: your conda channels)")
    add_mirrors(parser)
    parser.add_argument("--subdir", default="noarch", metavar="SUBDIR",
                        help="subdir whose repodata.json is probed (default noarch)")
    parser.add_argument("--bytes", type=size, default=1 << 20, metavar="SIZE",
                        help="how much of the file to fetch from each (default 1M)")
    parser.add_argument("--save", action="store_true",
                        help="keep --mirror, --preset and the speeds in the settings file")
    add_network(parser)
    add_output(parser)


def run(args: argparse.Namespace) -> int:
    context = Context(args)
    out, session = context.console, context.session
    channels = context.channels(args.channels)
    mirrors = context.mirrors()
    results: dict[str, list[Probe]] = {}
    for channel in channels:
        path = f"{args.subdir}/repodata.json"
        bases = [url.removesuffix(f"/{path}") for url in candidates(f"{channel}/{path}", mirrors)]
        results[channel] = ranked([probe(session, base, path, args.bytes) for base in bases])
        _print(out, channel, results[channel])
    if args.save:
        _save(out, context, results)
    if args.json:
        json.dump({redact(c): [vars(p) for p in found] for c, found in results.items()},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0 if all(any(not p.error for p in found) for found in results.values()) else 1


def _save(out: Console, context: Context, results: dict[str, list[Probe]]) -> None:
    """Keep the mirrors and presets given, and the measured speeds."""
    given = mirrormap.from_specs(context.args.mirror, context.config)
    own.save_mirrors(given, context.args.preset)
    speeds = {p.host: p.speed for found in results.values() for p in found if p.speed}
    path = own.save_ranking(speeds)
    count = sum(len(urls) for urls in given.values())
    kept = [f"{count} mirror{'s' if count > 1 else ''}" if count else "",
            f"preset {', '.join(context.args.preset)}" if context.args.preset else "",
            f"{len(speeds)} speeds"]
    out.print(f"saved {', '.join(k for k in kept if k)} to {path}", highlight=False)


def _print(out: Console, channel: str, found: list[Probe]) -> None:
    out.print(f"[bold]{redact(channel)}[/]")
    for rank, result in enumerate(found, start=1):
        latency = f"{result.latency * 1000:.0f} ms" if result.latency is not None else "-"
        speed = f"{human_bytes(result.speed)}/s" if result.speed else result.error
        out.print(f"  {rank}. {redact(result.base):<60} {latency:>8}  {speed}", highlight=False)
