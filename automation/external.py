"""``ostops instance add``: an instance file for an osTicket ostops did not install (a Docker image, a
hand-built server, a staging box). Its secrets come from the environment or a prompt, never the command line;
its transport follows the rules of the Azure instances (automation.stack): https:// (pinned or checked against
the CA bundle), plain http:// only to this machine or when explicitly allowed; the database over TLS unless it
is on this machine."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr, ValidationError

from automation.errors import ConfigError
from automation.instance import DatabaseAccess, Instance, Login
from automation.osticket.http import check_transport, is_loopback
from automation.stack import _url_problem, certificate_sha256, check_db_ca

# The secrets of an external instance, each read from its environment variable (the names `ostops local env`
# prints) or asked for without echo.
SECRET_VARIABLES = {
    "db_password": ("OSTOPS_DB_PASSWORD", "the database password"),
    "api_key": ("OSTOPS_API_KEY", "the API key (osTicket admin panel: Manage > API Keys)"),
    "admin_password": ("OSTOPS_ADMIN_PASSWORD", "the osTicket admin's password"),
}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TUNNEL_RECIPE = ("start the forward yourself, e.g. `ssh -f -N -o ExitOnForwardFailure=yes -o ConnectTimeout=10 "
                 "-L 13306:127.0.0.1:3306 {target}`, then add the instance with --db-host 127.0.0.1 --db-port "
                 "13306 (README, \"Any osTicket\")")


@dataclass(frozen=True)
class ExternalOptions:
    name: str
    url: str
    db_host: str
    db_port: int = 3306
    db_name: str = "osticket"
    db_user: str = "osticket"
    table_prefix: str = "ost_"
    admin_username: str = "ostadmin"
    db_ca: Path | None = None
    db_tls_insecure: bool = False
    https_certificate: Path | None = None
    allow_plain_http: bool = False
    ssh_tunnel: str | None = None
    osticket_version: str | None = None


@dataclass(frozen=True)
class ExternalInstance:
    instance: Instance
    certificate_pem: str | None


def check_options(options: ExternalOptions) -> None:
    """Every problem of the options, before any secret is asked for: one error naming the flag."""
    if not NAME.match(options.name):
        raise ConfigError(f"instance name {options.name!r}: use letters, digits, '.', '_' and '-' (up to 64), "
                          "starting with a letter or digit")
    if options.ssh_tunnel is not None:
        raise ConfigError(f"--ssh-tunnel {options.ssh_tunnel}: ostops does not start SSH tunnels itself; "
                          + TUNNEL_RECIPE.format(target=options.ssh_tunnel))
    problem = _url_problem(options.url)
    if problem:
        raise ConfigError(f"--url {options.url}: {problem}")
    check_transport(options.url, options.allow_plain_http, where="--url")
    if options.db_ca is not None and options.db_tls_insecure:
        raise ConfigError("--db-ca and --db-tls-insecure: give one (--db-ca authenticates the database server, "
                          "--db-tls-insecure only encrypts)")
    if not options.db_host.strip():
        raise ConfigError("--db-host: is empty")
    if not re.fullmatch(r"[A-Za-z0-9_]+_", options.table_prefix):
        raise ConfigError(f"--table-prefix {options.table_prefix!r}: osTicket's prefixes are letters, digits and "
                          "'_', ending with '_' (the installer's default is ost_)")
    local_db = is_loopback(f"mysql://{options.db_host}/")
    if not local_db and options.db_ca is None and not options.db_tls_insecure:
        raise ConfigError(f"--db-host {options.db_host}: another machine, so the database password would cross the "
                          "network in clear; pass --db-ca PEM (the CA of the server's certificate), --db-tls-insecure "
                          "(encrypted, server not authenticated), or reach it through an SSH tunnel: "
                          + TUNNEL_RECIPE.format(target="USER@" + options.db_host))
    if options.db_ca is not None:
        check_db_ca(str(options.db_ca), hint="give the PEM certificate of the CA that signed the database "
                                             "server's certificate")


def read_secrets(environ: dict[str, str], ask: Callable[[str, str], str] | None) -> dict[str, str]:
    """Each secret from its variable, else from ``ask(variable, description)`` (None: no terminal to ask at)."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for field, (variable, description) in SECRET_VARIABLES.items():
        value = environ.get(variable, "")
        if not value and ask is not None:
            value = ask(variable, description)
        if not value:
            missing.append(f"{variable} ({description})")
        found[field] = value
    if missing:
        raise ConfigError(f"missing secrets: {', '.join(missing)}; set them in the environment (standard input is "
                          "not a terminal, so ostops cannot ask); secrets are never taken from the command line")
    return found


def build(options: ExternalOptions, secrets: dict[str, str]) -> ExternalInstance:
    """The instance file's content (not written). The osTicket version is --osticket-version, else what the
    database's schema says (filled in by the caller once it has looked)."""
    pem: str | None = None
    sha256: str | None = None
    if options.https_certificate is not None:
        if not options.url.startswith("https://"):
            raise ConfigError(f"--https-certificate {options.https_certificate}: --url is not https://, so there "
                              "is no certificate to pin")
        try:
            pem = options.https_certificate.read_text(encoding="utf-8").strip() + "\n"
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--https-certificate {options.https_certificate}: cannot read it: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        sha256 = certificate_sha256(pem, f"--https-certificate {options.https_certificate}")
    tls = options.db_ca is not None or options.db_tls_insecure
    try:
        instance = Instance(
            kind="external",
            url=options.url,
            osticket_version=options.osticket_version or "unknown",
            api_key=SecretStr(secrets["api_key"]),
            api_key_ip=None,
            admin=Login(username=options.admin_username, password=SecretStr(secrets["admin_password"])),
            db=DatabaseAccess(host=options.db_host, port=options.db_port, name=options.db_name,
                              user=options.db_user, password=SecretStr(secrets["db_password"]),
                              table_prefix=options.table_prefix, ssl=tls,
                              ssl_ca=str(options.db_ca.resolve()) if options.db_ca else None),
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            https_certificate_sha256=sha256,
            allow_plain_http=options.allow_plain_http,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        # pydantic would echo the input, a secret for some fields: say only which field and what is wrong.
        raise ConfigError(f"instance {options.name}: {where}: {first['msg']}") from None
    return ExternalInstance(instance, pem)
