"""Human-readable sizes and durations."""

from __future__ import annotations

import pytest

from conda_fetch.units import byte_count, duration, human_bytes, parse_size


def test_units() -> None:
    assert parse_size("4M") == 4 << 20
    assert parse_size("512KiB") == 512 << 10
    assert parse_size("1000") == 1000
    with pytest.raises(ValueError):
        parse_size("lots")
    assert human_bytes(1536) == "1.5 KiB"
    assert duration(75) == "1m15s"


@pytest.mark.parametrize(("text", "count"), [
    ("0", 0), (" 1024 ", 1024), ("9" * 18, int("9" * 18)), (None, None), ("", None),
    ("9" * 19, None), ("9" * 6000, None), ("1_000", None), ("+5", None), ("-5", None),
    ("\u00b2", None), ("\uff15", None), ("5, 5", None),
])
def test_a_byte_count_is_plain_ascii_digits_and_not_too_many(text, count) -> None:
    assert byte_count(text) == count
