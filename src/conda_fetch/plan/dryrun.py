"""The JSON that conda, mamba and micromamba print for ``--dry-run --json``."""

from __future__ import annotations

import json
from typing import Any

from conda_fetch.errors import InputError
from conda_fetch.plan.records import Record, make_record


def find_json(text: str) -> str | None:
    """The JSON document in ``text``, skipping warning lines printed before it."""
    for index, line in enumerate(text.splitlines(keepends=True)):
        if line.lstrip().startswith("{"):
            return "".join(text.splitlines(keepends=True)[index:])
    return None


def parse_dryrun(text: str, source: str) -> list[Record]:
    """Records of ``actions.FETCH``; conda's own error report becomes an :class:`InputError`."""
    document = find_json(text) or text
    skipped = text[: len(text) - len(document)].count("\n")
    try:
        data = json.loads(document)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}:{exc.lineno + skipped}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{source}: JSON nested too deeply to be a plan") from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a JSON object from --dry-run --json")
    _raise_reported_error(data, source)
    return [_record(item, source, index) for index, item in enumerate(_fetch_list(data, source))]


def _fetch_list(data: dict[str, Any], source: str) -> list[Any]:
    """``actions.FETCH``; a document that is no dry-run report at all is refused."""
    if "actions" not in data:
        if data.get("success") is True:  # conda's "All requested packages already installed."
            return []
        raise InputError(f"{source}: JSON without 'actions': not --dry-run --json output")
    actions = data["actions"]
    if not isinstance(actions, dict):
        raise InputError(f"{source}: 'actions' is not an object")
    fetch = actions.get("FETCH")
    if fetch is None:
        return []
    if not isinstance(fetch, list):
        raise InputError(f"{source}: actions.FETCH is not a list")
    return fetch


def _raise_reported_error(data: dict[str, Any], source: str) -> None:
    if data.get("success") is False or "exception_name" in data or "error" in data:
        name = str(data.get("exception_name") or "error")[:100]
        message = str(data.get("message") or data.get("error") or "the tool reported failure")
        first = message.strip().splitlines()[0] if message.strip() else message
        raise InputError(f"{source}: the tool could not plan: {name}: {first[:300]}")


def _record(item: Any, source: str, index: int) -> Record:
    where = f"{source}: actions.FETCH[{index}]"
    if not isinstance(item, dict) or not item.get("url"):
        raise InputError(f"{where}: missing 'url'")
    try:
        return make_record(item["url"], item.get("fn"), item.get("size"), item.get("sha256"),
                           item.get("md5"))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
