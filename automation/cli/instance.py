"""``ostops instance from-stack | add | status``: instance files for a Pulumi-deployed osTicket or any other, and
their health."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import click

from automation.cli.common import Outcome, escape, instance_option, out, print_json, warn
from automation.errors import ConfigError
from automation.workspace import Workspace

if TYPE_CHECKING:
    from automation.health import Health
    from automation.instance import Instance


@click.group("instance")
def instance_group() -> None:
    """Instance files: where an osTicket is and how to reach it."""


@instance_group.command("from-stack")
@click.argument("outputs", type=click.File("rb"), default="-")
@click.option("--instance", "instance_path", type=click.Path(path_type=Path), default=None,
              help="Where to write (default: ~/.local/state/ostops/azure/instance.json).")
@click.option("--db-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM certificate the database server must present (the VM's C:\\MariaDB\\data\\"
                   "ostops-server-cert.pem); without it the connection is encrypted but unauthenticated.")
@click.option("--allow-plain-http", is_flag=True,
              help="Accept an http:// help desk on another machine: passwords and the API key then cross the "
                   "network in clear. Only for a throwaway lab.")
def instance_from_stack(outputs: BinaryIO, instance_path: Path | None, db_ca: Path | None,
                        allow_plain_http: bool) -> None:
    """Write the instance file for a Pulumi-deployed osTicket from `pulumi stack output --json --show-secrets`
    (a file, or standard input). The web server's certificate (stack output certificatePem) is written beside
    it as https-certificate.pem, and every HTTPS call to the instance then accepts exactly that certificate."""
    from automation.paths import default_azure_instance_path
    from automation.stack import read_stack_outputs

    source = "standard input" if outputs.name == "<stdin>" else outputs.name
    read = read_stack_outputs(outputs.read(), source, str(db_ca.resolve()) if db_ca else None, allow_plain_http)
    instance = read.instance
    path = instance_path or default_azure_instance_path()
    _write(path, instance, read.certificate_pem, "the stack outputs no certificatePem")
    if instance.management_route is not None:
        out.print(f"management route: {escape(instance.management_route.describe())}")
    if db_ca is None:
        warn("the database connection is encrypted but the server is not authenticated; pass --db-ca with the "
             "VM's MariaDB certificate to pin it")


def _write(path: Path, instance: Instance, certificate_pem: str | None, no_pin: str) -> None:
    """The instance file (0600) and, when the web server's certificate is pinned, its PEM beside it."""
    from automation.files import write_atomic
    from automation.instance import HTTPS_CERTIFICATE_FILE

    instance.save(path)
    if certificate_pem:
        write_atomic(path.parent / HTTPS_CERTIFICATE_FILE, certificate_pem, mode=0o644)
        out.print(f"pinned the web server's certificate (SHA-256 {instance.https_certificate_sha256}), kept in "
                  f"{escape(str(path.parent / HTTPS_CERTIFICATE_FILE))}")
    elif instance.base_url.startswith("https://"):
        warn(f"{no_pin}: the help desk's certificate is checked against this machine's CA bundle")
    if instance.allow_plain_http:
        warn("--allow-plain-http: passwords and the API key cross the network in clear")
    out.print(f"wrote {escape(str(path))} (mode 0600) for {escape(instance.base_url)}")
    out.print(f"use it with: export OSTOPS_INSTANCE={escape(str(path))}")


def _ask_secret(variable: str, description: str) -> str:
    value: str = click.prompt(f"{description} (or set {variable})", hide_input=True, default="",
                              show_default=False, err=True)
    return value


@instance_group.command("add")
@click.argument("name")
@click.option("--url", required=True, help="The help desk's address, e.g. https://helpdesk.example.com/.")
@click.option("--db-host", required=True, help="osTicket's MariaDB/MySQL server, as this machine reaches it.")
@click.option("--db-port", type=click.IntRange(1, 65535), default=3306, show_default=True)
@click.option("--db-name", default="osticket", show_default=True)
@click.option("--db-user", default="osticket", show_default=True)
@click.option("--table-prefix", default="ost_", show_default=True, help="osTicket's table prefix (ost-config.php "
                                                                        "TABLE_PREFIX).")
@click.option("--admin-username", default="ostadmin", show_default=True,
              help="An osTicket admin: seeding creates agents, teams and departments in the admin panel.")
@click.option("--db-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM certificate of the CA that signed the database server's certificate (TLS, authenticated).")
@click.option("--db-tls-insecure", is_flag=True,
              help="TLS to the database without authenticating the server (encrypted only).")
@click.option("--https-certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Pin the web server's certificate (PEM): every HTTPS call then accepts exactly that one, "
                   "self-signed or not. Without it the machine's CA bundle decides.")
