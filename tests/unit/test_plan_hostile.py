"""Plan readers against hostile and broken input: bounded, one line, exit 2, never a traceback."""

from __future__ import annotations

import io
import json

import pytest

from conda_fetch.errors import InputError
from conda_fetch.plan import MAX_PLAN_BYTES, read_plan, records_from_text

CF = "https://conda.anaconda.org/conda-forge"
SHA = "a" * 64


def _dry_run(subdir: str, fn: str = "zlib-1.3.1-h1234_0.conda") -> str:
    return json.dumps({"success": True, "actions": {"FETCH": [
        {"url": f"{CF}/{subdir}/{fn}", "fn": fn, "sha256": SHA, "size": 10, "subdir": subdir}]}})


def _refused(text: str, match: str, **kwargs: object) -> str:
    with pytest.raises(InputError, match=match) as info:
        records_from_text(text, "plan", **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("text", ["", "\n\n  \n", "\ufeff", "# only a comment\n"])
def test_empty_or_blank_plans_are_bad_input(text: str) -> None:
    _refused(text, "empty plan")


@pytest.mark.parametrize("text", ['{"foo": 1}', '{"actions": []}', '[1, 2]',
                                  '{"actions": {"FETCH": {}}}'])
def test_json_that_holds_no_plan_is_bad_input(text: str) -> None:
    _refused(text, "plan")


def test_conda_saying_all_is_installed_is_nothing_to_fetch() -> None:
    text = '{"message": "All requested packages already installed.", "success": true}'
    assert records_from_text(text, "plan") == []


def test_a_bom_is_accepted(tmp_path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"\xef\xbb\xbf" + _dry_run("noarch").encode())
    assert [r.fn for r in read_plan(str(path))] == ["zlib-1.3.1-h1234_0.conda"]


def test_yaml_aliases_are_refused_before_they_expand() -> None:
    bomb = "version: 1\na: &a [x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [{', '.join(['*' + previous] * 9)}]\n"
    bomb += "package: [*j, *j]\n"
    assert len(bomb) < 1000
    _refused(bomb, r"plan:3: YAML aliases are not accepted")


@pytest.mark.parametrize("text", ['{"actions": ' * 50_000, "[" * 50_000 + "]" * 50_000,
                                  "version: 1\npackage: " + "[" * 3_000])
def test_deep_nesting_is_bad_input(text: str) -> None:
    _refused(text, "nested too deeply|not a plan")


@pytest.mark.parametrize("text", [
    "version: 1\npackage:\n? name: zlib\n  url: x\n",  # a mapping as a key (found by fuzzing)
    "version: 1\npackage:\n- url: {a: 1}\n  platform: linux-64\n",
    "version: 1\npackage:\n" + "  " * 200 + "- x\n",
])
def test_yaml_the_parser_chokes_on_is_bad_input(text: str) -> None:
    _refused(text, "plan")


def test_a_plan_larger_than_any_real_one_is_refused_unread(tmp_path) -> None:
    path = tmp_path / "huge.txt"
    with open(path, "wb") as stream:
        stream.truncate(MAX_PLAN_BYTES + 1)
    with pytest.raises(InputError, match="larger than"):
        read_plan(str(path))
    with pytest.raises(InputError, match="larger than"):
        read_plan("-", stdin=io.StringIO("x" * (MAX_PLAN_BYTES + 1)))


def test_text_that_is_no_plan_is_refused_on_its_first_line() -> None:
    message = _refused("hello\n" + "x" * 1000 + "\n", "not a plan")
    assert message.startswith("plan:1:")


def test_fn_that_differs_from_the_url_is_refused_naming_the_record() -> None:
    text = json.dumps({"actions": {"FETCH": [{"url": f"{CF}/noarch/a-1-0.conda", "fn": "urls.txt",
                                               "sha256": SHA, "size": 3}]}})
    assert _refused(text, "not the URL's file name").startswith("plan: actions.FETCH[0]")


@pytest.mark.parametrize("text", [
    _dry_run("osx-arm64"),
    f"# platform: osx-arm64\n@EXPLICIT\n{CF}/noarch/six-1.16.0-py_0.tar.bz2\n",
    f"{CF}/win-64/zlib-1.3.1-h1234_0.conda\n",
])
def test_a_plan_for_another_platform_needs_platform(text: str, monkeypatch) -> None:
    monkeypatch.delenv("CONDA_SUBDIR", raising=False)
    message = _refused(text, "use --platform", platform="linux-64")
    assert "the target is linux-64" in message


def test_platform_or_conda_subdir_accept_another_platform(monkeypatch) -> None:
    assert records_from_text(_dry_run("osx-arm64"), "plan", platform="osx-arm64")
    monkeypatch.setenv("CONDA_SUBDIR", "osx-arm64")
    assert records_from_text(_dry_run("osx-arm64"), "plan")
    assert records_from_text(_dry_run("noarch"), "plan")


def test_folders_that_are_no_platform_do_not_count() -> None:
    assert records_from_text("https://files.example/pkgs/a-1-0.conda\n", "plan",
                             platform="linux-64")
