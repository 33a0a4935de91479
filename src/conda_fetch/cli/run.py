"""``conda-fetch run -- conda install ...``: fetch what the command would, then run it.

For conda the channels' indexes come first (see ``conda-fetch index``); the tool then
plans and runs with ``CONDA_LOCAL_REPODATA_TTL`` set, so it trusts them instead of
downloading them again, and ``CONDA_REPODATA_FNS=repodata.json`` (unless set), so the
classic solver does not ask for ``current_repodata.json`` first.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console

from conda_fetch.cli.context import Context
from conda_fetch.cli.index import channel_urls, fetch_indexes
from conda_fetch.cli.options import add_fetch, command
from conda_fetch.errors import CondaFetchError, InputError
from conda_fetch.index.naming import REPODATA
from conda_fetch.plan import records_from_text
from conda_fetch.plan.lockfile import load_yaml
from conda_fetch.plan.platform import current_subdir
from conda_fetch.redact import redact

TOOLS = ("conda", "mamba", "micromamba")
ACTIONS = ("create", "install", "update", "upgrade")
ENV_ACTIONS = ("create", "update")
INDEX_TTL = 3600  # seconds the tool trusts the indexes just fetched
_CHANNEL_FLAGS = ("-c", "--channel")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = command(
        commands, "run",
        "Asks the tool for its plan (--dry-run --json; for 'env create/update -f FILE' the "
        "plan of the file's channels and dependencies), fetches it into the tool's package "
        "cache, then runs the command exactly as given: it finds everything cached.",
        ["{prog} run -- conda install -c conda-forge numpy",
         "{prog} run -- conda env create -f environment.yml",
         "{prog} run --preset tuna -- mamba create -n work python=3.12",
         "{prog} run -- micromamba create -f environment.yml"],
    )
    add_fetch(parser, platform=False, cache_help="package cache to fill (default: the first "
              "writable one of the tool that runs, from its 'info --json')")
    parser.add_argument("tool_command", nargs=argparse.REMAINDER, metavar="-- TOOL ACTION ...",
                        help="the conda, mamba or micromamba command to fetch for and run")


def run(args: argparse.Namespace) -> int:
    command = _command(args.tool_command)
    context = Context(args, tool=command[0])  # fill the caches of the tool that will install
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="conda-fetch-plan-") as scratch:
        planner = plan_command(command, Path(scratch) / "env")
        if _tool(command) == "conda":
            _fetch_indexes(context, planner)
            env["CONDA_LOCAL_REPODATA_TTL"] = str(INDEX_TTL)
            # the classic solver would first ask for current_repodata.json, which is not
            # fetched (a subset of repodata.json that many channels lack)
            env.setdefault("CONDA_REPODATA_FNS", REPODATA)
        context.console.print(f"Asking {_tool(command)} for its plan: "
                              f"{redact(' '.join(planner[1:]))}", highlight=False)
        source = f"{command[0]} --dry-run --json"
        records = records_from_text(_dry_run(planner, env, context.console), source,
                                    platform=_tool_platform(command))
        # conda before 24.11 hides the tokens of the channels given with -c in its plan
        records = context.with_tokens(records, source, _flag_values(planner, _CHANNEL_FLAGS))
    if records:
        status = context.finish(context.fetch(records))
        if status != 0:
            return status
    context.console.print(f"Running {redact(' '.join(command))}", highlight=False)
    return subprocess.call(command, env=env)


def _command(words: list[str]) -> list[str]:
    words = words[1:] if words[:1] == ["--"] else words
    if len(words) < 2:
        raise InputError("usage: conda-fetch run [options] -- conda install PACKAGE ...")
    tool = _tool(words)
    if tool not in TOOLS:
        raise InputError(f"run works with {', '.join(TOOLS)}, not {words[0]!r}")
    actions = [w for w in words[1:] if not w.startswith("-")]
    if actions[:1] == ["env"] and actions[1:2] and actions[1] in ENV_ACTIONS:
        return words
    if not actions or actions[0] not in ACTIONS:
        raise InputError(f"run works with {', '.join(ACTIONS)} and env create/update, "
                         f"not {' '.join(actions[:2]) or 'nothing'!r}")
    return words


def _tool(words: list[str]) -> str:
    return os.path.basename(words[0]).removesuffix(".exe")


def plan_command(command: list[str], scratch_prefix: Path) -> list[str]:
    """The command that prints ``command``'s plan as JSON.

    ``env create/update -f FILE`` prints no package URLs under ``--dry-run``: its plan
    is that of ``create`` of the file's channels and conda dependencies in a prefix that
    does not exist (pip's are left to the command itself).
    """
    words = [w for w in command[1:] if not w.startswith("-")]
    if words[:1] != ["env"]:
        return command + [flag for flag in ("--dry-run", "--json") if flag not in command]
    spec = _env_file(command)
    channels = [str(c) for c in spec.get("channels") or []]
    flags = [arg for c in channels if c != "nodefaults" for arg in ("-c", c)]
    if "nodefaults" in channels:
        flags.append("--override-channels")
    deps = [str(d) for d in spec.get("dependencies") or [] if isinstance(d, (str, int, float))]
    return [command[0], "create", "--dry-run", "--json", "-p", str(scratch_prefix), *flags, *deps]


def _env_file(command: list[str]) -> dict:
    path = Path("environment.yml")
    for flag, value in itertools.pairwise(command):
        if flag in ("-f", "--file"):
            path = Path(value)
    for word in command:
        if word.startswith("--file="):
            path = Path(word.removeprefix("--file="))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the environment file ({exc.strerror})") from None
    data = load_yaml(text, str(path))
    if not isinstance(data, dict):
        raise InputError(f"{path}: not an environment file (no channels or dependencies)")
    return data


def _fetch_indexes(context: Context, command: list[str]) -> None:
    """The indexes of the channels the command reads (failures are told; conda may still
    have them cached, and says so itself if not)."""
    named = _flag_values(command, _CHANNEL_FLAGS)
    if "--override-channels" not in command:
        named += list(context.config.get("channels") or ["defaults"])
    subdir = _tool_platform(command) or current_subdir()
    fetch_indexes(context, channel_urls(list(dict.fromkeys(named)), context.config),
                  [subdir, "noarch"])


def _tool_platform(command: list[str]) -> str | None:
    """The platform the tool was told to plan for (its plan is then for that one)."""
    given = _flag_values(command, ("--platform", "--subdir"))
    return given[-1] if given else None


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
