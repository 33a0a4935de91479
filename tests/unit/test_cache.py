"""The package cache with real archives: status, commit, urls.txt, locks, finding pkgs_dirs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from conda_fetch.cache import CacheLockError, PackageCache, find_pkgs_dir, locked
from conda_fetch.cache import urls as urls_txt
from conda_fetch.cache.package_cache import listed_url
from conda_fetch.cache.pkgs_dirs import all_pkgs_dirs
from conda_fetch.cache.urls import GROUP_SECONDS, NEWLINE, UrlsFile, append_url, read_urls
from conda_fetch.config import condarc
from conda_fetch.errors import CondaFetchError, InputError
from conda_fetch.plan.records import Record, make_record, stem
from conda_fetch.redact import without_credentials
from conda_fetch.testing.packages import Built, build_package

CHANNEL = "https://conda.anaconda.org/conda-forge/noarch"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_package(tmp_path_factory.mktemp("archives"), name="demo", payload=4096)


@pytest.fixture
def record(built: Built) -> Record:
    return make_record(f"{CHANNEL}/{built.fn}", size=built.size, sha256=built.sha256,
                       md5=built.md5)


@pytest.fixture
def cache(tmp_path: Path) -> PackageCache:
    root = tmp_path / "pkgs"
    root.mkdir()
    return PackageCache(root)


def place(cache: PackageCache, built: Built) -> Path:
    return Path(shutil.copyfile(built.path, cache.root / built.fn))


def url_lines(cache: PackageCache) -> list[str]:
    path = cache.root / "urls.txt"
    return path.read_text().splitlines() if path.exists() else []


def urls_bytes(cache: PackageCache) -> bytes:
    return (cache.root / "urls.txt").read_bytes()


# -- status -------------------------------------------------------------------


def test_absent_package_is_not_cached(cache: PackageCache, record: Record) -> None:
    assert cache.status(record) is None
    assert not (cache.root / "urls.txt").exists()


def test_correct_archive_gets_its_url_line_once(
    cache: PackageCache, built: Built, record: Record
) -> None:
    place(cache, built)
    assert cache.status(record) == "cached"
    assert urls_bytes(cache) == (record.url + NEWLINE).encode()
    assert cache.status(record) == "cached"
    assert PackageCache(cache.root).status(record) == "cached"
    assert url_lines(cache) == [record.url]


def test_url_line_for_another_channel_is_superseded(
    cache: PackageCache, built: Built, record: Record
) -> None:
    place(cache, built)
    other = f"https://conda.anaconda.org/other/noarch/{built.fn}"
    append_url(cache.root, other)
    assert cache.status(record) == "cached"
    assert url_lines(cache) == [other, record.url]
    assert read_urls(cache.root)[built.fn] == record.url


@pytest.mark.parametrize("damage", ["longer", "shorter", "flipped byte"])
def test_wrong_archive_is_not_cached(
    cache: PackageCache, built: Built, record: Record, damage: str
) -> None:
    blob = bytearray(built.path.read_bytes())
    if damage == "longer":
        blob += b"\0"
    elif damage == "shorter":
        del blob[-1]
    else:
        blob[len(blob) // 2] ^= 0xFF
    (cache.root / built.fn).write_bytes(bytes(blob))
    assert cache.status(record) is None
    assert url_lines(cache) == []


def test_md5_only_and_size_only_records(cache: PackageCache, built: Built) -> None:
    place(cache, built)
    url = f"{CHANNEL}/{built.fn}"
    assert cache.status(make_record(url, md5=built.md5)) == "cached"
    assert cache.status(make_record(url, md5="0" * 32)) is None
    assert cache.status(make_record(url, size=built.size)) == "cached"
    assert url_lines(cache) == [url]


def test_record_without_size_or_hash_needs_its_url_line(cache: PackageCache, built: Built) -> None:
    place(cache, built)
    bare = make_record(f"{CHANNEL}/{built.fn}")
    assert cache.status(bare) is None
    append_url(cache.root, bare.url)
    assert cache.status(bare) == "cached"
    assert url_lines(cache) == [bare.url]


def extract(cache: PackageCache, record: Record, **meta: object) -> Path:
    info = cache.root / stem(record.fn) / "info"
    info.mkdir(parents=True)
    facts = {"url": record.url, "size": record.size, "md5": record.md5, "sha256": record.sha256}
    (info / "repodata_record.json").write_text(json.dumps({**facts, **meta}))
    return info


def test_extracted_package_is_used_as_is(cache: PackageCache, record: Record) -> None:
    extract(cache, record)
    assert cache.status(record) == "extracted"
    assert url_lines(cache) == []


def test_extracted_package_without_hashes_matches_by_url(
    cache: PackageCache, record: Record
) -> None:
    extract(cache, record, md5=None, sha256=None, size=None)
    assert cache.status(record) == "extracted"


@pytest.mark.parametrize(
    "meta",
    [{"url": "https://conda.anaconda.org/other/noarch/x.conda"}, {"sha256": "a" * 64},
     {"md5": "b" * 32}, {"size": 1}],
)
def test_extracted_package_that_differs_is_not_used(
    cache: PackageCache, record: Record, meta: dict[str, object]
) -> None:
    extract(cache, record, **meta)
    assert cache.status(record) is None


def test_broken_repodata_record_is_ignored(cache: PackageCache, record: Record) -> None:
    info = extract(cache, record)
    (info / "repodata_record.json").write_text("{not json")
    assert cache.status(record) is None


def test_wrong_archive_hides_a_good_extracted_dir(
    cache: PackageCache, built: Built, record: Record
) -> None:
    extract(cache, record)
    (cache.root / built.fn).write_bytes(b"junk")
    assert cache.status(record) is None


def conda_style_extract(cache: PackageCache, built: Built, record: Record, **meta: object) -> Path:
    """What conda leaves after seeing an archive with no urls.txt line (even on --dry-run):
    the package extracted, with a repodata_record.json naming no URL."""
    info = extract(cache, record, **meta)
    facts = json.loads((info / "repodata_record.json").read_text())
    facts.pop("url")
    facts["channel"] = "<unknown>"
    (info / "repodata_record.json").write_text(json.dumps({**facts, **meta}))
    (info / "index.json").write_text(json.dumps({"name": "demo"}))
    return info


def test_registering_drops_the_urlless_record_conda_wrote(
    cache: PackageCache, built: Built, record: Record
) -> None:
    # observed on conda 23.11 and 26.7: that record wins over urls.txt, so conda downloads
    # again; without it conda rebuilds the record from index.json, urls.txt and the archive
    place(cache, built)
    info = conda_style_extract(cache, built, record)
    assert cache.status(record) == "cached"
    assert url_lines(cache) == [record.url]
    assert not (info / "repodata_record.json").exists()
    assert (info / "index.json").exists()


def test_registering_keeps_a_matching_extracted_record(
    cache: PackageCache, built: Built, record: Record
) -> None:
    place(cache, built)
    info = extract(cache, record)
    assert cache.status(record) == "cached"
    assert (info / "repodata_record.json").exists()


def test_registering_removes_another_archives_extracted_files(
    cache: PackageCache, built: Built, record: Record
) -> None:
    place(cache, built)
    info = extract(cache, record, md5="b" * 32)
    assert cache.status(record) == "cached"
    assert not info.parent.exists()


def test_commit_over_a_stale_extraction(cache: PackageCache, built: Built, record: Record) -> None:
    info = conda_style_extract(cache, built, record, size=1)
    part = Path(shutil.copyfile(built.path, cache.part_path(record)))
    cache.commit(record, part)
    assert not info.parent.exists()
    assert cache.status(record) == "cached"


def test_commit_keeps_an_extraction_of_the_same_archive(
    cache: PackageCache, built: Built, record: Record
) -> None:
    info = extract(cache, record)
    cache.commit(record, Path(shutil.copyfile(built.path, cache.part_path(record))))
    assert (info / "repodata_record.json").exists()


# -- commit -------------------------------------------------------------------


def test_commit_places_the_file_and_one_url_line(
    cache: PackageCache, built: Built, record: Record
) -> None:
    part = Path(shutil.copyfile(built.path, cache.part_path(record)))
    target = cache.commit(record, part)
    assert target == cache.root / built.fn
    assert target.read_bytes() == built.path.read_bytes()
    assert not part.exists()
    assert urls_bytes(cache) == (record.url + NEWLINE).encode()
    assert cache.status(record) == "cached"
    assert url_lines(cache) == [record.url]


def test_a_line_written_by_another_between_commits_stays_whole(
    cache: PackageCache, built: Built, record: Record
) -> None:
    """The cache skips looking at urls.txt's last byte only while the file is as its own
    append left it; a line another tool left unfinished meanwhile is ended first."""
    other = make_record(f"{CHANNEL}/other-1.0-0.conda", size=4)
    cache.commit(record, Path(shutil.copyfile(built.path, cache.part_path(record))))
    with open(cache.root / "urls.txt", "ab") as stream:
        stream.write(b"https://elsewhere.example/c/noarch/third-1.0-0.conda")  # no line break
    (cache.root / other.fn).write_bytes(b"data")
    cache.status(other)  # correct by size: registered now
    assert url_lines(cache) == [record.url, "https://elsewhere.example/c/noarch/third-1.0-0.conda",
                                other.url]


def _second(built: Built) -> tuple[Record, Path]:
    """Another record whose archive is ``built``'s bytes under another name."""
    fn = built.fn.replace("demo", "other")
    source = built.path.parent / fn
    if not source.exists():
        shutil.copyfile(built.path, source)
    return make_record(f"{CHANNEL}/{fn}", size=built.size, sha256=built.sha256), source


