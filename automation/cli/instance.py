"""``ostops instance from-stack``: an instance file for a Pulumi-deployed osTicket."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import click
from rich.markup import escape

from automation.cli.common import out, warn


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
def instance_from_stack(outputs: BinaryIO, instance_path: Path | None, db_ca: Path | None) -> None:
    """Write the instance file for a Pulumi-deployed osTicket from `pulumi stack output --json --show-secrets`
    (a file, or standard input)."""
    from automation.instance import default_azure_instance_path
    from automation.stack import instance_from_outputs

    source = "standard input" if outputs.name == "<stdin>" else outputs.name
    instance = instance_from_outputs(outputs.read(), source, str(db_ca.resolve()) if db_ca else None)
    path = instance_path or default_azure_instance_path()
    instance.save(path)
    out.print(f"wrote {escape(str(path))} (mode 0600) for {escape(instance.base_url)}")
    out.print(f"use it with: export OSTOPS_INSTANCE={escape(str(path))}")
    if db_ca is None:
        warn("the database connection is encrypted but the server is not authenticated; pass --db-ca with the "
             "VM's MariaDB certificate to pin it")
