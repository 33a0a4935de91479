"""``conda-fetch config``: where conda-fetch's settings file is, what it holds, and setting it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from conda_fetch.cli.context import Context
from conda_fetch.cli.options import add_output, command
from conda_fetch.config import condarc, own
from conda_fetch.errors import InputError
from conda_fetch.sources import mirrors as mirrormap

KEYS = {
    "presets": "built-in mirror sets used on every run: NAME ... (none: stop using them)",
    "mirrors": "mirrors of a channel: CHANNEL URL ... (no URL: forget the channel's)",
}


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = command(
        commands, "config",
        "Shows where conda-fetch keeps its settings and what the file holds, prints its "
        "path, or sets a value. Every command reads it; 'mirrors --save' writes it too. "
        f"Keys: {'; '.join(f'{k}: {v}' for k, v in KEYS.items())}. conda's own "
        "mirrored_channels (.condarc, .mambarc) and pixi's [mirrors] are read as well.",
        ["{prog} config                       # where the file is, and what it holds",
         "{prog} config path",
         "{prog} config set presets tuna",
         "{prog} config set mirrors conda-forge https://mirrors.bfsu.edu.cn/anaconda/cloud/conda-forge",
         "{prog} config set presets           # stop using presets"],
    )
    parser.add_argument("action", nargs="?", choices=("show", "path", "set"), default="show",
                        help="show (default): the file's place and content; path: only the "
                             "place; set KEY VALUE ...: change a key")
    parser.add_argument("values", nargs="*", metavar="KEY VALUE",
                        help=f"with set: one of {', '.join(KEYS)}, then its values")
    add_output(parser, json=False)


def run(args: argparse.Namespace) -> int:
    path = own.config_path()
    if args.action == "path":
        print(path)
        return 0
    if args.action == "set":
        key, *values = args.values or [""]
        own.update(lambda data: _set(data, key, values))
    elif args.values:
        raise InputError(f"config {args.action} takes no values (did you mean 'config set'?)")
    out = Context(args).console
    exists = path.is_file()
    out.print(f"conda-fetch settings: {path}" + ("" if exists else " (not created yet)"),
              highlight=False)
    if exists:
        sys.stdout.write(path.read_text(encoding="utf-8"))
    return 0


def _set(data: dict[str, Any], key: str, values: list[str]) -> None:
    if key == "presets":
        for name in values:
            mirrormap.preset(name)  # an unknown name is an error
        _put(data, "presets", values)
    elif key == "mirrors":
        if not values:
            raise InputError("config set mirrors CHANNEL URL ...: name the channel")
        channel, *urls = values
        if any("://" not in url for url in urls):
            raise InputError(f"config set mirrors {channel}: mirrors are URLs, got {urls}")
        if "://" not in channel:
            channel = f"{condarc.channel_alias(condarc.load_condarc())}/{channel}"
        table = dict(data.get("mirrors") or {})
        _put(table, channel.rstrip("/"), [u.rstrip("/") for u in urls])
        _put(data, "mirrors", table)
    else:
        raise InputError(f"config set: unknown key {key!r} (known: {', '.join(KEYS)})")


def _put(data: dict[str, Any], key: str, value: Any) -> None:
    if value:
        data[key] = value
    else:
        data.pop(key, None)
