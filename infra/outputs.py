"""The stack outputs ``ostops instance from-stack`` reads; secrets stay Pulumi secrets."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.host import DB_NAME, DB_USER, TABLE_PREFIX, OsTicketHost
from infra.lab_client import LabClient
from infra.network import MYSQL_PORT


def stack_outputs(host: OsTicketHost, lab_client: LabClient | None = None) -> dict[str, pulumi.Input[Any]]:
    outputs: dict[str, pulumi.Input[Any]] = {
        "helpdeskUrl": host.helpdesk_url,
        "staffUrl": host.staff_url,
        "apiUrl": host.api_url,
        "certificatePem": host.certificate_pem,
        "fqdn": host.fqdn,
        "publicIp": host.public_ip_address,
        "rdpCommand": host.rdp_command,
        "adminUsername": host.admin_username,
        "osticketAdminUsername": host.osticket_admin_username,
        "vmAdminPassword": pulumi.Output.secret(host.admin_password),
        "osticketAdminPassword": pulumi.Output.secret(host.osticket_admin_password),
        "apiKey": pulumi.Output.secret(host.api_key),
        "dbAppPassword": pulumi.Output.secret(host.db_app_password),
        "dbHost": host.db_host,
        "dbPort": MYSQL_PORT,
        "dbName": DB_NAME,
        "dbUser": DB_USER,
        "tablePrefix": TABLE_PREFIX,
        "osticketVersion": host.config.osticket_version,
        "keyVaultName": host.vault.vault_name,
        "bootstrapRunCommand": host.bootstrap.name,
        "resourceGroupName": host.resource_group_name,
        "vmName": host.vm.name,
    }
    if lab_client is not None:
        outputs["labClientPublicIp"] = lab_client.public_ip_address
        outputs["labClientRdpCommand"] = lab_client.rdp_command
    return outputs
