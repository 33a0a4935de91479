"""The plugin's own lines: a header naming conda-fetch, one summary line, the hint."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from conda_fetch.engine import Job, Outcome
from conda_fetch.pipeline import Report
from conda_fetch.plan.records import make_record
from conda_fetch.plugin.prefetch import header, hint, summary_line


def _record(name: str):
    return make_record(f"https://conda.anaconda.org/conda-forge/noarch/{name}-1-0.conda",
                       size=2048, sha256="c" * 64)


def test_header_names_conda_fetch_and_the_cache() -> None:
    line = header([_record("a"), _record("b")], Path("/opt/conda/pkgs"))
    assert line == ("conda-fetch: 2 packages for conda to download, fetched into "
                    "/opt/conda/pkgs first")


def test_summary_counts_what_was_already_in_the_cache() -> None:
    a, b, c = _record("a"), _record("b"), _record("c")
    outcome = Outcome(Job(a.fn, [a.url], Path("x")), ok=True, size=2048, fetched=2048,
                      seconds=1.25, faults=Counter())
    report = Report(fetched=[(a, outcome)], cached=[b], failed=[(c, "HTTP 404 Not Found")],
                    seconds=1.25)
    assert summary_line(report) == ("conda-fetch: 1 fetched (2.0 KiB in 1.2s), 1 already in the "
                                    "cache (verified and registered: conda downloads none of "
                                    "them), 1 failed (conda tries those itself)")
    text = hint(Report(failed=[(c, "HTTP 404 Not Found")]))
    assert "not on the server: check the URL" in text and "sha256 " + "c" * 64 in text