def test_a_urls_txt_replaced_between_commits_gets_the_next_line(
    cache: PackageCache, built: Built, record: Record
) -> None:
    """urls.txt stays open between appends only while it is the file named so: a file
    renamed over it (conda's tools, a user) gets the next line, the old one nothing more."""
    other, source = _second(built)
    cache.commit(record, Path(shutil.copyfile(built.path, cache.part_path(record))))
    old = cache.root / "urls.txt"
    os.replace(old, cache.root / "urls.old")
    (cache.root / "urls.new").write_text(f"{record.url}\n")
    os.replace(cache.root / "urls.new", old)
    cache.commit(other, Path(shutil.copyfile(source, cache.part_path(other))))
    assert url_lines(cache) == [record.url, other.url]
    assert (cache.root / "urls.old").read_text().splitlines() == [record.url]


def test_a_urls_txt_turned_into_a_link_between_commits_is_not_appended_through(
    cache: PackageCache, built: Built, record: Record, tmp_path: Path
) -> None:
    other, source = _second(built)
    cache.commit(record, Path(shutil.copyfile(built.path, cache.part_path(record))))
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (cache.root / "urls.txt").unlink()
    (cache.root / "urls.txt").symlink_to(victim)
    with pytest.raises(OSError):
        cache.commit(other, Path(shutil.copyfile(source, cache.part_path(other))))
    assert victim.read_text() == "precious\n"


