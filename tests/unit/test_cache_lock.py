"""One claim per cache file across processes and threads, held for the life of a part file
(a byte of one claims file per cache); conda's own lock byte on its files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conda_fetch.cache import PackageCache
from conda_fetch.cache.claims import CLAIMS, Claims
from conda_fetch.cache.lock import CacheLockError, _still_named
from conda_fetch.errors import CondaFetchError
from conda_fetch.plan.records import make_record

RECORD = make_record("https://h.example/noarch/alpha-1.0-0.conda", size=3, sha256="a" * 64)
HOLD = """
import sys
from pathlib import Path
from conda_fetch.cache import PackageCache
from conda_fetch.plan.records import make_record
claim = PackageCache(Path(sys.argv[1])).claim(make_record(sys.argv[2]))
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
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD), str(tmp_path),
                              RECORD.url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        assert cache.claim(RECORD) is None
        with pytest.raises(CacheLockError, match=RECORD.fn):
            cache.claims.wait(RECORD.fn, attempts=2, sleep=0.01)
        other = cache.claim(make_record("https://h.example/noarch/beta-1.0-0.conda"))
        assert other is not None  # another file is free meanwhile
        other.release()
    finally:
        child.communicate("", timeout=30)
    claim = cache.claim(RECORD)  # the holder is gone: its lock went with it
    assert claim is not None
    claim.release()


def test_claims_make_and_remove_no_file_per_package(tmp_path) -> None:
    cache = PackageCache(tmp_path)
    records = [make_record(f"https://h.example/noarch/p{n}-1.0-0.conda") for n in range(50)]
    claims = [cache.claim(record) for record in records]
    assert all(claims) and cache.claims.held() == 50
    for claim in claims:
        assert claim is not None
        claim.release()
    assert cache.claims.held() == 0
    assert sorted(p.name for p in cache.workdir.iterdir()) == [CLAIMS]


PROBE = """
import sys
from pathlib import Path
from conda_fetch.cache import PackageCache, claims
from conda_fetch.plan.records import make_record
claims._offset = lambda name: 7
print("held" if PackageCache(Path(sys.argv[1])).claim(make_record(sys.argv[2])) else "busy")
"""


def _probe(root: Path, url: str) -> str:
    """Whether another process, every name drawing byte 7, can claim ``url`` now."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(PROBE), str(root), url],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_names_on_one_byte_keep_it_locked_until_the_last_is_released(tmp_path,
                                                                      monkeypatch) -> None:
    from conda_fetch.cache import claims
    monkeypatch.setattr(claims, "_offset", lambda name: 7)
    cache = PackageCache(tmp_path)
    beta = make_record("https://h.example/noarch/beta-1.0-0.conda")
    first, second = cache.claim(RECORD), cache.claim(beta)
    assert first is not None and second is not None  # both in this process
    first.release()
    assert _probe(tmp_path, RECORD.url) == "busy"  # the byte is still beta's
    second.release()
    assert _probe(tmp_path, RECORD.url) == "held"


def test_a_claims_file_planted_as_a_link_is_replaced_not_followed(tmp_path) -> None:
    victim = tmp_path / "elsewhere"
    victim.write_text("precious")
    cache = PackageCache(tmp_path / "pkgs")
    (cache.workdir / CLAIMS).symlink_to(victim)
    claim = Claims.at(cache.workdir / CLAIMS).take(RECORD.fn)
    assert claim is not None
    claim.release()
    assert not (cache.workdir / CLAIMS).is_symlink() and victim.read_text() == "precious"


def test_a_claims_file_that_is_a_folder_is_refused(tmp_path) -> None:
    cache = PackageCache(tmp_path / "pkgs")
    (cache.workdir / CLAIMS).mkdir()
    with pytest.raises(CacheLockError, match=r"claims\.lock"):
        cache.claim(RECORD)


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


def test_a_claims_file_removed_meanwhile_is_made_again(tmp_path) -> None:
    """Someone removed the cache's hidden folder while this process held it open: new
    claims go to the new file, which other processes see."""
    cache = PackageCache(tmp_path)
    cache.claim(RECORD).release()
    (cache.workdir / CLAIMS).unlink()
    again = cache.claim(RECORD)
    assert again is not None and (cache.workdir / CLAIMS).is_file()
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
