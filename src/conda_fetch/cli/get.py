"""``conda-fetch get``: fetch the packages of plans and URLs into the package cache."""

from __future__ import annotations

import argparse

from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_fetch, add_plans, command


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = command(
        commands, "get",
        "Fetches every package named by PLAN files or package URLs into conda's package "
        "cache, verified, so conda then installs them without a download.",
        ["conda create -n work numpy --dry-run --json > plan.json",
         "{prog} get plan.json",
         "conda create -n work numpy        # finds every package cached",
         "",
         "{prog} get plan.json --preset tuna    # TUNA's mirror too",
         "{prog} get conda-lock.yml --platform linux-64",
         "{prog} get https://conda.anaconda.org/conda-forge/noarch/FILE.conda"],
    )
    add_plans(parser)
    add_fetch(parser)


def run(args: argparse.Namespace) -> int:
    # A plan with nothing to fetch (conda's dry run when everything is cached) is no error.
    context = Context(args)
    records = context.plan_records(args.sources, args.platform)
    return context.finish(context.fetch(records))
