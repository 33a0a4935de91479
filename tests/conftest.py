"""Shared fixtures: loopback fault servers, real package archives, real channels."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conda_fetch.testing.faultserver import Faults, FaultServer


@pytest.fixture(autouse=True)
def isolated_user(tmp_path_factory, monkeypatch) -> None:
    """Keep the machine's own conda, mamba, pixi and conda-fetch settings (proxies, mirrors,
    pkgs_dirs) out of every test: a fresh home, no proxy variables, loopback never proxied."""
    home = tmp_path_factory.mktemp("home")
    for name in ("CONDARC", "CONDA_PKGS_DIRS", "MAMBA_ROOT_PREFIX", "CONDA_PREFIX", "HTTP_PROXY",
                 "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("CONDA_FETCH_CONFIG", str(home / "conda-fetch.toml"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    """A factory: ``fault_server(root, faults=None)`` → a started server, closed at teardown."""
    servers: list[FaultServer] = []

    def start(root: Path, faults: Faults | None = None) -> FaultServer:
        server = FaultServer(root, faults).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch) -> None:
    """Tests talk to this machine only: looking up any other name fails at once, so a test
    that would reach the internet (a default channel, say) fails instead of sending traffic."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host not in (None, "localhost") and not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"tests reach no host but this one: {host}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _is_loopback(host: str | bytes) -> bool:
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
    except ValueError:
        return False

