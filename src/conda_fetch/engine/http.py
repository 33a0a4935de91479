"""The HTTP session the engine uses: the user's proxies, trust store, certificates and auth.

A transfer's plain GET goes straight over :mod:`~conda_fetch.engine.wire`; any other
request, and every request to a host behind a proxy, with credentials (in the URL or in
``~/.netrc``), that redirects or that set a cookie, goes through a requests session
(:mod:`~conda_fetch.engine.requests_session`), made the first time one is needed.
"""

from __future__ import annotations

import os
import re
import ssl
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from conda_fetch import __version__
from conda_fetch.engine.wire import (
    AnswerTimeout,
    ConnectTimeout,
    Origin,
    Response,
    Wire,
    headers_of,
)

if TYPE_CHECKING:
    import requests

USER_AGENT = f"conda-fetch/{__version__}"
# requests' headers on every request (but Accept-Encoding, which a plain GET names itself)
DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "keep-alive"}

ORIGIN = re.compile(r"https?://[^/?#@\\\s]+", re.IGNORECASE)
# A path (and query) that requests sends exactly as written: no percent-escape to
# normalise, no dot segment to remove, no fragment, no empty query.
PLAIN_PATH = re.compile(r"(?:/(?!\.\.?(?:[/?]|$))[\w\-.~!$&'()*+,;=:@]*)+"
                        r"(?:\?[\w\-.~!$&'()*+,;=:@/?]+)?", re.ASCII)
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class HttpSettings:
    """Network settings a user may already have configured.

    ``verify``: ``True`` for the system trust store, a path for a CA bundle,
    ``False`` only when the user explicitly opted out (``--insecure``).
    ``proxies`` map a scheme (or ``scheme://host``) to a proxy URL, like conda's
    ``proxy_servers``; environment variables (HTTP(S)_PROXY, NO_PROXY) and
    ``~/.netrc`` apply as well, and ``user:password@`` in a URL is basic auth.
    """

    verify: bool | str = True
    proxies: dict[str, str] = field(default_factory=dict)
    client_cert: str | tuple[str, str] | None = None
    user_agent: str = USER_AGENT


class Session:
    """``requests.Session.get``'s way of fetching a URL, safe to share between threads:
    plain GETs over :class:`Wire`, the rest through requests (see the module)."""

    def __init__(self, settings: HttpSettings, pool_size: int) -> None:
        self.settings = settings
        self._pool_size = pool_size
        headers = {**DEFAULT_HEADERS, "User-Agent": settings.user_agent}
        self._wire = Wire(pool_size, headers, lambda: tls_context(settings.verify))
        self._direct: dict[str, bool] = {}  # origin -> whether plain GETs go over the wire
        self._requests: requests.Session | None = None
        self._lock = threading.Lock()

    def get(self, url: str, **kwargs: Any) -> Any:
        """GET ``url`` as ``requests.Session.get`` would."""
        headers = self._plain(url, kwargs)
        if headers is None:
            return self.requests.get(url, **kwargs)
        response = self._wire.get(url, headers, kwargs["timeout"])
        if "set-cookie" in response.headers:
            self._keep_cookies(url, response)  # sent back by requests, from now on
        if response.status_code in REDIRECTS:
            self._direct[url[:_origin_end(url)]] = False  # requests' way from now on
            response.close()
            return self.requests.get(url, **kwargs)
        return response

    def _keep_cookies(self, url: str, response: Response) -> None:
        """Keep the cookies ``response`` sets in the requests session, as it would."""
        import requests
        from requests.cookies import extract_cookies_to_jar

        prepared = requests.Request("GET", url).prepare()
        extract_cookies_to_jar(self.requests.cookies, prepared, response.original)

    @property
    def requests(self) -> requests.Session:
        """The requests session for what is not a plain GET (made when first needed)."""
        with self._lock:
            if self._requests is None:
                from conda_fetch.engine.requests_session import requests_session

                self._requests = requests_session(self.settings, self._pool_size)
            return self._requests

    def close(self) -> None:
        """Close every connection kept open (the session can still be used)."""
        self._wire.close()
        with self._lock:
            if self._requests is not None:
                self._requests.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def plain_request(self, url: str, headers: Mapping[str, str]
                      ) -> tuple[Wire, Origin, bytes] | None:
        """Where a streamed GET of ``url`` with ``headers`` would go over the wire (see
        :meth:`get`): the wire, the origin to ask and the request's bytes; ``None`` when
        it would go through requests. For a caller that speaks to the wire's connections
        itself (the engine's quick lane)."""
        sent = self._plain_headers(url, headers)
        if sent is None:
            return None
        return (self._wire, *self._wire.prepare(url, sent))

    def _plain(self, url: str, kwargs: dict[str, Any]) -> dict[str, str] | None:
        """The headers to send when ``url`` goes over the wire, else ``None``: a streamed
        GET (see :meth:`_plain_headers`)."""
        if set(kwargs) - {"headers", "stream", "timeout"} or not kwargs.get("stream"):
            return None
        timeout = kwargs.get("timeout")
        if not isinstance(timeout, tuple) or len(timeout) != 2:
            return None
        return self._plain_headers(url, kwargs.get("headers"))

    def _plain_headers(self, url: str, extra: Mapping[str, Any] | None) -> dict[str, str] | None:
        """``extra`` as headers to send over the wire, else ``None``: a GET naming its
        Accept-Encoding (no body is decoded), to a host asked directly, whose path
        requests would send as written, while no cookie is kept."""
        headers = headers_of(extra)
        if headers is None or "accept-encoding" not in {name.lower() for name in headers}:
            return None
        end = _origin_end(url)
        origin = url[:end]
        direct = self._direct.get(origin)
        if direct is None:
            direct = self._direct[origin] = self._may_go_direct(origin)
        if not direct or not PLAIN_PATH.fullmatch(url[end:]):
            return None
        if self._requests is not None and len(self._requests.cookies):
            return None
        return headers

    def _may_go_direct(self, origin: str) -> bool:
        """Whether plain GETs to ``origin`` need nothing of requests: no proxy, no
        credentials, TLS as the settings say it (not a CA bundle named by a variable)."""
        if not origin.isascii() or not ORIGIN.fullmatch(origin):
            return False
        parts = urlsplit(origin)
        try:
            parts.port  # noqa: B018 - raises for a port that is not one
        except ValueError:
            return False
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        if self.settings.proxies or _proxied(scheme) or _netrc_login(host):
            return False
        if scheme == "https":
            verify = self.settings.verify
            if self.settings.client_cert or (verify is True and any(
                    os.environ.get(name) for name in CA_VARIABLES)):
                return False
            if isinstance(verify, str) and not os.path.exists(verify):
                return False  # requests says what is wrong with it
        return True