def test_the_verified_notes_are_appended_to_one_file_without_following_a_link(
    tmp_path: Path, built: Built, record: Record
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "pkgs" / ".conda-fetch").mkdir(parents=True)
    (tmp_path / "pkgs" / ".conda-fetch" / "verified").symlink_to(victim)
    cache = PackageCache(tmp_path / "pkgs")
    cache.commit(record, Path(shutil.copyfile(built.path, cache.part_path(record))))
    assert victim.read_text() == "precious\n"
    assert cache.status(record) == "cached"  # hashed again: the note could not be kept
    other, source = _second(built)
    fresh = PackageCache(tmp_path / "pkgs2")
    fresh.commit(record, Path(shutil.copyfile(built.path, fresh.part_path(record))))
    fresh.commit(other, Path(shutil.copyfile(source, fresh.part_path(other))))
    notes = (fresh.scratch / "verified").read_text().splitlines()
    assert [line.split("\t")[0] for line in notes] == [record.fn, other.fn]


@pytest.mark.parametrize("secret", ["/t/tk-SECRET-1", "user:SECRET@"])
def test_no_token_or_password_is_written_to_urls_txt(
    cache: PackageCache, built: Built, secret: str
) -> None:
    if secret.startswith("/t/"):
        url = f"https://conda.anaconda.org{secret}/conda-forge/noarch/{built.fn}"
    else:
        url = f"https://{secret}conda.anaconda.org/conda-forge/noarch/{built.fn}"
    record = make_record(url, size=built.size, sha256=built.sha256)
    cache.commit(record, Path(shutil.copyfile(built.path, cache.part_path(record))))
    assert "SECRET" not in urls_bytes(cache).decode()
    assert url_lines(cache) == [f"{CHANNEL}/{built.fn}"]
    assert cache.status(record) == "cached"
    assert url_lines(cache) == [f"{CHANNEL}/{built.fn}"]  # matched as it is: no second line
    unsized = make_record(url)  # nothing to check but the URL: its listed form matches
    assert cache.status(unsized) == "cached"
    assert not any("SECRET" in p.read_text(errors="replace") for p in cache.root.rglob("*")
                   if p.is_file() and p.suffix != ".conda")


