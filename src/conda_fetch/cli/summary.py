"""The closing lines of a fetch: counts, every failure, and what to do about each kind.

:func:`failure_lines` is shared by the command line and the conda plugin.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from conda_fetch.pipeline import Report
from conda_fetch.plan.records import Record
from conda_fetch.redact import redact
from conda_fetch.units import human_bytes

if TYPE_CHECKING:
    from rich.console import Console

MISSING, DISK, CHECKSUM, NETWORK, CUT, OTHER = (
    "not on the server", "disk full", "wrong bytes", "no connection", "connection kept failing",
    "failed")

#: How an error message tells its kind, first match wins.
_KINDS = (
    (MISSING, re.compile(r"HTTP 4(04|10)\b")),
    (DISK, re.compile(r"No space left|Errno 28|Disk quota", re.IGNORECASE)),
    (CHECKSUM, re.compile(r"differs from expected|server has \d+ bytes, expected")),
    (NETWORK, re.compile(r"cannot connect|no answer|connection refused|not resolved|"
                         r"unreachable|connection timed out|connection reset|TLS failed|SSL|"
                         r"certificate|NameResolution|getaddrinfo|Proxy|HTTP 40[137]\b",
                         re.IGNORECASE)),
    (CUT, re.compile(r"connection closed|broke|sent nothing|too slow|HTTP (5\d\d|429)\b|"
                     r"interrupted")),
)

_ADVICE = {
    MISSING: ("check the URL or channel name; the channel",
              "may have removed the package: make the plan again"),
    DISK: ("free space (conda clean --tarballs) or use --pkgs-dir",
           "on another disk, then run the same command again"),
    CHECKSUM: ("the file differs from the plan: make the plan again,",
               "or leave out the mirror that serves another file"),
    NETWORK: ("check the network, the proxy (proxy_servers) and",
              "certificates (ssl_verify) in .condarc, or add mirrors: --preset china"),
    CUT: ("run the same command again: it resumes",
          "where it stopped (--preset china adds mirrors)"),
    OTHER: ("run the same command again, or fetch the file by any means",
            "and adopt it: {prog} export PLAN --format aria2, then {prog} import FOLDER"),
}


def failure_kind(error: str) -> str:
    """The kind of failure an error message reports (one of the kinds above)."""
    return next((kind for kind, pattern in _KINDS if pattern.search(error)), OTHER)


def failure_lines(report: Report, prog: str = "conda-fetch") -> list[str]:
    """Each failed record (see :func:`failed_lines`), then :func:`advice_lines`."""
    lines = [line for record, error in report.failed for line in failed_lines(record, error)]
    return lines + advice_lines(report, prog)


def failed_lines(record: Record, error: str) -> list[str]:
    """A failed record: its name and error, its URL and, when known, what it must be."""
    lines = [f"{record.fn}: {redact(error)}", f"    {redact(record.url)}"]
    if record.size:
        lines.append(f"    size {record.size} bytes ({human_bytes(record.size)})")
    digest = (f"sha256 {record.sha256}" if record.sha256
              else f"md5 {record.md5}" if record.md5 else "")
    return lines + ([f"    {digest}"] if digest else [])


def advice_lines(report: Report, prog: str = "conda-fetch") -> list[str]:
    """What to do, once for each kind of failure in ``report``."""
    lines = []
    for kind in dict.fromkeys(failure_kind(error) for _, error in report.failed):
        first, second = _ADVICE[kind]
        lines += [f"{kind}: {first}", f"    {second.format(prog=prog)}"]
    return lines


def print_summary(out: Console, report: Report, root: Path | str) -> None:
    """The counts and the cache, then every failure with what to do about it."""
    from rich.text import Text  # rich loads only where it prints: not for --quiet, --json

    fetched = (f"{len(report.fetched)} fetched ({human_bytes(report.bytes_fetched)} in "
               f"{report.seconds:.1f}s)")
    others = f"{len(report.cached)} already cached, {len(report.failed)} failed"
    fits = len(fetched) + 2 + len(others) < out.width
    out.print(Text(fetched, style="bold") + Text(", " + others if fits else ""), highlight=False)
    if not fits:
        out.print(others, highlight=False)
    out.print(f"  → {root}", highlight=False)
    for record, error in report.failed:
        head, *more = failed_lines(record, error)
        out.print(Text("failed ", style="red") + Text(head), highlight=False)
        for line in more:
            out.print(Text(line), highlight=False)
    for line in advice_lines(report):
        out.print(Text(line, style="" if line.startswith(" ") else "yellow"), highlight=False)
    for host in sorted({h for _, outcome in report.fetched for h in outcome.blamed}):
        out.print(f"[yellow]{host} served corrupt bytes[/]; not used again in this run")
