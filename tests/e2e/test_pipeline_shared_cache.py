"""Two real processes on one package cache: one download of a file at a time, the other
finds it placed or takes its part file over; a corrupting mirror never gets a wrong byte
under conda's name."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from conda_fetch import pipeline
from conda_fetch.cache import PackageCache
from conda_fetch.engine import Listener, make_session
from conda_fetch.engine.partfile import PartFile, RangeSet
from conda_fetch.plan import read_plan
from conda_fetch.testing.faultserver import Faults
from support.channel import plan_from_repodata

MiB = 1 << 20


def _plan(tmp_path: Path, channel: Path, url: str, *names: str) -> tuple[Path, list[dict]]:
    """A dry-run plan of the session channel's packages (those in ``names``, else all)."""
    records = plan_from_repodata(channel, url, "noarch") + plan_from_repodata(channel, url,
                                                                              "linux-64")
    records = [r for r in records if not names or r["name"] in names]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"success": True, "actions": {"FETCH": records}}))
    return plan, records


def _get(plan: Path, pkgs: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "conda_fetch", "get", str(plan), "--pkgs-dir", str(pkgs), "--json",
         "--quiet", "--stall-timeout", "2", "--min-split", "1M", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"})


def _finish(child: subprocess.Popen) -> tuple[int, dict, str]:
    try:
        out, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        out, err = child.communicate()
        raise AssertionError(f"conda-fetch hung:\n{err}") from None
    return child.returncode, json.loads(out), err


def _assert_verified(pkgs: Path, records: list[dict]) -> None:
    for record in records:
        assert hashlib.sha256((pkgs / record["fn"]).read_bytes()).hexdigest() == record["sha256"]


def test_a_file_another_process_holds_is_taken_over_where_it_stopped(tmp_path, channel,
                                                                      fault_server) -> None:
    server = fault_server(channel)
    plan, records = _plan(tmp_path, channel, server.url)
    gamma = next(r for r in records if r["name"] == "gamma")
    pkgs = tmp_path / "pkgs"
    cache = PackageCache(pkgs)
    record = next(r for r in read_plan(str(plan)) if r.fn == gamma["fn"])
    claim = cache.claim(record)  # this process is "the other conda-fetch", half-way through
    assert claim is not None
    half = gamma["size"] // 2
    part = PartFile(cache.part_path(record), {"size": record.size, "sha256": record.sha256,
                                              "md5": record.md5})
    fd = part.open()
    os.pwrite(fd, (channel / "noarch" / gamma["fn"]).read_bytes()[:half], 0)
    part.save(fd, RangeSet([(0, half)]))
    os.close(fd)
    child = _get(plan, pkgs)
    claim.release()  # as if it was killed: the lock goes with it, the part file stays
    code, report, err = _finish(child)
    assert code == 0, err
    assert "Traceback" not in err
    fetched = {entry["fn"]: entry for entry in report["fetched"]}
    assert fetched[gamma["fn"]]["resumed"] == half
    assert fetched[gamma["fn"]]["fetched"] == gamma["size"] - half
    _assert_verified(pkgs, records)


def test_two_processes_racing_on_a_corrupting_mirror(tmp_path, channel, fault_server) -> None:
    """One round on one file (bench/race.py runs twenty on three)."""
    good = fault_server(channel)
    bad = fault_server(channel, Faults(corrupt_every=100_003))
    plan, records = _plan(tmp_path, channel, good.url, "alpha", "beta")
    pkgs = tmp_path / "pkgs"
    children = [_get(plan, pkgs, "--mirror", f"{good.url}={bad.url}") for _ in range(2)]
    results = [_finish(child) for child in children]
    for code, report, err in results:
        assert code == 0, (err, [(f["fn"], f["error"]) for f in report["failed"]])
        assert "Traceback" not in err
    _assert_verified(pkgs, records)
    for record in records:  # one process fetched each file, the other found it placed
        kinds = [kind for _, report, _ in results for kind in ("fetched", "cached")
                 if any(e["fn"] == record["fn"] for e in report[kind])]
        assert sorted(kinds) == ["cached", "fetched"], kinds
    # one claims file for the cache, no file per package left behind
    assert [p.name for p in (pkgs / ".conda-fetch").glob("*.lock")] == ["claims.lock"]


def test_claims_are_taken_in_batches(tmp_path, channel, fault_server, monkeypatch) -> None:
    """A plan of thousands of files claims a bounded number at once: another process can
    take the rest meanwhile."""
    server = fault_server(channel)
    plan, records = _plan(tmp_path, channel, server.url)
    held: list[int] = []
    cache = PackageCache(tmp_path / "pkgs")

    class Watch(Listener):
        def started(self, download) -> None:  # type: ignore[no-untyped-def]
            held.append(cache.claims.held())

    monkeypatch.setattr(pipeline, "CLAIM_BATCH", 2)
    with make_session() as session:
        report = pipeline.fetch_into_cache(read_plan(str(plan)), cache, session,
                                           listener=Watch())
    assert report.ok and len(report.fetched) == 3
    assert held and max(held) <= 2
    _assert_verified(tmp_path / "pkgs", records)


def test_what_the_cache_holds_is_read_once_and_a_file_placed_meanwhile_is_found(
        tmp_path, channel, fault_server) -> None:
    """The cache folder is listed once per run: an extracted package (its archive cleaned
    away) is used as it is, and an archive another process places after that listing is
    found under its claim and not fetched again."""
    server = fault_server(channel)
    plan, records = _plan(tmp_path, channel, server.url)
    by_name = {r["name"]: r for r in records}
    alpha, beta = by_name["alpha"], by_name["beta"]
    pkgs = tmp_path / "pkgs"
    info = pkgs / alpha["fn"].removesuffix(".conda") / "info"
    info.mkdir(parents=True)
    (info / "repodata_record.json").write_text(json.dumps(alpha))

    class Placing(PackageCache):
        """Another process places beta right after this run lists the folder."""

        def names(self) -> frozenset[str]:
            listed = super().names()
            source = channel / "linux-64" / beta["fn"]
            (pkgs / beta["fn"]).write_bytes(source.read_bytes())
            with open(pkgs / "urls.txt", "a") as stream:
                stream.write(beta["url"] + "\n")
            return listed

    with make_session() as session:
        report = pipeline.fetch_into_cache(read_plan(str(plan)), Placing(pkgs), session)
    assert report.ok
    assert sorted(r.fn for r in report.cached) == sorted([alpha["fn"], beta["fn"]])
    assert [r.fn for r, _ in report.fetched] == [by_name["gamma"]["fn"]]
    assert set(server.stats.per_path) == {f"/noarch/{by_name['gamma']['fn']}"}
    _assert_verified(pkgs, [beta, by_name["gamma"]])