def test_commit_replaces_a_wrong_file(cache: PackageCache, built: Built, record: Record) -> None:
    (cache.root / built.fn).write_bytes(b"stale")
    part = Path(shutil.copyfile(built.path, cache.part_path(record)))
    cache.commit(record, part)
    assert (cache.root / built.fn).read_bytes() == built.path.read_bytes()
    assert cache.status(record) == "cached"


def test_commit_when_already_present_drops_the_new_copy(
    cache: PackageCache, built: Built, record: Record
) -> None:
    target = place(cache, built)
    before = target.stat().st_ino
    part = Path(shutil.copyfile(built.path, cache.part_path(record)))
    cache.commit(record, part)
    assert not part.exists()
    assert target.stat().st_ino == before
    assert url_lines(cache) == [record.url]
    cache.commit(record, Path(shutil.copyfile(built.path, cache.part_path(record))))
    assert url_lines(cache) == [record.url]


def test_workdir_is_hidden_and_never_uses_partial(cache: PackageCache, record: Record) -> None:
    part = cache.part_path(record)
    assert part.parent == cache.root / ".conda-fetch"
    assert part.parent.is_dir()
    assert not part.name.endswith(".partial")
    assert part.name == record.fn + ".part"


@pytest.mark.parametrize(
    ("fn", "expected"),
    [("a-1-0.conda", "a-1-0"), ("a-1-0.tar.bz2", "a-1-0"), ("a-1-0.zip", "a-1-0.zip")],
)
def test_stem(fn: str, expected: str) -> None:
    assert stem(fn) == expected


# -- urls.txt -----------------------------------------------------------------


def test_read_urls_takes_the_latest_line_per_file(tmp_path: Path) -> None:
    (tmp_path / "urls.txt").write_bytes(
        b"https://a.example/ch/noarch/x-1-0.conda\r\n\r\n"
        b"https://a.example/ch/noarch/y-1-0.tar.bz2\r\n"
        b"   \n"
        b"https://b.example/ch/noarch/x-1-0.conda\r\n"
    )
    assert read_urls(tmp_path) == {
        "x-1-0.conda": "https://b.example/ch/noarch/x-1-0.conda",
        "y-1-0.tar.bz2": "https://a.example/ch/noarch/y-1-0.tar.bz2",
    }


def test_read_urls_without_file(tmp_path: Path) -> None:
    assert read_urls(tmp_path) == {}


def test_append_creates_the_file(tmp_path: Path) -> None:
    append_url(tmp_path, "https://a.example/x.conda")
    assert (tmp_path / "urls.txt").read_bytes() == f"https://a.example/x.conda{NEWLINE}".encode()


