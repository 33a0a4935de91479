"""``conda-fetch export``: what a plan needs and the cache lacks, to fetch elsewhere."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conda_fetch import condarc, settings
from conda_fetch.cache import PackageCache, find_pkgs_dir
from conda_fetch.cli.options import console, mirror_map
from conda_fetch.export import FORMATS
from conda_fetch.files import write_atomically
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
    parser.add_argument("--pkgs-dir", metavar="DIR", help="package cache to compare with")
    parser.add_argument("--platform", metavar="SUBDIR", help="platform of conda-lock plans")
    parser.add_argument("--mirror", action="append", default=[], metavar="CHANNEL=URL")
    parser.add_argument("--preset", action="append", default=[], metavar="NAME")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")


def run(args: argparse.Namespace) -> int:
    records = records_from_args(args.sources, platform=args.platform)
    config = condarc.load_condarc()
    cache = PackageCache(find_pkgs_dir(args.pkgs_dir, config=config, create=False))
    missing = [r for r in records if not cache.status(r, repair=False)]
    text = FORMATS[args.format](missing, mirror_map(args, config, settings.load()))
    if args.output:
        write_atomically(Path(args.output), text)
    else:
        sys.stdout.write(text)
    sizes = [r.size for r in missing]
    total = human_bytes(sum(s or 0 for s in sizes)) + ("" if None not in sizes else " or more")
    console(args).print(f"{len(missing)} packages to fetch ({total}); "
                        f"{len(records) - len(missing)} already in {cache.root}")
    return 0

