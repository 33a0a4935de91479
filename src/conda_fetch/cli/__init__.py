"""The ``conda-fetch`` command line: sub-commands compose plan, sources, engine and cache."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from conda_fetch import __version__
from conda_fetch.cli import bundle, demo, doctor, export, get, importer, mirrors, run
from conda_fetch.cli import index
from conda_fetch.errors import CondaFetchError
from conda_fetch.redact import redact

COMMANDS = {
    "get": get,
    "index": index,
    "run": run,
    "export": export,
    "import": importer,
    "bundle": bundle,
    "doctor": doctor,
    "mirrors": mirrors,
    "demo": demo,
}


def build_parser(prog: str = "conda-fetch") -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fetch conda packages through bad networks into conda's package cache.",
    )
    parser.add_argument("--version", action="version", version=f"conda-fetch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "conda-fetch") -> int:
    """Run the command line; returns the exit code (0 ok, 1 failures, 2 bad input)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except CondaFetchError as exc:
        print(f"{prog}: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; progress is saved, run the same command to resume",
              file=sys.stderr)
        return 130
