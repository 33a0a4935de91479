"""The engine's session: a plain GET skips requests' per-request work, and still goes
through the user's proxies, follows redirects, sends cookies a server set, and sends the
same headers as any request of the session."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import pytest

from conda_fetch.engine import HttpSettings, make_session
from conda_fetch.engine.http import USER_AGENT
from support.hostile import HostileServer, redirect_to, serve

TIMEOUT = (5.0, 5.0)


def _get(session, url: str, **headers: str) -> bytes:
    with session.get(url, headers=headers, stream=True, timeout=TIMEOUT) as response:
        assert response.status_code == 200
        return response.raw.read()


def _seen(log: list[dict[str, str]]):
    """A behaviour that notes each request's path and headers and answers "ok"."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        log.append({"path": handler.path, **{k.lower(): v for k, v in handler.headers.items()}})
        handler.send_response(200)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")
    return answer


def test_plain_gets_send_the_sessions_headers_and_their_own() -> None:
    log: list[dict[str, str]] = []
    with HostileServer(_seen(log)) as server:
        session = make_session()
        assert _get(session, f"{server.url}/noarch/a-1.0-0.conda", Range="bytes=0-") == b"ok"
        assert _get(session, f"{server.url}/noarch/b%2B1-1.0-0.conda?x=1") == b"ok"
    assert [entry["path"] for entry in log] == ["/noarch/a-1.0-0.conda",
                                                 "/noarch/b%2B1-1.0-0.conda?x=1"]
    assert log[0]["user-agent"] == USER_AGENT
    assert log[0]["range"] == "bytes=0-"
    assert "range" not in log[1]


def test_a_proxy_from_the_environment_is_used(monkeypatch) -> None:
    log: list[dict[str, str]] = []
    with HostileServer(_seen(log)) as proxy:
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        session = make_session()
        assert _get(session, "http://pkgs.invalid/noarch/a-1.0-0.conda") == b"ok"
    assert log[0]["path"] == "http://pkgs.invalid/noarch/a-1.0-0.conda"  # absolute: a proxy's


def test_a_proxy_from_the_settings_is_used(monkeypatch) -> None:
    log: list[dict[str, str]] = []
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with HostileServer(_seen(log)) as proxy:
        session = make_session(HttpSettings(proxies={"http": proxy.url}))
        assert _get(session, "http://pkgs.invalid/noarch/a-1.0-0.conda") == b"ok"
    assert log[0]["path"] == "http://pkgs.invalid/noarch/a-1.0-0.conda"


def test_redirects_are_followed_every_time() -> None:
    with HostileServer(serve(b"payload")) as target, \
            HostileServer(redirect_to(f"{target.url}/files/a-1.0-0.conda")) as channel:
        session = make_session()
        for _ in range(3):
            assert _get(session, f"{channel.url}/noarch/a-1.0-0.conda") == b"payload"
        assert target.requests == 3
        assert channel.requests == 4  # the first redirect is asked twice, then as requests does


@pytest.mark.parametrize("set_by", ["first", "none"])
def test_a_cookie_the_server_set_is_sent_back(set_by: str) -> None:
    log: list[dict[str, str]] = []
    seen = _seen(log)

    def answer(handler: BaseHTTPRequestHandler) -> None:
        if set_by == "first" and not log:
            log.append({"path": handler.path})
            handler.send_response(200)
            handler.send_header("Set-Cookie", "gate=open; Path=/")
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")
        else:
            seen(handler)

    with HostileServer(answer) as server:
        session = make_session()
        _get(session, f"{server.url}/noarch/a-1.0-0.conda")
        _get(session, f"{server.url}/noarch/b-1.0-0.conda")
    expected = "gate=open" if set_by == "first" else None
    assert log[-1].get("cookie") == expected
