"""The requests session behind :class:`~conda_fetch.engine.http.Session`: every request
that is not a plain GET (proxies, credentials, cookies, redirects, ``file://`` URLs), with
the user's trust store, certificates and auth. Imported the first time one is needed."""

from __future__ import annotations

import ssl
import threading
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, get_netrc_auth, urldefragauth
from urllib3.connectionpool import ConnectionPool

from conda_fetch.engine.http import ORIGIN, PLAIN_PATH, HttpSettings, trust_store
from conda_fetch.engine.local import FileAdapter

KEPT_POOLS = 32  # origins (and settings) whose connection pool an adapter keeps at most

class _Adapter(HTTPAdapter):
    """requests' adapter, remembering the connection pool (the proxy's, if any) of each
    origin and TLS setting instead of working it out per request; with ``context``, TLS
    is verified against it (the operating system's trust store)."""

    def __init__(self, pool_size: int, context: ssl.SSLContext | None = None) -> None:
        self._context = context
        self._pools: dict[tuple[object, ...], ConnectionPool] = {}
        self._pools_lock = threading.Lock()  # taken on a miss and on close only
        self._whole: dict[tuple[object, ...], bool] = {}  # whether the target is the URL
        super().__init__(pool_connections=4, pool_maxsize=pool_size)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._context is not None:
            kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        if self._context is not None:
            kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(proxy, **kwargs)

    def get_connection_with_tls_context(self, request: requests.PreparedRequest,
                                        verify: bool | str | None,
                                        proxies: Mapping[str, str] | None = None,
                                        cert: tuple[str, str] | str | None = None
                                        ) -> ConnectionPool:
        """requests' pool for ``request``, asked once per origin and settings and kept
        until :meth:`close`, also when the pool manager (which keeps four) forgets it:
        each origin's connections stay open for its next requests. Past
        :data:`KEPT_POOLS`, the oldest is forgotten; its connections close once unused."""
        key = (_split(str(request.url))[0], verify, _frozen(proxies), _frozen(cert))
        pool = self._pools.get(key)
        if pool is None:
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            with self._pools_lock:
                if len(self._pools) >= KEPT_POOLS:
                    del self._pools[next(iter(self._pools))]
                self._pools[key] = pool
        return pool

    def close(self) -> None:
        """Close every pool this adapter handed out, and forget them."""
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
        super().close()

    def request_url(self, request: requests.PreparedRequest,
                    proxies: Mapping[str, str] | None) -> str:
        """requests' request target: the path, or the whole URL for an HTTP proxy; which
        of the two is worked out once per origin and proxies."""
        key = (_split(str(request.url))[0], _frozen(proxies))
        whole = self._whole.get(key)
        if whole is None:
            whole = not super().request_url(request, proxies).startswith("/")
            self._whole[key] = whole
        return urldefragauth(str(request.url)) if whole else request.path_url