def failure_kind(exc: BaseException) -> str | None:
    """What went wrong, when a session's ``get`` raised ``exc``: ``"connect-timeout"``,
    ``"timeout"`` (connected, no answer in time), ``"connection"`` (no connection, or no
    HTTP answer on it), ``"request"`` (a request that cannot be made, such as a bad URL);
    ``None`` for an error no session raises. requests' exceptions are known only once it
    was imported: none can be raised before."""
    if isinstance(exc, ConnectTimeout):
        return "connect-timeout"
    if isinstance(exc, AnswerTimeout):
        return "timeout"
    if isinstance(exc, loaded_error("requests.exceptions", "RequestException")):
        if isinstance(exc, loaded_error("requests.exceptions", "ConnectTimeout")):
            return "connect-timeout"
        if isinstance(exc, loaded_error("requests.exceptions", "Timeout")):
            return "timeout"
        connection = loaded_error("requests.exceptions", "ConnectionError")
        return "connection" if isinstance(exc, connection) else "request"
    return "connection" if isinstance(exc, OSError) else None


def request_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is how a session, or reading an answer's body, says a request
    failed (:func:`failure_kind`, or one of urllib3's exceptions)."""
    return failure_kind(exc) is not None or isinstance(
        exc, loaded_error("urllib3.exceptions", "HTTPError"))


def loaded_error(module: str, name: str) -> type[BaseException] | tuple[()]:
    """The exception class ``module.name`` if that module was imported (and has got as far
    as defining it: another thread may be importing it), else an empty tuple, which no
    ``isinstance`` matches. Checking for requests' and urllib3's errors never imports them."""
    found = getattr(sys.modules.get(module), name, ())
    return found if isinstance(found, type) and issubclass(found, BaseException) else ()


def make_session(settings: HttpSettings | None = None, pool_size: int = 16) -> Session:
    """A session pooling up to ``pool_size`` connections per host, safe to share
    between the engine's threads."""
    return Session(settings or HttpSettings(), pool_size)


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """The TLS context requests would verify with: the operating system's trust store
    (truststore, when installed; else certifi's bundle), a CA file or folder, or none."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return _minimum(ssl.create_default_context(capath=verify))
        return _minimum(ssl.create_default_context(cafile=verify))
    return trust_store() or _minimum(ssl.create_default_context(cafile=_certifi()))


def trust_store() -> ssl.SSLContext | None:
    """A context verifying against the operating system's trust store, if truststore is
    installed."""
    try:
        import truststore
    except ImportError:
        return None
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _certifi() -> str:
    import certifi

    return str(certifi.where())


def _minimum(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # as urllib3 asks
    return context


def _origin_end(url: str) -> int:
    """Where ``url``'s origin (``scheme://host:port``) ends."""
    slash = url.find("/", url.find("://") + 3)
    return len(url) if slash < 0 else slash


def _proxied(scheme: str) -> bool:
    """Whether a proxy is named for ``scheme`` or for all schemes: in the environment, and
    on macOS and Windows in the system's settings too; requests then decides, ``NO_PROXY``
    included."""
    if sys.platform in ("darwin", "win32"):
        import urllib.request

        proxies = urllib.request.getproxies()
        return bool(proxies.get(scheme) or proxies.get("all"))
    names = (f"{scheme}_proxy", "all_proxy")
    return any(value and name.lower() in names for name, value in os.environ.items())


def _netrc_login(host: str) -> bool:
    """Whether requests would send a login from ``~/.netrc`` (or ``$NETRC``) to ``host``."""
    names = [os.environ["NETRC"]] if os.environ.get("NETRC") else ["~/.netrc", "~/_netrc"]
    for name in names:
        path = os.path.expanduser(name)
        if os.path.exists(path):
            import netrc

            try:
                return netrc.netrc(path).authenticators(host) is not None
            except (netrc.NetrcParseError, OSError):
                return False
    return False
