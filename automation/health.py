"""Health of any osTicket, whoever installed it: HTTP 200 on its URL, osTicket's tables behind the table prefix,
the API key as osTicket holds it, and the osTicket release its database schema belongs to.

``ostops instance status`` shows exactly this; ``ostops local status`` adds the processes it started."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from automation import scheduled_backups
from automation.osticket import db
from automation.osticket.http import instance_session
from automation.osticket.schema import SCHEMA_RELEASES

if TYPE_CHECKING:
    from automation.instance import Instance

# A status answers within about STATUS_HTTP_TIMEOUT even when a server hangs: its HTTP and database checks run
# side by side, the database's bounded by db.CONNECT_TIMEOUT (5 s), the HTTP one by this.
STATUS_HTTP_TIMEOUT = 8


@dataclass
class Health:
    checks: dict[str, tuple[bool, str]]
    about: dict[str, str] = field(default_factory=dict)  # the osTicket version and where its files came from
    schema_signature: str | None = None  # osTicket's config schema_signature, when the database was read

    @property
    def healthy(self) -> bool:
        return all(ok for ok, _ in self.checks.values())


def check(instance: Instance) -> Health:
    """The checks that need no local process: HTTP and the database, side by side."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        http = pool.submit(http_check, instance)
        database = pool.submit(database_checks, instance)
        checks = {"http": http.result()}
        found, signature = database.result()
    checks.update(found)
    about = {"osticket_version": instance.osticket_version}
    if signature:
        about["database_schema"] = release_of_schema(signature)
    return Health(checks, about, signature)


def http_check(instance: Instance) -> tuple[bool, str]:
    """GET / through the instance's own session: its certificate pinned, plain HTTP refused off this machine."""
    import requests
    from urllib3.util.retry import Retry

    from automation.errors import ConfigError

    try:
        session = instance_session(instance, pool_size=1)
    except ConfigError as exc:
        return False, str(exc)
    for adapter in session.adapters.values():
        adapter.max_retries = Retry(0, read=False)  # type: ignore[attr-defined]  # one timeout, not two
    try:
        response = session.get(instance.base_url, timeout=STATUS_HTTP_TIMEOUT)
    except requests.exceptions.SSLError as exc:
        pinned = " (the pinned certificate)" if instance.https_certificate_sha256 else ""
        return False, f"GET {instance.base_url} -> TLS refused the server's certificate{pinned}: {exc.__class__.__name__}"
    except requests.Timeout:
        return False, f"GET {instance.base_url} -> no answer within {STATUS_HTTP_TIMEOUT} s"
    except requests.RequestException as exc:
        return False, f"GET {instance.base_url} -> {exc.__class__.__name__}"
    finally:
        session.close()
    return response.status_code == 200, f"GET {instance.base_url} -> {response.status_code}"


def releases_of_schema(signature: str | None) -> tuple[str, ...]:
    return SCHEMA_RELEASES.get(signature or "", ())


def release_of_schema(signature: str) -> str:
    releases = releases_of_schema(signature)
    return f"{signature} (osTicket {' or '.join(releases)})" if releases else f"{signature} (a release ostops does not know)"


def database_checks(instance: Instance) -> tuple[dict[str, tuple[bool, str]], str | None]:
    """The checks, and osTicket's schema signature (None when unread).

    The API key is looked up in osTicket's own table rather than tried over HTTP: osTicket writes the key in
    clear into its system log with every API error, so a probe that provokes one would leak it."""
    where = f"{instance.db.host}:{instance.db.port}/{instance.db.name}"
    try:
        conn = db.connect(instance)
    except db.DatabaseError as exc:
        return {"database": (False, str(exc)), "api key": (False, "not checked: the database is unreachable")}, None
    t = db.Tables(instance.db.table_prefix)
    try:
        with db.cursor(conn) as cur:
            cur.execute(f"SELECT isactive, ipaddr, can_create_tickets, can_exec_cron, "
                        f"SUBSTRING_INDEX(USER(), '@', -1) AS seen_from FROM {t.api_key} "
                        "WHERE apikey = %s", (instance.api_key.get_secret_value(),))
            row = cur.fetchone()
            cur.execute(f"SELECT value FROM {t.config} WHERE namespace = 'core' AND `key` = 'schema_signature'")
            signature = cur.fetchone()
    except db.DatabaseError as exc:
        conn.close()
        return {"database": (False, f"{where}: {exc}; is the table prefix {instance.db.table_prefix!r} right?"),
                "api key": (False, "not checked: osTicket's tables were not found")}, None
    try:
        backups = backup_check(instance, conn) if schedules_backups(instance) else None
    finally:
        conn.close()
    database = (True, f"{where}: osTicket's tables found (prefix {instance.db.table_prefix})")
    if row is None:
        key = (False, "osTicket holds no such API key: deleted in the admin panel, or a stale instance file")
    elif not row["isactive"]:
        key = (False, f"disabled in osTicket's admin panel (bound to {row['ipaddr']})")
    elif not row["can_create_tickets"]:
        key = (False, f"active for {row['ipaddr']} but may not create tickets")
    elif _differs(row["ipaddr"], row["seen_from"]):
        # osTicket accepts the key only from its bound address; the database sees this machine as the API would.
        refused = (f"active for {row['ipaddr']}, but this machine reaches osTicket from {row['seen_from']}: the "
                   "API will refuse it (HTTP 401); bind the key to this address (on Azure: automationSourceCidr)")
        key = (False, refused)
    else:
        key = (True, f"active for {row['ipaddr']}, creates tickets" + (
            ", runs cron" if row["can_exec_cron"] else
            "; may not run cron, so `do: cron` and `advance` steps fail (allow \"Can Execute Cron\" on the key)"))
    found = {"database": database, "api key": key}
    if backups is not None:
        found["scheduled backup"] = backups
    return found, str(signature["value"]) if signature else None


def schedules_backups(instance: Instance) -> bool:
    """An Azure instance backs itself up nightly (the bootstrap's task); any instance whose file names a backup
    container (``from-stack`` copies the stack's) is held to it too."""
    return instance.kind == "azure" or instance.backup_container_url is not None


def backup_check(instance: Instance, conn: Any) -> tuple[bool, str]:
    """The last scheduled backup as ``ostops_ops.backup_log`` records it, over the instance's own connection."""
    try:
        with db.cursor(conn) as cur:
            return scheduled_backups.read(cur)
    except db.DatabaseError as exc:
        return False, scheduled_backups.problem(exc, instance.db.user)


def _differs(bound: str, seen_from: str) -> bool:
    """True only when both are IP addresses and differ (a host name, e.g. behind a proxy, proves nothing)."""
    try:
        return ipaddress.ip_address(bound) != ipaddress.ip_address(seen_from)
    except ValueError:
        return False
