"""``ostops instance from-stack``: an instance file for a Pulumi-deployed osTicket."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import click

from automation.cli.common import escape, out, warn


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
    from automation.files import write_atomic
    from automation.instance import HTTPS_CERTIFICATE_FILE
    from automation.paths import default_azure_instance_path
    from automation.stack import read_stack_outputs

    source = "standard input" if outputs.name == "<stdin>" else outputs.name
    read = read_stack_outputs(outputs.read(), source, str(db_ca.resolve()) if db_ca else None, allow_plain_http)
    instance = read.instance
    path = instance_path or default_azure_instance_path()
    instance.save(path)
    if read.certificate_pem:
        write_atomic(path.parent / HTTPS_CERTIFICATE_FILE, read.certificate_pem, mode=0o644)
        out.print(f"pinned the web server's certificate (SHA-256 {instance.https_certificate_sha256}), kept in "
                  f"{escape(str(path.parent / HTTPS_CERTIFICATE_FILE))}")
    elif instance.base_url.startswith("https://"):
        warn("the stack outputs no certificatePem: the help desk's certificate is checked against this "
             "machine's CA bundle")
    if allow_plain_http:
        warn("--allow-plain-http: passwords and the API key cross the network in clear")
    out.print(f"wrote {escape(str(path))} (mode 0600) for {escape(instance.base_url)}")
    out.print(f"use it with: export OSTOPS_INSTANCE={escape(str(path))}")
    if db_ca is None:
        warn("the database connection is encrypted but the server is not authenticated; pass --db-ca with the "
             "VM's MariaDB certificate to pin it")
