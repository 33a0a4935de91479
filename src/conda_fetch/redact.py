"""Keep secrets in URLs (anaconda.org tokens, passwords, token parameters) out of output.

One function for every printer, the JSON report and the logs. Only text that is a URL
(``scheme://...``) is touched, so a local path is never mistaken for one with a token.
"""

from __future__ import annotations

import re

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]*")
# userinfo is everything before the last "@" of the authority: passwords may hold "@"
_USERINFO = re.compile(r"^(?P<scheme>[^:]+://)[^/?#]*@")
_TOKEN_PATH = re.compile(r"/t/[^/?#]+(?=/|$)")
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
        url = _TOKEN_PATH.sub("/t/***", url)
    return _QUERY_SECRET.sub(r"\g<key>***", url)
