"""What the conda plugin does, without conda: settings, records from conda's, the fetch, the
hint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conda_fetch.cache import PackageCache
from conda_fetch.cli.summary import failure_lines
from conda_fetch.config import own
from conda_fetch.engine import Listener, Options
from conda_fetch.engine.session import HttpGetter
from conda_fetch.errors import InputError
from conda_fetch.pipeline import Report, fetch_into_cache
from conda_fetch.plan.records import Record, make_record
from conda_fetch.sources import mirrors as mirrormap
from conda_fetch.units import human_bytes, parse_size


@dataclass(frozen=True)
class PluginSettings:
    """The plugin's settings, as conda's configuration gives them (``plugins.fetch_*``)."""

    enabled: bool = True
    files: int = 5  # conda's fetch_threads
    split: int = Options.split
    min_split: int = Options.min_split
    retries: int = Options.retries
    stall_timeout: float = Options.stall_seconds
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
            mirrors={str(k): [str(u) for u in v]
                     for k, v in dict(given.get("mirrors", {})).items()},
        )

    def options(self, connect_timeout: float = Options.connect_timeout) -> Options:
        """Engine options for these settings."""
        return Options(files=self.files, split=self.split, min_split=self.min_split,
                       retries=self.retries, stall_seconds=self.stall_timeout,
                       connect_timeout=connect_timeout,
                       connections=max(Options.connections, self.files))


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)


SETTING_NAMES = ("fetch_enabled", "fetch_files", "fetch_split", "fetch_min_split", "fetch_retries",
                 "fetch_stall_timeout", "fetch_mirrors")


def downloads_of(actions: Iterable[Any]) -> dict[Path, list[Record]]:
    """What conda's cache actions would download over the network, by target pkgs dir.

    Each action has ``url``, ``target_pkgs_dir``, ``target_package_basename``, ``size``,
    ``sha256`` and ``md5``; ``None`` entries (nothing to fetch) and copies from another
    cache (``file://`` URLs) are left to conda.
    """
    wanted: dict[Path, list[Record]] = {}
    for action in actions:
        url = getattr(action, "url", None)
        pkgs_dir = getattr(action, "target_pkgs_dir", None)
        if not url or not pkgs_dir or not str(url).startswith(("http://", "https://")):
            continue
        try:
            record = make_record(str(url), getattr(action, "target_package_basename", None),
                                 getattr(action, "size", None), getattr(action, "sha256", None),
                                 getattr(action, "md5", None))
        except InputError:
            continue
        wanted.setdefault(Path(pkgs_dir), []).append(record)
    return wanted


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


def prefetch(records: list[Record], pkgs_dir: Path, session: HttpGetter,
             settings: PluginSettings, connect_timeout: float = Options.connect_timeout,
             listener: Listener | None = None) -> Report:
    """Fetch what ``pkgs_dir`` lacks of ``records``, so conda finds everything cached."""
    cache = PackageCache(pkgs_dir)
    return fetch_into_cache(records, cache, session, settings.options(connect_timeout), listener,
                            plugin_mirrors(settings))


def plugin_mirrors(settings: PluginSettings) -> mirrormap.MirrorMap:
    """``plugins.fetch_mirrors`` first, then conda-fetch's own settings file (its mirrors and
    presets), so ``conda-fetch config set presets tuna`` serves plain ``conda install`` too."""
    data = own.load()
    return mirrormap.merge(settings.mirrors, mirrormap.from_toml_section(data),
                           *(mirrormap.preset(name) for name in data.get("presets", [])))


def header(records: list[Record], pkgs_dir: Path) -> str:
    """The line that says the next lines come from conda-fetch, and what it does."""
    count = f"{len(records)} package{'s' if len(records) != 1 else ''}"
    return f"conda-fetch: {count} for conda to download, fetched into {pkgs_dir} first"


def summary_line(report: Report) -> str:
    """One line after the fetch: what conda now finds in its cache and what it does not."""
    line = (f"conda-fetch: {len(report.fetched)} fetched "
            f"({human_bytes(report.bytes_fetched)} in {report.seconds:.1f}s), "
            f"{len(report.cached)} already in the cache")
    if report.cached:  # placed by hand: conda's list above still counted them as downloads
        line += " (verified and registered: conda downloads none of them)"
    if report.failed:
        line += f", {len(report.failed)} failed (conda tries those itself)"
    return line


def hint(report: Report) -> str:
    """What to tell the user when some packages could not be fetched (after conda's try)."""
    lines = ["Neither conda-fetch nor conda could fetch these packages:"]
    lines += [f"  {line}" for line in failure_lines(report, prog="conda fetch")]
    lines += [
        "Fetch them by any means, then adopt them, verified:",
        "  conda create ... --dry-run --json > plan.json",
        "  conda fetch export plan.json --format aria2 -o todo.txt   # aria2c -i todo.txt",
        "  conda fetch import FOLDER_WITH_THE_FILES",
    ]
    return "\n".join(lines)


class Failures:
    """What conda-fetch could not fetch in this process, told once after conda's own error.

    conda tries those files itself after conda-fetch; only the ones still missing from
    the cache then are worth a hint. ``hint_for`` serves conda's error-hint hook (once per
    distinct error text), ``leftover`` what is still untold when the process ends.
    """

    def __init__(self) -> None:
        self.failed: list[tuple[Record, str, Path]] = []
        self.told: set[str] = set()

    def add(self, report: Report, pkgs_dir: Path) -> None:
        self.failed += [(record, error, Path(pkgs_dir)) for record, error in report.failed]

    def missing(self) -> Report:
        """The failed records whose archive is still not in its cache."""
        return Report(failed=[(record, error) for record, error, pkgs in self.failed
                              if not (pkgs / record.fn).exists()])

    def hint_for(self, error_text: str) -> str | None:
        missing = self.missing()
        if missing.ok or error_text in self.told:
            return None
        self.told.add(error_text)
        return hint(missing)

    def leftover(self) -> str | None:
        missing = self.missing()
        return None if missing.ok or self.told else hint(missing)
