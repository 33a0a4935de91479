"""Plain GETs over the wire (no requests): what a transfer asks goes straight over
http.client with the headers requests would send, keeps its connection, survives a server
that closed it, fails with the system's reason in words (and requests is never imported to
say so: in test_engine_http, beside requests' way), and leaves to requests every host behind
a proxy or that sets a cookie (and, in test_engine_http, that redirects or asks for credentials)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from conda_fetch.engine import HttpSettings, make_session
from conda_fetch.engine.http import USER_AGENT, failure_kind
from conda_fetch.engine.wire import BadAnswer
from support.hostile import HostileServer, serve

TIMEOUT = (5.0, 5.0)
PLAIN = {"Accept-Encoding": "identity"}  # what every transfer names


def _get(session, url: str, **headers: str) -> bytes:
    with session.get(url, headers={**PLAIN, **headers}, stream=True,
                     timeout=TIMEOUT) as response:
        assert response.status_code in (200, 206)
        body = response.raw.read()
        response.raw.release_conn()
        return body


def _seen(log: list[dict[str, str]]):
    def answer(handler: BaseHTTPRequestHandler) -> None:
        log.append({"path": handler.path, "port": str(handler.client_address[1]),
                    **{k.lower(): v for k, v in handler.headers.items()}})
        serve(b"ok")(handler)
    return answer


def _no_proxy_variables(monkeypatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch, tmp_path) -> None:
    _no_proxy_variables(monkeypatch)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def test_plain_gets_and_their_failures_never_import_requests(tmp_path) -> None:
    with HostileServer(serve(b"ok")) as server, socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{unused.getsockname()[1]}/noarch/a-1.0-0.conda"
        script = ("import sys\n"
                  "from conda_fetch.engine import make_session\n"
                  "session = make_session()\n"
                  "plain = {'headers': {'Accept-Encoding': 'identity'}, 'stream': True,\n"
                  "         'timeout': (5.0, 5.0)}\n"
                  f"with session.get('{server.url}/noarch/a-1.0-0.conda', **plain) as answer:\n"
                  "    print(answer.status_code, answer.raw.read())\n"
                  "try:\n"
                  f"    session.get('{refused}', **plain)\n"
                  "except OSError as exc:\n"
                  "    print(type(exc).__name__)\n"
                  "print(sorted(m for m in ('requests', 'urllib3') if m in sys.modules))\n")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, env={"NETRC": str(tmp_path / "none"), "PATH": ""})
    assert done.stdout.splitlines() == ["200 b'ok'", "ConnectionRefusedError", "[]"]


def test_the_wire_sends_what_requests_sends() -> None:
    paths = ["/noarch/a-1.0-0.conda", "/a/%7e%2b", "/a?x=1", "/a//b", "/t/tk-123/x.conda"]
    stock = requests.Session()
    stock.headers["User-Agent"] = USER_AGENT

    def sent(session) -> list[dict[str, str]]:
        log: list[dict[str, str]] = []
        with HostileServer(_seen(log)) as server:
            for path in paths:
                _get(session, f"{server.url}{path}", Range="bytes=0-", **{"If-Range": '"v1"'})
        return [{k: v for k, v in entry.items() if k not in ("host", "port")} for entry in log]

    assert sent(make_session()) == sent(stock)


def test_one_connection_serves_every_request_read_to_its_end() -> None:
    log: list[dict[str, str]] = []
    with HostileServer(_seen(log)) as server:
        session = make_session()
        for name in ("a", "b", "c"):
            assert _get(session, f"{server.url}/noarch/{name}-1.0-0.conda") == b"ok"
    assert len({entry["port"] for entry in log}) == 1


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    def once(handler: BaseHTTPRequestHandler) -> None:
        serve(b"ok")(handler)
        handler.close_connection = True  # said nowhere: the client finds out

    with HostileServer(once) as server:
        session = make_session()
        for name in ("a", "b", "c"):
            assert _get(session, f"{server.url}/noarch/{name}-1.0-0.conda") == b"ok"
        assert server.requests == 3


@contextmanager
def _raw_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A server that reads one request per connection and answers with raw bytes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_forever() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                answer(conn)

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/noarch/a-1.0-0.conda"
    finally:
        listener.close()


@pytest.mark.parametrize("answer", [
    b"SPAM\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX: y\r\n" + b" folded on\r\n" * 200 + b"\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"no colon\r\n" * 200 + b"\r\n",
    b"",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 099 Early\r\n\r\n",
    b"HTTP/1.1 \xb200 OK\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n" * 20,
    b"\x1b[31mEVIL\r\n\r\n",
])
def test_an_answer_that_is_not_http_is_a_connection_failure(answer: bytes) -> None:
    with _raw_server(lambda conn: conn.sendall(answer)) as url, \
            pytest.raises(BadAnswer) as caught:
        make_session().get(url, headers=PLAIN, stream=True, timeout=TIMEOUT)
    assert failure_kind(caught.value) == "connection"
    assert "answer" in str(caught.value)  # in words, never in the server's own bytes
    assert not any(word in str(caught.value) for word in ("SPAM", "EVIL", "\x1b", "Early"))


def test_interim_answers_are_passed_over() -> None:
    answer = (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
              b"HTTP/1.1 200 OK\r\ncontent-LENGTH: 2\r\nX-Folded: one\r\n two\r\n\r\nok")
    with _raw_server(lambda conn: conn.sendall(answer)) as url, \
            make_session().get(url, headers=PLAIN, stream=True, timeout=TIMEOUT) as response:
        assert (response.status_code, response.headers.get("x-folded")) == (200, "one two")
        assert "Link" not in response.headers
        assert response.raw.length_remaining == 2
        assert response.raw.read() == b"ok"


@pytest.mark.parametrize("length", [b"1_0", b"+10", b"10, 10", b"9" * 5000])
def test_a_length_that_is_not_a_number_reads_the_body_to_its_close(length: bytes) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\nabc"
    with _raw_server(lambda conn: conn.sendall(answer)) as url, \
            make_session().get(url, headers=PLAIN, stream=True, timeout=TIMEOUT) as response:
        assert response.raw.length_remaining is None
        assert response.raw.read() == b"abc"


def test_every_value_of_a_repeated_header_is_kept() -> None:
    answer = (b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
              b"Content-Length: 0\r\n\r\n")
    with _raw_server(lambda conn: conn.sendall(answer)) as url, \
            make_session().get(url, headers=PLAIN, stream=True, timeout=TIMEOUT) as response:
        assert response.headers.get("SET-COOKIE") == "a=1"
        assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]


def test_a_body_shorter_than_announced_breaks() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
    with _raw_server(lambda conn: conn.sendall(answer)) as url, \
            make_session().get(url, headers=PLAIN, stream=True, timeout=TIMEOUT) as response:
        assert response.raw.read1(3) == b"abc"
        with pytest.raises(BadAnswer, match="7 bytes early"):
            response.raw.read1(7)


def test_a_chunked_body_is_read_whole() -> None:
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    with _raw_server(lambda conn: conn.sendall(answer)) as url, \
            make_session().get(url, headers=PLAIN, stream=True, timeout=TIMEOUT) as response:
        assert response.raw.length_remaining is None
        assert response.raw.read() == b"abcde"


def test_a_cookie_set_on_the_wire_is_sent_back() -> None:
    log: list[dict[str, str]] = []

    def answer(handler: BaseHTTPRequestHandler) -> None:
        if not log:
            log.append({})
            handler.send_response(200)
            handler.send_header("Set-Cookie", "gate=open; Path=/")
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")
        else:
            _seen(log)(handler)

    with HostileServer(answer) as server:
        session = make_session()
        assert _get(session, f"{server.url}/noarch/a-1.0-0.conda") == b"ok"
        assert _get(session, f"{server.url}/noarch/b-1.0-0.conda") == b"ok"
    assert log[-1].get("cookie") == "gate=open"


@pytest.mark.parametrize("where", ["environment", "settings", "settings for the host"])
def test_a_proxy_is_never_bypassed(monkeypatch, where: str) -> None:
    log: list[dict[str, str]] = []
    with HostileServer(_seen(log)) as proxy:
        settings = HttpSettings()
        if where == "environment":
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
        else:
            key = "http" if where == "settings" else "http://pkgs.invalid"
            settings = HttpSettings(proxies={key: proxy.url})
        assert _get(make_session(settings), "http://pkgs.invalid/noarch/a-1.0-0.conda") == b"ok"
    assert log[0]["path"] == "http://pkgs.invalid/noarch/a-1.0-0.conda"
