"""Keep secrets in URLs (anaconda.org tokens, passwords, token parameters) out of output."""

from __future__ import annotations

import re

_TOKEN_PATH = re.compile(r"/t/[^/\s]+/")
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):[^@/\s]*@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&](?:token|access_token|api_key|apikey|password|sig|signature)=)[^&#\s]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Replace tokens and passwords in every URL inside ``text`` with ``***``."""
    text = _TOKEN_PATH.sub("/t/***/", text)
    text = _USERINFO.sub(r"\g<scheme>\g<user>:***@", text)
    return _QUERY_SECRET.sub(r"\g<key>***", text)
