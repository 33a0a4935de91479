"""Human-readable sizes and durations."""

from __future__ import annotations

import pytest

from conda_fetch.units import duration, human_bytes, parse_size


def test_units() -> None:
    assert parse_size("4M") == 4 << 20
    assert parse_size("512KiB") == 512 << 10
    assert parse_size("1000") == 1000
    with pytest.raises(ValueError):
        parse_size("lots")
    assert human_bytes(1536) == "1.5 KiB"
    assert duration(75) == "1m15s"
