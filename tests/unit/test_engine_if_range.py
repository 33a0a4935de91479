"""The engine's reading of answers to ``If-Range``: which name another version of a file."""

from __future__ import annotations

import pytest

from conda_fetch.engine.download import part_identity
from conda_fetch.engine.job import Job
from conda_fetch.engine.transfer import _changed

ETAG = '"abc-1"'
DATE = "Wed, 25 Nov 2026 16:41:41 GMT"


@pytest.mark.parametrize(("validator", "status", "headers", "changed"), [
    (None, 200, {"ETag": '"other"'}, False),          # no validator: nothing to compare
    (ETAG, 206, {"ETag": ETAG}, False),               # the range of the same version
    (ETAG, 206, {}, False),                           # a 206 to If-Range is that version
    (ETAG, 206, {"ETag": '"other"'}, True),           # a server that ignores If-Range
    (ETAG, 200, {"ETag": '"other"'}, True),           # the file changed
    (ETAG, 200, {}, True),                            # a 200 naming no version
    (ETAG, 200, {"ETag": ETAG}, False),               # a server without ranges, same file
    (DATE, 200, {"Last-Modified": DATE}, False),
    (DATE, 200, {"Last-Modified": "Thu, 26 Nov 2026 08:00:00 GMT"}, True),
    (ETAG, 503, {}, False),                           # not an answer about the file
])
def test_changed(validator, status, headers, changed) -> None:
    assert _changed(validator, status, headers) is changed


def test_the_validator_is_part_of_the_part_files_identity(tmp_path) -> None:
    old = Job("repodata.json", ["http://h/x/repodata.json"], tmp_path / "p", validator=ETAG)
    new = Job("repodata.json", ["http://h/x/repodata.json"], tmp_path / "p", validator='"2"')
    assert part_identity(old) != part_identity(new)
    package = Job("a.conda", ["http://h/a.conda"], tmp_path / "a", size=3, sha256="0" * 64)
    assert "validator" not in part_identity(package)


def test_resume_state_names_no_url_with_credentials(tmp_path) -> None:
    secret = "https://carol:pa@ss-SECRET@h.example/t/tk-SECRET/ch/noarch/x-1-0.conda"
    identity = part_identity(Job("x-1-0.conda", [secret], tmp_path / "x.part"))
    assert "SECRET" not in str(identity)
    assert identity != part_identity(Job("x-1-0.conda", [secret + "?"], tmp_path / "x.part"))
