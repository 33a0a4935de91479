"""Plain lists of package URLs, one per line."""

from __future__ import annotations

from conda_fetch.errors import InputError
from conda_fetch.plan.lines import meaningful_lines
from conda_fetch.plan.records import EXTENSIONS, Record, make_record

URL_SCHEMES = ("http://", "https://", "file://")


def is_urllist(text: str) -> bool:
    """Every meaningful line is a URL."""
    return all(line.startswith(URL_SCHEMES) for _, line in meaningful_lines(text))


def parse_urllist(text: str, source: str) -> list[Record]:
    """Records for each URL line; anything else is an error naming its line."""
    records = []
    for number, line in meaningful_lines(text):
        try:
            record = make_record(line)
        except InputError as exc:
            raise InputError(f"{source}:{number}: {exc}") from None
        if not record.fn.endswith(EXTENSIONS):
            raise InputError(f"{source}:{number}: not a .conda or .tar.bz2 package URL: {line}")
        records.append(record)
    return records