def test_append_after_a_missing_final_newline(tmp_path: Path) -> None:
    (tmp_path / "urls.txt").write_bytes(b"https://a.example/x.conda")
    append_url(tmp_path, "https://a.example/y.conda")
    assert (tmp_path / "urls.txt").read_bytes() == (
        f"https://a.example/x.conda{NEWLINE}https://a.example/y.conda{NEWLINE}".encode()
    )
    assert set(read_urls(tmp_path)) == {"x.conda", "y.conda"}


def test_append_to_a_crlf_file(tmp_path: Path) -> None:
    (tmp_path / "urls.txt").write_bytes(b"https://a.example/x.conda\r\n")
    append_url(tmp_path, "https://a.example/y.conda")
    assert (tmp_path / "urls.txt").read_bytes() == (
        f"https://a.example/x.conda\r\nhttps://a.example/y.conda{NEWLINE}".encode()
    )


def test_concurrent_appends_keep_whole_lines(tmp_path: Path) -> None:
    def writer(n: int) -> None:
        for i in range(50):
            append_url(tmp_path, f"https://a.example/ch/noarch/p{n}-{i}-0.conda")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = [line for line in (tmp_path / "urls.txt").read_text().splitlines() if line]
    assert len(lines) == 400
    assert all(line.startswith("https://") and line.endswith("-0.conda") for line in lines)
    assert len(read_urls(tmp_path)) == 400


# -- locking ------------------------------------------------------------------

