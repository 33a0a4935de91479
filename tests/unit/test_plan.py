"""Plan readers: every format, detection by content, and one-line errors naming file and line."""

from __future__ import annotations

import io
import json

import pytest

from conda_fetch.errors import InputError
from conda_fetch.plan import current_subdir, read_plan, records_from_args, records_from_text

SHA = "a" * 64
MD5 = "b" * 32
CF = "https://conda.anaconda.org/conda-forge"

DRY_RUN = {
    "actions": {
        "FETCH": [
            {"build": "h1234_0", "channel": "conda-forge", "depends": ["libzlib >=1.3"],
             "fn": "zlib-1.3.1-h1234_0.conda", "md5": MD5, "name": "zlib", "sha256": SHA,
             "size": 92000, "subdir": "linux-64", "url": f"{CF}/linux-64/zlib-1.3.1-h1234_0.conda",
             "version": "1.3.1"},
            {"build": "pyhd8ed1ab_0", "channel": "conda-forge", "depends": [],
             "fn": "six-1.16.0-pyhd8ed1ab_0.tar.bz2", "md5": "c" * 32, "name": "six",
             "size": 14000, "subdir": "noarch",
             "url": f"{CF}/noarch/six-1.16.0-pyhd8ed1ab_0.tar.bz2", "version": "1.16.0"},
        ],
        "LINK": [],
        "PREFIX": "/opt/env",
    },
    "dry_run": True,
    "prefix": "/opt/env",
    "success": True,
}

EXPLICIT = f"""# This file may be used to create an environment using:
# $ conda create --name <env> --file <this file>
# platform: linux-64
@EXPLICIT
{CF}/linux-64/zlib-1.3.1-h1234_0.conda#{MD5}
{CF}/noarch/six-1.16.0-pyhd8ed1ab_0.tar.bz2#sha256:{SHA}
"""

LOCK = f"""version: 1
metadata:
  platforms: [linux-64, osx-arm64]
package:
- name: zlib
  version: 1.3.1
  manager: conda
  platform: linux-64
  url: {CF}/linux-64/zlib-1.3.1-h1234_0.conda
  hash:
    md5: {MD5}
    sha256: {SHA}
  category: main
  optional: false
- name: zlib
  version: 1.3.1
  manager: conda
  platform: osx-arm64
  url: {CF}/osx-arm64/zlib-1.3.1-h5678_0.conda
  hash:
    md5: {MD5}
    sha256: {SHA}
- name: requests
  version: 2.0.0
  manager: pip
  platform: linux-64
  url: https://files.example/requests-2.0.0-py3-none-any.whl
  hash:
    sha256: {SHA}
"""


def test_dry_run_json_with_noise_before_it() -> None:
    text = "==> WARNING: A newer version of conda exists. <==\n" + json.dumps(DRY_RUN, indent=2)
    records = records_from_text(text, "plan.json")
    assert [r.fn for r in records] == [
        "zlib-1.3.1-h1234_0.conda", "six-1.16.0-pyhd8ed1ab_0.tar.bz2"]
    assert records[0].size == 92000 and records[0].sha256 == SHA and records[0].md5 == MD5


def test_dry_run_error_report_is_quoted() -> None:
    error = {"success": False, "exception_name": "PackagesNotFoundError",
             "message": "The following packages are not available:\n  - nope"}
    with pytest.raises(InputError, match="PackagesNotFoundError: The following packages"):
        records_from_text(json.dumps(error), "plan.json")


def test_dry_run_with_nothing_to_fetch() -> None:
    assert records_from_text(json.dumps({"success": True, "actions": {}}), "p") == []


def test_explicit_md5_and_sha256() -> None:
    records = records_from_text(EXPLICIT, "env.txt")
    assert records[0].md5 == MD5 and records[0].sha256 is None
    assert records[1].sha256 == SHA


def test_lockfile_takes_one_platform_and_skips_pip() -> None:
    records = records_from_text(LOCK, "conda-lock.yml", platform="linux-64")
    assert [r.fn for r in records] == ["zlib-1.3.1-h1234_0.conda"]
    other = records_from_text(LOCK, "conda-lock.yml", platform="osx-arm64")
    assert other[0].url.endswith("h5678_0.conda")


def test_lockfile_without_the_platform_names_those_it_has() -> None:
    with pytest.raises(InputError, match="linux-64, osx-arm64"):
        records_from_text(LOCK, "conda-lock.yml", platform="win-64")


def test_url_list() -> None:
    text = f"# packages\n\n{CF}/noarch/a-1-0.conda\n{CF}/noarch/b-1-0.tar.bz2\n"
    assert [r.fn for r in records_from_text(text, "urls.txt")] == ["a-1-0.conda", "b-1-0.tar.bz2"]


def test_detection_ignores_the_file_name(tmp_path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(EXPLICIT)
    assert len(read_plan(str(path))) == 2


def test_stdin() -> None:
    records = read_plan("-", stdin=io.StringIO(json.dumps(DRY_RUN)))
    assert len(records) == 2


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (f"@EXPLICIT\n{CF}/noarch/a-1-0.conda\nnot-a-url\n", "bad.txt:3:"),
        (f"{CF}/noarch/a-1-0.conda#sha256:1234\n@EXPLICIT\n", "bad.txt:1:"),
        (f"@EXPLICIT\n{CF}/noarch/a-1-0.conda#sha256:xyz\n", "bad.txt:2:"),
        ('{"actions": {"FETCH": [\n  {"url": }\n]}}', "bad.txt:2:"),
        ('{"actions": {"FETCH": [{"fn": "x.conda"}]}}', "bad.txt: actions.FETCH[0]"),
        (f"{CF}/noarch/a-1-0.conda\n{CF}/noarch/readme.txt\n", "bad.txt:2:"),
        ("version: 2\npackage: []\n", "bad.txt:"),
        ("version: 1\npackage:\n- url: https://x/noarch/a-1-0.conda\n  platform: linux-64\n"
         "- url: https://x/noarch/b-1-0.conda\n  platform: linux-64\n  hash: {md5: nope}\n",
         "bad.txt:5: package[1]"),
        ("package: [\n", "bad.txt:"),
    ],
)
def test_malformed_input_one_line_naming_file_and_line(tmp_path, text: str, where: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_plan(str(path))
    message = str(info.value).replace(str(tmp_path) + "/", "")
    assert message.startswith(where)
    assert "\n" not in message


def test_missing_and_binary_files(tmp_path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_plan(str(tmp_path / "nope.txt"))
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputError, match="not a text plan"):
        read_plan(str(binary))


def test_args_mix_urls_and_plans_and_deduplicate(tmp_path) -> None:
    path = tmp_path / "env.txt"
    path.write_text(EXPLICIT)
    url = f"{CF}/linux-64/zlib-1.3.1-h1234_0.conda"
    records = records_from_args([url, str(path)])
    assert len(records) == 2
    assert records[0].url == url and records[0].md5 == MD5  # merged facts


def test_conflicting_records_for_one_file_name(tmp_path) -> None:
    a = f"@EXPLICIT\nhttps://one/noarch/x-1-0.conda#sha256:{SHA}\n"
    b = f"@EXPLICIT\nhttps://two/noarch/x-1-0.conda#sha256:{'f' * 64}\n"
    (tmp_path / "a.txt").write_text(a)
    (tmp_path / "b.txt").write_text(b)
    with pytest.raises(InputError, match=r"https://one/.* and https://two/"):
        records_from_args([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])


def test_current_subdir_shape() -> None:
    system, arch = current_subdir().split("-")
    assert system in ("linux", "osx", "win") and arch
