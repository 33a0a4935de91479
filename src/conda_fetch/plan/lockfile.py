"""conda-lock's ``conda-lock.yml`` (version 1): conda packages for one platform."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent

from conda_fetch.errors import InputError
from conda_fetch.plan.platform import current_subdir
from conda_fetch.plan.records import Record, make_record

MAX_NESTING = 64  # conda-lock files nest four levels deep


def _nesting(text: str) -> int:
    """An upper bound on how deep ``text`` nests: open flow brackets, or indentation
    (the pure-Python parser recurses once per level, slowly)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
    indent = max((len(line) - len(line.lstrip(" -")) for line in text.splitlines()), default=0)
    return max(deepest, indent // 2)


class _NoAliases(Composer):
    """Refuses YAML aliases: conda-lock never writes them, and nested aliases expand
    exponentially (a few hundred bytes can stand for gigabytes)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            raise InputError(f":{event.start_mark.line + 1}: YAML aliases are not accepted in "
                             "a lock file")
        return super().compose_node(parent, index)


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML (round-trip, so mappings know their line), without aliases and only when
    it is not nested deeper than a lock file ever is; syntax errors name the line."""
    if _nesting(text) > MAX_NESTING:
        raise InputError(f"{source}: YAML nested too deeply to be a lock file")
    yaml = YAML(typ="rt", pure=True)
    yaml.Composer = _NoAliases
    try:
        return yaml.load(text)
    except InputError as exc:
        raise InputError(f"{source}{exc}") from None
    except RecursionError:
        raise InputError(f"{source}: YAML nested too deeply to be a lock file") from None
    except (TypeError, ValueError) as exc:  # the parser's own surprises, e.g. mapping keys
        raise InputError(f"{source}: not a lock file ({type(exc).__name__})") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"{source}{line}: {problem}") from None


def is_lockfile(data: Any) -> bool:
    return isinstance(data, dict) and "package" in data and "version" in data


def parse_lockfile(data: dict[str, Any], source: str, platform: str | None = None) -> list[Record]:
    """The conda records of ``platform`` (default: this machine's)."""
    if data.get("version") != 1:
        version = str(data.get("version"))[:20]
        raise InputError(f"{source}: conda-lock version {version!r} is not supported (expected 1)")
    packages = data.get("package")
    if not isinstance(packages, list):
        raise InputError(f"{source}: 'package' is not a list")
    wanted = platform or current_subdir()
    records, platforms = [], set()
    for index, item in enumerate(packages):
        where = f"{source}:{_line(packages, index)}: package[{index}]"
        if not isinstance(item, dict):
            raise InputError(f"{where}: not a mapping")
        if item.get("manager", "conda") != "conda":
            continue
        platforms.add(str(item.get("platform")))
        if item.get("platform") == wanted:
            records.append(_record(item, where))
    if not records and platforms:
        raise InputError(f"{source}: no packages for {wanted}; the lock file has "
                         f"{', '.join(sorted(platforms))} (use --platform)")
    return records


def _line(items: list[Any], index: int) -> int:
    """The 1-based line of ``items[index]`` in the file (0 when the loader does not know)."""
    try:
        return int(items.lc.item(index)[0]) + 1  # type: ignore[attr-defined]
    except (AttributeError, KeyError, IndexError, TypeError):
        return 0


def _record(item: dict[str, Any], where: str) -> Record:
    hashes = item.get("hash") or {}
    if not item.get("url"):
        raise InputError(f"{where}: missing 'url'")
    if not isinstance(hashes, dict):
        raise InputError(f"{where}: 'hash' is not a mapping")
    try:
        return make_record(str(item["url"]), size=item.get("size"),
                           sha256=hashes.get("sha256"), md5=hashes.get("md5"))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
