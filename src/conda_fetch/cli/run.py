"""``conda-fetch run -- conda install ...``: fetch what the command would, then run it.

For conda the channels' indexes come first (see ``conda-fetch index``); the tool then
plans and runs with ``CONDA_LOCAL_REPODATA_TTL`` set, so it trusts them instead of
downloading them again, and ``CONDA_REPODATA_FNS=repodata.json`` (unless set), so the
classic solver does not ask for ``current_repodata.json`` first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

from rich.console import Console

from conda_fetch.cli.context import Context
from conda_fetch.cli.index import channel_urls, fetch_indexes
from conda_fetch.cli.options import add_fetch
from conda_fetch.errors import CondaFetchError, InputError
from conda_fetch.index.naming import REPODATA
from conda_fetch.plan import records_from_text
from conda_fetch.plan.lockfile import current_subdir

TOOLS = ("conda", "mamba", "micromamba")
ACTIONS = ("create", "install", "update", "upgrade")
INDEX_TTL = 3600  # seconds the tool trusts the indexes just fetched
_CHANNEL_FLAGS = ("-c", "--channel")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run",
        help="fetch what a conda/mamba/micromamba command needs, then run it",
        description="For conda, fetches the channels' indexes into conda's cache first; then "
        "asks the tool for its plan (--dry-run --json), fetches it into the package cache, "
        "and runs the command exactly as given; it finds everything cached.",
    )
    add_fetch(parser, platform=False)
    parser.add_argument("tool_command", nargs=argparse.REMAINDER, metavar="-- TOOL ACTION ...")


def run(args: argparse.Namespace) -> int:
    command = _command(args.tool_command)
    # fill the caches of the tool that will install, not conda's
    context = Context(args, tool=command[0])
    env = dict(os.environ)
    if os.path.basename(command[0]).removesuffix(".exe") == "conda":
        _fetch_indexes(context, command)
        env["CONDA_LOCAL_REPODATA_TTL"] = str(INDEX_TTL)
        # the classic solver would first ask for current_repodata.json, which is not fetched
        # (a subset of repodata.json that many channels lack): plan with the index fetched
        env.setdefault("CONDA_REPODATA_FNS", REPODATA)
    records = records_from_text(_dry_run(command, env, context.console),
                                f"{command[0]} --dry-run --json")
    if records:
        status = context.finish(context.fetch(records))
        if status != 0:
            return status
    return subprocess.call(command, env=env)


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


def _fetch_indexes(context: Context, command: list[str]) -> None:
    """The indexes of the channels the command reads (failures are told; conda may still
    have them cached, and says so itself if not)."""
    named = _flag_values(command, _CHANNEL_FLAGS)
    if "--override-channels" not in command:
        named += list(context.config.get("channels") or ["defaults"])
    subdir = (_flag_values(command, ("--platform", "--subdir")) or [current_subdir()])[-1]
    fetch_indexes(context, channel_urls(list(dict.fromkeys(named)), context.config),
                  [subdir, "noarch"])


def _flag_values(words: list[str], flags: tuple[str, ...]) -> list[str]:
    """Every value given to ``flags`` (``-c X``, ``--channel X``, ``--channel=X``)."""
    values = []
    for word, following in zip(words, [*words[1:], ""], strict=True):
        if word in flags and following:
            values.append(following)
        values += [word.split("=", 1)[1] for f in flags if word.startswith(f + "=")]
    return values


def _dry_run(command: list[str], env: dict[str, str], out: Console) -> str:
    extra = [flag for flag in ("--dry-run", "--json") if flag not in command]
    try:
        process = subprocess.Popen(command + extra, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise InputError(f"{command[0]}: command not found") from None
    stdout, stderr = _wait(process, out, os.path.basename(command[0]))
    if not stdout.strip():
        message = stderr.strip().splitlines()[-1:] or ["no output"]
        raise CondaFetchError(f"{command[0]} could not plan the transaction: {message[0]}")
    return stdout


def _wait(process: subprocess.Popen, out: Console, tool: str) -> tuple[str, str]:
    """The tool's output, with "asking conda for its plan ... 12 s" meanwhile: a solve can
    take minutes, and a blank screen looks like a hang."""
    started = time.monotonic()
    with out.status(f"asking {tool} for its plan ...") as status:
        while True:
            try:
                return process.communicate(timeout=1.0)
            except subprocess.TimeoutExpired:
                status.update(f"asking {tool} for its plan ... {time.monotonic() - started:.0f} s")
