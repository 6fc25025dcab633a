"""Typed stack configuration for the Azure deployment.

``load_config`` reads every ``ostops:*`` key once, checks it and returns a frozen ``StackConfig``; every
problem found is listed at once in one ``StackConfigError`` (a ``ConfigError``: exit 2), one line per key,
e.g. ``ostops:adminSourceCidr: '0.0.0.0/0' would open RDP to the whole internet ...``.
``Pulumi.example.yaml`` documents every key.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pulumi
from cryptography.hazmat.primitives.serialization import pkcs12
from pulumi.runtime.config import (
    CONFIG,
    get_config,
    get_config_env,
    get_config_secret_keys_env,
    is_config_secret,
)
from pydantic import SecretStr

from automation.errors import ConfigError
from infra.policy.predicates import OSTICKET_SECURITY_FLOOR, REQUIRED_TAGS, parse_version, version_at_least

CONFIG_NAMESPACE = "ostops"
DEFAULT_VM_SIZE = "Standard_B2as_v2"
# Windows computer names are NetBIOS names: at most 15 characters.
MAX_COMPUTER_NAME = 15
LAB_CLIENT_LABEL_SUFFIX = "-client"
DEFAULT_ADMIN_USERNAME = "ostopsadmin"
DEFAULT_OSTICKET_ADMIN_USERNAME = "ostadmin"
DEFAULT_HELPDESK_NAME = "ostops Help Desk"
# RDP is closed unless ostops:adminSourceCidr is set, and then only from a /28 (16 addresses) or narrower.
WIDEST_ADMIN_PREFIX = 28
# The data disk (MariaDB's data directory and osTicket's attachments): Standard SSD by default, Premium on
# request. Every size in TRUSTED_LAUNCH_VM_SIZES has an "s" in its name: premium-storage capable (Azure VM
# sizes naming conventions, https://learn.microsoft.com/azure/virtual-machines/vm-naming-conventions).
DATA_DISK_SKUS = ("StandardSSD_LRS", "Premium_LRS")
DEFAULT_DATA_DISK_SKU = "StandardSSD_LRS"
DEFAULT_DATA_DISK_GB = 32
# The project's bounds for a help desk's database, not Azure's (Azure accepts more).
MIN_DATA_DISK_GB = 8
MAX_DATA_DISK_GB = 1024
# HSTS max-age with a trusted (user-supplied) certificate: one year. A self-signed certificate gets 0: a
# browser that pinned HSTS to it would hard-fail after the certificate is renewed (RFC 6797 §12.1: no
# click-through once a host is a Known HSTS Host).
DEFAULT_HSTS_MAX_AGE = 31_536_000
MAX_HSTS_MAX_AGE = 63_072_000
# Azure recommends an authenticated relay on 587: outbound TCP 25 is blocked for most subscription types
# (Troubleshoot outbound SMTP connectivity in Azure,
# https://learn.microsoft.com/azure/virtual-network/troubleshoot-outbound-smtp-connectivity).
DEFAULT_SMTP_RELAY_PORT = 587

# ostops:tier: "lab" (one VM, MariaDB beside IIS; the default) or "production" (Azure Database for MySQL
# Flexible Server, a Windows scale set behind Application Gateway v2; docs/azure.md "Tiers").
TIERS = ("lab", "production")
DEFAULT_TIER = "lab"
# Flexible Server General Purpose compute sizes ("Azure Database for MySQL - Flexible Server service tiers",
# General Purpose table, MicrosoftDocs/azure-databases-docs articles/mysql/flexible-server/
# concepts-service-tiers-storage.md). Burstable is left out on purpose: "The Burstable tier doesn't support ...
# High availability" (same page), and zone-redundant HA is what production is for.
MYSQL_GENERAL_PURPOSE_SKUS = frozenset(
    {
        f"Standard_D{cores}{series}"
        for cores in (2, 4, 8, 16, 32, 48, 64)
        for series in ("ads_v5", "ds_v4")
    }
    | {"Standard_D96ds_v5"}
)
DEFAULT_MYSQL_SKU = "Standard_D2ads_v5"
# "Storage size: 20 GiB to 16 TiB" and "Database backup retention period: 1 to 35 days" (same page).
MIN_MYSQL_STORAGE_GB = 20
MAX_MYSQL_STORAGE_GB = 16_384
DEFAULT_MYSQL_STORAGE_GB = 32
MIN_BACKUP_RETENTION_DAYS = 1
MAX_BACKUP_RETENTION_DAYS = 35
DEFAULT_BACKUP_RETENTION_DAYS = 7
# The web tier: at least two instances so that one zone can fail; the project's ceiling, not Azure's.
MIN_WEB_INSTANCES = 2
MAX_WEB_INSTANCES = 10
DEFAULT_WEB_INSTANCES = 2
# Scheduled backups (infra/backup.py): the VM's nightly task writes to a private Blob container. The schedule is
# the VM's local time, which is UTC unless changed (Azure VMs are created in UTC). Blob soft delete keeps
# "between 1 and 365 days" (Soft delete for blobs, https://learn.microsoft.com/azure/storage/blobs/soft-delete-blob-overview).
# Retention is at least 7 days (the project's floor, not Azure's): fewer would leave a bad week of nights with
# nothing older to go back to. ostops:azureBackup keeps its daily recovery points as many days.
DEFAULT_BACKUP_SCHEDULE = "02:30"
DEFAULT_SCHEDULED_RETENTION_DAYS = 30
MIN_SCHEDULED_RETENTION_DAYS = 7
MAX_SCHEDULED_RETENTION_DAYS = 3650
DEFAULT_SOFT_DELETE_DAYS = 14
MAX_SOFT_DELETE_DAYS = 365
# Keys that only mean something with ostops:tier production.
PRODUCTION_KEYS = (
    "mysqlSku",
    "mysqlStorageGb",
    "mysqlBackupRetentionDays",
    "mysqlGeoRedundantBackup",
    "webInstances",
    "webMaxInstances",
    "alertEmail",
    "secretSalt",
)
# Keys of the lab's single VM that production refuses, with what to do instead.
LAB_ONLY_KEYS = {
    "enableDbAccess": "production has no public database endpoint; reach it through the automation subnet "
    "(docs/azure.md, \"Management path\")",
    "labClient": "the lab client belongs to the lab tier",
    "dataDiskSizeGb": "production keeps its data in the Flexible Server (ostops:mysqlStorageGb)",
    "dataDiskSku": "production keeps its data in the Flexible Server",
    "allowVmReplace": "scale-set instances are replaced by the scale set itself",
    "adminSourceCidr": "no RDP is opened to the web instances; use Azure Bastion or a Run Command",
    "bootstrapMode": "the web instances run the install mode only; the Flexible Server keeps its own backups "
    "(ostops:mysqlBackupRetentionDays) and rotation and upgrades replace the instances",
    "azureBackup": "Azure Backup protects the lab's single VM; production's data is in the Flexible Server, whose "
    "own backups ostops:mysqlBackupRetentionDays keeps",
    "dbRootPassword": "there is no MariaDB root; the Flexible Server's administrator password is generated "
    "and kept in Key Vault (mysql-admin-password)",
}


@dataclass(frozen=True)
class ImageReference:
    publisher: str
    offer: str
    sku: str
    version: str = "latest"


# Generation 2 images only: Trusted Launch needs them.
SERVER_IMAGES: Mapping[str, ImageReference] = MappingProxyType(
    {
        "2022-azure-edition": ImageReference(
            "MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition"
        ),
        "2019-datacenter": ImageReference(
            "MicrosoftWindowsServer", "WindowsServer", "2019-datacenter-gensecond"
        ),
    }
)
DEFAULT_SERVER_IMAGE = "2022-azure-edition"

LAB_CLIENT_IMAGES: Mapping[str, ImageReference] = MappingProxyType(
    {
        "windows-11-enterprise": ImageReference("MicrosoftWindowsDesktop", "windows-11", "win11-24h2-ent"),
        "windows-11-multi-session": ImageReference("MicrosoftWindowsDesktop", "windows-11", "win11-24h2-avd"),
        "windows-10-enterprise": ImageReference("MicrosoftWindowsDesktop", "Windows-10", "win10-22h2-ent-g2"),
    }
)
DEFAULT_LAB_CLIENT_IMAGE = "windows-11-enterprise"

# The one list of sizes the program accepts: small x64 sizes of the families Microsoft lists as supporting
# Trusted Launch ("Trusted Launch for Azure virtual machines", Virtual machines sizes table,
# https://learn.microsoft.com/azure/virtual-machines/trusted-launch : B-family, D-family, E-family and
# F-family supported; A-family, Dv2 and Dv3 not supported (Gen1 only); Dpsv5-series not supported yet).
# Arm64 sizes (a "p" in the family: Bpsv2, Dpsv5, Dpsv6, ...) are left out: the Windows Server images here
# are x64. v6 sizes are left out too: they use NVMe disk controllers, which this program does not configure.
# B v1 sizes are end-of-life (b-family page, sizes/general-purpose/b-family).
TRUSTED_LAUNCH_VM_SIZES = frozenset(
    {
        # B-family: Basv2 (AMD x86-64), Bsv2 (Intel x86-64)
        "Standard_B2als_v2",
        "Standard_B2as_v2",
        "Standard_B4als_v2",
        "Standard_B4as_v2",
        "Standard_B8als_v2",
        "Standard_B8as_v2",
        "Standard_B2ls_v2",
        "Standard_B2s_v2",
        "Standard_B4ls_v2",
        "Standard_B4s_v2",
        "Standard_B8ls_v2",
        "Standard_B8s_v2",
        # D-family v4 and v5
        "Standard_D2s_v4",
        "Standard_D4s_v4",
        "Standard_D2as_v4",
        "Standard_D4as_v4",
        "Standard_D2ds_v4",
        "Standard_D4ds_v4",
        "Standard_D2s_v5",
        "Standard_D4s_v5",
        "Standard_D8s_v5",
        "Standard_D2as_v5",
        "Standard_D4as_v5",
        "Standard_D8as_v5",
        "Standard_D2ds_v5",
        "Standard_D4ds_v5",
        "Standard_D2ads_v5",
        "Standard_D4ads_v5",
        # E-family v5 (memory optimised)
        "Standard_E2s_v5",
        "Standard_E4s_v5",
        "Standard_E2as_v5",
        "Standard_E4as_v5",
        # F-family
        "Standard_F2s_v2",
        "Standard_F4s_v2",
        "Standard_F8s_v2",
    }
)

INTERNET_WORDS = frozenset({"*", "internet", "any", "0.0.0.0/0", "0.0.0.0", "::/0"})

# Azure refuses these Windows admin names (OSProfile.adminUsername).
RESERVED_ADMIN_NAMES = frozenset(
    {
        "administrator",
        "admin",
        "user",
        "user1",
        "user2",
        "user3",
        "user4",
        "user5",
        "test",
        "test1",
        "test2",
        "test3",
        "1",
        "123",
        "a",
        "actuser",
        "adm",
        "admin1",
        "admin2",
        "aspnet",
        "backup",
        "console",
        "david",
        "guest",
        "john",
        "owner",
        "root",
        "server",
        "sql",
        "support",
        "support_388945a0",
        "sys",
    }
)

# "a maximum size of 25k bytes each" (About Azure Key Vault secrets,
# https://learn.microsoft.com/azure/key-vault/secrets/about-secrets); base64 of the PFX must fit.
MAX_PFX_BASE64 = 25_000

# Secrets reach PowerShell, PHP and MySQL: characters that need quoting in any of them are refused.
SAFE_SECRET = re.compile(r"[A-Za-z0-9_\-.!#%*+=@~^:,]+")

KNOWN_KEYS = frozenset(
    {
        "location",
        "vmSize",
        "windowsImage",
        "adminUsername",
        "adminPassword",
        "adminSourceCidr",
        "automationSourceCidr",
        "enableDbAccess",
        "osticketVersion",
        "dnsLabel",
        "tags",
        "helpdeskName",
        "osticketAdminUsername",
        "osticketAdminEmail",
        "osticketAdminPassword",
        "dbRootPassword",
        "dbAppPassword",
        "apiKey",
        "labClient",
        "labClientImage",
        "labClientVmSize",
        "keyVaultPurgeProtection",
        "tlsPfxBase64",
        "tlsPfxPassword",
        "bootstrapRun",
        "bootstrapMode",
        "allowVmReplace",
        "dataDiskSizeGb",
        "dataDiskSku",
        "hstsMaxAgeSeconds",
        "smtpRelayHost",
        "smtpRelayPort",
        "smtpRelayUsername",
        "smtpRelayPassword",
        "tier",
        "bastion",
        "bastionSku",
        "backupSchedule",
        "backupRetentionDays",
        "backupSoftDeleteDays",
        "azureBackup",
        *PRODUCTION_KEYS,
    }
)
# ostops:bastion: Azure Bastion (infra/bastion.py), off by default, recommended for production. Developer is
# refused: no subnet or public IP of its own and no connections from the Azure CLI (includes/bastion-sku.md).
BASTION_SKUS = ("Standard", "Basic")
DEFAULT_BASTION_SKU = "Standard"


class StackConfigError(ConfigError, pulumi.RunError):
    """Stack config values are missing or wrong: every one found, one line each starting with the full key.

    ``key`` is the first key named, ``keys`` all of them, ``problems`` the lines.
    """

    def __init__(self, key: str, problem: str, more: list[tuple[str, str]] | None = None) -> None:
        found = [(key, problem), *(more or [])]
        self.keys = [f"{CONFIG_NAMESPACE}:{k}" for k, _ in found]
        self.key = self.keys[0]
        lines = [f"{full}: {text}" for full, (_, text) in zip(self.keys, found, strict=True)]
        message = lines[0] if len(lines) == 1 else (
            f"{len(lines)} problems in the stack config (nothing was created):\n" + "\n".join(lines)
        )
        super().__init__(message, lines)


@dataclass(frozen=True)
class SmtpRelay:
    """An SMTP relay osTicket sends through; its password (if any) travels only as a Key Vault secret."""

    host: str
    port: int = DEFAULT_SMTP_RELAY_PORT
    username: str | None = None
    password: SecretStr | None = None


@dataclass(frozen=True)
class BackupSettings:
    """The nightly backup to Blob storage (both tiers) and, on the lab tier, Azure Backup of the VM."""

    schedule: str = DEFAULT_BACKUP_SCHEDULE  # HH:MM, the VM's local time
    retention_days: int = DEFAULT_SCHEDULED_RETENTION_DAYS
    soft_delete_days: int = DEFAULT_SOFT_DELETE_DAYS
    azure_backup: bool = False


@dataclass(frozen=True)
class ProductionSettings:
    """The production tier's own settings (ostops:tier production); the lab tier has none."""

    mysql_sku: str = DEFAULT_MYSQL_SKU
    mysql_storage_gb: int = DEFAULT_MYSQL_STORAGE_GB
    backup_retention_days: int = DEFAULT_BACKUP_RETENTION_DAYS
    geo_redundant_backup: bool = True
    web_instances: int = DEFAULT_WEB_INSTANCES
    # Equal to web_instances: no autoscale; larger: a CPU autoscale rule between the two.
    web_max_instances: int = DEFAULT_WEB_INSTANCES
    alert_email: str | None = None
    # osTicket's SECRET_SALT for every web instance; set it (as a secret) to the lab's when moving a help desk
    # into production, since stored mailbox passwords and signed links depend on it. Generated when unset.
    secret_salt: SecretStr | None = None

    @property
    def autoscale(self) -> bool:
        return self.web_max_instances > self.web_instances


