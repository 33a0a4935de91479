"""``conda-fetch export``: what a plan needs and the cache lacks, to fetch elsewhere."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from conda_fetch.cli.context import Context
from conda_fetch.cli.options import (
    add_cache,
    add_mirrors,
    add_output,
    add_plans,
    add_platform,
    command,
)
from conda_fetch.files import write_atomically
from conda_fetch.offline.export import FORMATS
from conda_fetch.plan import records_from_args
from conda_fetch.plan.records import Record
from conda_fetch.redact import without_credentials
from conda_fetch.units import human_bytes


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = command(
        commands, "export",
        "Lists the packages of PLAN files that the package cache does not hold, in a format "
        "for another downloader or machine. Fetch them there, then bring them back with "
        "'import', which checks every file.",
        ["{prog} export plan.json --format aria2 -o todo.txt",
         "aria2c -i todo.txt -d downloads      # run again after a failure: it resumes",
         "{prog} import downloads --plan plan.json",
         "",
         "{prog} export plan.json --format sha256 -o SHA256SUMS"],
    )
    add_plans(parser)
    parser.add_argument("--format", "-f", choices=list(FORMATS), default="urls",
                        help="urls (default), aria2 (aria2c -i: mirrors, checksums, resume and "
                             "retries), explicit, explicit-md5 (older conda), json, "
                             "sha256 (sha256sum -c)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--with-credentials", action="store_true",
                        help="keep tokens and passwords in the URLs (removed by default, so "
                             "the list can be shared; the other side must then log in)")
    add_cache(parser, "package cache to compare with")
    add_platform(parser)
    add_mirrors(parser)
    add_output(parser, json=False)


def run(args: argparse.Namespace) -> int:
    context = Context(args, read_only=True)
    if args.with_credentials:  # the tokens conda hid in its plan, where the user keeps them
        records = context.plan_records(args.sources, args.platform)
    else:
        records = records_from_args(args.sources, platform=args.platform)
    cache = context.cache
    missing = [r for r in records if not cache.status(r, repair=False)]
    listed = missing if args.with_credentials else _public(missing)
    text = FORMATS[args.format](listed, context.mirrors())
    if args.output:
        write_atomically(Path(args.output), text)
    else:
        sys.stdout.write(text)
    sizes = [r.size for r in missing]
    total = human_bytes(sum(s or 0 for s in sizes)) + ("" if None not in sizes else " or more")
    context.console.print(f"{len(missing)} packages to fetch ({total}); "
                          f"{len(records) - len(missing)} already in {cache.root}")
    if listed != missing:
        context.console.print(f"{sum(a != b for a, b in zip(listed, missing, strict=True))} "
                              "URLs had a token or password: left out of the list "
                              "(--with-credentials keeps them)", highlight=False)
    if args.format == "aria2" and missing:
        _next_steps(context, args)
    return 0


def _public(records: list[Record]) -> list[Record]:
    """``records`` with no token or password in their URLs."""
    return [replace(r, url=without_credentials(r.url)) for r in records]


def _next_steps(context: Context, args: argparse.Namespace) -> None:
    """How to fetch the list with aria2c and bring the files back."""
    listing = args.output or "todo.txt"
    plans = " ".join(f"--plan {s}" for s in args.sources if "://" not in s and s != "-")
    prog = args.prog
    context.console.print(
        f"Next: aria2c -i {listing} -d downloads   (run it again after a failure: it resumes)\n"
        f"      {prog} import downloads {plans}".rstrip(), highlight=False)
