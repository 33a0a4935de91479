"""``conda-fetch bundle``: a plan's packages and a manifest in one tar, for an offline machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from conda_fetch.offline.bundle import write_bundle
from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_fetch
from conda_fetch.plan import records_from_args
from conda_fetch.units import human_bytes


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bundle",
        help="pack a plan's packages (fetched when missing) into one tar for an offline machine",
        description="Takes the packages of PLAN from the package cache, fetching what is "
        "missing, verifies them, and writes one tar with a manifest. On the offline machine, "
        "'conda-fetch import FILE.tar' fills the cache and prints the install command.",
    )
    parser.add_argument("sources", nargs="+", metavar="PLAN|URL")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.tar")
    add_fetch(parser)


def run(args: argparse.Namespace) -> int:
    records = records_from_args(args.sources, platform=args.platform)
    context = Context(args)
    report = context.fetch(records)
    if not report.ok:
        return context.finish(report)
    output = Path(args.output)
    write_bundle(output, records, context.cache.root)
    context.console.print(f"{output}: {len(records)} packages, {human_bytes(output.stat().st_size)}")
    return 0
