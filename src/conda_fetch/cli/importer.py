"""``conda-fetch import``: adopt package files fetched by hand, verified, into the cache."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from conda_fetch.cache import PackageCache
from conda_fetch.cli.context import Context
from conda_fetch.cli.options import (
    add_cache,
    add_channels,
    add_network,
    add_output,
    add_platform,
    command,
)
from conda_fetch.errors import InputError
from conda_fetch.offline.adopt import ADOPTED, PRESENT, REFUSED, Verdict, adopt, plan_lookup
from conda_fetch.offline.bundle import (
    install_command,
    is_bundle,
    read_manifest,
    unpack,
    write_explicit,
)
from conda_fetch.plan import records_from_args
from conda_fetch.plan.records import EXTENSIONS
from conda_fetch.redact import redact


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = command(
        commands, "import",
        "Reads each archive's own info/index.json, finds the record it must match (in --plan "
        "files, else in the channels' repodata), and adopts it only when name, subdir, size "
        "and checksum all match: placed as <pkgs>/<fn> with its urls.txt line, exactly as a "
        "download. Refused files leave the cache unchanged.",
        ["{prog} import downloads --plan plan.json    # files fetched by hand",
         "{prog} import work.tar                      # a bundle: then install offline",
         "{prog} import --in-place                    # archives dropped into the cache"],
    )
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="package files, folders (searched recursively) or bundles")
    parser.add_argument("--plan", action="append", default=[], metavar="PLAN",
                        help="match against this plan (repeatable) instead of channels")
    add_channels(parser, "channel to look records up in (default: your conda channels)")
    add_cache(parser, "package cache to fill")
    parser.add_argument("--move", action="store_true", help="remove the originals once adopted")
    parser.add_argument("--in-place", action="store_true",
                        help="register archives already dropped into the cache without a "
                             "urls.txt line")
    add_platform(parser)
    add_network(parser)
    add_output(parser)


def run(args: argparse.Namespace) -> int:
    if not args.paths and not args.in_place:
        raise InputError("name package files or folders to import, or use --in-place")
    context = Context(args)
    records = records_from_args(args.plan, platform=args.platform) if args.plan else None
    paths = [Path(p) for p in args.paths]
    bundles = [p for p in paths if p.is_file() and is_bundle(p)]
    files = [f for p in paths if p not in bundles for f in _archives(p)]
    cache = context.cache
    lookup = context.record_lookup(records)
    verdicts = [adopt(f, cache, lookup, "move" if args.move else "copy") for f in files]
    installs: list[str] = []
    for path in bundles:
        found, install = _import_bundle(path, cache)
        verdicts += found
        if install:
            installs.append(f"Next: {path.name}'s packages are in the cache; install the "
                            f"environment with\n  {install}")
    if args.in_place:
        verdicts += [adopt(f, cache, lookup, "in-place") for f in cache.unregistered()]
    status = report(args, context.console, verdicts, cache.root, context.index_problems())
    for line in installs:  # the last word, after every file's line
        context.console.print(line, highlight=False)
    return status


def _import_bundle(path: Path, cache: PackageCache) -> tuple[list[Verdict], str | None]:
    """Adopt a bundle's packages against its own manifest; the command that installs
    them when every one was adopted."""
    manifest = read_manifest(path)
    lookup = plan_lookup(manifest)
    with tempfile.TemporaryDirectory(dir=cache.workdir, prefix="bundle-") as scratch:
        verdicts = [adopt(f, cache, lookup, "move")
                    for f in unpack(path, manifest, Path(scratch))]
    if not verdicts:
        raise InputError(f"{path}: holds none of the packages its manifest lists")
    seen = {v.path.name for v in verdicts}
    verdicts += [Verdict(Path(r.fn), REFUSED, r, "in the manifest but not in the bundle")
                 for r in manifest if r.fn not in seen]
    if any(v.status == REFUSED for v in verdicts):
        return verdicts, None
    return verdicts, install_command(write_explicit(path, manifest, cache.workdir))


def _archives(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(EXTENSIONS))
    if path.is_file():
        return [path]
    raise InputError(f"{path}: no such file or folder")


def report(args: argparse.Namespace, out: Console, verdicts: list[Verdict], root: Path,
           unreadable: Sequence[str] = ()) -> int:
    """Print each verdict, the indexes that could not be read, and the counts; exit 1 when
    anything was refused."""
    for verdict in verdicts:
        mark = {ADOPTED: "[green]✓[/]", PRESENT: "[dim]=[/]", REFUSED: "[red]✗[/]"}[verdict.status]
        detail = f": {verdict.reason}" if verdict.reason else ""
        out.print(f"{mark} {verdict.path.name} {verdict.status}{redact(detail)}", highlight=False)
    if unreadable:
        out.print("[yellow]These channel indexes could not be read[/], so a file may lack its "
                  "record (fetch them with 'conda-fetch index', or name a --plan):")
        for problem in unreadable:
            out.print(f"    {redact(problem)}", highlight=False)
    counts = {s: sum(v.status == s for v in verdicts) for s in (ADOPTED, PRESENT, REFUSED)}
    out.print(f"[bold]{counts[ADOPTED]} adopted, {counts[PRESENT]} already present, "
              f"{counts[REFUSED]} refused[/]  →  {root}")
    if args.json:
        entries = [{"path": str(v.path), "status": v.status, "reason": v.reason,
                    "url": redact(v.record.url) if v.record else None} for v in verdicts]
        json.dump({"success": not counts[REFUSED], "files": entries,
                   "unreadable_indexes": [redact(p) for p in unreadable]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 1 if counts[REFUSED] else 0
