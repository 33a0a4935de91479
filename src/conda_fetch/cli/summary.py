"""The closing lines of a fetch: counts, every failure, and what to do next."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text

from conda_fetch.pipeline import Report
from conda_fetch.redact import redact
from conda_fetch.units import human_bytes

NEXT_STEPS = (
    "Next: run the same command again to resume (try --preset china or --mirror "
    "for more sources), or list what is missing with 'conda-fetch export PLAN "
    "--format aria2', fetch it by any means, and adopt it with 'conda-fetch import "
    "FOLDER', which checks each file's sha256."
)


def failure_lines(report: Report) -> list[str]:
    """Each failed record: its file name and error, URL and what it must be (plain text)."""
    lines = []
    for record, error in report.failed:
        lines.append(f"{record.fn}: {redact(error)}")
        lines.append(f"    url:    {redact(record.url)}")
        lines.append(f"    sha256: {record.sha256 or '?'}  size: {record.size or '?'}")
    return lines


def print_summary(out: Console, report: Report, root: Path) -> None:
    """The counts, then every failure with what to do next."""
    out.print(
        f"[bold]{len(report.fetched)} fetched[/] ({human_bytes(report.bytes_fetched)} "
        f"in {report.seconds:.1f}s), {len(report.cached)} already cached, "
        f"{len(report.failed)} failed  →  {root}"
    )
    for line in failure_lines(report):
        head = Text("" if line.startswith(" ") else "failed ", style="red")
        out.print(head + Text(line), highlight=False)
    for host in sorted({h for _, outcome in report.fetched for h in outcome.blamed}):
        out.print(f"[yellow]{host} served corrupt bytes[/]; it was not used again in this run")
    if report.failed:
        out.print(NEXT_STEPS)
