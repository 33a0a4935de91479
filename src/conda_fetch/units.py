"""Human-readable sizes and durations, and byte counts as HTTP headers write them."""

from __future__ import annotations


def human_bytes(count: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def byte_count(text: str | None) -> int | None:
    """A count of bytes as an HTTP header writes it (ASCII digits, at most 18 of them), else
    ``None``: a server cannot make us parse a number of thousands of digits."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def duration(seconds: float) -> str:
    """``75`` → ``"1m15s"``; short durations keep a decimal."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def parse_size(text: str) -> int:
    """``"4M"``, ``"4MiB"``, ``"512k"`` or ``"1048576"`` → bytes."""
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(value[-1:], 1)
    number = value[:-1] if scale != 1 else value
    try:
        result = int(float(number) * scale)
    except ValueError:
        raise ValueError(f"not a size: {text!r}") from None
    if result < 0:
        raise ValueError(f"not a size: {text!r}")
    return result
