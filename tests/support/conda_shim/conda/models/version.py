"""A version order good enough for conda-index's channeldata comparison."""

from __future__ import annotations

import re


class VersionOrder:
    """Orders versions by their numeric and alphabetic parts."""

    def __init__(self, version: str) -> None:
        self.key = tuple(
            (0, int(part), "") if part.isdigit() else (-1, 0, part)
            for part in re.findall(r"\d+|[a-z]+", str(version).lower())
        )

    def __lt__(self, other: VersionOrder) -> bool:
        return self.key < other.key

    def __gt__(self, other: VersionOrder) -> bool:
        return self.key > other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VersionOrder) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)