@dataclass(frozen=True)
class StackConfig:
    location: str
    # None: RDP stays closed (Azure Bastion or Run Commands instead, docs/azure.md).
    admin_source_cidr: str | None
    automation_source_ip: str
    dns_label: str
    osticket_version: str
    vm_size: str = DEFAULT_VM_SIZE
    windows_image: str = DEFAULT_SERVER_IMAGE
    admin_username: str = DEFAULT_ADMIN_USERNAME
    admin_password: SecretStr | None = None
    enable_db_access: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    helpdesk_name: str = DEFAULT_HELPDESK_NAME
    osticket_admin_username: str = DEFAULT_OSTICKET_ADMIN_USERNAME
    osticket_admin_email: str | None = None
    osticket_admin_password: SecretStr | None = None
    db_root_password: SecretStr | None = None
    db_app_password: SecretStr | None = None
    api_key: SecretStr | None = None
    lab_client: bool = False
    lab_client_image: str = DEFAULT_LAB_CLIENT_IMAGE
    lab_client_vm_size: str = DEFAULT_VM_SIZE
    key_vault_purge_protection: bool = False
    # A user-supplied certificate (both or neither); without it the stack makes a self-signed one.
    tls_pfx_base64: SecretStr | None = None
    tls_pfx_password: SecretStr | None = None
    # Folded into the bootstrap Run Command's name: a new value runs the bootstrap again.
    bootstrap_run: int = 0
    # settings.mode of the bootstrap (infra/bootstrap_command.py BOOTSTRAP_MODES): what the next run does.
    bootstrap_mode: str = "install"
    allow_vm_replace: bool = False
    data_disk_size_gb: int = DEFAULT_DATA_DISK_GB
    data_disk_sku: str = DEFAULT_DATA_DISK_SKU
    hsts_max_age_seconds: int = 0
    smtp_relay: SmtpRelay | None = None
    bastion: bool = False
    bastion_sku: str = DEFAULT_BASTION_SKU
    backup: BackupSettings = field(default_factory=BackupSettings)
    tier: str = DEFAULT_TIER
    # Set exactly when tier == "production".
    production: ProductionSettings | None = None

    @property
    def trusted_certificate(self) -> bool:
        """A user-supplied PFX (presumably CA-issued); otherwise the stack's self-signed one."""
        return self.tls_pfx_base64 is not None

    @property
    def server_image(self) -> ImageReference:
        return SERVER_IMAGES[self.windows_image]

    @property
    def lab_client_image_reference(self) -> ImageReference:
        return LAB_CLIENT_IMAGES[self.lab_client_image]

    @property
    def automation_source_cidr(self) -> str:
        return f"{self.automation_source_ip}/32"

    @property
    def fqdn(self) -> str:
        """Azure's documented form of the public IP's DNS name."""
        return f"{self.dns_label}.{self.location}.cloudapp.azure.com"

    @property
    def lab_client_dns_label(self) -> str:
        return lab_client_dns_label(self.dns_label)


