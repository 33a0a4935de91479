"""``conda-fetch doctor``: what is wrong with a package cache, and ``--fix`` for it."""

from __future__ import annotations

import argparse

from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_cache, add_channels, add_network, add_output
from conda_fetch.offline.doctor import BROKEN, LOOSE, UNFINISHED, UNREGISTERED, counted, diagnose, fix
from conda_fetch.units import human_bytes

PROBLEMS = (UNREGISTERED, BROKEN)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "doctor",
        help="report on a package cache; --fix registers what verifies, removes what is broken",
        description="Lists archives without a urls.txt line (conda would download them again), "
        "unfinished downloads with their progress, archives that no longer match their record, "
        "extracted folders without their archive, and space used.",
    )
    parser.add_argument("--fix", action="store_true", help="register what verifies against "
                        "the channels, remove broken archives and unusable part files")
    add_cache(parser, "package cache to examine")
    add_channels(parser, "channel to verify unregistered archives against (with --fix)")
    add_network(parser)
    add_output(parser, json=False)


def run(args: argparse.Namespace) -> int:
    context = Context(args)
    out, cache = context.console, context.cache
    index = context.repodata_index()
    diagnosis = diagnose(cache, index.cached_record)
    out.print(f"[bold]package cache {cache.root}[/]")
    for kind in (UNREGISTERED, BROKEN, UNFINISHED, LOOSE):
        found = diagnosis.of(kind)
        out.print(counted(kind, len(found)))
        for finding in found:
            out.print(f"    {finding.path.name}: {finding.detail}", highlight=False)
    space = diagnosis.space
    out.print("space: " + ", ".join(f"{human_bytes(v)} {k}" for k, v in space.items())
              + f"; {human_bytes(sum(space.values()))} in all")
    if not args.fix:
        return 1 if any(diagnosis.of(kind) for kind in PROBLEMS) else 0
    out.print("[bold]--fix:[/]")
    for line in fix(cache, diagnosis, context.record_lookup(None)):
        out.print(f"    {line}", highlight=False)
    after = diagnose(cache, index.cached_record)
    return 1 if any(after.of(kind) for kind in PROBLEMS) else 0
