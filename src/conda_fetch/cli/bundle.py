"""``conda-fetch bundle``: a plan's packages and a manifest in one tar, for an offline machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_fetch, add_plans, command
from conda_fetch.offline.bundle import write_bundle
from conda_fetch.units import human_bytes


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = command(
        commands, "bundle",
        "Takes the packages of PLAN from the package cache, fetching what is missing, "
        "verifies them, and writes one tar with a manifest. The offline machine needs "
        "conda-fetch too: there, 'import FILE.tar' fills the cache and prints the install "
        "command.",
        ["conda create -n work numpy --dry-run --json > plan.json",
         "{prog} bundle plan.json -o work.tar",
         "# on the offline machine, with conda-fetch installed:",
         "{prog} import work.tar"],
    )
    add_plans(parser)
    parser.add_argument("-o", "--output", required=True, metavar="FILE.tar",
                        help="the tar to write")
    add_fetch(parser)


def run(args: argparse.Namespace) -> int:
    context = Context(args)
    records = context.plan_records(args.sources, args.platform)
    report = context.fetch(records)
    if not report.ok:
        return context.finish(report)
    output = Path(args.output)
    write_bundle(output, records, context.cache.root)
    context.console.print(
        f"{output}: {len(records)} packages, {human_bytes(output.stat().st_size)}\n"
        f"Next: copy it to the offline machine; with conda-fetch installed there, run\n"
        f"  {args.prog} import {output.name}\n"
        f"which fills its package cache and prints the command that installs the environment.",
        highlight=False)
    return 0
