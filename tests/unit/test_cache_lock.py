"""One claim per cache file across processes and threads: conda's lock byte, held for the
life of a part file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conda_fetch.cache import PackageCache
from conda_fetch.cache.lock import CacheLockError, Claim, _still_named
from conda_fetch.errors import CondaFetchError
from conda_fetch.plan.records import make_record

RECORD = make_record("https://h.example/noarch/alpha-1.0-0.conda", size=3, sha256="a" * 64)
HOLD = """
import sys
from pathlib import Path
from conda_fetch.cache.lock import Claim
claim = Claim.take(Path(sys.argv[1]))
print("held" if claim else "busy", flush=True)
sys.stdin.read()
"""


def test_a_claim_is_exclusive_within_a_process_until_released(tmp_path) -> None:
    cache = PackageCache(tmp_path)
    first = cache.claim(RECORD)
    assert first is not None
    assert cache.claim(RECORD) is None
    first.release()
    first.release()  # twice is harmless
    again = cache.claim(RECORD)
    assert again is not None
    again.release()


def test_a_claim_held_by_another_process(tmp_path) -> None:
    cache = PackageCache(tmp_path)
    lock = cache.workdir / f"{RECORD.fn}.lock"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD), str(lock)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        assert cache.claim(RECORD) is None
        with pytest.raises(CacheLockError, match=lock.name):
            Claim.wait(lock, attempts=2, sleep=0.01)
    finally:
        child.communicate("", timeout=30)
    claim = cache.claim(RECORD)  # the holder is gone: its lock went with it
    assert claim is not None
    claim.release()


def test_a_claim_clears_links_planted_where_the_part_files_go(tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    cache = PackageCache(tmp_path / "pkgs")
    part = cache.part_path(RECORD)
    for name in (part.name, part.name + ".state", part.name + ".state.tmp"):
        (part.parent / name).symlink_to(victim)
    claim = cache.claim(RECORD)
    assert claim is not None
    assert not any(p.is_symlink() for p in part.parent.iterdir())
    claim.release()
    assert victim.read_text() == "precious"


def test_a_lock_file_that_is_a_link_is_refused(tmp_path) -> None:
    cache = PackageCache(tmp_path / "pkgs")
    (cache.workdir / f"{RECORD.fn}.lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CacheLockError, match="cannot open the lock file"):
        cache.claim(RECORD)
    assert not (tmp_path / "elsewhere").exists()


def test_a_workdir_that_is_a_link_is_refused(tmp_path) -> None:
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "pkgs" / ".conda-fetch").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CondaFetchError, match="not a folder of this cache"):
        PackageCache(tmp_path / "pkgs").part_path(RECORD)


def test_read_only_status_writes_nothing(tmp_path: Path) -> None:
    cache = PackageCache(tmp_path)
    (tmp_path / RECORD.fn).write_bytes(b"abc")
    bare = make_record(RECORD.url)
    assert cache.status(bare, repair=False) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [RECORD.fn]


def test_one_cache_reached_through_a_link_is_one_cache(tmp_path) -> None:
    """Closing a second descriptor of a locked file would drop the lock: the second claim,
    through a linked folder, fails instead of opening it."""
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "pkgs")
    first = PackageCache(tmp_path / "pkgs").claim(RECORD)
    assert first is not None
    assert PackageCache(tmp_path / "alias").claim(RECORD) is None
    first.release()


def test_a_lock_file_removed_by_its_holder_is_not_taken(tmp_path) -> None:
    """Whoever opened the lock file before its holder removed it must not lock that orphan:
    it sees the name no longer names its file and takes the new one."""
    cache = PackageCache(tmp_path)
    lock = cache.workdir / f"{RECORD.fn}.lock"
    first = cache.claim(RECORD)
    assert first is not None
    first.release(remove=True)
    assert not lock.exists()
    again = cache.claim(RECORD)
    assert again is not None and lock.exists()
    again.release()


def test_an_orphaned_lock_file_is_recognised(tmp_path) -> None:
    path = tmp_path / "x.lock"
    path.touch()
    fd = os.open(path, os.O_RDWR)
    try:
        assert _still_named(fd, path)
        path.unlink()
        path.touch()  # the next holder's new file under the same name
        assert not _still_named(fd, path)
    finally:
        os.close(fd)
