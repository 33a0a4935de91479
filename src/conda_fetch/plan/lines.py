"""Numbered, meaningful lines of a text plan (blank lines and ``#`` comments dropped)."""

from __future__ import annotations

from collections.abc import Iterator


def meaningful_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, stripped line)`` for every line that is not blank or a comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield number, line
