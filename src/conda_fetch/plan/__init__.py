"""Plans: what to fetch. Readers are chosen by content, never by file name.

A plan is a list of :class:`~conda_fetch.plan.records.Record`. Formats: the JSON of
``conda/mamba/micromamba ... --dry-run --json``, explicit files
(``@EXPLICIT``), ``conda-lock.yml`` version 1, and plain URL lists. A plan is
read whole but bounded in size, recognised by its first lines before any
parser runs, and must be for the target platform.
"""

from __future__ import annotations

import sys
from typing import TextIO

from conda_fetch.errors import InputError
from conda_fetch.plan.dryrun import find_json, parse_dryrun
from conda_fetch.plan.explicit import is_explicit, parse_explicit
from conda_fetch.plan.lines import meaningful_lines
from conda_fetch.plan.platform import check_platform, current_subdir, target_platform
from conda_fetch.plan.records import Record, make_record
from conda_fetch.plan.urllist import URL_SCHEMES, parse_urllist

__all__ = ["current_subdir", "read_plan", "records_from_args", "records_from_text"]

MAX_PLAN_BYTES = 32 << 20  # the largest real plans (multi-platform lock files) are a few MB
_YAML_START = ("---", "%YAML", "version:", "metadata:", "package:")


def records_from_text(text: str, source: str, *, platform: str | None = None) -> list[Record]:
    """Parse ``text`` in whichever plan format it is; ``source`` names it in errors.

    ``platform`` is the target (default: ``CONDA_SUBDIR``, else this machine's);
    a plan for another one is refused.
    """
    target = target_platform(platform)
    text = text.removeprefix("\ufeff")  # a BOM, as Windows PowerShell 5.1 saves text
    first = next(meaningful_lines(text), None)
    if first is None:
        raise InputError(f"{source}: empty plan (no packages, no @EXPLICIT, no JSON)")
    if is_explicit(text):
        records = parse_explicit(text, source)
    elif first[1].startswith(URL_SCHEMES):
        records = parse_urllist(text, source)
    elif find_json(text) is not None:
        records = parse_dryrun(text, source)
    elif first[1].startswith(_YAML_START):
        records = _lockfile(text, source, target)
    else:
        raise InputError(f"{source}:{first[0]}: not a plan (expected conda's --dry-run --json, "
                         "@EXPLICIT, a conda-lock file or package URLs): "
                         f"{first[1][:60]!r}")
    check_platform(text, records, source, target)
    return records


def _lockfile(text: str, source: str, target: str) -> list[Record]:
    from conda_fetch.plan.lockfile import (  # its YAML reader loads only for a lock file
        is_lockfile,
        load_yaml,
        parse_lockfile,
    )

    data = load_yaml(text, source)
    if not is_lockfile(data):
        raise InputError(f"{source}: YAML without 'version' and 'package': not a conda-lock file")
    return parse_lockfile(data, source, target)


def read_plan(source: str, *, platform: str | None = None,
              stdin: TextIO | None = None) -> list[Record]:
    """Read the plan in file ``source`` (``-`` for standard input)."""
    if source == "-":
        text = (stdin or sys.stdin).read(MAX_PLAN_BYTES + 1)
        _check_size(len(text), "<stdin>")
        return records_from_text(text, "<stdin>", platform=platform)
    try:
        with open(source, "rb") as stream:
            data = stream.read(MAX_PLAN_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{source}: is a folder, not a plan") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror}") from None
    _check_size(len(data), source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{source}: not a text plan (not UTF-8)") from None
    return records_from_text(text, source, platform=platform)


def _check_size(size: int, source: str) -> None:
    if size > MAX_PLAN_BYTES:
        raise InputError(f"{source}: larger than {MAX_PLAN_BYTES >> 20} MiB, "
                         "far more than any real plan")


def records_from_args(
    args: list[str], *, platform: str | None = None, stdin: TextIO | None = None
) -> list[Record]:
    """Records for command-line arguments: package URLs and plan files, deduplicated."""
    records: list[Record] = []
    for arg in args:
        if arg.startswith(URL_SCHEMES) or "://" in arg:  # other schemes: a clear refusal
            try:
                records.append(make_record(arg))
            except InputError as exc:
                raise InputError(f"argument {arg[:200]!r}: {exc}") from None
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
