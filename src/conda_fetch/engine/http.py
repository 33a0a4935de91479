"""The HTTP session the engine uses: the user's proxies, trust store, certificates and auth."""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.sessions import merge_setting
from requests.structures import CaseInsensitiveDict
from requests.utils import get_netrc_auth

from conda_fetch import __version__
from conda_fetch.engine.local import FileAdapter

USER_AGENT = f"conda-fetch/{__version__} requests/{requests.__version__}"


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


class _TrustStoreAdapter(HTTPAdapter):
    """An adapter that verifies TLS against the operating system's trust store."""

    def __init__(self, context: ssl.SSLContext, **kwargs: object) -> None:
        self._context = context
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(proxy, **kwargs)


class _Session(requests.Session):
    """A session whose TLS choice wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` (requests
    lets those override ``session.verify``), and that follows redirects only to HTTP(S):
    never from a server to a ``file://`` URL or another scheme."""

    def __init__(self, verify: bool | str) -> None:
        super().__init__()
        self._verify = verify
        self._merged: dict[tuple[object, ...], dict[str, Any]] = {}
        self._netrc: dict[str, bool] = {}  # host -> whether ~/.netrc has a login for it
        self._redirecting: set[str] = set()  # hosts that answered with a redirect

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        """``requests.Session.get``; a plain streamed GET (no auth, cookies, hooks or
        redirect to follow) goes straight to the transport adapter, skipping the
        session's per-request work (merging settings, auth and cookies, dispatching hooks),
        about a third of a small file's CPU. Proxies, TLS and errors are the adapter's,
        as for any request."""
        prepared = self._plain(url, kwargs) if isinstance(url, str) else None
        if prepared is None or not isinstance(url, str):
            return super().get(url, **kwargs)
        settings = self.merge_environment_settings(prepared.url, {}, True, None, None)
        adapter = self.get_adapter(str(prepared.url))
        response = adapter.send(prepared, timeout=kwargs.get("timeout"), **settings)
        if response.is_redirect:  # this host redirects: the session's way, from now on
            response.close()
            self._redirecting.add(_origin(url))
            return super().get(url, **kwargs)
        if "set-cookie" in response.headers:
            extract_cookies_to_jar(self.cookies, prepared, response.raw)
        return response

    def _plain(self, url: str, kwargs: dict[str, Any]) -> requests.PreparedRequest | None:
        """The request for ``url`` when nothing of the session's per-request work would
        change it; else ``None``."""
        if set(kwargs) - {"headers", "stream", "timeout"} or not kwargs.get("stream"):
            return None
        if self.auth or self.params or len(self.cookies) or any(self.hooks.values()):
            return None
        parts = urlsplit(url)
        origin = _origin(url)
        if parts.scheme not in ("http", "https") or "@" in parts.netloc:
            return None
        if origin in self._redirecting or (self.trust_env and self._has_netrc(origin)):
            return None
        prepared = requests.PreparedRequest()
        prepared.prepare(method="GET", url=url, hooks={"response": []},
                         headers=merge_setting(kwargs.get("headers"), self.headers,
                                               dict_class=CaseInsensitiveDict))
        return prepared

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


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _frozen(value: object) -> object:
    """``value`` as a dictionary key (proxy maps and certificate pairs)."""
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    return tuple(value) if isinstance(value, list) else value


def make_session(settings: HttpSettings | None = None, pool_size: int = 16) -> requests.Session:
    """A session pooling up to ``pool_size`` connections per host, safe to share
    between the engine's threads."""
    settings = settings or HttpSettings()
    session = _Session(settings.verify)
    session.headers["User-Agent"] = settings.user_agent
    session.proxies.update(settings.proxies)
    if settings.client_cert:
        session.cert = settings.client_cert
    adapter = _adapter(settings.verify, pool_size)
    session.mount("https://", adapter)
    session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=pool_size))
    session.mount("file://", FileAdapter())  # local channels, through the same engine
    if settings.verify is False:
        session.verify = False
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
    elif isinstance(settings.verify, str):
        session.verify = settings.verify
    return session


def _adapter(verify: bool | str, pool_size: int) -> HTTPAdapter:
    if verify is True:
        try:
            import truststore
        except ImportError:
            pass
        else:
            context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            return _TrustStoreAdapter(context, pool_connections=4, pool_maxsize=pool_size)
    return HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
