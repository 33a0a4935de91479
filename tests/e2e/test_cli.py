"""conda-fetch's commands end to end: real archives, a real conda-index channel,
loopback servers with faults, and the package cache checked as conda reads it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conda_fetch.cache.urls import read_urls
from conda_fetch.cli import main
from conda_fetch.hashing import file_digest
from conda_fetch.testing.faultserver import Faults
from support.channel import plan_from_repodata

MiB = 1 << 20
QUICK = ["--quiet", "--stall-timeout", "1", "--min-split", "1M"]


def _records(channel: Path, url: str) -> list[dict]:
    return plan_from_repodata(channel, url, "noarch") + plan_from_repodata(channel, url, "linux-64")


def _assert_cached_as_conda_wants(pkgs: Path, records: list[dict]) -> None:
    urls = read_urls(pkgs)
    for record in records:
        path = pkgs / record["fn"]
        assert path.stat().st_size == record["size"]
        assert file_digest(path, "sha256") == record["sha256"]
        assert urls[record["fn"]] == record["url"]
    leftovers = [p.name for p in pkgs.iterdir() if p.name.endswith(".partial")]
    assert leftovers == []


def _write_plan(kind: str, records: list[dict], path: Path) -> Path:
    if kind == "dry-run":
        text = json.dumps({"success": True, "dry_run": True, "prefix": "/env",
                           "actions": {"FETCH": records, "LINK": []}})
    elif kind == "explicit-md5":
        text = "@EXPLICIT\n" + "".join(f"{r['url']}#{r['md5']}\n" for r in records)
    elif kind == "explicit-sha256":
        text = "@EXPLICIT\n" + "".join(f"{r['url']}#sha256:{r['sha256']}\n" for r in records)
    elif kind == "conda-lock":
        items = "".join(
            f"- name: {r['name']}\n  version: '{r['version']}'\n  manager: conda\n"
            f"  platform: linux-64\n  url: {r['url']}\n"
            f"  hash:\n    md5: {r['md5']}\n    sha256: {r['sha256']}\n"
            for r in records
        )
        text = "version: 1\nmetadata:\n  platforms: [linux-64]\npackage:\n" + items
    else:
        text = "".join(f"{r['url']}\n" for r in records)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "kind", ["dry-run", "explicit-md5", "explicit-sha256", "conda-lock", "urls"])
def test_every_plan_format_fills_the_cache(tmp_path, channel, fault_server, kind) -> None:
    server = fault_server(channel)
    records = _records(channel, server.url)
    plan = _write_plan(kind, records, tmp_path / "plan")
    pkgs = tmp_path / "pkgs"
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), "--platform", "linux-64", *QUICK]) == 0
    _assert_cached_as_conda_wants(pkgs, records)


def test_cut_every_5mb_arrives_whole_in_one_run(tmp_path, channel, fault_server) -> None:
    server = fault_server(channel, Faults(cut_every=5 * MiB))
    records = _records(channel, server.url)
    plan = _write_plan("dry-run", records, tmp_path / "plan.json")
    assert main(["get", str(plan), "--pkgs-dir", str(tmp_path / "pkgs"), *QUICK]) == 0
    _assert_cached_as_conda_wants(tmp_path / "pkgs", records)
    payload = sum(r["size"] for r in records)
    assert server.stats.bytes_sent <= payload * 1.05
    assert server.stats.status_counts.get(206, 0) > 4


def test_second_run_finds_everything_cached_and_adds_missing_url_lines(
    tmp_path, channel, fault_server
) -> None:
    server = fault_server(channel)
    records = _records(channel, server.url)
    plan = _write_plan("dry-run", records, tmp_path / "plan.json")
    pkgs = tmp_path / "pkgs"
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), *QUICK]) == 0
    (pkgs / "urls.txt").write_text("")
    requests_before = server.stats.requests
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), *QUICK, "--json"]) == 0
    assert server.stats.requests == requests_before
    _assert_cached_as_conda_wants(pkgs, records)


def test_corrupt_answer_never_reaches_the_file_name(
    tmp_path, channel, fault_server, capsys
) -> None:
    server = fault_server(channel, Faults(corrupt_offsets={1000}))
    records = [r for r in _records(channel, server.url) if r["name"] == "alpha"]
    plan = _write_plan("explicit-sha256", records, tmp_path / "plan.txt")
    pkgs = tmp_path / "pkgs"
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs), *QUICK, "--json"]) == 1
    assert not (pkgs / records[0]["fn"]).exists()
    assert records[0]["fn"] not in read_urls(pkgs)
    assert not list((pkgs / ".conda-fetch").glob("*.part"))
    summary = json.loads(capsys.readouterr().out)
    assert summary["failed"][0]["sha256"] == records[0]["sha256"]
    assert "sha256" in summary["failed"][0]["error"]


@pytest.mark.parametrize(
    "plan_text",
    ["@EXPLICIT\nhttp://127.0.0.1:9/x-1-0.conda#sha256:1234\n", '{"actions": {"FETCH": [{}]}}',
     "not a plan\n"],
)
def test_bad_input_exits_2_and_leaves_the_cache_untouched(tmp_path, capsys, plan_text) -> None:
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    (pkgs / "urls.txt").write_text("https://example/noarch/a-1-0.conda\n")
    before = sorted((p.name, p.stat().st_size) for p in pkgs.iterdir())
    plan = tmp_path / "plan.txt"
    plan.write_text(plan_text)
    assert main(["get", str(plan), "--pkgs-dir", str(pkgs)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(plan) in err and len(err.splitlines()) == 1
    assert sorted((p.name, p.stat().st_size) for p in pkgs.iterdir()) == before


def test_tokens_never_appear_in_output(tmp_path, channel, fault_server, capsys) -> None:
    server = fault_server(channel)
    url = server.url_for("t/sekrit-token-123/noarch/missing-1.0-0.conda")
    assert main(["get", url, "--pkgs-dir", str(tmp_path / "pkgs"), "--json"]) == 1
    captured = capsys.readouterr()
    assert "sekrit-token-123" not in captured.out + captured.err
    assert "/t/***/" in captured.out


def test_kill_9_then_rerun_asks_for_no_byte_already_saved(tmp_path, channel, fault_server) -> None:
    """After ``kill -9`` at about 40%, the rerun asks only for bytes the resume state does not
    hold. (How much arrived unsaved before the kill is a matter of timing: the benchmark
    measures the cost, +1.2% on 64 MB.)"""
    server = fault_server(channel, Faults(throttle=4 * MiB))
    records = [r for r in _records(channel, server.url) if r["name"] == "gamma"]
    plan = _write_plan("dry-run", records, tmp_path / "plan.json")
    pkgs = tmp_path / "pkgs"
    command = [sys.executable, "-m", "conda_fetch", "get", str(plan), "--pkgs-dir", str(pkgs),
               *QUICK, "--split", "4"]
    child = subprocess.Popen(command)
    state = pkgs / ".conda-fetch" / f"{records[0]['fn']}.part.state"
    deadline = time.monotonic() + 60
    while _saved(state) <= records[0]["size"] * 0.4 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not (pkgs / records[0]["fn"]).exists()
    saved = json.loads(state.read_text())["done"]  # as the killed run left it
    assert sum(end - start for start, end in saved) > records[0]["size"] * 0.4
    while server.stats.active and time.monotonic() < deadline:  # its answers end too
        time.sleep(0.02)
    server.reset_stats()
    server.faults = Faults()
    assert subprocess.call(command) == 0
    _assert_cached_as_conda_wants(pkgs, records)
    asked = [(start, end) for path, start, end in server.stats.ranges
             if path.endswith(records[0]["fn"])]
    assert asked
    for start, end in asked:
        assert all(end <= first or start >= last for first, last in saved), (start, end, saved)


def _saved(state: Path) -> int:
    try:
        return sum(end - start for start, end in json.loads(state.read_text())["done"])
    except (ValueError, OSError):
        return 0


@pytest.mark.parametrize("tool, key", [("conda", "pkgs_dirs"), ("micromamba", "package cache")])
def test_run_fetches_the_plan_into_the_tools_cache_then_runs_it(
    tmp_path, channel, fault_server, tool, key
) -> None:
    server = fault_server(channel)
    records = _records(channel, server.url)
    pkgs = tmp_path / f"{tool}-pkgs"
    dry_run = tmp_path / "dry-run.json"
    dry_run.write_text(json.dumps({"success": True, "actions": {"FETCH": records}}))
    info = tmp_path / "info.json"
    info.write_text(json.dumps({key: [str(pkgs)]}))
    # A stand-in for the tool: it answers `info --json` with its caches (conda and
    # micromamba name them differently) and --dry-run --json with the plan, and
    # otherwise succeeds only if every package is already in its cache.
    exe = tmp_path / "bin" / tool
    exe.parent.mkdir()
    checks = " && ".join(f'test -f "{pkgs / r["fn"]}"' for r in records)
    exe.write_text(
        "#!/bin/sh\n"
        f'case "$*" in info*) cat "{info}"; exit 0;; *--dry-run*) cat "{dry_run}"; exit 0;; esac\n'
        f"{checks} && echo installed > \"{tmp_path / 'ran'}\"\n"
    )
    exe.chmod(0o755)
    status = main(["run", *QUICK, "--", str(exe), "install", "--override-channels", "-c",
                   server.url, "gamma"])
    assert status == 0
    assert (tmp_path / "ran").read_text().strip() == "installed"
    _assert_cached_as_conda_wants(pkgs, records)


def test_run_rejects_other_tools(capsys) -> None:
    assert main(["run", "--", "pip", "install", "x"]) == 2
    assert "pip" in capsys.readouterr().err


def test_basic_auth_from_url_and_from_netrc(tmp_path, channel, fault_server, monkeypatch) -> None:
    server = fault_server(channel, Faults(basic_auth="ann:pa55"))
    records = [r for r in _records(channel, server.url) if r["name"] == "alpha"]
    with_password = records[0]["url"].replace("http://", "http://ann:pa55@")
    assert main(["get", with_password, "--pkgs-dir", str(tmp_path / "a"), *QUICK]) == 0
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login ann password pa55\n")
    monkeypatch.setenv("NETRC", str(netrc))
    plan = _write_plan("explicit-md5", records, tmp_path / "plan.txt")
    assert main(["get", str(plan), "--pkgs-dir", str(tmp_path / "b"), *QUICK]) == 0
    _assert_cached_as_conda_wants(tmp_path / "b", records)
    assert server.stats.status_counts.get(401, 0) == 0


def test_proxy_servers_from_condarc(tmp_path, channel, fault_server, monkeypatch) -> None:
    proxy = fault_server(channel)  # answers absolute-URI requests as a forward proxy would
    records = _records(channel, "http://pkgs.invalid")
    condarc = tmp_path / "condarc.yml"
    condarc.write_text(f"proxy_servers:\n  http: {proxy.url}\n")
    monkeypatch.setenv("CONDARC", str(condarc))
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    plan = _write_plan("dry-run", records, tmp_path / "plan.json")
    assert main(["get", str(plan), "--pkgs-dir", str(tmp_path / "pkgs"), *QUICK]) == 0
    _assert_cached_as_conda_wants(tmp_path / "pkgs", records)
    assert proxy.stats.requests >= len(records)


def test_a_plan_with_nothing_to_fetch_succeeds(tmp_path, capsys) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"success": True,
                                "message": "All requested packages already installed."}))
    assert main(["get", str(plan), "--pkgs-dir", str(tmp_path / "pkgs"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fetched"] == []


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path) -> None:
    """``conda-fetch get plan --json | head``: the pipe breaks while the report is written;
    the program ends with exit code 1 and no traceback."""
    from conda_fetch.testing.faultserver import refused_url
    plan = tmp_path / "urls.txt"
    dead = refused_url()
    plan.write_text("".join(f"{dead}/noarch/p{n}-1.0-0.conda\n" for n in range(500)))
    child = subprocess.Popen([sys.executable, "-m", "conda_fetch", "get", str(plan), "--json",
                              "--quiet", "--retries", "0", "--pkgs-dir", str(tmp_path / "pkgs")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.read(100)
    child.stdout.close()
    err = child.stderr.read().decode()
    child.stderr.close()
    assert child.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_quiet_prints_nothing_on_success_and_each_failure_with_its_reason(
    tmp_path, channel, fault_server, capsys
) -> None:
    from conda_fetch.testing.faultserver import refused_url
    server = fault_server(channel)
    records = _records(channel, server.url)
    plan = _write_plan("urls", records, tmp_path / "urls.txt")
    assert main(["get", str(plan), "--pkgs-dir", str(tmp_path / "a"), *QUICK]) == 0
    assert capsys.readouterr() == ("", "")
    dead = f"{refused_url()}/noarch/gone-1.0-0.conda"
    assert main(["get", dead, "--pkgs-dir", str(tmp_path / "b"), *QUICK, "--retries", "0"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[0] == "gone-1.0-0.conda: no source left for this file " \
        f"({dead.split('/')[2]}: connection refused)"
    assert "no connection: check the network" in err and "fetched" not in err
