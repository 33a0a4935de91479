"""The engine's session: a plain GET skips requests' per-request work, and still goes
through the user's proxies, TLS settings and credentials, follows redirects, sends cookies
a server set, sends the same request as requests would, fails with requests' exceptions,
and keeps each host's connections for its next requests."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from conda_fetch.engine import HttpSettings, make_session, requests_session
from conda_fetch.engine.errors import ConnectError, HostError
from conda_fetch.engine.http import CA_VARIABLES, USER_AGENT, failure_kind
from conda_fetch.engine.transfer import connect_error
from conda_fetch.engine.wire import AnswerTimeout
from support.hostile import HostileServer, redirect_to, self_signed, serve

TIMEOUT = (5.0, 5.0)
PLAIN = {"Accept-Encoding": "identity"}  # what every transfer names: the wire's GETs
# Each way a session fetches: through requests, and over the wire (what a transfer asks),
# which fails with the system's own errors and never imports requests to say so.
WAYS = [({}, requests.ConnectionError, requests.ReadTimeout, requests.exceptions.SSLError),
        (PLAIN, ConnectionRefusedError, AnswerTimeout, ssl.SSLCertVerificationError)]


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _ok(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "2")
    handler.end_headers()
    handler.wfile.write(b"ok")


def _get(session, url: str, **headers: str) -> bytes:
    with session.get(url, headers=headers, stream=True, timeout=TIMEOUT) as response:
        assert response.status_code == 200
        return response.raw.read()


def _seen(log: list[dict[str, str]]):
    """A behaviour that notes each request's path and headers and answers "ok"."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        log.append({"path": handler.path, **{k.lower(): v for k, v in handler.headers.items()}})
        _ok(handler)
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


def _sent(session: requests.Session, paths: list[str]) -> list[dict[str, str]]:
    """What ``session`` sends for ``paths``: each request's target and headers."""
    log: list[dict[str, str]] = []
    with HostileServer(_seen(log)) as server:
        for path in paths:
            _get(session, f"{server.url}{path}", Range="bytes=0-", **{"If-Range": '"v1"'})
    return [{**entry, "host": entry["host"].rsplit(":", 1)[0]} for entry in log]


def test_every_request_is_sent_as_requests_sends_it() -> None:
    paths = ["/noarch/a-1.0-0.conda", "/a/./b", "/a/../b", "/a/%7e%2b", "/a b", "/a?", "/a?x=1#f",
             "/", "/a//b", "/a/.hidden", "/a/..b", "/a?x=/y?z", "/ä"]
    stock = requests.Session()
    stock.headers["User-Agent"] = USER_AGENT
    assert _sent(make_session(), paths) == _sent(stock, paths)


