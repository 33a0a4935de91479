"""Bundles from strangers: members checked against the manifest while extracted, malformed
manifests refused in one line, and nothing usable means no install command."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from conda_fetch.cli import main
from conda_fetch.testing.packages import build_package

URL = "https://conda.example/chan/noarch"


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return build_package(tmp_path_factory.mktemp("built"), "alpha", payload=40_000)


def _entry(package, **overrides: object) -> dict:  # type: ignore[no-untyped-def]
    return {"url": f"{URL}/{package.fn}", "fn": package.fn, "size": package.size,
            "sha256": package.sha256, "md5": package.md5, **overrides}


def _tar(path: Path, manifest: object, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in [("manifest.json", json.dumps(manifest).encode()), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _manifest(*entries: dict) -> dict:
    return {"format": "conda-fetch-bundle", "version": 1, "records": list(entries)}


def _import(tmp_path: Path, bundle: Path, capsys) -> tuple[int, str, Path]:
    pkgs = tmp_path / "pkgs"
    code = main(["import", str(bundle), "--pkgs-dir", str(pkgs)])
    return code, capsys.readouterr().err, pkgs


@pytest.mark.parametrize("manifest", [
    [], {"format": "conda-fetch-bundle", "version": 1, "records": "x"},
    {"format": "conda-fetch-bundle", "version": 1, "records": [1]},
    {"format": "conda-fetch-bundle", "version": 1, "records": []},
    {"format": "conda-fetch-bundle", "version": 1, "records": [{"url": 5}]},
    {"format": "conda-fetch-bundle", "version": "1", "records": []},
])
def test_malformed_manifests_are_one_line_exit_2(tmp_path, capsys, manifest) -> None:
    code, err, pkgs = _import(tmp_path, _tar(tmp_path / "b.tar", manifest, {}), capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not any(p.name.endswith(".conda") for p in pkgs.glob("*"))


def test_a_manifest_naming_another_file_than_its_url_is_refused(tmp_path, capsys, package) -> None:
    bundle = _tar(tmp_path / "b.tar", _manifest(_entry(package, fn="urls.txt")),
                  {"pkgs/urls.txt": package.path.read_bytes()})
    code, err, pkgs = _import(tmp_path, bundle, capsys)
    assert code == 2 and "manifest record 0" in err
    assert not (pkgs / "urls.txt").exists() or (pkgs / "urls.txt").read_bytes() == b""


def test_a_member_larger_than_the_manifest_says_is_not_written(tmp_path, capsys, package) -> None:
    data = package.path.read_bytes() + b"\0" * (1 << 20)
    bundle = _tar(tmp_path / "b.tar", _manifest(_entry(package)), {f"pkgs/{package.fn}": data})
    code, err, pkgs = _import(tmp_path, bundle, capsys)
    assert code == 2 and "the manifest says" in err
    assert not (pkgs / package.fn).exists()
    assert [p for p in (pkgs / ".conda-fetch").rglob("*") if p.is_file()] == []


def test_a_bundle_with_none_of_its_packages_prints_no_install_command(tmp_path, capsys,
                                                                      package) -> None:
    bundle = _tar(tmp_path / "b.tar", _manifest(_entry(package)), {"pkgs/other.bin": b"x"})
    code, err, _ = _import(tmp_path, bundle, capsys)
    assert code == 2 and "conda create" not in err
    assert not (tmp_path / "b.explicit.txt").exists()


def test_a_compressed_bundle_is_not_decompressed(tmp_path, capsys, package) -> None:
    plain = _tar(tmp_path / "plain.tar", _manifest(_entry(package)),
                 {f"pkgs/{package.fn}": package.path.read_bytes()})
    bomb = tmp_path / "b.tar"
    bomb.write_bytes(gzip.compress(plain.read_bytes()))
    code, err, pkgs = _import(tmp_path, bomb, capsys)
    assert code == 1 and "conda create" not in err
    assert not (pkgs / package.fn).exists()


def test_a_good_bundle_is_adopted_and_unlisted_members_ignored(tmp_path, capsys, package) -> None:
    bundle = _tar(tmp_path / "b.tar", _manifest(_entry(package)),
                  {f"pkgs/{package.fn}": package.path.read_bytes(), "pkgs/evil.sh": b"rm -rf ~",
                   "../escape.conda": b"x"})
    code, err, pkgs = _import(tmp_path, bundle, capsys)
    assert code == 0 and "conda create" in err
    assert (pkgs / package.fn).read_bytes() == package.path.read_bytes()
    assert not (pkgs / "evil.sh").exists() and not (tmp_path / "escape.conda").exists()
