"""Explicit files: ``@EXPLICIT`` then package URLs with ``#<md5>`` or ``#sha256:<hex>``."""

from __future__ import annotations

from conda_fetch.errors import InputError
from conda_fetch.plan.lines import meaningful_lines
from conda_fetch.plan.records import Record, make_record

MARKER = "@EXPLICIT"


def is_explicit(text: str) -> bool:
    return any(line == MARKER for _, line in meaningful_lines(text))


def parse_explicit(text: str, source: str) -> list[Record]:
    """Records of an explicit file as ``conda list --explicit --md5/--sha256`` prints it."""
    records, seen_marker = [], False
    for number, line in meaningful_lines(text):
        if line == MARKER:
            seen_marker = True
        elif not seen_marker:
            raise InputError(f"{source}:{number}: expected {MARKER} before package lines")
        else:
            records.append(_record(line, source, number))
    return records


def _record(line: str, source: str, number: int) -> Record:
    url, _, digest = line.partition("#")
    sha256 = md5 = None
    if digest.startswith("sha256:"):
        sha256 = digest.removeprefix("sha256:")
    elif digest:
        md5 = digest
    try:
        return make_record(url, sha256=sha256, md5=md5)
    except InputError as exc:
        raise InputError(f"{source}:{number}: {exc}") from None
