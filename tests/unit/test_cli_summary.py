"""Failure kinds from the engine's messages, and the advice lines for them."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from conda_fetch.cli.summary import (
    CHECKSUM,
    CUT,
    DISK,
    MISSING,
    NETWORK,
    OTHER,
    failure_kind,
    failure_lines,
    print_summary,
)
from conda_fetch.pipeline import Report
from conda_fetch.plan.records import make_record


@pytest.mark.parametrize("error, kind", [
    ("HTTP 404 Not Found", MISSING),
    ("no source left for this file (HTTP 410 Gone)", MISSING),
    ("verified, but could not be placed: [Errno 28] No space left on device", DISK),
    ("sha256 ab differs from expected cd; gave up after 3 attempts", CHECKSUM),
    ("cannot connect to mirror.example (refused) (gave up after 5 retries)", NETWORK),
    ("SSLError: certificate verify failed", NETWORK),
    ("connection closed at byte 10 of 20 (gave up after 5 retries)", CUT),
    ("HTTP 503 Service Unavailable (gave up after 5 retries)", CUT),
    ("interrupted", CUT),
    ("something new", OTHER),
])
def test_failure_kind(error, kind) -> None:
    assert failure_kind(error) == kind


def test_advice_once_per_kind_and_the_plugin_names_itself() -> None:
    record = make_record("https://example.org/noarch/a-1-0.conda")
    other = make_record("https://example.org/noarch/b-1-0.conda")
    report = Report(failed=[(record, "HTTP 404"), (other, "HTTP 404"), (record, "odd")])
    lines = failure_lines(report, prog="conda fetch")
    assert sum(line.startswith(MISSING) for line in lines) == 1
    assert any("conda fetch export PLAN" in line for line in lines)
    assert not any(line.strip().startswith(("sha256", "md5", "size")) for line in lines)


@pytest.mark.parametrize("width", [40, 120])
def test_summary_fits_the_width(width) -> None:
    console = Console(file=io.StringIO(), width=width, color_system=None, soft_wrap=True)
    records = [make_record(f"https://example.org/noarch/p{i}-1-0.conda") for i in range(12)]
    print_summary(console, Report(cached=records, failed=[(records[0], "HTTP 404")],
                                  seconds=123.4), "/pkgs")
    lines = console.file.getvalue().splitlines()
    assert lines[0].startswith("0 fetched (0 B in 123.4s)")
    assert "12 already cached, 1 failed" in "".join(lines[:2])
    assert all(len(line) < width for line in lines[:3]), lines  # the counts and the cache
