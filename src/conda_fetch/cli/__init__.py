"""The ``conda-fetch`` command line: sub-commands compose plan, sources, engine and cache."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from conda_fetch import __version__
from conda_fetch.cli import bundle, config, demo, doctor, export, get, importer, index, mirrors, run
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
    "config": config,
    "demo": demo,
}


EPILOG = """\
Installed into the environment where conda lives, conda-fetch is also a conda plugin:
plain 'conda install', 'conda create' and 'conda env create' fetch through it, and
'conda fetch COMMAND' runs these commands.

Start here: '%(prog)s help get', '%(prog)s demo', and the README (install, mirrors,
offline machines; Chinese section 中文说明)."""


def build_parser(prog: str = "conda-fetch") -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fetch conda packages through bad networks into conda's package cache.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"conda-fetch {__version__}")
    parser.set_defaults(prog=prog)  # next-step lines name the program as it was called
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        module.add_parser(commands)
    helper = commands.add_parser("help", help="show the help of a command",
                                 description="Show the help of COMMAND, else this overview.")
    helper.add_argument("topic", nargs="?", choices=list(COMMANDS), metavar="COMMAND",
                        help=f"one of: {', '.join(COMMANDS)}")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "conda-fetch") -> int:
    """Run the command line; returns the exit code (0 ok, 1 failures, 2 bad input)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.command == "help":
        topic = [args.topic] if args.topic else []
        parser.parse_args([*topic, "--help"])  # prints the help and exits
    try:
        return COMMANDS[args.command].run(args)
    except CondaFetchError as exc:
        print(f"{prog}: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; progress is saved, run the same command to resume",
              file=sys.stderr)
        return 130
