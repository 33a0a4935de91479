"""``conda-fetch import``: adopt package files fetched by hand, verified, into the cache."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from conda_fetch import condarc
from conda_fetch.adopt import ADOPTED, PRESENT, REFUSED, Lookup, Verdict, adopt, plan_lookup
from conda_fetch.archive import EXTENSIONS
from conda_fetch.bundle import install_command, is_bundle, read_manifest, unpack, write_explicit
from conda_fetch.cache import PackageCache, all_pkgs_dirs, find_pkgs_dir
from conda_fetch.cache.urls import read_urls
from conda_fetch.channels import RepodataIndex, channel_urls, configured_channels
from conda_fetch.cli.options import console, http_settings
from conda_fetch.engine import make_session
from conda_fetch.errors import InputError
from conda_fetch.plan import records_from_args
from conda_fetch.redact import redact


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "import",
        help="adopt package files fetched by hand into the package cache, verified",
        description="Reads each archive's own info/index.json, finds the record it must match "
        "(in --plan files, else in the channels' repodata), and adopts it only when name, "
        "subdir, size and checksum all match: placed as <pkgs>/<fn> with its urls.txt line, "
        "exactly as a download. Refused files leave the cache unchanged.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="package files, folders (searched recursively) or bundles")
    parser.add_argument("--plan", action="append", default=[], metavar="PLAN",
                        help="match against this plan (repeatable) instead of channels")
    parser.add_argument("--channel", "-c", action="append", default=[], metavar="URL",
                        help="channel to look records up in (default: your conda channels)")
    parser.add_argument("--pkgs-dir", metavar="DIR", help="package cache to fill")
    parser.add_argument("--move", action="store_true", help="remove the originals once adopted")
    parser.add_argument("--in-place", action="store_true",
                        help="register archives already dropped into the cache without a "
                             "urls.txt line")
    parser.add_argument("--platform", metavar="SUBDIR", help="platform of conda-lock plans")
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")


def run(args: argparse.Namespace) -> int:
    if not args.paths and not args.in_place:
        raise InputError("name package files or folders to import, or use --in-place")
    config = condarc.load_condarc()
    records = records_from_args(args.plan, platform=args.platform) if args.plan else None
    paths = [Path(p) for p in args.paths]
    bundles = [p for p in paths if p.is_file() and is_bundle(p)]
    files = [f for p in paths if p not in bundles for f in _archives(p)]
    cache = PackageCache(find_pkgs_dir(args.pkgs_dir, config=config))
    lookup = record_lookup(args, config, records, cache)
    verdicts = [adopt(f, cache, lookup, "move" if args.move else "copy") for f in files]
    for path in bundles:
        verdicts += _import_bundle(path, cache, console(args))
    if args.in_place:
        verdicts += [adopt(f, cache, lookup, "in-place") for f in unregistered(cache)]
    return report(args, console(args), verdicts, cache.root)


def _import_bundle(path: Path, cache: PackageCache, out: Console) -> list[Verdict]:
    """Adopt a bundle's packages against its own manifest, then say how to install them."""
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
    if all(v.status != REFUSED for v in verdicts):
        explicit = write_explicit(path, manifest, cache.workdir)
        out.print(f"{path.name}: install the environment with\n  {install_command(explicit)}",
                  highlight=False)
    return verdicts


def _archives(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(EXTENSIONS))
    if path.is_file():
        return [path]
    raise InputError(f"{path}: no such file or folder")


def unregistered(cache: PackageCache) -> list[Path]:
    """Archives in the cache that ``urls.txt`` does not name: conda would download them again."""
    named = read_urls(cache.root)
    return sorted(p for p in cache.root.iterdir()
                  if p.is_file() and p.name.endswith(EXTENSIONS) and p.name not in named)


def record_lookup(args: argparse.Namespace, config: dict, records: list | None,
                  cache: PackageCache) -> Lookup:
    """Where records come from: the plans when given, else the channels' repodata."""
    if records is not None:
        return plan_lookup(records)
    index = repodata_index(args, config, cache)
    return lambda identity: index.find(identity.subdir, identity.fn)


def repodata_index(args: argparse.Namespace, config: dict, cache: PackageCache) -> RepodataIndex:
    """The channels of ``--channel`` (else the user's), with conda's cached repodata."""
    channels = channel_urls(args.channel, config) if args.channel else configured_channels(config)
    session = make_session(http_settings(args, config))
    cache_dirs = [cache.root, *all_pkgs_dirs(config=config, run_conda=False)]
    return RepodataIndex(channels, session, list(dict.fromkeys(cache_dirs)))


def report(args: argparse.Namespace, out: Console, verdicts: list[Verdict], root: Path) -> int:
    """Print each verdict and the counts; exit 1 when anything was refused."""
    for verdict in verdicts:
        mark = {ADOPTED: "[green]✓[/]", PRESENT: "[dim]=[/]", REFUSED: "[red]✗[/]"}[verdict.status]
        detail = f": {verdict.reason}" if verdict.reason else ""
        out.print(f"{mark} {verdict.path.name} {verdict.status}{redact(detail)}", highlight=False)
    counts = {s: sum(v.status == s for v in verdicts) for s in (ADOPTED, PRESENT, REFUSED)}
    out.print(f"[bold]{counts[ADOPTED]} adopted, {counts[PRESENT]} already present, "
              f"{counts[REFUSED]} refused[/]  →  {root}")
    if args.json:
        entries = [{"path": str(v.path), "status": v.status, "reason": v.reason,
                    "url": redact(v.record.url) if v.record else None} for v in verdicts]
        json.dump({"success": not counts[REFUSED], "files": entries}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 1 if counts[REFUSED] else 0