class _Session(requests.Session):
    """A session whose TLS choice wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` (requests
    lets those override ``session.verify``), and that follows redirects only to HTTP(S):
    never from a server to a ``file://`` URL or another scheme."""

    def __init__(self, verify: bool | str) -> None:
        super().__init__()
        self._verify = verify
        self._merged: dict[tuple[object, ...], dict[str, Any]] = {}
        self._origins: dict[str, str | None] = {}  # origin -> as requests writes it
        self._netrc: dict[str, bool] = {}  # origin -> whether ~/.netrc has a login for it
        self._redirecting: set[str] = set()  # origins that answered with a redirect

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        """``requests.Session.get``; a plain streamed GET (no auth, cookies, hooks or
        redirect to follow) goes straight to the transport adapter, skipping the
        session's per-request work (merging settings, preparing the request, auth and
        cookies, dispatching hooks), a third of a small file's request CPU. Proxies, TLS
        and errors are the adapter's, as for any request."""
        prepared = self._plain(url, kwargs) if isinstance(url, str) else None
        if prepared is None or not isinstance(url, str):
            return super().get(url, **kwargs)
        settings = self.merge_environment_settings(prepared.url, {}, True, None, None)
        adapter = self.get_adapter(str(prepared.url))
        response = adapter.send(prepared, timeout=kwargs.get("timeout"), **settings)
        if response.is_redirect:  # this host redirects: the session's way, from now on
            response.close()
            self._redirecting.add(_split(url)[0])
            return super().get(url, **kwargs)
        if "set-cookie" in response.headers:
            extract_cookies_to_jar(self.cookies, prepared, response.raw)
        return response

    def _plain(self, url: str, kwargs: dict[str, Any]) -> requests.PreparedRequest | None:
        """The request for ``url``, as ``requests`` would prepare it, when nothing of the
        session's per-request work would change it; else ``None``."""
        if set(kwargs) - {"headers", "stream", "timeout"} or not kwargs.get("stream"):
            return None
        if self.auth or self.params or len(self.cookies) or any(self.hooks.values()):
            return None
        origin, path = _split(url)
        written = self._written(origin)
        if written is None or origin in self._redirecting or not PLAIN_PATH.fullmatch(path):
            return None
        if self.trust_env and self._has_netrc(origin):
            return None
        prepared = requests.PreparedRequest()
        prepared.method, prepared.url = "GET", written + path
        prepared.headers = self._headers(kwargs.get("headers"))
        return prepared

    def _written(self, origin: str) -> str | None:
        """``origin`` as requests writes it in a request (scheme and host in lower case,
        IDNA), worked out once; ``None`` for other schemes and for credentials in it."""
        if origin not in self._origins:
            self._origins[origin] = _prepared(origin) if ORIGIN.fullmatch(origin) else None
        return self._origins[origin]

    def _headers(self, extra: Mapping[str, str] | None) -> CaseInsensitiveDict[Any]:
        """The session's headers updated with ``extra`` (a ``None`` value removes one),
        checked as requests checks them."""
        named: dict[str, tuple[str, Any]] = {
            name.lower(): (name, value) for name, value in self.headers.items()}
        named.update((name.lower(), (name, value)) for name, value in (extra or {}).items())
        merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict()
        for name, value in named.values():
            if value is not None:
                check_header_validity((name, value))
                merged[name] = value
        return merged

    def _has_netrc(self, origin: str) -> bool:
        if origin not in self._netrc:
            self._netrc[origin] = get_netrc_auth(origin) is not None
        return self._netrc[origin]

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        """requests' answer, worked out once per scheme and host: it reads every
        environment variable each time (a third of a small file's CPU), and the
        environment, the session's settings and ``NO_PROXY`` do not change per path."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, _frozen(proxies), _frozen(self.proxies), stream,
               verify, _frozen(cert), self.trust_env)
        if key not in self._merged:
            merged = dict(super().merge_environment_settings(url, proxies, stream, verify, cert))
            if self._verify is not True:  # --insecure or ssl_verify: <CA file>
                merged["verify"] = self._verify
            self._merged[key] = merged
        return {**self._merged[key], "proxies": dict(self._merged[key]["proxies"])}

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None:
            scheme = urlsplit(urljoin(resp.url, target)).scheme.lower()
            if scheme not in ("http", "https"):
                resp.close()
                raise requests.exceptions.InvalidSchema(
                    f"refused a redirect to a {scheme or 'relative'}: URL")
        return target


def _prepared(origin: str) -> str | None:
    """``origin`` as a request requests prepares for it names it; ``None`` if invalid."""
    try:
        return str(requests.Request("GET", f"{origin}/").prepare().url)[:-1]
    except requests.RequestException:  # a bad port, a bad name: the session's way says so
        return None


def _split(url: str) -> tuple[str, str]:
    """``url`` as its origin (``scheme://host:port``) and the rest (path and query)."""
    slash = url.find("/", url.find("://") + 3)
    return (url, "") if slash < 0 else (url[:slash], url[slash:])


def _frozen(value: object) -> object:
    """``value`` as a dictionary key (proxy maps and certificate pairs)."""
    if isinstance(value, Mapping):
        return tuple(sorted(value.items()))
    return tuple(value) if isinstance(value, list) else value


def requests_session(settings: HttpSettings, pool_size: int) -> requests.Session:
    """A requests session with ``settings``, pooling up to ``pool_size`` connections per
    host, safe to share between the engine's threads."""
    session = _Session(settings.verify)
    session.headers["User-Agent"] = settings.user_agent
    session.proxies.update(settings.proxies)
    if settings.client_cert:
        session.cert = settings.client_cert
    adapter = _Adapter(pool_size, trust_store() if settings.verify is True else None)
    session.mount("https://", adapter)
    session.mount("http://", _Adapter(pool_size))
    session.mount("file://", FileAdapter())  # local channels, through the same engine
    if settings.verify is False:
        session.verify = False
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
    elif isinstance(settings.verify, str):
        session.verify = settings.verify
    return session
