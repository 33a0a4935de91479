"""Fixtures of the end-to-end tests: one real channel, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from conda_fetch.testing.packages import build_package
from support.channel import build_channel
from support.hostile import self_signed

MiB = 1 << 20


@pytest.fixture(scope="session")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A conda-index channel of real archives: alpha and gamma (noarch ``.conda``, 300 kB
    and 16 MiB, large enough to split) and beta (linux-64 ``.tar.bz2``, 2 MiB). Tests
    serve it read-only."""
    built = tmp_path_factory.mktemp("built")
    packages = [
        build_package(built, "alpha", payload=300_000),
        build_package(built, "beta", payload=2 * MiB, ext=".tar.bz2", subdir="linux-64"),
        build_package(built, "gamma", payload=16 * MiB),
    ]
    return build_channel(tmp_path_factory.mktemp("channel"), packages)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key for a TLS test server."""
    made = self_signed(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("openssl is not installed: no certificate for a TLS server")
    return made
