"""Redaction of secrets in URLs and messages."""

from __future__ import annotations

import pytest

from conda_fetch.redact import redact


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
