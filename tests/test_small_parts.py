"""Redaction, sources and units."""

from __future__ import annotations

import pytest

from conda_fetch.redact import redact
from conda_fetch.sources import candidates
from conda_fetch.units import duration, human_bytes, parse_size


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("https://conda.anaconda.org/t/ab-12345/mychan/noarch/x.conda", "ab-12345"),
        ("https://user:s3cret@repo.example/x.conda", "s3cret"),
        ("failed: https://h/x.conda?token=abc123&x=1", "abc123"),
    ],
)
def test_redact_hides_secrets(text: str, secret: str) -> None:
    hidden = redact(text)
    assert secret not in hidden
    assert "***" in hidden


def test_redact_keeps_ordinary_urls() -> None:
    url = "https://conda.anaconda.org/conda-forge/noarch/x-1-0.conda"
    assert redact(url) == url


def test_candidates_longest_prefix_mirror() -> None:
    mirrors = {
        "https://conda.anaconda.org": ["https://mirror.a/anaconda/cloud"],
        "https://conda.anaconda.org/conda-forge": ["https://mirror.b/cf", "https://mirror.c/cf/"],
    }
    url = "https://conda.anaconda.org/conda-forge/linux-64/x-1-0.conda"
    assert candidates(url, mirrors) == [
        url,
        "https://mirror.b/cf/linux-64/x-1-0.conda",
        "https://mirror.c/cf/linux-64/x-1-0.conda",
    ]
    assert candidates("https://other/x.conda", mirrors) == ["https://other/x.conda"]


def test_units() -> None:
    assert parse_size("4M") == 4 << 20
    assert parse_size("512KiB") == 512 << 10
    assert parse_size("1000") == 1000
    with pytest.raises(ValueError):
        parse_size("lots")
    assert human_bytes(1536) == "1.5 KiB"
    assert duration(75) == "1m15s"
