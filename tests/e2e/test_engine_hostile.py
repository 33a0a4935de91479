"""Servers that lie: redirects out of HTTP(S), encoded bodies, FIFOs behind file://, TLS
that fails, and CA-bundle variables that must not beat the user's TLS choice."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conda_fetch.cli import main
from conda_fetch.testing.packages import build_package
from support.hostile import HostileServer, gzipped, raw_answer, redirect_to, self_signed, serve


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return build_package(tmp_path_factory.mktemp("built"), "alpha", payload=50_000)


def _get(capsys, pkgs: Path, *sources: str, extra: tuple[str, ...] = ()) -> tuple[int, dict, str]:
    code = main(["get", *sources, "--pkgs-dir", str(pkgs), "--json", "--retries", "1",
                 "--stall-timeout", "2", *extra])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def _archives(pkgs: Path) -> list[str]:
    return sorted(p.name for p in pkgs.iterdir() if p.name.endswith((".conda", ".tar.bz2")))


@pytest.mark.parametrize("target", ["file:///etc/passwd", "file:///dev/zero", "ftp://127.0.0.1/x"])
def test_a_redirect_out_of_http_is_refused(tmp_path, capsys, target: str) -> None:
    pkgs = tmp_path / "pkgs"
    with HostileServer(redirect_to(target)) as server:
        code, report, _ = _get(capsys, pkgs, f"{server.url}/noarch/alpha-1.0-0.conda")
    assert code == 1 and not report["success"]
    assert "redirect" in report["failed"][0]["error"]
    assert _archives(pkgs) == []


def test_file_urls_serve_regular_files_only(tmp_path, capsys) -> None:
    fifo = tmp_path / "fifo-1.0-0.conda"
    os.mkfifo(fifo)
    pkgs = tmp_path / "pkgs"
    code, report, _ = _get(capsys, pkgs, fifo.as_uri())  # would hang if opened for reading
    assert code == 1
    assert report["failed"][0]["fn"] == fifo.name
    assert _archives(pkgs) == []


def test_a_file_url_the_plan_names_is_fetched(tmp_path, capsys, package) -> None:
    pkgs = tmp_path / "pkgs"
    plan = tmp_path / "env.txt"
    plan.write_text(f"@EXPLICIT\n{package.path.as_uri()}#sha256:{package.sha256}\n")
    code, report, _ = _get(capsys, pkgs, str(plan))
    assert code == 0 and report["fetched"][0]["fn"] == package.fn
    assert (pkgs / package.fn).read_bytes() == package.path.read_bytes()


def test_a_body_encoded_against_identity_is_refused(tmp_path, capsys, package) -> None:
    pkgs = tmp_path / "pkgs"
    with HostileServer(gzipped(package.path.read_bytes())) as server:
        code, report, _ = _get(capsys, pkgs, f"{server.url}/noarch/{package.fn}")
    assert code == 1
    assert "gzip-encoded" in report["failed"][0]["error"]
    assert _archives(pkgs) == []


@pytest.mark.parametrize(("head", "why"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 6000, "mismatch"),
    (b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-2/" + b"9" * 6000, "malformed"),
    (b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-2/3 and more", "malformed"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2", "mismatch"),
])
def test_numbers_a_server_cannot_make_us_parse_fail_the_file_with_a_reason(
        tmp_path, capsys, package, head: bytes, why: str) -> None:
    pkgs = tmp_path / "pkgs"
    with HostileServer(raw_answer(head + b"\r\n\r\nabc")) as server:
        plan = tmp_path / "env.txt"
        plan.write_text(f"@EXPLICIT\n{server.url}/noarch/{package.fn}#sha256:{package.sha256}\n")
        code, report, _ = _get(capsys, pkgs, str(plan))
    assert code == 1
    assert why in report["failed"][0]["error"]
    assert _archives(pkgs) == []


def test_a_certificate_failure_is_permanent_and_says_what_to_do(tmp_path, capsys, package,
                                                                 tls) -> None:
    pkgs = tmp_path / "pkgs"
    with HostileServer(serve(package.path.read_bytes()), tls=tls) as server:
        code, report, _ = _get(capsys, pkgs, f"{server.url}/noarch/{package.fn}",
                               extra=("--retries", "5"))
        assert server.requests == 0
    assert code == 1
    error = report["failed"][0]["error"]
    assert "certificate" in error and "ssl_verify" in error
    assert "self-signed" in error or "self signed" in error  # what failed
    assert "gave up after" not in error  # not retried


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_insecure_and_ssl_verify_beat_ca_bundle_variables(tmp_path, capsys, monkeypatch, package,
                                                           tls, variable: str) -> None:
    other = self_signed(tmp_path)  # a CA that did not sign the server's certificate
    assert other is not None
    monkeypatch.setenv(variable, str(other[0]))
    with HostileServer(serve(package.path.read_bytes()), tls=tls) as server:
        url = f"{server.url}/noarch/{package.fn}"
        code, report, _ = _get(capsys, tmp_path / "a", url, extra=("--insecure",))
        assert code == 0, report
        (Path(os.environ["HOME"]) / ".condarc").write_text(f"ssl_verify: {tls[0]}\n")
        code, report, _ = _get(capsys, tmp_path / "b", url)
        assert code == 0, report
    assert (tmp_path / "b" / package.fn).read_bytes() == package.path.read_bytes()
