"""An index is decompressed into a file created afresh: a link planted at its name is
replaced, never written through."""

from __future__ import annotations

import json

import pytest

from conda_fetch.index.verify import verified_json

zstd = pytest.importorskip("backports.zstd", reason="no zstd module to compress an index with")


def test_a_link_planted_where_the_index_is_decompressed_is_not_followed(tmp_path) -> None:
    index = json.dumps({"info": {"subdir": "linux-64"}, "packages": {}}).encode()
    part = tmp_path / "repodata.json.zst.part"
    part.write_bytes(zstd.compress(index))
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "repodata.verified.json"
    out.symlink_to(victim)
    verified_json(part, True, "linux-64", out)
    assert victim.read_text() == "precious"
    assert not out.is_symlink() and out.read_bytes() == index
