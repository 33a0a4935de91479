"""``conda-fetch demo``: the product at work on a sample channel, with no network."""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

from conda_fetch.cache.package_cache import listed_url
from conda_fetch.cache.urls import read_urls
from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_fetch, command
from conda_fetch.hashing import mismatch
from conda_fetch.pipeline import Report
from conda_fetch.plan.records import Record
from conda_fetch.testing.demo import build_channel, demo_faults, plan_for
from conda_fetch.testing.faultserver import FaultServer
from conda_fetch.units import human_bytes

DEMO_STALL_SECONDS = 2.0


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = command(
        commands, "demo",
        "Builds a small sample channel, serves it from a loopback server that cuts "
        "connections, throttles them, answers 503/429 and stalls, and fetches it into a "
        "temporary package cache (or --pkgs-dir) with the normal display. No network needed.",
        ["{prog} demo",
         "{prog} demo --split 1 --files 1     # one connection: see what splitting buys"],
    )
    add_fetch(parser, platform=False, cache_help="package cache to fill (default: a temporary "
              "one, removed at the end)")
    parser.set_defaults(stall_timeout=DEMO_STALL_SECONDS)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="conda-fetch-demo-") as work:
        context = Context(args, pkgs_dir=args.pkgs_dir or str(Path(work) / "pkgs"))
        out = context.console
        out.print("Building a sample channel of real .conda packages…")
        channel = build_channel(Path(work) / "channel")
        faults = demo_faults()
        out.print(f"Serving it on loopback with faults: {faults.describe()}")
        with FaultServer(channel.root, faults) as server:
            records = plan_for(channel, server)
            report = context.fetch(records)
            stats = server.stats
        temporary = None if args.pkgs_dir else "a temporary package cache, removed at the end"
        status = context.finish(report, temporary)
        root = context.cache.root
        payload = sum(r.size or 0 for r in records)
        out.print(
            f"What happened: faults met and recovered from: {_faults(report)}; the server sent "
            f"{human_bytes(stats.bytes_sent)} for {human_bytes(payload)} of packages "
            f"({stats.bytes_sent / max(payload, 1) - 1:+.1%}) over {stats.requests} requests "
            f"in {report.seconds:.1f}s."
        )
        problems = _check_cache(root, records)
        out.print(problems or "Every package is in the cache, verified, with its urls.txt line, "
                              "exactly as conda leaves a download.")
    out.print(f"Now try it on your own plan:\n"
              f"  conda create -n try numpy --dry-run --json > plan.json\n"
              f"  {args.prog} get plan.json", highlight=False)
    return status if not problems else 1


def _faults(report: Report) -> str:
    kinds: Counter[str] = Counter()
    for _, outcome in report.fetched:
        kinds.update(outcome.faults)
    return ", ".join(f"{count} {kind}" for kind, count in kinds.most_common()) or "none"


def _check_cache(root: Path, records: list[Record]) -> str:
    urls = read_urls(root)
    for record in records:
        problem = mismatch(root / record.fn, record)
        if problem:
            return f"{record.fn}: {problem}"
        if urls.get(record.fn) != listed_url(record):
            return f"{record.fn}: urls.txt does not name {record.url}"
    return ""
