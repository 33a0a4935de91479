"""Every command's help: examples, every argument explained, nothing shown that means nothing."""

from __future__ import annotations

import argparse

import pytest

from conda_fetch.cli import COMMANDS, build_parser, main
from conda_fetch.cli.options import engine_options
from conda_fetch.engine import Options


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_examples_and_explains_every_argument(name) -> None:
    sub = _subparsers(build_parser())[name]
    text = sub.format_help()
    assert "examples:\n  conda-fetch " in text or "examples:\n  conda " in text
    undocumented = [a.dest for a in sub._actions if not a.help or a.help == argparse.SUPPRESS]
    assert undocumented == []


@pytest.mark.parametrize("name", ["run", "demo"])
def test_platform_only_where_it_means_something(name) -> None:
    assert "--platform" not in _subparsers(build_parser())[name].format_help()


def test_the_plugin_names_itself_in_examples() -> None:
    text = _subparsers(build_parser("conda fetch"))["get"].format_help()
    assert "conda fetch get plan.json" in text and "conda-fetch get" not in text


def test_demo_cache_default_says_temporary() -> None:
    text = " ".join(_subparsers(build_parser())["demo"].format_help().split())
    assert "default: a temporary one" in text


@pytest.mark.parametrize("argv, expected", [
    (["help"], "conda plugin"),
    (["help", "export"], "--format aria2"),
])
def test_help_command(capsys, argv, expected) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert expected in out and "README" in out if argv == ["help"] else expected in out


def test_growth_on_a_far_link_is_the_default_and_ends_where_the_user_chose_counts() -> None:
    parser = build_parser()

    def far(*flags: str) -> int:
        return engine_options(parser.parse_args(["get", "plan.txt", *flags]), 9.0).far

    assert far() == Options().far
    assert far("-j", "4") == far("--connections", "8") == 16  # per_host: no growth
    assert far("--per-host", "4") == 4
    assert far("--in-flight", "32") == far("-j", "4", "--in-flight", "32") == 32


def test_fewer_files_from_quick_hosts_is_the_default_and_a_chosen_count_is_kept() -> None:
    parser = build_parser()

    def quick(*flags: str) -> int:
        return engine_options(parser.parse_args(["get", "plan.txt", *flags]), 9.0).quick

    assert quick() == Options().quick < Options().files
    assert quick("-j", "12") == 12
    assert quick("--connections", "20") == Options().files
