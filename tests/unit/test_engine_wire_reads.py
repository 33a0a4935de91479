"""How many reads of the socket an answer costs (the bytes are all there before it is read,
so the count does not depend on timing)."""

from __future__ import annotations

import socket

import pytest

from conda_fetch.engine import wire


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each read of a socket from now on."""
    sizes: list[int] = []
    real = socket.SocketIO.readinto

    def counted(self: socket.SocketIO, buffer: bytearray | memoryview) -> int | None:
        sizes.append(len(buffer))
        return real(self, buffer)

    monkeypatch.setattr(socket.SocketIO, "readinto", counted)
    return sizes


def test_a_small_answer_is_read_in_one_go(monkeypatch: pytest.MonkeyPatch) -> None:
    body = bytes(range(256)) * 160  # 40 kB, a small package
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        reads = _reads(monkeypatch)
        answer = wire._Answer(ours)
        answer.begin()
        assert answer.read1(1 << 20) == body
        answer.close()
    assert len(reads) == 1  # head and body together (http.client's 8 KiB reader took two)
