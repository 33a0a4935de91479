"""Keep secrets in URLs (anaconda.org tokens, passwords, token parameters) out of output.

One function for every printer, the JSON report and the logs. Only text that is a URL
(``scheme://...``) is touched, so a local path is never mistaken for one with a token.
Files meant for conda (``urls.txt``) get the URL with its secrets removed, not masked.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]*")
# userinfo is everything before the last "@" of the authority: passwords may hold "@"
_USERINFO = re.compile(r"^(?P<scheme>[^:]+://)[^/?#]*@")
#: an anaconda.org-style token segment of a URL's path; group 1 is the token
TOKEN_SEGMENT = re.compile(r"/t/([^/?#]+)(?=/|$)")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:[a-z_]*token|api_?key|password|passwd|secret|sig|signature"
    r"|x-amz-[a-z-]+|credential)=)[^&#;]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Replace tokens and passwords in every URL inside ``text`` with ``***``."""
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


def redact_url(url: str) -> str:
    """``url`` without its userinfo (any user name may be a token), ``/t/<token>/`` path
    segment or secret query parameters."""
    url = _USERINFO.sub(r"\g<scheme>***@", url, count=1)
    if not url.lower().startswith("file:"):
        url = TOKEN_SEGMENT.sub("/t/***", url)
    return _QUERY_SECRET.sub(r"\g<key>***", url)


def without_credentials(url: str) -> str:
    """``url`` with no userinfo, ``/t/<token>`` segment or secret query parameter: the
    package's address as conda names its channel (conda matches cached packages by
    channel, name and build, never by credentials)."""
    if "@" not in url and "/t/" not in url and "?" not in url:
        return url  # nothing could be a credential
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    path = parts.path if parts.scheme == "file" else TOKEN_SEGMENT.sub("", parts.path)
    query = "&".join(pair for pair in parts.query.split("&")
                     if pair and not _QUERY_SECRET.match("?" + pair))
    if (netloc, path, query) == (parts.netloc, parts.path, parts.query):
        return url
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))
