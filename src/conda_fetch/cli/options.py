"""Command-line options, each declared once, in groups that every command composes.

Only declarations and value parsers live here; what the options turn into is built by
:class:`conda_fetch.cli.context.Context`.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from collections.abc import Sequence

from conda_fetch.engine import MiB, Options
from conda_fetch.sources.mirrors import PRESETS
from conda_fetch.units import parse_size

_DEFAULTS = Options()

#: Every command and its one-line summary, in the order ``--help`` lists them.
SUMMARIES = {
    "get": "fetch the packages of plans or URLs into the package cache",
    "index": "fetch channels' indexes (repodata) into conda's cache",
    "run": "fetch what a conda/mamba/micromamba command needs, then run it",
    "export": "write what a plan needs and the cache lacks, to fetch elsewhere",
    "import": "adopt package files fetched by hand into the package cache, verified",
    "bundle": "pack a plan's packages (fetched when missing) into one tar for an offline machine",
    "doctor": "report on a package cache; --fix registers what verifies, removes what is broken",
    "mirrors": "probe and rank the mirrors of channels; --save keeps them",
    "config": "show or change conda-fetch's settings file (mirrors, presets)",
    "demo": "fetch a sample channel from loopback servers that cut, throttle and stall",
}


def command(commands: argparse._SubParsersAction, name: str, description: str,
            examples: Sequence[str]) -> argparse.ArgumentParser:
    """A sub-command's parser: its one-line summary (:data:`SUMMARIES`), a description, and
    an Examples section (``{prog}`` in an example is the program's name: ``conda-fetch`` or
    ``conda fetch``)."""
    width = min(shutil.get_terminal_size().columns, 80) - 2
    parser = commands.add_parser(name, help=SUMMARIES[name],
                                 description=textwrap.fill(description, width),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    prog = parser.prog.removesuffix(f" {name}")
    parser.epilog = "examples:\n" + "\n".join(
        f"  {line.format(prog=prog)}" if line else "" for line in examples)
    return parser


def add_plans(parser: argparse.ArgumentParser) -> None:
    """``PLAN|URL ...``: what to fetch."""
    parser.add_argument("sources", nargs="+", metavar="PLAN|URL",
                        help="a plan file (conda/mamba --dry-run --json output, @EXPLICIT file, "
                             "conda-lock.yml, list of URLs; '-' reads stdin) or a package URL")


def add_cache(parser: argparse.ArgumentParser, help: str) -> None:
    """``--pkgs-dir``: the package cache a command works on."""
    parser.add_argument("--pkgs-dir", metavar="DIR", help=help)


def add_network(parser: argparse.ArgumentParser) -> None:
    """``--insecure``: the explicit opt-out of TLS verification."""
    parser.add_argument("--insecure", action="store_true",
                        help="do not verify TLS certificates (explicit opt-out)")


def add_output(parser: argparse.ArgumentParser, json: bool = True) -> None:
    """``--json`` (where the command has a summary) and ``-q``."""
    group = parser.add_argument_group("output")
    if json:
        group.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    group.add_argument("-q", "--quiet", action="store_true", help="print errors only")


def add_platform(parser: argparse.ArgumentParser) -> None:
    """``--platform``: the target subdir; lock files are read for it, other plans must match."""
    parser.add_argument("--platform", metavar="SUBDIR",
                        help="target platform (default: CONDA_SUBDIR, else this machine's): "
                             "taken from a lock file; a plan for another one is refused")


def add_mirrors(parser: argparse.ArgumentParser) -> None:
    """``--mirror`` and ``--preset``: more sources for a channel's files."""
    group = parser.add_argument_group("mirrors")
    group.add_argument("--mirror", action="append", default=[], metavar="CHANNEL=URL",
                       help="another base URL serving CHANNEL's files (repeatable)")
    group.add_argument("--preset", action="append", default=[], metavar="NAME",
                       help=f"built-in mirror set: {', '.join(PRESETS)}")


