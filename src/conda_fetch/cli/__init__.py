"""The ``conda-fetch`` command line: sub-commands compose plan, sources, engine and cache."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from conda_fetch import __version__
from conda_fetch.cli.options import SUMMARIES
from conda_fetch.errors import CondaFetchError
from conda_fetch.redact import redact

COMMANDS = list(SUMMARIES)
_MODULES = {"import": "importer"}  # where a command's module is not named after it


def command_module(name: str) -> ModuleType:
    """The module of command ``name``, imported now: a run imports only its own command."""
    return importlib.import_module(f"conda_fetch.cli.{_MODULES.get(name, name)}")


EPILOG = """\
Installed into the environment where conda lives, conda-fetch is also a conda plugin:
plain 'conda install', 'conda create' and 'conda env create' fetch through it, and
'conda fetch COMMAND' runs these commands.

Start here: '%(prog)s help get', '%(prog)s demo', and the README (install, mirrors,
offline machines; Chinese section 中文说明)."""


def build_parser(prog: str = "conda-fetch", only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every sub-command; with ``only``, every other one is
    declared by its summary alone (enough for the overview, and imports nothing)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fetch conda packages through bad networks into conda's package cache.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"conda-fetch {__version__}")
    parser.set_defaults(prog=prog)  # next-step lines name the program as it was called
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        if only in (None, name):
            command_module(name).add_parser(commands)
        else:
            commands.add_parser(name, help=SUMMARIES[name], add_help=False)
    helper = commands.add_parser("help", help="show the help of a command",
                                 description="Show the help of COMMAND, else this overview.")
    helper.add_argument("topic", nargs="?", choices=list(COMMANDS), metavar="COMMAND",
                        help=f"one of: {', '.join(COMMANDS)}")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "conda-fetch") -> int:
    """Run the command line; returns the exit code (0 ok, 1 failures, 2 bad input)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(prog, only=_named(argv) or "")
    args = parser.parse_args(argv)
    if args.command == "help":
        topic = [args.topic] if args.topic else []
        build_parser(prog, only=args.topic or "").parse_args([*topic, "--help"])  # exits
    try:
        return int(command_module(args.command).run(args))
    except CondaFetchError as exc:
        print(f"{prog}: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; progress is saved, run the same command to resume",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # what reads our output went away (``| head``): no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nor another error when stdout is flushed
        return 1


def run() -> NoReturn:
    """The ``conda-fetch`` program: :func:`main`, then out at once. Everything was written
    and closed; the interpreter's tear-down of every loaded module would only add a tenth of
    a second to each run."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away: nothing more to say
            code = code or 1
    os._exit(code)


def _named(argv: list[str]) -> str | None:
    """The command ``argv`` runs (the first word that is one), or ``None``."""
    return next((word for word in argv if word in SUMMARIES), None)
