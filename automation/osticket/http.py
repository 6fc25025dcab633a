"""HTTP sessions for osTicket: pooled keep-alive, a timeout on every call, retries only where safe."""

from __future__ import annotations

import html
import re

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

TIMEOUT = (5, 30)  # connect, read (seconds)
USER_AGENT = "ostops/0.1 (+https://github.com/ostops)"


def new_session(pool_size: int = 4) -> requests.Session:
    """A session that retries connection failures (the request never left) for every method, and a read
    failure once, only for idempotent methods: a hung server costs at most two read timeouts. A POST that may
    have reached osTicket is never sent again."""
    retry = Retry(
        total=3, connect=3, read=1, status=0, other=0,
        allowed_methods=frozenset({"GET", "HEAD", "OPTIONS"}),
        backoff_factor=0.2, raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def pin_environment(session: requests.Session, url: str) -> requests.Session:
    """Read the proxy, CA-bundle and netrc settings from the environment once for ``url`` instead of on every
    request (requests re-reads them per call: a quarter of a load worker's CPU per ticket here)."""
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    session.auth = session.auth or requests.utils.get_netrc_auth(url)
    session.trust_env = False
    return session


_MSG_ERROR = re.compile(r'id="msg_error"[^>]*>(.*?)</', re.DOTALL)
_ERROR_BANNER = re.compile(r'class="(?:error-banner|error)"[^>]*>(.*?)</', re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def osticket_message(body: str, limit: int = 300) -> str:
    """osTicket's own error text from a page or an ajax answer (falls back to the start of the body)."""
    for pattern in (_MSG_ERROR, _ERROR_BANNER):
        match = pattern.search(body)
        if match and _TAGS.sub("", match.group(1)).strip():
            return html.unescape(_TAGS.sub("", match.group(1))).strip()[:limit]
    text = html.unescape(_TAGS.sub(" ", body))
    return " ".join(text.split())[:limit]
