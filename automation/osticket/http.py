"""HTTP sessions for osTicket: pooled keep-alive, a timeout on every call, retries only where safe, the
instance's certificate pinned, and no secret sent over plain HTTP to anything but this machine."""

from __future__ import annotations

import html
import ipaddress
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from automation.errors import ConfigError

if TYPE_CHECKING:
    from automation.instance import Instance

# connect, read (seconds). osTicket answers in well under a second (README "Performance"); what makes it wait is
# mostly its database, and a read that times out is followed by a look at the database (``InstanceSession``), so
# that a frozen database is named within 30 s (db.QUERY_TIMEOUT).
TIMEOUT = (5, 15)
USER_AGENT = "ostops/0.1 (+https://github.com/ostops)"


class _Retry(Retry):
    """urllib3's Retry, except that a read that timed out is never repeated: the server did not answer in time
    (PHP waiting on a frozen database, say), and asking again would wait as long again. A read that failed
    otherwise (the connection closed before the answer: a stale keep-alive) is repeated once, for idempotent
    methods only."""

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> Self:
        if isinstance(error, ReadTimeoutError):
            raise error.with_traceback(_stacktrace)
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _retry() -> Retry:
    return _Retry(
        total=3, connect=3, read=1, status=0, other=0,
        allowed_methods=frozenset({"GET", "HEAD", "OPTIONS"}),
        backoff_factor=0.2, raise_on_status=False,
    )


class PinnedAdapter(HTTPAdapter):
    """HTTPS to a server whose certificate is known in advance (the VM's self-signed one, from the stack's
    outputs): the handshake succeeds only when the server presents exactly that certificate, whoever signed
    it. urllib3 compares the SHA-256 of the peer's DER certificate (``assert_fingerprint``) instead of building
    a chain to a CA, so a self-signed certificate is accepted and any other one refused."""

    def __init__(self, sha256: str, **kwargs: Any) -> None:
        self.sha256 = sha256
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, assert_fingerprint=self.sha256, **pool_kwargs)

    def build_connection_pool_key_attributes(self, request: requests.PreparedRequest, verify: bool | str,
                                             cert: Any = None) -> Any:
        # The fingerprint is the check: no CA chain is asked for (it would refuse a self-signed certificate).
        return super().build_connection_pool_key_attributes(request, False, cert)

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        super().cert_verify(conn, url, False, cert)


class InstanceSession(requests.Session):
    """A session to one osTicket that knows how to ask whether its database answers (`no_answer`)."""

    def __init__(self, diagnose: Callable[[], str] | None = None) -> None:
        super().__init__()
        self.diagnose = diagnose


def no_answer(session: requests.Session, exc: requests.RequestException) -> str:
    """How a request got no answer: the failure's kind and, after a read timeout, whether osTicket's database
    answers (PHP waits on it, so a frozen database shows as a timeout of osTicket first)."""
    kind = exc.__class__.__name__
    if isinstance(exc, requests.ReadTimeout) and isinstance(session, InstanceSession) and session.diagnose:
        return f"{kind}; {session.diagnose()}"
    return kind


def new_session(pool_size: int = 4, pin_sha256: str | None = None,
                diagnose: Callable[[], str] | None = None) -> requests.Session:
    """A session that retries connection failures (the request never left) for every method, and a read
    failure other than a timeout once, only for idempotent methods: a hung server costs one read timeout. A POST
    that may have reached osTicket is never sent again. ``pin_sha256``: every https:// request must meet exactly
    the certificate of that SHA-256 fingerprint. ``diagnose``: says whether osTicket's database answers."""
    session = InstanceSession(diagnose)
    plain = HTTPAdapter(max_retries=_retry(), pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", plain)
    if pin_sha256:
        session.mount("https://", PinnedAdapter(pin_sha256, max_retries=_retry(), pool_connections=pool_size,
                                                pool_maxsize=pool_size))
    else:
        session.mount("https://", HTTPAdapter(max_retries=_retry(), pool_connections=pool_size,
                                              pool_maxsize=pool_size))
    session.headers["User-Agent"] = USER_AGENT
    return session


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str, allow_plain_http: bool, where: str = "the instance's url") -> None:
    """Passwords and the API key travel only over TLS, or over plain HTTP to this machine. A lab that really
    wants plain HTTP to another host says so with ``--allow-plain-http``."""
    if urlsplit(url).scheme == "http" and not is_loopback(url) and not allow_plain_http:
        raise ConfigError(f"{url}: {where} is plain http:// to another machine, so passwords and the API key "
                          "would cross the network in clear; use its https:// URL, or pass --allow-plain-http to "
                          "`ostops instance from-stack` or `ostops instance add` for a throwaway lab")


def instance_session(instance: Instance, pool_size: int = 4) -> requests.Session:
    """The one way a command gets an HTTP session for an instance: its transport checked, its certificate
    pinned when the instance file carries one."""
    from automation.osticket import db

    check_transport(instance.base_url, instance.allow_plain_http)
    return new_session(pool_size, pin_sha256=instance.https_certificate_sha256,
                       diagnose=lambda: db.diagnose(instance))


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
