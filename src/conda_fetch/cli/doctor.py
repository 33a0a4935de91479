"""``conda-fetch doctor``: what is wrong with a package cache, and ``--fix`` for it."""

from __future__ import annotations

import argparse
import json
import sys

from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_cache, add_channels, add_network, add_output, command
from conda_fetch.offline.doctor import (
    BROKEN,
    INCOMPLETE,
    LINKED,
    LOOSE,
    UNFINISHED,
    UNREGISTERED,
    Diagnosis,
    Known,
    counted,
    diagnose,
    fix,
)
from conda_fetch.offline.repodata import RepodataIndex
from conda_fetch.plan import current_subdir
from conda_fetch.plan.records import Record
from conda_fetch.units import human_bytes

PROBLEMS = (INCOMPLETE, UNREGISTERED, BROKEN, LINKED)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = command(
        commands, "doctor",
        "Lists incomplete archives (bytes of expected), archives without a urls.txt line "
        "(conda would download them again), unfinished downloads with their progress, "
        "archives that no longer match their record, extracted folders without their "
        "archive, and space used. Exit status 1 while a problem --fix can act on remains.",
        ["{prog} doctor",
         "{prog} doctor --fix",
         "{prog} doctor --pkgs-dir ~/miniforge3/pkgs --json"],
    )
    parser.add_argument("--fix", action="store_true", help="register what verifies against "
                        "the channels, keep incomplete archives for the next fetch to resume, "
                        "remove broken archives and unusable part files")
    add_cache(parser, "package cache to examine (default: conda's first writable pkgs_dirs)")
    add_channels(parser, "channel to look records up in (default: your conda channels)")
    add_network(parser)
    add_output(parser)


def run(args: argparse.Namespace) -> int:
    context = Context(args, read_only=not args.fix)
    out, cache = context.console, context.cache
    known = _known(context.repodata_index())
    diagnosis = diagnose(cache, known)
    out.print(f"[bold]package cache {cache.root}[/]")
    for kind in (INCOMPLETE, UNREGISTERED, BROKEN, LINKED, UNFINISHED, LOOSE):
        found = diagnosis.of(kind)
        out.print(counted(kind, len(found)))
        for finding in found:
            out.print(f"    {finding.path.name}: {finding.detail}", highlight=False)
    space = diagnosis.space
    out.print("space: " + ", ".join(f"{human_bytes(v)} {k}" for k, v in space.items())
              + f"; {human_bytes(sum(space.values()))} in all")
    done: list[str] = []
    if args.fix:
        out.print("[bold]--fix:[/]")
        done = fix(cache, diagnosis, context.record_lookup(None))
        for line in done:
            out.print(f"    {line}", highlight=False)
        diagnosis = diagnose(cache, known)
    if args.json:
        _json(diagnosis, done, str(cache.root))
    return 1 if any(diagnosis.of(kind) for kind in PROBLEMS) else 0


def _known(index: RepodataIndex) -> Known:
    """A record from conda's cached repodata: by URL, or for an archive urls.txt does not
    name, by file name in the channels' subdirs for this machine and noarch."""
    def known(url: str | None, fn: str) -> Record | None:
        urls = [url] if url else [f"{channel}/{subdir}/{fn}" for channel in index.channels
                                  for subdir in (current_subdir(), "noarch")]
        return next((r for u in urls if (r := index.cached_record(u, fn)) is not None), None)

    return known


def _json(diagnosis: Diagnosis, done: list[str], root: str) -> None:
    problems = [f for f in diagnosis.findings if f.kind in PROBLEMS]
    json.dump({"pkgs_dir": root, "ok": not problems,
               "findings": [f.as_json() for f in diagnosis.findings],
               "space": diagnosis.space, "fixed": done}, sys.stdout, indent=2)
    sys.stdout.write("\n")
