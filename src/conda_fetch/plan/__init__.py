"""Plans: what to fetch. Readers are chosen by content, never by file name.

A plan is a list of :class:`~conda_fetch.plan.records.Record`. Formats: the JSON of
``conda/mamba/micromamba ... --dry-run --json``, explicit files
(``@EXPLICIT``), ``conda-lock.yml`` version 1, and plain URL lists.
"""

from __future__ import annotations

import sys
from typing import TextIO

from conda_fetch.errors import InputError
from conda_fetch.plan.dryrun import find_json, parse_dryrun
from conda_fetch.plan.explicit import is_explicit, parse_explicit
from conda_fetch.plan.lockfile import current_subdir, is_lockfile, load_yaml, parse_lockfile
from conda_fetch.plan.urllist import URL_SCHEMES, is_urllist, parse_urllist
from conda_fetch.plan.records import Record, make_record

__all__ = ["current_subdir", "read_plan", "records_from_args", "records_from_text"]


def records_from_text(text: str, source: str, *, platform: str | None = None) -> list[Record]:
    """Parse ``text`` in whichever plan format it is; ``source`` names it in errors."""
    if is_explicit(text):
        return parse_explicit(text, source)
    if find_json(text) is not None:
        return parse_dryrun(text, source)
    if not is_urllist(text):
        data = load_yaml(text, source)
        if is_lockfile(data):
            return parse_lockfile(data, source, platform)
    return parse_urllist(text, source)


def read_plan(source: str, *, platform: str | None = None, stdin: TextIO | None = None) -> list[Record]:
    """Read the plan in file ``source`` (``-`` for standard input)."""
    if source == "-":
        return records_from_text((stdin or sys.stdin).read(), "<stdin>", platform=platform)
    try:
        with open(source, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(f"{source}: not a text plan (not UTF-8)") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror}") from None
    return records_from_text(text, source, platform=platform)


def records_from_args(
    args: list[str], *, platform: str | None = None, stdin: TextIO | None = None
) -> list[Record]:
    """Records for command-line arguments: package URLs and plan files, deduplicated."""
    records: list[Record] = []
    for arg in args:
        if arg.startswith(URL_SCHEMES) or "://" in arg:  # other schemes: a clear refusal
            records.append(make_record(arg))
        else:
            records += read_plan(arg, platform=platform, stdin=stdin)
    return deduplicate(records)


def deduplicate(records: list[Record]) -> list[Record]:
    """One record per file name; the same file from two URLs keeps the first, conflicting
    facts about one file name are an error."""
    by_fn: dict[str, Record] = {}
    for record in records:
        known = by_fn.get(record.fn)
        by_fn[record.fn] = record if known is None else _merge(known, record)
    return list(by_fn.values())


def _merge(first: Record, second: Record) -> Record:
    for field in ("size", "sha256", "md5"):
        a, b = getattr(first, field), getattr(second, field)
        if a is not None and b is not None and a != b:
            raise InputError(f"two different files named {first.fn}: {first.url} and "
                             f"{second.url} ({field} differs)")
    return Record(
        url=first.url,
        fn=first.fn,
        size=first.size if first.size is not None else second.size,
        sha256=first.sha256 or second.sha256,
        md5=first.md5 or second.md5,
    )
