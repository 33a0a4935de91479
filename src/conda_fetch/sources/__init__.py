"""Which URLs can serve a record: its own URL and the mirrors of its channel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def candidates(url: str, mirrors: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """The URLs that serve the file at ``url``, in order of preference.

    ``mirrors`` maps a channel base URL to equivalent base URLs. The longest
    base that prefixes ``url`` applies; the record's own URL comes first
    unless a mirror list names it elsewhere.
    """
    urls = [url]
    base = _longest_prefix(url, mirrors or {})
    if base is not None:
        tail = url[len(base.rstrip("/")) :]
        urls += [m.rstrip("/") + tail for m in (mirrors or {})[base]]
    return list(dict.fromkeys(urls))


def _longest_prefix(url: str, mirrors: Mapping[str, Sequence[str]]) -> str | None:
    best = None
    for base in mirrors:
        stem = base.rstrip("/") + "/"
        if url.startswith(stem) and (best is None or len(stem) > len(best.rstrip("/")) + 1):
            best = base
    return best
