"""What both tiers share about osTicket as a site: its credentials, its certificate, its URLs, the bootstrap
settings every machine of it gets, the Key Vault secrets those settings name, and how it is managed.

``OsTicketHost`` (lab) and ``ProductionTier`` each call these once; neither repeats them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from infra import tls
from infra.backup import BackupStorage, BackupStorageArgs, container_url
from infra.bootstrap_command import (
    SETTINGS_MODE,
    BootstrapFiles,
    backup_settings,
    bootstrap_settings,
    smtp_relay_settings,
)
from infra.config import StackConfig
from infra.passwords import random_api_key, secret_or_random
from infra.vault import SMTP_RELAY_PASSWORD

DB_NAME = "osticket"
DB_USER = "osticket"
TABLE_PREFIX = "ost_"
# The longest values Azure can give for what the settings embed (24-character vault and storage account names;
# a SHA-256 in hex), so the script's size budget is checked before anything is created.
LONGEST_VAULT_URI = f"https://{'x' * 24}.vault.azure.net/"
LONGEST_CONTAINER_URL = container_url("x" * 24)
LONGEST_SHA256 = "0" * 64


@dataclass(frozen=True)
class Credentials:
    """The VM administrator's and osTicket's: the stack's secrets, else random ones kept in state."""

    admin_username: str
    admin_password: pulumi.Output[str]
    osticket_admin_username: str
    osticket_admin_password: pulumi.Output[str]
    db_app_password: pulumi.Output[str]
    api_key: pulumi.Output[str]


def credentials(config: StackConfig, name: str, parent: pulumi.Resource) -> Credentials:
    return Credentials(
        admin_username=config.admin_username,
        admin_password=secret_or_random(config.admin_password, f"{name}-vm-admin-password", parent),
        osticket_admin_username=config.osticket_admin_username,
        osticket_admin_password=secret_or_random(
            config.osticket_admin_password, f"{name}-osticket-admin-password", parent
        ),
        db_app_password=secret_or_random(config.db_app_password, f"{name}-db-app-password", parent),
        api_key=secret_or_random(config.api_key, f"{name}-api-key", parent, random_api_key),
    )


def certificate(
    config: StackConfig, name: str, fqdn: pulumi.Input[str], parent: pulumi.Resource, gateway: bool = False
) -> tls.TlsMaterial:
    """The user's PFX when the stack has one, else a self-signed certificate for the FQDN (``{name}-tls-*``)."""
    if config.tls_pfx_base64 is not None and config.tls_pfx_password is not None:
        return tls.given(config.tls_pfx_base64, config.tls_pfx_password, gateway=gateway)
    return tls.self_signed(f"{name}-tls", fqdn, parent, gateway=gateway)


@dataclass(frozen=True)
class SiteUrls:
    helpdesk: pulumi.Output[str]
    staff: pulumi.Output[str]
    api: pulumi.Output[str]


def urls(fqdn: pulumi.Output[str]) -> SiteUrls:
    return SiteUrls(
        helpdesk=fqdn.apply(lambda host: f"https://{host}/"),
        staff=fqdn.apply(lambda host: f"https://{host}/scp/"),
        api=fqdn.apply(lambda host: f"https://{host}/api/"),
    )


def settings(
    config: StackConfig,
    files: BootstrapFiles,
    *,
    fqdn: str,
    vault_uri: str,
    certificate_sha256: str,
    secret_names: Mapping[str, str],
    enable_db_access: bool,
    backup_container_url: str,
    mode: str = SETTINGS_MODE,
) -> dict[str, Any]:
    """The bootstrap settings of one machine of the site (the production tier adds its web role to them)."""
    relay = config.smtp_relay
    return bootstrap_settings(
        files=files,
        osticket_version=config.osticket_version,
        site_host_name=fqdn,
        helpdesk_name=config.helpdesk_name,
        admin_username=config.osticket_admin_username,
        admin_email=config.osticket_admin_email or f"ostadmin@{fqdn}",
        automation_source_ip=config.automation_source_ip,
        enable_db_access=enable_db_access,
        vault_uri=vault_uri,
        secret_names=secret_names,
        certificate_sha256=certificate_sha256,
        hsts_max_age_seconds=config.hsts_max_age_seconds,
        smtp_relay=(
            smtp_relay_settings(
                relay.host, relay.port, relay.username, SMTP_RELAY_PASSWORD if relay.password is not None else None
            )
            if relay is not None
            else None
        ),
        backup=backup_settings(backup_container_url, config.backup.schedule, config.backup.retention_days),
        mode=mode,
    )


def secrets(config: StackConfig, creds: Credentials, material: tls.TlsMaterial) -> dict[str, pulumi.Input[str]]:
    """The Key Vault secrets both tiers' bootstrap reads; each tier adds its own (database root, salt...)."""
    found: dict[str, pulumi.Input[str]] = {
        "adminPassword": creds.osticket_admin_password,
        "dbAppPassword": creds.db_app_password,
        "apiKey": creds.api_key,
        "tlsPfx": material.pfx_base64,
        "tlsPfxPassword": material.pfx_password,
    }
    relay = config.smtp_relay
    if relay is not None and relay.password is not None:
        found["smtpRelayPassword"] = pulumi.Output.secret(relay.password.get_secret_value())
    return found


# --- how the help desk is managed (stack output managementRoute, copied into the instance file) --------------

ROUTE_BASTION = "bastion"
ROUTE_AUTOMATION_SUBNET = "automation-subnet"
ROUTE_PUBLIC = "public"
BASTION_HOW = (
    "RDP to the machines through Azure Bastion only (`az network bastion rdp --name <bastion> --resource-group "
    "<group> --target-resource-id <vm id>`, or the portal); no public RDP or WinRM rule exists"
)


def backup_storage(
    name: str,
    config: StackConfig,
    *,
    resource_group_name: pulumi.Input[str],
    tags: Mapping[str, str],
    subnet_ids: Sequence[pulumi.Input[str]],
    writers: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> BackupStorage:
    """The nightly backups' storage of either tier: retention, soft delete and the automation host's address from
    the stack's config; the tier says which subnets reach it and which identities write."""
    return BackupStorage(
        f"{name}-backup",
        BackupStorageArgs(
            resource_group_name=resource_group_name,
            location=config.location,
            tags=tags,
            subnet_ids=subnet_ids,
            writers=writers,
            retention_days=config.backup.retention_days,
            soft_delete_days=config.backup.soft_delete_days,
            allowed_addresses=[config.automation_source_ip],
        ),
        opts,
    )