HOLD_WITH_LOCKED = """
import sys
from pathlib import Path
from conda_fetch.cache import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""

HOLD_LIKE_CONDA = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 21)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize(
    "holder",
    [HOLD_WITH_LOCKED,
     pytest.param(HOLD_LIKE_CONDA, marks=pytest.mark.skipif(
         os.name == "nt", reason="conda's POSIX lock is fcntl.lockf"))],
    ids=["locked", "conda"],
)
def test_lock_held_by_another_process(tmp_path: Path, holder: str) -> None:
    path = tmp_path / "demo-1.0-0.conda.lock"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(holder), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(CacheLockError, match=path.name) as caught, \
                locked(path, attempts=2, sleep=0.05):
            pass
        assert not isinstance(caught.value, InputError)
    finally:
        child.communicate("", timeout=30)
    with locked(path, attempts=2, sleep=0.05):
        pass


def test_lock_is_reentrant_in_sequence(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    for _ in range(2):
        with locked(path, attempts=1, sleep=0):
            assert path.exists()


# -- finding the package cache -----------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "USERPROFILE": str(home), "PATH": ""}


def no_files(env: dict[str, str]) -> dict:
    return condarc.load_condarc(env, paths=[])


def test_explicit_dir_is_created_with_urls_txt(tmp_path: Path, env: dict[str, str]) -> None:
    target = tmp_path / "new" / "pkgs"
    assert find_pkgs_dir(target, env=env, run_conda=False, config=no_files(env)) == target
    assert (target / "urls.txt").is_file()


def test_explicit_dir_that_cannot_be_created(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(CondaFetchError, match="not a writable directory"):
        find_pkgs_dir(tmp_path / "file" / "pkgs", env=env, run_conda=False)


def test_conda_pkgs_dirs_variable(tmp_path: Path, env: dict[str, str]) -> None:
    env["CONDA_PKGS_DIRS"] = f"{tmp_path / 'a'},{tmp_path / 'b'}"
    config = no_files(env)
    assert find_pkgs_dir(env=env, run_conda=False, config=config) == tmp_path / "a"
    assert all_pkgs_dirs(env=env, run_conda=False, config=config) == [tmp_path / "a",
                                                                       tmp_path / "b"]


def test_condarc_in_search_path(tmp_path: Path, env: dict[str, str]) -> None:
    rc = Path(env["HOME"]) / ".condarc"
    rc.write_text("pkgs_dirs:\n  - ~/cache/pkgs\n")
    config = condarc.load_condarc(env, paths=[rc])
    assert find_pkgs_dir(env=env, run_conda=False, config=config) == (
        Path(env["HOME"]) / "cache" / "pkgs"
    )


def test_first_entry_not_writable_is_skipped(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "file").write_text("")
    blocked, usable = tmp_path / "file" / "pkgs", tmp_path / "usable"
    env["CONDA_PKGS_DIRS"] = f"{blocked},{usable}"
    config = no_files(env)
    assert find_pkgs_dir(env=env, run_conda=False, config=config) == usable
    assert all_pkgs_dirs(env=env, run_conda=False, config=config) == [blocked, usable]


def test_read_only_urls_txt_is_not_writable(tmp_path: Path, env: dict[str, str]) -> None:
    shared, own = tmp_path / "shared", tmp_path / "own"
    shared.mkdir()
    (shared / "urls.txt").write_text("")
    (shared / "urls.txt").chmod(0o444)
    try:
        with open(shared / "urls.txt", "ab"):
            pytest.skip("file permissions do not stop this user (root) from writing")
    except PermissionError:
        pass
    env["CONDA_PKGS_DIRS"] = f"{shared},{own}"
    assert find_pkgs_dir(env=env, run_conda=False, config=no_files(env)) == own


def test_nothing_writable_is_a_cache_error(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "file").write_text("")
    env["CONDA_PKGS_DIRS"] = str(tmp_path / "file" / "pkgs")
    with pytest.raises(CondaFetchError, match="none of conda's pkgs_dirs is writable") as caught:
        find_pkgs_dir(env=env, run_conda=False, config=no_files(env))
    assert not isinstance(caught.value, InputError)
    assert "\n" not in str(caught.value)


def test_defaults_use_the_root_prefix(tmp_path: Path, env: dict[str, str]) -> None:
    env["CONDA_EXE"] = str(tmp_path / "miniforge" / "bin" / "conda")
    config = no_files(env)
    user = Path(env["HOME"]) / ".conda" / "pkgs"
    assert all_pkgs_dirs(env=env, run_conda=False, config=config) == [
        tmp_path / "miniforge" / "pkgs", user]
    del env["CONDA_EXE"]
    assert find_pkgs_dir(env=env, run_conda=False, config=config) == user


def fake_conda(folder: Path, body: str) -> Path:
    """A stand-in for ``conda`` used only to test discovery of ``pkgs_dirs``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "conda"
    script.write_text(f"#!{sys.executable}\nimport json, sys\n{textwrap.dedent(body)}")
    script.chmod(0o755)
    return script


@pytest.mark.skipif(os.name == "nt", reason="the stand-in conda is a POSIX script")
def test_conda_info_on_path_is_asked(tmp_path: Path, env: dict[str, str]) -> None:
    first, second = tmp_path / "conda-says" / "a", tmp_path / "conda-says" / "b"
    fake_conda(tmp_path / "bin", f"""
        assert sys.argv[1:] == ["info", "--json"], sys.argv
        print(json.dumps({{"pkgs_dirs": [{str(first)!r}, {str(second)!r}]}}))
    """)
    env["PATH"] = str(tmp_path / "bin")
    env["CONDA_PKGS_DIRS"] = str(tmp_path / "ignored")
    assert all_pkgs_dirs(env=env, config=no_files(env)) == [first, second]
    assert find_pkgs_dir(env=env, config=no_files(env)) == first


@pytest.mark.skipif(os.name == "nt", reason="the stand-in conda is a POSIX script")
def test_conda_exe_is_preferred_and_failure_falls_back(
    tmp_path: Path, env: dict[str, str]
) -> None:
    exe = fake_conda(tmp_path / "root" / "bin", "sys.exit('conda is broken')")
    env["CONDA_EXE"] = str(exe)
    env["CONDA_PKGS_DIRS"] = str(tmp_path / "from-env")
    assert find_pkgs_dir(env=env, config=no_files(env)) == tmp_path / "from-env"


