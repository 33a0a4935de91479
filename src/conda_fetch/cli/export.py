"""``conda-fetch export``: what a plan needs and the cache lacks, to fetch elsewhere."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_cache, add_mirrors, add_output, add_platform
from conda_fetch.offline.export import FORMATS
from conda_fetch.plan import records_from_args
from conda_fetch.units import human_bytes


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="write what a plan needs and the cache lacks, to fetch elsewhere",
        description="Lists the packages of PLAN files that the package cache does not hold, "
        "in a format for another downloader or machine. Fetch them there, then bring them "
        "back with 'conda-fetch import'.",
    )
    parser.add_argument("sources", nargs="+", metavar="PLAN|URL")
    parser.add_argument("--format", "-f", choices=list(FORMATS), default="urls",
                        help="urls (default), aria2 (aria2c -i, with mirrors and checksums), "
                             "explicit, json, sha256 (sha256sum -c)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    add_cache(parser, "package cache to compare with")
    add_platform(parser)
    add_mirrors(parser)
    add_output(parser, json=False)


def run(args: argparse.Namespace) -> int:
    records = records_from_args(args.sources, platform=args.platform)
    context = Context(args)
    cache = context.cache
    missing = [r for r in records if not cache.status(r)]
    text = FORMATS[args.format](missing, context.mirrors())
    if args.output:
        _write_atomically(Path(args.output), text)
    else:
        sys.stdout.write(text)
    sizes = [r.size for r in missing]
    total = human_bytes(sum(s or 0 for s in sizes)) + ("" if None not in sizes else " or more")
    context.console.print(f"{len(missing)} packages to fetch ({total}); "
                        f"{len(records) - len(missing)} already in {cache.root}")
    return 0


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as stream:
        stream.write(text)
    os.replace(tmp, path)
