"""An archive's info/index.json is read only if it is small: a few KB of .conda may claim
to inflate to gigabytes."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import pytest

from conda_fetch.offline.archive import MAX_INDEX, ArchiveError, read_identity

zstd = pytest.importorskip("backports.zstd", reason="no zstd module to build a .conda with")


def _conda(path, index: bytes):  # type: ignore[no-untyped-def]
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("info/index.json")
        info.size = len(index)
        tar.addfile(info, io.BytesIO(index))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        archive.writestr("info-x-1.0-0.tar.zst", zstd.compress(tar_bytes.getvalue()))
        archive.writestr("pkg-x-1.0-0.tar.zst", zstd.compress(b""))
    return path


def test_an_index_over_the_cap_is_refused_unread(tmp_path) -> None:
    path = _conda(tmp_path / "x-1.0-0.conda", b"{" + b" " * MAX_INDEX + b"}")
    assert path.stat().st_size < 10_000  # compresses to almost nothing
    with pytest.raises(ArchiveError, match="not a small regular file"):
        read_identity(path)


@pytest.mark.parametrize("index", [b"[1, 2]", b'"x"', b"{", b'{"name": "x"}'])
def test_an_index_that_is_no_package_description_is_an_archive_error(tmp_path, index) -> None:
    with pytest.raises(ArchiveError):
        read_identity(_conda(tmp_path / "x-1.0-0.conda", index))


def test_a_real_index_is_read(tmp_path) -> None:
    index = {"name": "x", "version": "1.0", "build": "0", "subdir": "noarch"}
    identity = read_identity(_conda(tmp_path / "x-1.0-0.conda", json.dumps(index).encode()))
    assert identity.fn == "x-1.0-0.conda" and identity.subdir == "noarch"
