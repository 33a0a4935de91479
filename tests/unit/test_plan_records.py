"""Records: the cache name comes from the URL and is a sane package file name."""

from __future__ import annotations

import pytest

from conda_fetch.errors import InputError
from conda_fetch.plan.records import is_package_fn, make_record, subdir_of

CF = "https://conda.anaconda.org/conda-forge"


@pytest.mark.parametrize("fn", ["urls.txt", "cache", "zlib-1.3.1-h1234_0.conda.partial",
                                "other-1.0-0.conda", ".conda-fetch", "..", "a\\b-1-0.conda"])
def test_fn_that_is_not_the_urls_basename_is_refused(fn: str) -> None:
    with pytest.raises(InputError, match="not the URL's file name"):
        make_record(f"{CF}/linux-64/zlib-1.3.1-h1234_0.conda", fn)


def test_fn_equal_to_the_basename_is_accepted() -> None:
    record = make_record(f"{CF}/linux-64/zlib-1.3.1-h1234_0.conda", "zlib-1.3.1-h1234_0.conda")
    assert record.fn == "zlib-1.3.1-h1234_0.conda"
    assert subdir_of(record.url) == "linux-64"


@pytest.mark.parametrize("name", [
    "urls.txt", "cache", "x.conda", "-1-0.conda", ".hidden-1-0.conda", "a-1-0.zip",
    "a..b-1-0.conda", "a%00b-1-0.conda", "a%5Cb-1-0.conda", "a%0Ab-1-0.conda", "a%2Fb-1-0.conda",
    "a%20b-1-0.conda", "a:b-1-0.conda", "a" * 300 + "-1-0.conda",
])
def test_urls_whose_basename_is_no_package_file_name_are_refused(name: str) -> None:
    with pytest.raises(InputError):
        make_record(f"{CF}/noarch/{name}")


@pytest.mark.parametrize("url", [
    f"{CF}/noarch/a-1-0.conda\n  out=../../evil", f"{CF}/noarch/a b-1-0.conda",
    f"{CF}/noarch/a-1-0.conda\t--dir=/", f"{CF}/noarch/a-1-0.conda\x00", "ftp://h/noarch/a-1-0.conda",
    "https:///noarch/a-1-0.conda", f"{CF}/noarch/a-1-0.conda#frag", "https://h/" + "x/" * 3000,
    "https://h:99999/noarch/a-1-0.conda", "http://[::1/noarch/a-1-0.conda",
])
def test_urls_that_could_inject_or_are_not_package_urls_are_refused(url: str) -> None:
    with pytest.raises(InputError):
        make_record(url)


@pytest.mark.parametrize(("field", "value"), [
    ("size", 1.5), ("size", [1]), ("size", True), ("size", -1), ("size", "12x"),
    ("sha256", 5), ("sha256", "z" * 64), ("md5", {"a": 1}), ("fn", ["x"]),
])
def test_wrong_types_are_input_errors(field: str, value: object) -> None:
    with pytest.raises(InputError):
        make_record(f"{CF}/noarch/a-1-0.conda", **{field: value})


def test_real_names_pass() -> None:
    for fn in ("python_abi-3.12-5_cp312.conda", "libgcc-ng-13.2.0-h77fa898_7.conda",
               "_libgcc_mutex-0.1-conda_forge.tar.bz2", "pytorch-2.1.0-py3.11_cuda12.1_0.tar.bz2",
               "ca-certificates-2024.2.2-hbcca054_0.conda", "x-1!2.0-0.conda"):
        assert is_package_fn(fn), fn
    assert make_record(f"{CF}/noarch/a%2Bb-1-0.conda").fn == "a+b-1-0.conda"
