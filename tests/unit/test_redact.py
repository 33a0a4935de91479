"""One redaction for every printer: any userinfo, /t/<token>/, secret query parameters."""

from __future__ import annotations

import pytest

from conda_fetch.redact import redact, without_credentials


@pytest.mark.parametrize(("text", "secrets"), [
    ("https://carol:pa@ss-SECRET@host.example/x.conda", ["pa@ss", "SECRET", "carol"]),
    ("https://TOKEN123@host.example/x.conda", ["TOKEN123"]),
    ("see https://h.example/t/tk-999/cf/noarch/x.conda (404)", ["tk-999"]),
    ("https://h.example/prefix/t/tk-999/cf/noarch/x.conda", ["tk-999"]),
    ("https://h.example/x.conda?token=abc&y=1", ["abc"]),
    ("https://h.example/x.conda?a=1&access_token=abc", ["abc"]),
    ("https://s3.example/x.conda?X-Amz-Signature=abc&X-Amz-Credential=def", ["abc", "def"]),
    ("cannot connect to https://u:p4ss@h.example:8080/x (refused)", ["p4ss"]),
    ("two: http://a:one@h/x and https://two@h/y", ["one", "two@"]),
    ("https://conda.anaconda.org/t/ab-12345/mychan/noarch/x.conda", ["ab-12345"]),
    ("https://user:s3cret@repo.example/x.conda", ["s3cret"]),
    ("failed: https://h/x.conda?token=abc123&x=1", ["abc123"]),
])
def test_secrets_are_hidden(text: str, secrets: list[str]) -> None:
    hidden = redact(text)
    for secret in secrets:
        assert secret not in hidden
    assert "***" in hidden


@pytest.mark.parametrize("text", [
    "https://conda.anaconda.org/conda-forge/noarch/x-1-0.conda",
    "/home/me/t/project/x-1-0.conda", "file:///srv/t/channel/noarch/x-1-0.conda",
    "C:\\Users\\me\\t\\x", "user@example.com wrote", "https://h.example/a@b/x-1-0.conda",
])
def test_ordinary_text_and_local_paths_are_kept(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(("url", "listed"), [
    ("https://conda.anaconda.org/t/ab-12345/mychan/noarch/x.conda",
     "https://conda.anaconda.org/mychan/noarch/x.conda"),
    ("https://carol:pa@ss@h.example:8443/c/noarch/x.conda", "https://h.example:8443/c/noarch/x.conda"),
    ("https://h.example/c/x.conda?token=abc&y=1", "https://h.example/c/x.conda?y=1"),
    ("https://h.example/c/noarch/x-1.0-0.conda", "https://h.example/c/noarch/x-1.0-0.conda"),
    ("file:///srv/t/x/noarch/x.conda", "file:///srv/t/x/noarch/x.conda"),
])
def test_without_credentials_removes_secrets_and_keeps_the_rest(url: str, listed: str) -> None:
    assert without_credentials(url) == listed
