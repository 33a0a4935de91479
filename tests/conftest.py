"""Shared fixtures: loopback fault servers, real package archives, real channels."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conda_fetch.faultserver import Faults, FaultServer


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