@pytest.mark.parametrize("url", [
    f"{CHANNEL}/demo-1.0-0.conda",
    "https://u:p@h.example/c/noarch/demo-1.0-0.conda",
    "https://h.example/t/tk-1/c/noarch/demo-1.0-0.conda",
    "https://h.example/c/noarch/demo-1.0-0.conda?token=abc&x=1",
    "https://h.example/c/noarch/demo-1.0-0.conda?a=1&&b=2",
    "file:///srv/t/x/noarch/demo-1.0-0.conda",
])
def test_the_listed_url_is_the_url_without_credentials(url: str) -> None:
    assert listed_url(make_record(url)) == without_credentials(url)


def _fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The descriptors ``os.fsync`` is called on from now on (it still syncs)."""
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    return synced


def test_lazy_flushes_of_urls_txt_share_an_fsync_until_synced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = _fsyncs(monkeypatch)
    now = [1000.0]
    monkeypatch.setattr(urls_txt.time, "monotonic", lambda: now[0])
    urls = UrlsFile(tmp_path)
    first = urls.append("https://a.example/x.conda", None)[2]
    urls.flush(first, lazy=True)  # the first line of a while: flushed at once
    second = urls.append("https://a.example/y.conda", os.lstat(tmp_path / "urls.txt"))[2]
    urls.flush(second, lazy=True)  # right after: left to the next flush
    assert len(synced) == 1
    now[0] += GROUP_SECONDS
    third = urls.append("https://a.example/z.conda", os.lstat(tmp_path / "urls.txt"))[2]
    urls.flush(third, lazy=True)  # the window is over: one fsync for two lines
    fourth = urls.append("https://a.example/w.conda", os.lstat(tmp_path / "urls.txt"))[2]
    urls.flush(fourth, lazy=True)
    assert len(synced) == 2
    urls.sync()
    urls.sync()  # nothing left to flush
    assert len(synced) == 3
    urls.close()
    assert len(synced) == 3


def test_a_grouped_run_flushes_urls_txt_on_leaving(
        cache: PackageCache, built: Built, record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(urls_txt.time, "monotonic", lambda: 1000.0)  # one instant throughout
    other, source = _second(built)
    with cache.grouped():
        cache.commit(record, Path(shutil.copyfile(built.path, cache.part_path(record))))
        synced = _fsyncs(monkeypatch)
        cache.commit(other, Path(shutil.copyfile(source, cache.part_path(other))))
        assert len(synced) == 1  # the archive only: its line waits for the group's flush
    assert len(synced) == 2
    assert url_lines(cache) == [record.url, other.url]
    cache.commit(_third(built), Path(shutil.copyfile(built.path, cache.part_path(_third(built)))))
    assert len(synced) == 4  # outside a group, the archive and its line at once


def _third(built: Built) -> Record:
    return make_record(f"{CHANNEL}/{built.fn.replace('demo', 'third')}", size=built.size,
                       sha256=built.sha256)


def test_one_flush_of_urls_txt_covers_every_line_written_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = _fsyncs(monkeypatch)
    urls, path = UrlsFile(tmp_path), tmp_path / "urls.txt"
    first = urls.append("https://a.example/x.conda", None)[2]
    second = urls.append("https://a.example/y.conda", os.lstat(path))[2]
    urls.flush(second)  # a thread whose line came later flushed both
    urls.flush(first)  # the first one's turn: already on disk
    assert len(synced) == 1
    third = urls.append("https://a.example/z.conda", os.lstat(path))[2]
    path.rename(tmp_path / "old.txt")  # replaced before the flush
    fourth = urls.append("https://a.example/w.conda", None)[2]  # opens the new file...
    assert len(synced) == 2  # ...after the old one's pending line was flushed
    urls.flush(third)
    urls.flush(fourth)
    urls.close()
    assert len(synced) == 3
    assert (tmp_path / "old.txt").read_text().split() == [
        "https://a.example/x.conda", "https://a.example/y.conda", "https://a.example/z.conda"]
    assert read_urls(tmp_path) == {"w.conda": "https://a.example/w.conda"}
