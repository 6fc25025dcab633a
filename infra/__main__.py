"""The ostops Pulumi program: typed config, one ``OsTicketHost``, an optional lab client, the stack outputs."""

from __future__ import annotations

import pulumi

from infra.bootstrap_command import read_bootstrap_files, require_pinned_downloads
from infra.config import load_config
from infra.host import OsTicketHost, OsTicketHostArgs
from infra.lab_client import LabClient, LabClientArgs
from infra.outputs import stack_outputs


def main() -> None:
    config = load_config()
    files = read_bootstrap_files()
    require_pinned_downloads(files.manifest)
    host = OsTicketHost("osticket", OsTicketHostArgs(config, files))
    lab_client = (
        LabClient(
            "lab-client",
            LabClientArgs(
                config=config,
                resource_group_name=host.resource_group_name,
                subnet_id=host.subnet.id,
                admin_username=host.admin_username,
                admin_password=host.admin_password,
            ),
            pulumi.ResourceOptions(parent=host),
        )
        if config.lab_client
        else None
    )
    for key, value in stack_outputs(host, lab_client).items():
        pulumi.export(key, value)


if __name__ == "__main__":
    main()
