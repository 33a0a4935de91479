"""Export what a plan lacks, fetch it elsewhere (aria2c), bundle a plan, import the bundle."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile

import pytest

from conda_fetch.cache.urls import append_url, read_urls
from conda_fetch.cli import main
from conda_fetch.hashing import file_digest
from conda_fetch.offline.export import as_aria2, as_explicit, as_explicit_md5, as_sha256, as_urls
from conda_fetch.plan.records import make_record
from conda_fetch.testing.faultserver import Faults
from conda_fetch.testing.packages import build_package
from support.channel import build_channel, plan_from_repodata

SHA = "a" * 64
MD5 = "b" * 32


def test_formats_exactly() -> None:
    records = [make_record("https://c/noarch/a-1-0.conda", size=10, sha256=SHA),
               make_record("https://c/noarch/b-1-0.tar.bz2", md5=MD5)]
    mirrors = {"https://c": ["https://m1", "https://m2"]}
    assert as_urls(records, mirrors) == "https://c/noarch/a-1-0.conda\nhttps://c/noarch/b-1-0.tar.bz2\n"
    each = ("  continue=true\n  max-tries=0\n  retry-wait=10\n  auto-file-renaming=false\n"
            "  allow-overwrite=false\n  file-allocation=none\n")
    assert as_aria2(records, mirrors) == (
        "https://c/noarch/a-1-0.conda\thttps://m1/noarch/a-1-0.conda\thttps://m2/noarch/a-1-0.conda\n"
        f"  out=a-1-0.conda\n  checksum=sha-256={SHA}\n{each}"
        "https://c/noarch/b-1-0.tar.bz2\thttps://m1/noarch/b-1-0.tar.bz2\t"
        "https://m2/noarch/b-1-0.tar.bz2\n"
        f"  out=b-1-0.tar.bz2\n  checksum=md5={MD5}\n{each}"
        "  split=8\n  max-connection-per-server=4\n  min-split-size=4M\n")  # size unknown
    assert as_explicit(records, {}) == (f"@EXPLICIT\nhttps://c/noarch/a-1-0.conda#sha256:{SHA}\n"
                                        f"https://c/noarch/b-1-0.tar.bz2#{MD5}\n")
    both = [make_record("https://c/noarch/a-1-0.conda", sha256=SHA, md5=MD5), records[0]]
    assert as_explicit_md5(both, {}) == (f"@EXPLICIT\nhttps://c/noarch/a-1-0.conda#{MD5}\n"
                                         f"https://c/noarch/a-1-0.conda#sha256:{SHA}\n")
    assert as_sha256(records, {}) == f"{SHA}  a-1-0.conda\n# no sha256 known: b-1-0.tar.bz2\n"


@pytest.fixture(scope="module")
def noarch_channel(tmp_path_factory):
    """Three noarch packages, one of them ``.tar.bz2``; tests only read it."""
    built = tmp_path_factory.mktemp("built")
    packages = [build_package(built, "alpha", payload=100_000),
                build_package(built, "beta", payload=300_000, ext=".tar.bz2"),
                build_package(built, "gamma", payload=2_000_000)]
    return build_channel(tmp_path_factory.mktemp("channel"), packages), packages


def _plan(tmp_path, root, url: str):
    records = plan_from_repodata(root, url, "noarch")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"actions": {"FETCH": records}}))
    return records, plan


def test_export_leaves_out_what_is_cached_and_aria2c_fetches_the_rest(
    tmp_path, noarch_channel, fault_server, capsys
) -> None:
    root, packages = noarch_channel
    server = fault_server(root)
    _, plan = _plan(tmp_path, root, server.url)
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    shutil.copy(packages[0].path, pkgs / packages[0].fn)
    append_url(pkgs, f"{server.url}/noarch/{packages[0].fn}")
    listing = tmp_path / "aria2.txt"
    assert main(["export", str(plan), "--format", "aria2", "-o", str(listing),
                 "--pkgs-dir", str(pkgs)]) == 0
    err = capsys.readouterr().err
    assert "2 packages to fetch" in err and "1 already in" in err
    text = listing.read_text()
    assert packages[0].fn not in text and packages[2].fn in text
    if not shutil.which("aria2c"):
        pytest.skip("aria2c is not installed (apt-get install aria2): fetch step not run")
    elsewhere = tmp_path / "elsewhere"
    subprocess.run(["aria2c", "-q", "-i", str(listing), "-d", str(elsewhere)], check=True)
    for package in packages[1:]:
        assert file_digest(elsewhere / package.fn, "sha256") == package.sha256
    assert main(["import", str(elsewhere), "--plan", str(plan), "--pkgs-dir", str(pkgs),
                 "-q"]) == 0
    assert set(read_urls(pkgs)) == {p.fn for p in packages}


def test_bundle_then_import_on_another_cache(
    tmp_path, noarch_channel, fault_server, capsys
) -> None:
    root, packages = noarch_channel
    server = fault_server(root)
    records, plan = _plan(tmp_path, root, server.url)
    first = tmp_path / "online-pkgs"
    first.mkdir()
    shutil.copy(packages[1].path, first / packages[1].fn)  # cached but unregistered: verified
    bundle = tmp_path / "env.tar"
    assert main(["bundle", str(plan), "-o", str(bundle), "--pkgs-dir", str(first), "-q"]) == 0
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert names[0] == "manifest.json"
    assert sorted(names[1:]) == sorted(f"pkgs/{p.fn}" for p in packages)
    assert not (tmp_path / "env.tar.tmp").exists()

    offline = tmp_path / "offline-pkgs"
    assert main(["import", str(bundle), "--pkgs-dir", str(offline)]) == 0
    err = capsys.readouterr().err
    explicit = tmp_path / "env.explicit.txt"
    assert f'conda create -n ENV --offline --file "{explicit}"' in err
    lines = explicit.read_text().splitlines()  # md5 first: every conda release reads it
    assert lines[0] == "@EXPLICIT"
    assert sorted(lines[1:]) == sorted(f"{r['url']}#{r['md5']}" for r in records)
    urls = read_urls(offline)
    for record in records:
        assert file_digest(offline / record["fn"], "sha256") == record["sha256"]
        assert urls[record["fn"]] == record["url"]
    assert not list((offline / ".conda-fetch").glob("bundle-*"))


def test_bundle_never_packs_a_corrupt_cached_file(tmp_path, noarch_channel, fault_server) -> None:
    root, packages = noarch_channel
    server = fault_server(root)
    _, plan = _plan(tmp_path, root, server.url)
    pkgs = tmp_path / "pkgs"
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), "-q"]) == 0
    damaged = pkgs / packages[2].fn
    data = bytearray(damaged.read_bytes())
    data[-10] ^= 0xFF
    damaged.write_bytes(data)
    bundle = tmp_path / "env.tar"
    assert main(["bundle", str(plan), "-o", str(bundle), "--pkgs-dir", str(pkgs), "-q"]) == 0
    with tarfile.open(bundle) as tar:  # the damaged file was fetched again, not bundled
        member = tar.extractfile(f"pkgs/{packages[2].fn}")
        assert member is not None and member.read() == packages[2].path.read_bytes()
    damaged.write_bytes(data)
    server.close()  # and when it cannot be fetched again, nothing is written
    bundle.unlink()
    args = ["bundle", str(plan), "-o", str(bundle), "--pkgs-dir", str(pkgs), "-q",
            "--retries", "1"]
    assert main(args) == 1
    assert not bundle.exists() and not (tmp_path / "env.tar.tmp").exists()


@pytest.mark.parametrize("keep", [False, True])
def test_export_leaves_tokens_and_passwords_out_unless_asked(tmp_path, capsys, keep) -> None:
    plan = tmp_path / "env.txt"
    plan.write_text("@EXPLICIT\n"
                    f"https://conda.anaconda.org/t/tk-SECRET-9/private/noarch/a-1-0.conda#{MD5}\n"
                    f"https://ann:SECRET@repo.example/c/noarch/b-1-0.conda#{MD5}\n"
                    f"https://repo.example/c/noarch/c-1-0.conda#{MD5}\n")
    listing = tmp_path / "todo.txt"
    assert main(["export", str(plan), "--pkgs-dir", str(tmp_path / "pkgs"), "-o", str(listing),
                 *(["--with-credentials"] if keep else [])]) == 0
    err = capsys.readouterr().err
    assert "SECRET" not in err
    if keep:
        assert listing.read_text().count("SECRET") == 2
        return
    assert listing.read_text().splitlines() == [
        "https://conda.anaconda.org/private/noarch/a-1-0.conda",
        "https://repo.example/c/noarch/b-1-0.conda",
        "https://repo.example/c/noarch/c-1-0.conda"]
    assert "2 URLs had a token or password" in err


def test_a_bundle_carries_no_password(tmp_path, noarch_channel, fault_server, capsys) -> None:
    root, _ = noarch_channel
    server = fault_server(root, Faults(basic_auth="ann:pa55-SECRET"))
    _, plan = _plan(tmp_path, root, server.url.replace("http://", "http://ann:pa55-SECRET@"))
    bundle = tmp_path / "env.tar"
    assert main(["bundle", str(plan), "-o", str(bundle), "--pkgs-dir", str(tmp_path / "p"),
                 "-q"]) == 0
    with tarfile.open(bundle) as tar:
        manifest = tar.extractfile("manifest.json").read().decode()
    assert "SECRET" not in manifest and server.url in manifest
    assert main(["import", str(bundle), "--pkgs-dir", str(tmp_path / "offline")]) == 0
    assert "SECRET" not in capsys.readouterr().err
    assert "SECRET" not in (tmp_path / "env.explicit.txt").read_text()
    assert "SECRET" not in (tmp_path / "offline" / "urls.txt").read_text()
