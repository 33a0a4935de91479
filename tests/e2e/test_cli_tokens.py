"""Private channels with anaconda.org-style tokens: a loopback server serves the channel
only under ``/t/<token>/``. Plans as conda before 24.11 prints them (``/t/<TOKEN>/``) get
the token from the user's channels or anaconda-client's store; plain URLs get a stored
token as conda's session adds it; the token is never printed nor written."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from conda_fetch.cache.urls import read_urls
from conda_fetch.cli import main
from conda_fetch.config.tokens import MASK
from conda_fetch.hashing import file_digest
from conda_fetch.testing.faultserver import FaultServer
from support.channel import plan_from_repodata

TOKEN = "tk-e2e-Secret-42"
QUICK = ["--stall-timeout", "1", "--retries", "1"]


@pytest.fixture
def private(tmp_path, channel, fault_server) -> FaultServer:
    """The test channel served only under ``/t/TOKEN/private`` (hard links, no copies)."""
    root = tmp_path / "www"
    shutil.copytree(channel, root / "t" / TOKEN / "private", copy_function=os.link)
    return fault_server(root)


def _plan(server: FaultServer, channel: Path, base: str, path: Path) -> list[dict]:
    """A dry-run plan of the small packages (alpha, beta) with URLs under ``base``."""
    records = [r for subdir in ("noarch", "linux-64")
               for r in plan_from_repodata(channel, server.url + base, subdir)
               if r["name"] != "gamma"]
    path.write_text(json.dumps({"success": True, "dry_run": True, "prefix": "/env",
                                "actions": {"FETCH": records, "LINK": []}}))
    return records


def _condarc(tmp_path: Path, monkeypatch, text: str) -> None:
    (tmp_path / "condarc").write_text(text)
    monkeypatch.setenv("CONDARC", str(tmp_path / "condarc"))


def _token_store(tmp_path: Path, monkeypatch, url: str, token: str = TOKEN) -> None:
    """anaconda-client's store as ``anaconda login`` leaves it."""
    data = tmp_path / "binstar" / "data"
    data.mkdir(parents=True)
    (data / f"{quote_plus(url)}.token").write_text(token)
    monkeypatch.setenv("BINSTAR_CONFIG_DIR", str(tmp_path / "binstar"))


def _get(plan: Path, pkgs: Path, *extra: str) -> int:
    return main(["get", str(plan), "--pkgs-dir", str(pkgs), "--platform", "linux-64",
                 *QUICK, *extra])


def _assert_fetched_token_free(server: FaultServer, pkgs: Path, records: list[dict],
                               output: str) -> None:
    """Every package verified in the cache, urls.txt naming the token-less URL, every
    package request made with the token, and the token in no output and no file outside
    conda's index cache."""
    urls = read_urls(pkgs)
    for record in records:
        assert file_digest(pkgs / record["fn"], "sha256") == record["sha256"]
        assert urls[record["fn"]] == f"{server.url}/private/{record['subdir']}/{record['fn']}"
    fetched = [path for path in server.stats.per_path if path.endswith((".conda", ".bz2"))]
    assert fetched and all(path.startswith(f"/t/{TOKEN}/private/") for path in fetched)
    # conda's index cache (cache/<key>.info.json) names the channel with its token, as
    # conda itself writes it; everything else must not
    written = [p for p in pkgs.rglob("*") if p.is_file() and p.parent != pkgs / "cache"
               and TOKEN.encode() in p.read_bytes()]
    assert written == []
    assert TOKEN not in output


def test_hidden_token_from_a_condarc_channel(tmp_path, channel, private, monkeypatch,
                                             capsys) -> None:
    plan = tmp_path / "plan.json"
    records = _plan(private, channel, f"/t/{MASK}/private", plan)
    _condarc(tmp_path, monkeypatch, f"channels:\n  - {private.url}/t/{TOKEN}/private\n")
    assert _get(plan, tmp_path / "pkgs", "--json") == 0
    out, err = capsys.readouterr()
    _assert_fetched_token_free(private, tmp_path / "pkgs", records, out + err)


def test_bundle_of_a_hidden_token_plan_carries_no_token(tmp_path, channel, private,
                                                       monkeypatch, capsys) -> None:
    plan = tmp_path / "plan.json"
    records = _plan(private, channel, f"/t/{MASK}/private", plan)
    _condarc(tmp_path, monkeypatch, f"channels:\n  - {private.url}/t/{TOKEN}/private\n")
    bundle = tmp_path / "work.tar"
    assert main(["bundle", str(plan), "-o", str(bundle), "--pkgs-dir", str(tmp_path / "pkgs"),
                 "--platform", "linux-64", *QUICK]) == 0
    assert bundle.stat().st_size > sum(r["size"] for r in records)
    assert TOKEN.encode() not in bundle.read_bytes()
    out, err = capsys.readouterr()
    _assert_fetched_token_free(private, tmp_path / "pkgs", records, out + err)