# --- checks: each takes the raw text and returns the clean value or raises ValueError(problem) ---------


def check_location(value: str) -> str:
    location = value.strip().lower().replace(" ", "")
    if not re.fullmatch(r"[a-z][a-z0-9]{2,}", location):
        raise ValueError(f"{value!r} is not an Azure region name such as 'westeurope' or 'eastus2'")
    return location


def check_vm_size(value: str) -> str:
    size = value.strip()
    if size not in TRUSTED_LAUNCH_VM_SIZES:
        known = {s.lower(): s for s in TRUSTED_LAUNCH_VM_SIZES}
        hint = f" (did you mean {known[size.lower()]!r}?)" if size.lower() in known else ""
        raise ValueError(
            f"{value!r} is not a Gen2 x64 size that supports Trusted Launch{hint}; choose one of: "
            f"{', '.join(sorted(TRUSTED_LAUNCH_VM_SIZES))}"
        )
    return size


def _choice(options: Mapping[str, Any]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in options:
            raise ValueError(f"{value!r} is not one of: {', '.join(options)}")
        return value

    return check


def check_admin_username(value: str) -> str:
    name = value.strip()
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,19}", name) or name.endswith("."):
        raise ValueError(f"{value!r}: use 1-20 letters, digits, '_', '-' or '.', starting with a letter")
    if name.lower() in RESERVED_ADMIN_NAMES:
        raise ValueError(f"{value!r} is reserved by Azure; choose another admin name")
    return name