def _ports(log: list[int]):
    """A behaviour that notes the client port of each request and answers "ok"."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        log.append(handler.client_address[1])
        _ok(handler)
    return answer


def test_a_connection_read_to_its_end_is_reused() -> None:
    ports: list[int] = []
    with HostileServer(_ports(ports)) as server:
        session = make_session()
        for name in ("a", "b", "c"):
            assert _get(session, f"{server.url}/noarch/{name}-1.0-0.conda") == b"ok"
    assert len(ports) == 3 and len(set(ports)) == 1


def _round_robin(session, servers: list[HostileServer], rounds: int) -> None:
    for _ in range(rounds):
        for server in servers:
            assert _get(session, f"{server.url}/noarch/a-1.0-0.conda") == b"ok"


def test_each_of_more_origins_than_pools_keeps_its_connection() -> None:
    ports: list[list[int]] = [[] for _ in range(5)]  # the pool manager keeps 4 pools
    with ExitStack() as running:
        servers = [running.enter_context(HostileServer(_ports(log))) for log in ports]
        _round_robin(make_session(), servers, 2)
    assert [len(log) for log in ports] == [2] * 5
    assert [len(set(log)) for log in ports] == [1] * 5


def test_past_the_pools_kept_every_origin_still_answers(monkeypatch) -> None:
    monkeypatch.setattr(requests_session, "KEPT_POOLS", 1)
    with ExitStack() as running:
        servers = [running.enter_context(HostileServer(serve(b"ok"))) for _ in range(2)]
        _round_robin(make_session(), servers, 2)
    assert [server.requests for server in servers] == [2] * 2


def test_a_closed_session_closes_its_connections() -> None:
    ports: list[int] = []
    with HostileServer(_ports(ports)) as server:
        session = make_session()
        _get(session, f"{server.url}/noarch/a-1.0-0.conda")
        session.close()
        _get(session, f"{server.url}/noarch/b-1.0-0.conda")
    assert len(set(ports)) == 2


def _no_proxy_variables(monkeypatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_a_proxy_for_one_host_is_used_for_that_host_only(monkeypatch) -> None:
    _no_proxy_variables(monkeypatch)
    log: list[dict[str, str]] = []
    with HostileServer(_seen(log)) as proxy, HostileServer(serve(b"direct")) as direct:
        session = make_session(HttpSettings(proxies={"http://pkgs.invalid": proxy.url}))
        assert _get(session, "http://pkgs.invalid/noarch/a-1.0-0.conda") == b"ok"
        assert _get(session, f"{direct.url}/noarch/a-1.0-0.conda") == b"direct"
        assert _get(session, "http://pkgs.invalid/noarch/b-1.0-0.conda") == b"ok"
    assert [entry["path"] for entry in log] == ["http://pkgs.invalid/noarch/a-1.0-0.conda",
                                                "http://pkgs.invalid/noarch/b-1.0-0.conda"]


def test_no_proxy_sends_its_hosts_direct(monkeypatch) -> None:
    _no_proxy_variables(monkeypatch)
    log: list[dict[str, str]] = []
    with HostileServer(_seen(log)) as proxy, HostileServer(serve(b"direct")) as direct:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        session = make_session()
        assert _get(session, f"{direct.url}/noarch/a-1.0-0.conda") == b"direct"
        assert direct.requests == 1
    assert log == []


@pytest.mark.parametrize("plain", [way[0] for way in WAYS])
def test_credentials_in_the_url_and_in_netrc_are_sent(monkeypatch, tmp_path,
                                                      plain: dict[str, str]) -> None:
    log: list[dict[str, str]] = []
    with HostileServer(_seen(log)) as server:
        netrc = tmp_path / "netrc"
        netrc.write_text("machine 127.0.0.1 login ann password pa55\n")
        monkeypatch.setenv("NETRC", str(netrc))
        _get(make_session(), f"{server.url}/noarch/a-1.0-0.conda", **plain)
        monkeypatch.setenv("NETRC", str(tmp_path / "none"))
        _get(make_session(), server.url.replace("//", "//bob:s3cret@") + "/noarch/a-1.0-0.conda",
             **plain)
        _get(make_session(), f"{server.url}/noarch/a-1.0-0.conda", **plain)
    expected = [basic_auth("ann", "pa55"), basic_auth("bob", "s3cret"), None]
    assert [entry.get("authorization") for entry in log] == expected


@pytest.mark.parametrize(("plain", "refused"), [way[:2] for way in WAYS])
def test_a_refused_connection_is_a_connection_error_in_words(plain, refused) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/noarch/a-1.0-0.conda"
        with pytest.raises(refused) as caught:
            make_session().get(url, headers=plain, stream=True, timeout=TIMEOUT)
    assert type(caught.value) is refused
    error = connect_error(url, caught.value)
    assert isinstance(error, ConnectError)
    assert str(error) == f"{url.split('/')[2]}: connection refused"


@pytest.mark.parametrize(("plain", "timeout"), [(way[0], way[2]) for way in WAYS])
def test_a_server_that_never_answers_is_a_read_timeout(plain, timeout) -> None:
    answered = threading.Event()
    with HostileServer(lambda handler: answered.wait(10)) as server:
        with pytest.raises(timeout) as caught:
            make_session().get(f"{server.url}/noarch/a-1.0-0.conda", headers=plain,
                               stream=True, timeout=(5.0, 0.2))
        assert failure_kind(caught.value) == "timeout"
        answered.set()


@pytest.fixture
def no_ca_variables(monkeypatch) -> None:
    """No CA bundle named by a variable (one sends https through requests, not the wire)."""
    for name in CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("plain", "unverified"), [(way[0], way[3]) for way in WAYS])
def test_a_self_signed_certificate_fails_verification_for_the_whole_host(
    tls, no_ca_variables, plain, unverified
) -> None:
    with HostileServer(serve(b"ok"), tls=tls) as server:
        url = f"{server.url}/noarch/a-1.0-0.conda"
        with pytest.raises(unverified) as caught:
            make_session().get(url, headers=plain, stream=True, timeout=TIMEOUT)
        assert server.requests == 0
    error = connect_error(url, caught.value)
    assert isinstance(error, HostError)
    assert "failed verification" in str(error) and "self" in str(error)


@pytest.mark.parametrize("plain", [way[0] for way in WAYS])
def test_a_ca_file_or_insecure_gets_past_a_self_signed_certificate(tls, no_ca_variables,
                                                                  plain) -> None:
    with HostileServer(serve(b"ok"), tls=tls) as server:
        url = f"{server.url}/noarch/a-1.0-0.conda"
        assert _get(make_session(HttpSettings(verify=str(tls[0]))), url, **plain) == b"ok"
        assert _get(make_session(HttpSettings(verify=False)), url, **plain) == b"ok"
        assert server.requests == 2


def test_a_redirect_to_a_file_url_is_refused() -> None:
    with HostileServer(redirect_to("file:///etc/passwd")) as server, \
            pytest.raises(requests.exceptions.InvalidSchema, match="refused a redirect"):
        make_session().get(f"{server.url}/noarch/a-1.0-0.conda", stream=True, timeout=TIMEOUT)


def test_file_urls_go_through_the_file_adapter(tmp_path) -> None:
    path = tmp_path / "a-1.0-0.conda"
    path.write_bytes(b"0123456789")
    with make_session().get(path.as_uri(), headers={"Range": "bytes=2-"}, stream=True,
                            timeout=TIMEOUT) as response:
        assert response.status_code == 206
        assert response.raw.read() == b"23456789"


def test_a_proxy_with_credentials_is_sent_them(monkeypatch) -> None:
    _no_proxy_variables(monkeypatch)
    log: list[dict[str, str]] = []
    with HostileServer(_seen(log)) as proxy:
        with_login = proxy.url.replace("//", "//ann:pa55@")
        session = make_session(HttpSettings(proxies={"http": with_login}))
        assert _get(session, "http://pkgs.invalid/noarch/a-1.0-0.conda") == b"ok"
    assert log[0]["proxy-authorization"] == basic_auth("ann", "pa55")


def _asking_for_a_client_certificate(tls, client_ca: str) -> HostileServer:
    server = HostileServer(serve(b"ok"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[0]), str(tls[1]))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(client_ca)
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    server.scheme = "https"
    return server


def test_a_client_certificate_is_presented(tls, tmp_path) -> None:
    client = self_signed(tmp_path)
    assert client is not None
    with _asking_for_a_client_certificate(tls, str(client[0])) as server:
        url = f"{server.url}/noarch/a-1.0-0.conda"
        with pytest.raises(requests.ConnectionError):
            make_session(HttpSettings(verify=str(tls[0]))).get(url, stream=True, timeout=TIMEOUT)
        settings = HttpSettings(verify=str(tls[0]), client_cert=(str(client[0]), str(client[1])))
        assert _get(make_session(settings), url) == b"ok"
        assert server.requests == 1
