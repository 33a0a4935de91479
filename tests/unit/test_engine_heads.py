"""An answer's head as the quick lane parses it (whole, from its bytes) and as the engine's
threads read it (line by line, from the connection): the same fields, the same refusals;
and a URL's host as the host board keys it."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from conda_fetch.engine import wire
from conda_fetch.engine.hosts import host_of

HEADS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n",
    b"HTTP/1.0 206 Partial Content\r\ncontent-range: bytes 0-4/9\r\nCONTENT-LENGTH: 5\r\n\r\n",
    b"HTTP/1.1 200 \r\nX-Folded: one\r\n  two\r\n\tthree\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 503 Slow Down Please\nRetry-After: 7\nX-A: 1\nX-A: 2\n\n",  # bare line feeds
    b"HTTP/1.1 200 OK\r\nnot a field\r\nX-Caf\xe9: \xe9t\xe9\r\n\r\n",
]


def _read_by_threads(head: bytes) -> tuple[int, int, str, list[tuple[str, str]]]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(head)
        answer = wire._Answer(ours)
        answer.begin()
        fields = answer.headers.items()
        result = (answer.version, answer.status, answer.reason, fields)
        answer.close()
    return result


@pytest.mark.parametrize("head", HEADS)
def test_a_whole_head_parses_as_the_threads_read_it(head: bytes) -> None:
    version, status, reason, headers = wire.parse_head(head)
    assert (version, status, reason, headers.items()) == _read_by_threads(head)


def test_fields_are_found_whatever_their_case_and_folds_join() -> None:
    version, status, reason, headers = wire.parse_head(HEADS[2])
    assert (version, status, reason) == (11, 200, "")
    assert headers.get("x-folded") == "one two three"
    assert headers.get("Content-Length") == "0"
    _, status, reason, headers = wire.parse_head(HEADS[3])
    assert (status, reason, headers.get_all("x-a")) == (503, "Slow Down Please", ["1", "2"])


@pytest.mark.parametrize("head", [
    b"ICY 200 OK\r\n\r\n",
    b"HTTP/1.1 20 OK\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * wire.MAX_LINE + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * (wire.MAX_FIELDS + 1) + b"\r\n",
    b"",
])
def test_what_is_not_http_is_refused_without_the_servers_bytes(head: bytes) -> None:
    with pytest.raises(wire.BadAnswer) as caught:
        wire.parse_head(head)
    assert "not an HTTP answer" in str(caught.value)
    assert "ICY" not in str(caught.value) and "aaaa" not in str(caught.value)


@pytest.mark.parametrize("url", [
    "http://example.org/pkgs/main/noarch/a-1-0.conda",
    "https://user:secret@mirror.example:8443/x/y.conda?token=t#frag",
    "HTTPS://Example.ORG/x",
    "http://example.org?x=/y",
    "http://example.org#x/y",
    "http://[::1]:8080/p",
    "http://a@b@example.org/p",
    "file:///srv/channel/noarch/a-1-0.conda",
])
def test_a_urls_host_is_its_scheme_and_netloc_without_credentials(url: str) -> None:
    parts = urlsplit(url)
    assert host_of(url) == f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    assert "secret" not in host_of(url) and "user" not in host_of(url)


@pytest.mark.parametrize(("sent", "raised"), [
    (b"", wire.http.client.RemoteDisconnected),  # closed before a byte: retried at once
    (b"\n", wire.http.client.BadStatusLine),  # a blank line is an answer, not HTTP
    (b"HTTP/1.1 200 OK\r\nX-A: 1", None),  # closed in the fields: they end there
])
def test_the_threads_tell_a_closed_connection_from_a_bad_answer(
        sent: bytes, raised: type[Exception] | None) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(sent)
        theirs.shutdown(socket.SHUT_WR)
        answer = wire._Answer(ours)
        if raised is None:
            answer.begin()
            assert answer.headers.items() == [("X-A", "1")]
        else:
            with pytest.raises(raised):
                answer.begin()
        answer.close()