def check_admin_source_cidr(value: str) -> str:
    text = value.strip()
    advice = "set the address you administer from, e.g. 203.0.113.7/32 (see `curl https://ifconfig.me`)"
    if text.lower() in INTERNET_WORDS:
        raise ValueError(f"{value!r} would open RDP to the whole internet; {advice}")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            meant = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 address or CIDR ({exc}); {advice}") from None
        raise ValueError(
            f"{value!r} has host bits set: did you mean {meant} or {text.split('/')[0]}/32?"
        ) from None
    if network.version != 4:
        raise ValueError(f"{value!r}: the VM has an IPv4 public address only; {advice}")
    if network.prefixlen < WIDEST_ADMIN_PREFIX:
        raise ValueError(
            f"{value!r} is wider than /{WIDEST_ADMIN_PREFIX}: RDP opens to at most {2 ** (32 - WIDEST_ADMIN_PREFIX)} "
            f"addresses; {advice}, or leave it unset (RDP closed) and use Azure Bastion or a Run Command"
        )
    return str(network)


def _integer(value: str, low: int, high: int, what: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number ({what})") from None
    if not low <= number <= high:
        raise ValueError(f"{number} is outside {low}-{high} ({what})")
    return number


# ostops:bootstrapMode: install | upgrade | rotate | backup (the script's $SupportedModes; docs/operations.md).
BOOTSTRAP_MODES = ("install", "upgrade", "rotate", "backup")


def check_bootstrap_run(value: str) -> int:
    return _integer(value, 0, 9999, "bump it, e.g. 1, 2, 3 ..., to run the bootstrap again")


def check_data_disk_size(value: str) -> int:
    return _integer(value, MIN_DATA_DISK_GB, MAX_DATA_DISK_GB, "GiB of the data disk")


def check_data_disk_sku(value: str) -> str:
    if value.strip() not in DATA_DISK_SKUS:
        raise ValueError(f"{value!r} is not one of: {', '.join(DATA_DISK_SKUS)}")
    return value.strip()


def check_mysql_sku(value: str) -> str:
    sku = value.strip()
    if sku not in MYSQL_GENERAL_PURPOSE_SKUS:
        hint = (
            " (Burstable sizes have no high availability)" if sku.lower().startswith("standard_b") else ""
        )
        raise ValueError(
            f"{value!r} is not a General Purpose Flexible Server size{hint}; choose one of: "
            f"{', '.join(sorted(MYSQL_GENERAL_PURPOSE_SKUS))}"
        )
    return sku


def check_mysql_storage(value: str) -> int:
    return _integer(value, MIN_MYSQL_STORAGE_GB, MAX_MYSQL_STORAGE_GB, "GiB of Flexible Server storage")


def check_backup_retention(value: str) -> int:
    return _integer(value, MIN_BACKUP_RETENTION_DAYS, MAX_BACKUP_RETENTION_DAYS, "days of backups kept")


def check_web_instances(value: str) -> int:
    return _integer(value, MIN_WEB_INSTANCES, MAX_WEB_INSTANCES, "web instances, spread across zones")


def check_backup_schedule(value: str) -> str:
    text = value.strip()
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if not match:
        raise ValueError(f"{value!r} is not a time of day HH:MM (24-hour, the VM's local time), e.g. 02:30")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def check_scheduled_retention(value: str) -> int:
    return _integer(value, MIN_SCHEDULED_RETENTION_DAYS, MAX_SCHEDULED_RETENTION_DAYS, "days a backup is kept")


def check_soft_delete_days(value: str) -> int:
    return _integer(value, 1, MAX_SOFT_DELETE_DAYS, "days a deleted backup stays recoverable")


def check_hsts_max_age(value: str) -> int:
    return _integer(value, 0, MAX_HSTS_MAX_AGE, "seconds; 31536000 is one year")


HOST_NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def check_host_name(value: str) -> str:
    host = value.strip()
    if not HOST_NAME.fullmatch(host):
        raise ValueError(f"{value!r} is not a host name such as smtp.sendgrid.net")
    return host


def check_port(value: str) -> int:
    return _integer(value, 1, 65535, "a TCP port")


def check_smtp_username(value: str) -> str:
    name = value.strip()
    if not name or len(name) > 256 or any(ord(c) < 33 or ord(c) == 127 for c in name):
        raise ValueError(f"{value!r}: use 1-256 characters without spaces or control characters")
    return name


def check_smtp_password(value: str) -> str:
    _check_secret_text(value, 8)
    return value


def check_automation_source(value: str) -> str:
    text = value.strip()
    single = (
        "osTicket API keys match one exact client IP, so give one address like 203.0.113.7 or 203.0.113.7/32"
    )
    if text.lower() in INTERNET_WORDS:
        raise ValueError(f"{value!r} would open the API key and database to everyone; {single}")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 address ({exc}); {single}") from None
    if network.version != 4 or network.num_addresses != 1:
        raise ValueError(f"{value!r} is not a single IPv4 address; {single}")
    address = network.network_address
    if address.is_unspecified or address.is_loopback or address.is_multicast:
        raise ValueError(f"{value!r} cannot be a client address; {single}")
    return str(address)


def check_osticket_version(value: str) -> str:
    version = value.strip().removeprefix("v")
    if parse_version(version) is None:
        raise ValueError(f"{value!r} is not a version such as {OSTICKET_SECURITY_FLOOR!r}")
    if not version_at_least(version):
        raise ValueError(f"osTicket {version} is below the security floor {OSTICKET_SECURITY_FLOOR}")
    # bootstrap.ps1 refuses a version other than the manifest's (it downloads only that release), and would
    # say so only after every resource exists.
    pinned = _pinned_osticket_version().strip().removeprefix("v")
    if version != pinned:
        raise ValueError(
            f"osTicket {version} differs from the version infra/bootstrap/downloads.json pins ({pinned}), the "
            "only release the bootstrap downloads: unset ostops:osticketVersion, or change the manifest's "
            "osticket entry (version, url, sha256) to that release first"
        )
    return version


DNS_LABEL = re.compile(r"[a-z][a-z0-9-]{1,61}[a-z0-9]")


def check_dns_label(value: str) -> str:
    label = value.strip()
    if not DNS_LABEL.fullmatch(label):
        raise ValueError(
            f"{value!r}: use 3-63 lower-case letters, digits or '-', starting with a letter and not ending "
            "with '-' (it becomes <label>.<location>.cloudapp.azure.com and must be unique in the region)"
        )
    return label


def lab_client_dns_label(label: str) -> str:
    """The lab client's label: the server's plus "-client", the server's part shortened to stay within 63."""
    room = 63 - len(LAB_CLIENT_LABEL_SUFFIX)
    return label[:room].rstrip("-") + LAB_CLIENT_LABEL_SUFFIX


def check_lab_client_label(label: str) -> None:
    client = lab_client_dns_label(label)
    if not DNS_LABEL.fullmatch(client) or client == label:
        raise ValueError(
            f"{label!r} leaves no distinct label for the lab client ({client!r}); "
            f"use a dnsLabel that does not end in {LAB_CLIENT_LABEL_SUFFIX!r}"
        )


def check_computer_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,14}", name) or name.isdigit():
        raise ValueError(f"{name!r}: a Windows computer name has 1-{MAX_COMPUTER_NAME} letters, digits or '-'")
    return name


