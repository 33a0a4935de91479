"""Every kind of failure ends with advice for that kind, made by real faults on loopback."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest

from conda_fetch.cli import main
from conda_fetch.testing.faultserver import Faults
from conda_fetch.testing.packages import build_package

QUICK = ["--stall-timeout", "1", "--retries", "0", "--connect-timeout", "2"]


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("channel")
    (root / "noarch").mkdir()
    build_package(root / "noarch", "alpha", payload=200_000)
    return root


def _plan(path: Path, url: str, root: Path, sha: bool = True) -> Path:
    built = next((root / "noarch").glob("alpha-*"))
    if sha:
        digest = hashlib.sha256(built.read_bytes()).hexdigest()
        path.write_text(json.dumps({"actions": {"FETCH": [{
            "url": f"{url}/noarch/{built.name}", "fn": built.name, "sha256": digest,
            "size": built.stat().st_size}], "LINK": []}}))
    else:
        path.write_text(f"{url}/noarch/{built.name}\n")
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(tmp_path: Path, plan: Path, capsys) -> list[str]:
    assert main(["get", str(plan), "--pkgs-dir", str(tmp_path / "pkgs"), *QUICK, "--json"]) == 1
    captured = capsys.readouterr()
    kinds = [entry["kind"] for entry in json.loads(captured.out)["failed"]]
    lines = captured.err.splitlines()
    assert [line.split(":")[0] for line in lines if line.split(":")[0] in kinds] == kinds
    return lines


def test_404_says_check_the_url_not_resume(tmp_path, served, fault_server, capsys) -> None:
    server = fault_server(served, Faults(fail_status={".conda": 404}))
    err = _run(tmp_path, _plan(tmp_path / "p.json", server.url, served), capsys)
    assert any(line.startswith("not on the server: check the URL") for line in err)
    assert not any("resumes" in line for line in err)
    assert any(line.strip().startswith("sha256 ") for line in err)


def test_refused_connection_points_at_network_and_configuration(tmp_path, served, capsys) -> None:
    plan = _plan(tmp_path / "p.txt", f"http://127.0.0.1:{_closed_port()}", served, sha=False)
    err = _run(tmp_path, plan, capsys)
    assert any(line.startswith("no connection: check the network, the proxy") for line in err)
    assert not any(line.strip().startswith(("sha256", "md5", "size")) or "?" in line
                   for line in err), "a URL plan knows no size or checksum"


def test_cuts_say_run_again_to_resume(tmp_path, served, fault_server, capsys) -> None:
    server = fault_server(served, Faults(cut_after=0))
    err = _run(tmp_path, _plan(tmp_path / "p.json", server.url, served), capsys)
    assert any(line.startswith("connection kept failing: run the same command again")
               for line in err)


def test_other_bytes_than_the_plan_say_make_the_plan_again(tmp_path, served, fault_server,
                                                            capsys) -> None:
    server = fault_server(served, Faults(size_lie=123_456))
    err = _run(tmp_path, _plan(tmp_path / "p.json", server.url, served), capsys)
    assert any(line.startswith("wrong bytes: the file differs from the plan") for line in err)


def test_every_line_is_short(tmp_path, served, fault_server, capsys) -> None:
    server = fault_server(served, Faults(fail_status={".conda": 410}))
    err = _run(tmp_path, _plan(tmp_path / "p.txt", server.url, served, sha=False), capsys)
    assert all(len(line) <= 80 for line in err if "http://" not in line), err