def test_hidden_token_from_the_token_store(tmp_path, channel, private, monkeypatch,
                                           capsys) -> None:
    plan = tmp_path / "plan.json"
    records = _plan(private, channel, f"/t/{MASK}/private", plan)
    _token_store(tmp_path, monkeypatch, private.url)
    assert _get(plan, tmp_path / "pkgs") == 0
    out, err = capsys.readouterr()
    _assert_fetched_token_free(private, tmp_path / "pkgs", records, out + err)


def test_hidden_token_found_nowhere_is_refused_in_one_line(tmp_path, channel, private,
                                                           monkeypatch, capsys) -> None:
    plan = tmp_path / "plan.json"
    _plan(private, channel, f"/t/{MASK}/private", plan)
    # tokens of other channels and hosts must neither be used nor shown
    _condarc(tmp_path, monkeypatch, f"channels:\n  - {private.url}/t/{TOKEN}/public\n")
    _token_store(tmp_path, monkeypatch, "http://127.0.0.2:1")
    pkgs = tmp_path / "pkgs"
    assert _get(plan, pkgs) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert f"{plan}: conda hid the token of channel {private.url}/t/{MASK}/private" in lines[0]
    assert "anaconda login" in lines[0] and "conda >= 24.11" in lines[0]
    assert TOKEN not in out + err
    assert not pkgs.exists()
    assert private.stats.requests == 0


def test_stored_token_is_added_to_a_plain_url(tmp_path, channel, private, monkeypatch,
                                              capsys) -> None:
    plan = tmp_path / "plan.json"
    records = _plan(private, channel, "/private", plan)
    _token_store(tmp_path, monkeypatch, private.url)
    assert _get(plan, tmp_path / "pkgs", "--json") == 0
    out, err = capsys.readouterr()
    _assert_fetched_token_free(private, tmp_path / "pkgs", records, out + err)


def test_add_anaconda_token_false_keeps_the_stored_token_out(tmp_path, channel, private,
                                                             monkeypatch, capsys) -> None:
    plan = tmp_path / "plan.json"
    records = _plan(private, channel, "/private", plan)
    _token_store(tmp_path, monkeypatch, private.url)
    _condarc(tmp_path, monkeypatch, "add_anaconda_token: false\n")
    assert _get(plan, tmp_path / "pkgs", "--json") == 1  # the channel wants its token
    report = json.loads(capsys.readouterr().out)
    assert len(report["failed"]) == len(records)
    assert private.stats.per_path and not any(p.startswith("/t/") for p in private.stats.per_path)


def test_run_takes_the_token_of_its_own_channel_option(tmp_path, channel, private,
                                                       capsys) -> None:
    """conda 23.11-24.5 hide even the token of ``-c URL`` in the plan they print."""
    records = _plan(private, channel, f"/t/{MASK}/private", tmp_path / "plan.json")
    pkgs = tmp_path / "pkgs"
    (tmp_path / "info.json").write_text(json.dumps({"pkgs_dirs": [str(pkgs)]}))
    checks = " && ".join(f'test -f "{pkgs / r["fn"]}"' for r in records)
    conda = tmp_path / "bin" / "conda"
    conda.parent.mkdir()
    conda.write_text(
        "#!/bin/sh\n"
        f'case "$*" in info*) cat "{tmp_path}/info.json"; exit 0;;\n'
        f'  *--dry-run*) cat "{tmp_path}/plan.json"; exit 0;;\n'
        "esac\n"
        f'{checks} && touch "{tmp_path}/ran"\n')
    conda.chmod(0o755)
    command = [str(conda), "create", "-n", "work", "--override-channels",
               "-c", f"{private.url}/t/{TOKEN}/private", "alpha", "beta"]
    assert main(["run", *QUICK, "--", *command]) == 0
    assert (tmp_path / "ran").exists()
    out, err = capsys.readouterr()
    assert "Asking conda for its plan" in err and "Running" in err
    _assert_fetched_token_free(private, pkgs, records, out + err)


@pytest.mark.parametrize("keep", [False, True])
def test_export_of_a_hidden_token_plan(tmp_path, channel, private, monkeypatch, capsys,
                                       keep) -> None:
    """Without --with-credentials the list names no token (nor the mask); with it, the
    token the user keeps takes the mask's place."""
    plan = tmp_path / "plan.json"
    records = _plan(private, channel, f"/t/{MASK}/private", plan)
    _condarc(tmp_path, monkeypatch, f"channels:\n  - {private.url}/t/{TOKEN}/private\n")
    listing = tmp_path / "todo.txt"
    assert main(["export", str(plan), "--pkgs-dir", str(tmp_path / "pkgs"), "--platform",
                 "linux-64", "-o", str(listing), *(["--with-credentials"] if keep else [])]) == 0
    base = f"{private.url}/t/{TOKEN}/private" if keep else f"{private.url}/private"
    assert sorted(listing.read_text().split()) == sorted(
        f"{base}/{r['subdir']}/{r['fn']}" for r in records)
    assert TOKEN not in "".join(capsys.readouterr())