def check_email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value.strip()):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value.strip()


def check_osticket_username(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{3,32}", value.strip()):
        raise ValueError(f"{value!r}: use 3-32 letters, digits, '_', '-' or '.'")
    return value.strip()


def check_helpdesk_name(value: str) -> str:
    # The name travels inside the script's embedded JSON, never on a command line: quotes are fine.
    name = value.strip()
    if not name or len(name) > 120 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"{value!r}: use 1-120 characters without line breaks or control characters")
    return name


def _check_secret_text(value: str, minimum: int) -> None:
    if len(value) < minimum:
        raise ValueError(f"is too short: use at least {minimum} characters")
    if not SAFE_SECRET.fullmatch(value):
        raise ValueError(
            "may contain only letters, digits and _-.!#%*+=@~^:, (no quotes, spaces, '$' or '\\')"
        )


def check_vm_password(value: str) -> str:
    _check_secret_text(value, 12)
    if len(value) > 123:
        raise ValueError("is too long: Azure accepts at most 123 characters")
    classes = [re.search(p, value) is not None for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]")]
    if sum(classes) < 3:
        raise ValueError("needs three of: lower-case, upper-case, digit, symbol (Azure's rule)")
    return value


def check_password(value: str) -> str:
    _check_secret_text(value, 12)
    return value


