"""``conda-fetch run -- conda install ...``: fetch what the command would, then run it."""

from __future__ import annotations

import argparse
import os
import subprocess

from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_fetch
from conda_fetch.errors import CondaFetchError, InputError
from conda_fetch.plan import records_from_text

TOOLS = ("conda", "mamba", "micromamba")
ACTIONS = ("create", "install", "update", "upgrade")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run",
        help="fetch what a conda/mamba/micromamba command needs, then run it",
        description="Asks the tool for its plan (--dry-run --json), fetches it into the "
        "package cache, then runs the command exactly as given; it finds everything cached.",
    )
    add_fetch(parser, platform=False)
    parser.add_argument("tool_command", nargs=argparse.REMAINDER, metavar="-- TOOL ACTION ...")


def run(args: argparse.Namespace) -> int:
    command = _command(args.tool_command)
    records = records_from_text(_dry_run(command), f"{command[0]} --dry-run --json")
    if records:
        # fill the cache of the tool that will install, not conda's
        context = Context(args, tool=command[0])
        status = context.finish(context.fetch(records))
        if status != 0:
            return status
    return subprocess.call(command)


def _command(words: list[str]) -> list[str]:
    words = words[1:] if words[:1] == ["--"] else words
    if len(words) < 2:
        raise InputError("usage: conda-fetch run [options] -- conda install PACKAGE ...")
    tool = os.path.basename(words[0]).removesuffix(".exe")
    if tool not in TOOLS:
        raise InputError(f"run works with {', '.join(TOOLS)}, not {words[0]!r}")
    action = next((w for w in words[1:] if not w.startswith("-")), "")
    if action not in ACTIONS:
        raise InputError(f"run works with {', '.join(ACTIONS)}, not {action!r}")
    return words


def _dry_run(command: list[str]) -> str:
    extra = [flag for flag in ("--dry-run", "--json") if flag not in command]
    try:
        done = subprocess.run(command + extra, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InputError(f"{command[0]}: command not found") from None
    if not done.stdout.strip():
        message = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise CondaFetchError(f"{command[0]} could not plan the transaction: {message[0]}")
    return done.stdout