def add_channels(parser: argparse.ArgumentParser, help: str) -> None:
    """``-c/--channel``: channels to read records from (default: the user's)."""
    parser.add_argument("--channel", "-c", action="append", default=[], metavar="URL", help=help)


def add_engine(parser: argparse.ArgumentParser) -> None:
    """How hard and how patiently files are fetched."""
    group = parser.add_argument_group("how")
    group.add_argument("-j", "--files", type=positive, default=_DEFAULTS.files, metavar="N",
                       help=f"files fetched at once (default {_DEFAULTS.files}; "
                            f"{_DEFAULTS.quick} while every host answers within 2 ms: this "
                            f"machine or the LAN, where more only contend for the CPU)")
    group.add_argument("-s", "--split", type=positive, default=_DEFAULTS.split, metavar="N",
                       help=f"connections per large file (default {_DEFAULTS.split})")
    group.add_argument("--connections", type=positive, default=_DEFAULTS.connections,
                       metavar="N", help=f"connections in all (default {_DEFAULTS.connections})")
    group.add_argument("--per-host", type=positive, default=_DEFAULTS.per_host, metavar="N",
                       help=f"connections to one host at once (default {_DEFAULTS.per_host})")
    group.add_argument("--in-flight", type=positive, default=None, metavar="N",
                       help=f"on a far link (answers slower than transfers: many small files "
                            f"over a long round trip) files, connections and connections to "
                            f"one host grow up to N, doubling per answer (default {_DEFAULTS.far}; "
                            f"the --per-host value when -j, --connections or --per-host is "
                            f"given)")
    group.add_argument("--min-split", type=size, default=_DEFAULTS.min_split, metavar="SIZE",
                       help=f"smallest range worth its own connection (default "
                            f"{_DEFAULTS.min_split // MiB}M)")
    group.add_argument("--retries", type=count, default=_DEFAULTS.retries, metavar="N",
                       help=f"failed tries in a row without progress, at each of a file's "
                            f"hosts, before the file is given up (default {_DEFAULTS.retries})")
    group.add_argument("--stall-timeout", type=seconds, default=_DEFAULTS.stall_seconds,
                       metavar="S", help=f"drop a connection this long without progress "
                                         f"(default {_DEFAULTS.stall_seconds:g})")
    group.add_argument("--connect-timeout", type=seconds, default=None, metavar="S",
                       help=f"seconds to wait for a connection (default: conda's "
                            f"remote_connect_timeout_secs, {_DEFAULTS.connect_timeout:g})")


FILL_HELP = "package cache to fill (default: conda's first writable pkgs_dirs)"


def add_fetch(parser: argparse.ArgumentParser, platform: bool = True,
              cache_help: str = FILL_HELP) -> None:
    """Every option of a command that fetches into a package cache."""
    add_cache(parser, cache_help)
    add_network(parser)
    if platform:
        add_platform(parser)
    add_engine(parser)
    add_mirrors(parser)
    add_output(parser)


def engine_options(args: argparse.Namespace, connect_timeout: float) -> Options:
    """The engine's options from the ``how`` group (``connect_timeout`` when not given)."""
    return Options(
        files=args.files,
        split=args.split,
        connections=max(args.connections, args.files),
        per_host=args.per_host,
        far=args.in_flight or (args.per_host if _chosen(args) else _DEFAULTS.far),
        quick=args.files if _chosen(args) else _DEFAULTS.quick,
        min_split=args.min_split,
        retries=args.retries,
        stall_seconds=args.stall_timeout,
        connect_timeout=args.connect_timeout or connect_timeout,
    )


def _chosen(args: argparse.Namespace) -> bool:
    """Whether the user chose how many files or connections: those are then kept as given
    (no growth on a far link past ``--per-host``, no fewer files on a quick one)."""
    return (args.files, args.connections, args.per_host) != (
        _DEFAULTS.files, _DEFAULTS.connections, _DEFAULTS.per_host)


def positive(text: str) -> int:
    """A whole number of at least 1."""
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def count(text: str) -> int:
    """A whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def seconds(text: str) -> float:
    """A positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def size(text: str) -> int:
    """A size such as ``4M`` or ``512k``."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