@click.option("--allow-plain-http", is_flag=True,
              help="Accept an http:// help desk on another machine: passwords and the API key then cross the "
                   "network in clear. Only for a throwaway lab.")
@click.option("--ssh-tunnel", metavar="USER@HOST", default=None,
              help="Not built in: refused with the ssh command to run yourself (README, \"Any osTicket\").")
@click.option("--osticket-version", default=None,
              help="Recorded in the instance file (default: the release the database's schema belongs to).")
@click.option("--instance", "instance_path", type=click.Path(path_type=Path), default=None,
              help="Where to write (default: ~/.local/state/ostops/external/NAME/instance.json).")
@click.option("--yes", "-y", is_flag=True, help="Replace an instance file that exists.")
def instance_add(name: str, url: str, db_host: str, db_port: int, db_name: str, db_user: str, table_prefix: str,
                 admin_username: str, db_ca: Path | None, db_tls_insecure: bool, https_certificate: Path | None,
                 allow_plain_http: bool, ssh_tunnel: str | None, osticket_version: str | None,
                 instance_path: Path | None, yes: bool) -> None:
    """Write the instance file of an osTicket ostops did not install (kind external).

    The secrets come from the environment, or are asked for (no echo) when standard input is a terminal:
    OSTOPS_DB_PASSWORD, OSTOPS_API_KEY (a key bound to this machine's address, allowed to create tickets and to
    run cron), OSTOPS_ADMIN_PASSWORD. Agents' passwords are read when needed from OSTOPS_PASSWORD_<USERNAME>.
    The instance is checked once written (`ostops instance status` repeats the checks)."""
    from automation import external, health
    from automation.paths import default_external_instance_path

    options = external.ExternalOptions(
        name=name, url=url, db_host=db_host, db_port=db_port, db_name=db_name, db_user=db_user,
        table_prefix=table_prefix, admin_username=admin_username, db_ca=db_ca, db_tls_insecure=db_tls_insecure,
        https_certificate=https_certificate, allow_plain_http=allow_plain_http, ssh_tunnel=ssh_tunnel,
        osticket_version=osticket_version)
    external.check_options(options)
    path = (instance_path or default_external_instance_path(name)).expanduser()
    if path.exists() and not yes:
        raise ConfigError(f"{path}: an instance file exists; pass --yes to replace it, or choose another NAME or "
                          "--instance")
    if path.is_dir():
        raise ConfigError(f"--instance {path}: is a folder; name a file in it")
    secrets = external.read_secrets(dict(os.environ), _ask_secret if sys.stdin.isatty() else None)
    built = external.build(options, secrets)
    instance = built.instance
    found = health.check(instance)
    releases = health.releases_of_schema(found.schema_signature)
    if osticket_version is None and releases:
        instance.osticket_version = releases[-1]
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(path, instance, built.certificate_pem, "no --https-certificate")
    problems = [f"{check}: {detail}" for check, (ok, detail) in found.checks.items() if not ok]
    for problem in problems:
        warn(problem)
    if problems:
        warn("written anyway; `ostops instance status` checks again once the problem is fixed")
    if db_tls_insecure:
        warn("--db-tls-insecure: the database connection is encrypted but the server is not authenticated")


def show_health(command: str, health: Health, as_json: bool) -> Outcome | None:
    """Print a health report (table or --json); a failed check is osTicket or the environment failing (exit 4)."""
    if as_json:
        print_json(command, health.healthy, **health.about,
                   checks={name: {"ok": ok, "detail": detail} for name, (ok, detail) in health.checks.items()})
    else:
        from rich.table import Table

        for name, value in health.about.items():
            out.print(f"{name.replace('_', ' ').replace('osticket', 'osTicket')}: {escape(value)}")
        table = Table("check", "ok", "detail")
        for name, (ok, detail) in health.checks.items():
            table.add_row(name, "[green]yes[/green]" if ok else "[red]no[/red]", escape(detail))
        out.print(table)
        out.print("healthy" if health.healthy else "UNHEALTHY")
    return None if health.healthy else Outcome.UNHEALTHY


@instance_group.command("status")
@instance_option
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def instance_status(instance_path: Path | None, as_json: bool) -> Outcome | None:
    """Health of any instance (local, Azure or external): HTTP 200 on its URL, osTicket's tables behind the
    table prefix, the API key active in osTicket, and the release of its database schema; for a local instance
    also the processes `ostops local up` started."""
    from automation import health
    from automation.local import manager

    instance = Workspace.at(instance_path).instance()
    report = manager.status(instance) if instance.local is not None else health.check(instance)
    about: dict[str, str] = {"kind": instance.kind}
    if instance.tier is not None:
        about["tier"] = instance.tier
    if instance.management_route is not None:
        about["management_route"] = instance.management_route.describe()
    report.about = {**about, **report.about}
    return show_health("instance status", report, as_json)