def check_api_key(value: str) -> str:
    if not re.fullmatch(r"[0-9A-F]{32}", value):
        raise ValueError("must be 32 upper-case hex characters, the format osTicket generates")
    return value


def check_pfx_base64(value: str) -> str:
    try:
        base64.b64decode(value.strip(), validate=True)
    except ValueError:
        raise ValueError("is not base64 (encode the .pfx file, e.g. `base64 -w0 site.pfx`)") from None
    if len(value.strip()) > MAX_PFX_BASE64:
        raise ValueError(f"is longer than {MAX_PFX_BASE64} characters, more than one Key Vault secret holds")
    return value.strip()


def check_pfx_password(value: str) -> str:
    if not value:
        raise ValueError("is empty; the PFX must be protected by a password")
    return value


def check_pfx_opens(pfx_base64: str, password: str) -> None:
    """The PFX must open with its password and hold a private key and its certificate."""
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(pfx_base64), password.encode("utf-8"))
    except ValueError:
        raise ValueError("does not open with ostops:tlsPfxPassword (wrong password or not a PFX file)") from None
    if key is None or cert is None:
        raise ValueError("must hold the site's private key and its certificate")


def check_tags(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("must be a map of tag names to values")  # noqa: TRY004 - reported as a config error
    tags: dict[str, str] = {}
    for key, tag_value in value.items():
        if not isinstance(key, str) or not re.fullmatch(r"[^<>%&\\?/]{1,512}", key):
            raise ValueError(f"tag name {key!r} is empty, too long or contains one of <>%&\\?/")
        if not isinstance(tag_value, str | int | float | bool) or len(str(tag_value)) > 256:
            raise ValueError(f"tag {key!r} must have a text value of at most 256 characters")
        tags[key] = str(tag_value)
    for key in REQUIRED_TAGS:
        if key in tags and not tags[key].strip():
            raise ValueError(f"required tag {key!r} cannot be empty")
    return tags


# --- reading -------------------------------------------------------------------------------------------


class _Reader:
    """Reads keys and collects every problem (``problems``); a bad or missing key reads as None."""

    def __init__(self, config: pulumi.Config) -> None:
        self.config = config
        self.problems: list[tuple[str, str]] = []

    def fail(self, key: str, problem: str) -> None:
        self.problems.append((key, problem))

    def raise_problems(self) -> None:
        if self.problems:
            (key, problem), *more = self.problems
            raise StackConfigError(key, problem, more)

    def _raw(self, key: str) -> str | None:
        raw = get_config(self.config.full_key(key))
        return None if raw is None or str(raw).strip() == "" else str(raw)

    def checked(self, key: str, value: Any, check: Callable[[Any], Any]) -> Any:
        try:
            return check(value)
        except ValueError as exc:
            self.fail(key, str(exc))
            return None

    def optional(self, key: str, check: Callable[[str], Any]) -> Any:
        raw = self._raw(key)
        if raw is None:
            return None
        if _is_secret_key(self.config.full_key(key)):
            self.fail(key, "is not a secret: set it with `pulumi config set` (without --secret)")
            return None
        return self.checked(key, raw, check)

    def given(self, key: str) -> bool:
        return self._raw(key) is not None

    def text(self, key: str, check: Callable[[str], Any], default: Any) -> Any:
        if not self.given(key):
            return default
        value = self.optional(key, check)
        return default if value is None else value

    def required(self, key: str, check: Callable[[str], Any], hint: str) -> Any:
        if not self.given(key):
            self.fail(key, f"is required: {hint}")
            return None
        return self.optional(key, check)

    def flag(self, key: str) -> bool:
        raw = self._raw(key)
        if raw is None:
            return False
        if raw.strip().lower() not in {"true", "false"}:
            self.fail(key, f"{raw!r} is not true or false")
            return False
        return raw.strip().lower() == "true"

    def tags(self, key: str) -> dict[str, str]:
        if self._raw(key) is None:
            return {}
        try:
            raw = self.config.get_object(key)
        except pulumi.config.ConfigTypeError:
            self.fail(key, "is not a map of tag names to values")
            return {}
        tags: dict[str, str] | None = self.checked(key, raw, check_tags)
        return tags or {}

    def secret(self, key: str, check: Callable[[str], str]) -> SecretStr | None:
        raw = self._raw(key)
        if raw is None:
            return None
        if not _is_secret_key(self.config.full_key(key)):
            self.fail(
                key,
                f"is stored in plain text: remove it and run `pulumi config set --secret {CONFIG_NAMESPACE}:{key}`",
            )
            return None
        try:
            return SecretStr(check(raw))
        except ValueError as exc:
            # The value itself never goes into the message.
            self.fail(key, f"the secret value {exc}")
            return None


def _is_secret_key(full_key: str) -> bool:
    # The CLI lists secret keys in PULUMI_CONFIG_SECRET_KEYS, which the Python SDK's own check ignores.
    return is_config_secret(full_key) or full_key in get_config_secret_keys_env()


def _unknown_keys() -> list[str]:
    prefix = f"{CONFIG_NAMESPACE}:"
    present = set(CONFIG.get()) | set(get_config_env())
    return sorted(k for k in present if k.startswith(prefix) and k[len(prefix) :] not in KNOWN_KEYS)


def _pinned_osticket_version() -> str:
    from automation.manifest import load_manifest

    return load_manifest().downloads["osticket"].version


def default_tags(stack: str) -> dict[str, str]:
    return {"project": "ostops", "environment": stack, "managed-by": "pulumi"}


def load_config(config: pulumi.Config | None = None, stack: str | None = None) -> StackConfig:
    """Read and check every ``ostops:*`` key; raise one ``StackConfigError`` naming every bad one."""
    config = config or pulumi.Config(CONFIG_NAMESPACE)
    stack = stack or pulumi.get_stack()
    read = _Reader(config)
    for unknown in _unknown_keys():
        read.fail(
            unknown.split(":", 1)[1], f"is not a known key; known keys are: {', '.join(sorted(KNOWN_KEYS))}"
        )

    location = read.optional("location", check_location)
    if location is None and not read.given("location"):
        fallback = get_config("azure-native:location")
        if fallback:
            location = read.checked("location", str(fallback), check_location)
        else:
            read.fail("location", "is required: `pulumi config set ostops:location westeurope`")

    dns_label = read.required(
        "dnsLabel", check_dns_label, "`pulumi config set ostops:dnsLabel ostops-<something-unique>`"
    )
    admin_source = read.optional("adminSourceCidr", check_admin_source_cidr)
    lab_client = read.flag("labClient")
    if lab_client and dns_label is not None:
        read.checked("dnsLabel", dns_label, check_lab_client_label)
    bastion = read.flag("bastion")
    if bastion and read.given("adminSourceCidr"):
        read.fail(
            "adminSourceCidr",
            "opens RDP to the internet, and with ostops:bastion RDP goes through Azure Bastion only: unset it",
        )
    if read.given("bastionSku") and not bastion:
        read.fail("bastionSku", "needs ostops:bastion true, the Bastion it sizes")
    if lab_client and not bastion and not read.given("adminSourceCidr"):
        read.fail(
            "adminSourceCidr",
            "is required with ostops:labClient (the lab client is used over RDP): set the /28 or narrower "
            "range you work from, e.g. 203.0.113.7/32, or set ostops:bastion true to reach it through Azure "
            "Bastion",
        )
    tls_pfx = read.secret("tlsPfxBase64", check_pfx_base64)
    tls_password = read.secret("tlsPfxPassword", check_pfx_password)
    if read.given("tlsPfxBase64") != read.given("tlsPfxPassword"):
        missing = "tlsPfxBase64" if read.given("tlsPfxPassword") else "tlsPfxPassword"
        read.fail(missing, "is required with the other one: give both tlsPfxBase64 and tlsPfxPassword")
    if tls_pfx is not None and tls_password is not None:
        try:
            check_pfx_opens(tls_pfx.get_secret_value(), tls_password.get_secret_value())
        except ValueError as exc:
            read.fail("tlsPfxBase64", f"the secret value {exc}")

    trusted = read.given("tlsPfxBase64")
    hsts = read.optional("hstsMaxAgeSeconds", check_hsts_max_age)
    if hsts and not trusted:
        read.fail(
            "hstsMaxAgeSeconds",
            f"{hsts} needs a trusted certificate (ostops:tlsPfxBase64): with the stack's self-signed one a "
            "browser that remembered HSTS refuses the site outright after the certificate changes; unset it",
        )
    hsts_max_age = 0 if not trusted else (DEFAULT_HSTS_MAX_AGE if hsts is None else hsts)

    values = {
        "location": location,
        "admin_source_cidr": admin_source,
        "automation_source_ip": read.required(
            "automationSourceCidr",
            check_automation_source,
            "the single address the automation runs from, e.g. "
            "`pulumi config set ostops:automationSourceCidr 203.0.113.7/32`",
        ),
        "dns_label": dns_label,
        "osticket_version": read.text("osticketVersion", check_osticket_version, _pinned_osticket_version()),
        "vm_size": read.text("vmSize", check_vm_size, DEFAULT_VM_SIZE),
        "windows_image": read.text("windowsImage", _choice(SERVER_IMAGES), DEFAULT_SERVER_IMAGE),
        "admin_username": read.text("adminUsername", check_admin_username, DEFAULT_ADMIN_USERNAME),
        "admin_password": read.secret("adminPassword", check_vm_password),
        "enable_db_access": read.flag("enableDbAccess"),
        "tags": MappingProxyType(default_tags(stack) | read.tags("tags")),
        "helpdesk_name": read.text("helpdeskName", check_helpdesk_name, DEFAULT_HELPDESK_NAME),
        "osticket_admin_username": read.text(
            "osticketAdminUsername", check_osticket_username, DEFAULT_OSTICKET_ADMIN_USERNAME
        ),
        "osticket_admin_email": read.optional("osticketAdminEmail", check_email),
        "osticket_admin_password": read.secret("osticketAdminPassword", check_password),
        "db_root_password": read.secret("dbRootPassword", check_password),
        "db_app_password": read.secret("dbAppPassword", check_password),
        "api_key": read.secret("apiKey", check_api_key),
        "lab_client": lab_client,
        "lab_client_image": read.text("labClientImage", _choice(LAB_CLIENT_IMAGES), DEFAULT_LAB_CLIENT_IMAGE),
        "lab_client_vm_size": read.text("labClientVmSize", check_vm_size, DEFAULT_VM_SIZE),
        "key_vault_purge_protection": read.flag("keyVaultPurgeProtection"),
        "tls_pfx_base64": tls_pfx,
        "tls_pfx_password": tls_password,
        "bootstrap_run": read.text("bootstrapRun", check_bootstrap_run, 0),
        "bootstrap_mode": read.text("bootstrapMode", _choice({m: m for m in BOOTSTRAP_MODES}), "install"),
        "allow_vm_replace": read.flag("allowVmReplace"),
        "data_disk_size_gb": read.text("dataDiskSizeGb", check_data_disk_size, DEFAULT_DATA_DISK_GB),
        "data_disk_sku": read.text("dataDiskSku", check_data_disk_sku, DEFAULT_DATA_DISK_SKU),
        "hsts_max_age_seconds": hsts_max_age,
        "smtp_relay": _smtp_relay(read),
        "bastion": bastion,
        "bastion_sku": read.text(
            "bastionSku", _choice({sku: sku for sku in BASTION_SKUS}), DEFAULT_BASTION_SKU
        ),
        "backup": BackupSettings(
            schedule=read.text("backupSchedule", check_backup_schedule, DEFAULT_BACKUP_SCHEDULE),
            retention_days=read.text("backupRetentionDays", check_scheduled_retention, DEFAULT_SCHEDULED_RETENTION_DAYS),
            soft_delete_days=read.text("backupSoftDeleteDays", check_soft_delete_days, DEFAULT_SOFT_DELETE_DAYS),
            azure_backup=read.flag("azureBackup"),
        ),
        **_tier(read),
    }
    read.raise_problems()
    return StackConfig(**values)  # every None was a problem, raised above


def _smtp_relay(read: _Reader) -> SmtpRelay | None:
    """``smtpRelayHost`` turns the relay on; port defaults to 587; username and password come together."""
    keys = ("smtpRelayHost", "smtpRelayPort", "smtpRelayUsername", "smtpRelayPassword")
    host = read.optional("smtpRelayHost", check_host_name)
    port = read.text("smtpRelayPort", check_port, DEFAULT_SMTP_RELAY_PORT)
    username = read.optional("smtpRelayUsername", check_smtp_username)
    password = read.secret("smtpRelayPassword", check_smtp_password)
    if not read.given("smtpRelayHost"):
        for key in keys[1:]:
            if read.given(key):
                read.fail(key, "needs ostops:smtpRelayHost, the relay it belongs to")
        return None
    if read.given("smtpRelayUsername") != read.given("smtpRelayPassword"):
        missing = "smtpRelayUsername" if read.given("smtpRelayPassword") else "smtpRelayPassword"
        read.fail(missing, "is required with the other one: give both smtpRelayUsername and smtpRelayPassword")
    if host is None:
        return None
    return SmtpRelay(host=host, port=port, username=username, password=password)


def _tier(read: _Reader) -> dict[str, Any]:
    """``tier`` and, for production, its settings; keys of the other tier are refused with what to do."""
    tier = read.text("tier", _choice({t: t for t in TIERS}), DEFAULT_TIER)
    if tier != "production":
        for key in PRODUCTION_KEYS:
            if read.given(key):
                read.fail(key, "belongs to the production tier: set ostops:tier production, or unset it")
        return {"tier": tier, "production": None}
    for key, why in LAB_ONLY_KEYS.items():
        if read.given(key):
            read.fail(key, f"is not used by ostops:tier production: {why}; unset it")
    instances = read.text("webInstances", check_web_instances, DEFAULT_WEB_INSTANCES)
    maximum = read.text("webMaxInstances", check_web_instances, instances)
    if maximum < instances:
        read.fail("webMaxInstances", f"{maximum} is below ostops:webInstances ({instances}), the autoscale floor")
        maximum = instances
    geo = read.text("mysqlGeoRedundantBackup", _choice({"true": "true", "false": "false"}), "true")
    production = ProductionSettings(
        mysql_sku=read.text("mysqlSku", check_mysql_sku, DEFAULT_MYSQL_SKU),
        mysql_storage_gb=read.text("mysqlStorageGb", check_mysql_storage, DEFAULT_MYSQL_STORAGE_GB),
        backup_retention_days=read.text(
            "mysqlBackupRetentionDays", check_backup_retention, DEFAULT_BACKUP_RETENTION_DAYS
        ),
        geo_redundant_backup=geo == "true",
        web_instances=instances,
        web_max_instances=maximum,
        alert_email=read.optional("alertEmail", check_email),
        secret_salt=read.secret("secretSalt", check_password),
    )
    return {"tier": tier, "production": production}
