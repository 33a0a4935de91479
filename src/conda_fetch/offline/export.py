"""Lists of what to fetch elsewhere: URLs, aria2c input, explicit files, JSON, sha256sum."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from conda_fetch.plan.records import Record, has_unsafe_chars
from conda_fetch.sources import candidates

Mirrors = Mapping[str, Sequence[str]]


def as_urls(records: Sequence[Record], mirrors: Mirrors) -> str:
    """One URL per line."""
    return "".join(f"{r.url}\n" for r in records)


#: aria2c options for every file, for networks that cut, stall and answer 503: resume
#: what an earlier run left, retry without end with a pause, never write ``name.1.conda``,
#: and allocate nothing ahead (an unfinished file is never full-size).
ARIA2_EACH = ("continue=true", "max-tries=0", "retry-wait=10", "auto-file-renaming=false",
              "allow-overwrite=false", "file-allocation=none")
#: Large files (or of unknown size) are split over connections, from every mirror.
ARIA2_LARGE = ("split=8", "max-connection-per-server=4", "min-split-size=4M")
ARIA2_LARGE_BYTES = 8 << 20


def as_aria2(records: Sequence[Record], mirrors: Mirrors) -> str:
    """An ``aria2c -i`` input file: every URL of a file on one line (tab-separated, so
    aria2 may use them all), then its output name, checksum and options that make a
    rerun resume rather than start over or rename. A URL that could break out of its
    line (whitespace, control characters) is left out."""
    lines = []
    for record in records:
        lines.append("\t".join(u for u in candidates(record.url, mirrors)
                               if not has_unsafe_chars(u)))
        lines.append(f"  out={record.fn}")
        if record.sha256:
            lines.append(f"  checksum=sha-256={record.sha256}")
        elif record.md5:
            lines.append(f"  checksum=md5={record.md5}")
        large = record.size is None or record.size >= ARIA2_LARGE_BYTES
        lines += [f"  {option}" for option in (*ARIA2_EACH, *(ARIA2_LARGE if large else ()))]
    return "".join(f"{line}\n" for line in lines)


def as_explicit(records: Sequence[Record], mirrors: Mirrors) -> str:
    """``@EXPLICIT`` with ``#sha256:`` (else ``#md5``) on each URL (conda >= 24.9 reads sha256)."""
    return _explicit(records, prefer_md5=False)


def as_explicit_md5(records: Sequence[Record], mirrors: Mirrors) -> str:
    """``@EXPLICIT`` with ``#md5`` (else ``#sha256:``), as every conda release reads it."""
    return _explicit(records, prefer_md5=True)


def _explicit(records: Sequence[Record], prefer_md5: bool) -> str:
    lines = ["@EXPLICIT"]
    for record in records:
        sha256 = f"#sha256:{record.sha256}" if record.sha256 else ""
        md5 = f"#{record.md5}" if record.md5 else ""
        lines.append(record.url + ((md5 or sha256) if prefer_md5 else (sha256 or md5)))
    return "".join(f"{line}\n" for line in lines)


def as_json(records: Sequence[Record], mirrors: Mirrors) -> str:
    """The records as a JSON list."""
    rows = [{"url": r.url, "fn": r.fn, "size": r.size, "sha256": r.sha256, "md5": r.md5,
             "mirrors": candidates(r.url, mirrors)[1:]} for r in records]
    return json.dumps(rows, indent=2) + "\n"


def as_sha256(records: Sequence[Record], mirrors: Mirrors) -> str:
    """A ``sha256sum -c`` file; files without a known sha256 are listed as comments."""
    return "".join(f"{r.sha256}  {r.fn}\n" if r.sha256 else f"# no sha256 known: {r.fn}\n"
                   for r in records)


FORMATS: dict[str, Callable[[Sequence[Record], Mirrors], str]] = {
    "urls": as_urls,
    "aria2": as_aria2,
    "explicit": as_explicit,
    "explicit-md5": as_explicit_md5,
    "json": as_json,
    "sha256": as_sha256,
}
