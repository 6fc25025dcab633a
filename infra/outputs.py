"""The stack outputs ``ostops instance from-stack`` reads; secrets stay Pulumi secrets."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.bootstrap_command import MYSQL_CA_CERTIFICATES
from infra.host import OsTicketHost
from infra.lab_client import LabClient
from infra.network import MYSQL_PORT
from infra.production import ProductionTier
from infra.site import DB_NAME, DB_USER, TABLE_PREFIX


def stack_outputs(host: OsTicketHost, lab_client: LabClient | None = None) -> dict[str, pulumi.Input[Any]]:
    outputs: dict[str, pulumi.Input[Any]] = {
        "tier": "lab",
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
        "managementRoute": host.management_route,
        # The container's plain URL and the account's name: never a key or a SAS (the account allows neither).
        "backupContainerUrl": host.backup.container_url,
        "backupStorageAccount": host.backup.account_name,
    }
    if lab_client is not None:
        outputs["labClientPublicIp"] = lab_client.public_ip_address
        outputs["labClientRdpCommand"] = lab_client.rdp_command
    return outputs


def production_outputs(tier: ProductionTier) -> dict[str, pulumi.Input[Any]]:
    """What ``ostops instance from-stack`` reads, as for the lab, plus the management path and the tier's names.

    ``dbHost`` is the Flexible Server's private name: reachable only through ``managementRoute``.
    """
    return {
        "tier": "production",
        "helpdeskUrl": tier.helpdesk_url,
        "staffUrl": tier.staff_url,
        "apiUrl": tier.api_url,
        "certificatePem": tier.certificate_pem,
        "fqdn": tier.fqdn,
        "publicIp": tier.gateway.public_address,
        "adminUsername": tier.admin_username,
        "osticketAdminUsername": tier.osticket_admin_username,
        "vmAdminPassword": pulumi.Output.secret(tier.admin_password),
        "osticketAdminPassword": pulumi.Output.secret(tier.osticket_admin_password),
        "apiKey": pulumi.Output.secret(tier.api_key),
        "dbAppPassword": pulumi.Output.secret(tier.db_app_password),
        "dbHost": tier.db_host,
        "dbPort": MYSQL_PORT,
        "dbName": DB_NAME,
        "dbUser": DB_USER,
        "tablePrefix": TABLE_PREFIX,
        "dbTlsRequired": True,
        "dbCaCertificates": [url for _, url, _ in MYSQL_CA_CERTIFICATES],
        "osticketVersion": tier.config.osticket_version,
        "keyVaultName": tier.vault.vault_name,
        "resourceGroupName": tier.resource_group_name,
        "scaleSetName": tier.web.scale_set.name,
        "mysqlServerName": tier.database.server.name,
        "managementRoute": tier.management_route,
        "backupContainerUrl": tier.backup.container_url,
        "backupStorageAccount": tier.backup.account_name,
    }
