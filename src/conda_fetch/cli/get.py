"""``conda-fetch get``: fetch the packages of plans and URLs into the package cache."""

from __future__ import annotations

import argparse

from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_fetch
from conda_fetch.plan import records_from_args


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "get",
        help="fetch the packages of plans or URLs into the package cache",
        description="Fetch every package named by PLAN files (conda/mamba --dry-run --json "
        "output, @EXPLICIT files, conda-lock.yml, URL lists; '-' reads stdin) or package "
        "URLs into conda's package cache, verified, so conda uses them without a download.",
    )
    parser.add_argument("sources", nargs="+", metavar="PLAN|URL")
    add_fetch(parser)


def run(args: argparse.Namespace) -> int:
    # A plan with nothing to fetch (conda's dry run when everything is cached) is no error.
    context = Context(args)
    return context.finish(context.fetch(records_from_args(args.sources, platform=args.platform)))
