"""What the conda plugin does, without conda: settings, records from conda's, the fetch, the hint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from conda_fetch.cache import PackageCache
from conda_fetch.engine import Listener, Options
from conda_fetch.errors import InputError
from conda_fetch.fetch import Report, fetch_into_cache
from conda_fetch.records import Record, make_record
from conda_fetch.redact import redact
from conda_fetch.units import parse_size


@dataclass(frozen=True)
class PluginSettings:
    """The plugin's settings, as conda's configuration gives them (``plugins.fetch_*``)."""

    enabled: bool = True
    files: int = 5
    split: int = 8
    min_split: int = 4 << 20
    retries: int = 10
    stall_timeout: float = 10.0
    mirrors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], fetch_threads: int = 5) -> PluginSettings:
        """Settings from ``fetch_<name>`` values; missing or empty ones keep their defaults."""
        given = {k.removeprefix("fetch_"): v for k, v in values.items() if v not in (None, "")}
        min_split = given.get("min_split", cls.min_split)
        return cls(
            enabled=_flag(given.get("enabled", True)),
            files=int(given.get("files", fetch_threads)),
            split=int(given.get("split", cls.split)),
            min_split=parse_size(str(min_split)) if isinstance(min_split, str) else int(min_split),
            retries=int(given.get("retries", cls.retries)),
            stall_timeout=float(given.get("stall_timeout", cls.stall_timeout)),
            mirrors={str(k): [str(u) for u in v] for k, v in dict(given.get("mirrors", {})).items()},
        )

    def options(self, connect_timeout: float = 9.15) -> Options:
        """Engine options for these settings."""
        return Options(files=self.files, split=self.split, min_split=self.min_split,
                       retries=self.retries, stall_seconds=self.stall_timeout,
                       connect_timeout=connect_timeout,
                       connections=max(Options.connections, self.files))


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)


def records_from_precs(precs: Iterable[Any]) -> list[Record]:
    """Records for conda's package records (anything with url, fn, size, sha256, md5)."""
    records = []
    for prec in precs:
        url = getattr(prec, "url", None)
        if not url:
            continue
        try:
            records.append(make_record(url, getattr(prec, "fn", None), getattr(prec, "size", None),
                                       getattr(prec, "sha256", None), getattr(prec, "md5", None)))
        except InputError:
            continue  # conda will deal with a record it made itself
    return records


def prefetch(records: list[Record], pkgs_dir: Path, session: requests.Session,
             settings: PluginSettings, connect_timeout: float = 9.15,
             listener: Listener | None = None) -> Report:
    """Fetch what ``pkgs_dir`` lacks of ``records``, so conda finds everything cached."""
    cache = PackageCache(pkgs_dir)
    return fetch_into_cache(records, cache, session, settings.options(connect_timeout), listener,
                            settings.mirrors)


def hint(report: Report) -> str:
    """What to tell the user when some packages could not be fetched."""
    lines = ["conda-fetch could not fetch these packages (conda will try once more itself):"]
    for record, error in report.failed:
        lines.append(f"  {record.fn}: {redact(error)}")
        lines.append(f"    url: {redact(record.url)}")
        lines.append(f"    sha256: {record.sha256 or '?'}  size: {record.size or '?'}")
    lines += [
        "Fetch them by any means, then adopt them, verified:",
        "  conda create ... --dry-run --json > plan.json",
        "  conda fetch export plan.json --format aria2 -o todo.txt   # aria2c -i todo.txt",
        "  conda fetch import FOLDER_WITH_THE_FILES",
    ]
    return "\n".join(lines)
