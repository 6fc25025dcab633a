"""The managed Run Command that installs osTicket on the help-desk VM with the composed bootstrap script.

The script is composed per role (``compose_script``): the entry ``infra/bootstrap/bootstrap.ps1`` (help, the
param() block, the settings placeholder) followed by the modules of ``ROLE_MODULES[role]`` from
``infra/bootstrap/modules`` (one file per concern), in that fixed order. The ``install`` role (the lab VM) has
every module; the ``web`` role (the production scale set) has no local MariaDB server, no site certificate and
no per-machine cron, and adds the modules that connect osTicket to the Flexible Server.

Nothing travels on a command line (docs/contract): Windows runs a managed Run Command's script as
``script.ps1 -name value ...`` (Microsoft's managed Run Command page), so the Run Command gets no parameters
and no protected parameters. The non-secret settings, the download manifest and the shared installer are one
line of compact JSON that replaces the placeholder line of the script's single-quoted here-string; the
secrets stay in Key Vault, named in those settings.

The Run Command's name carries ``ostops:bootstrapRun`` and the digest of the final script text: after a fix,
or with a new run number and nothing else changed, ``pulumi up`` replaces the Run Command by one of another
name instead of colliding with a failed one it never recorded ("cannot create already existing resource",
pulumi-azure-native#1123) or PUTting the same one again, whose re-execution is disputed
(azure-sdk-for-net#47307). The name is create-only (the URL's last segment), so a new name is a replacement;
``delete_before_replace`` removes the old Run Command first, so the VM never holds two bootstraps (and stays
far from Azure's 25 managed Run Commands per VM, MicrosoftDocs/azure-docs#117976).

The script goes inline (``source.script``). Microsoft's managed Run Command page documents no size limit for
an inline script, so the program keeps its own measured budget, ``MAX_INLINE_SCRIPT_BYTES``: with the longest
settings Azure can give (tests/infra/test_issue20.py ``realistic_script``) the install role's script measured
139,249 bytes (composed 123,370; the installer as base64; the manifest; an SMTP relay and HSTS set) and the web
role's 129,368 (composed 111,611). The budget, 160 KiB, leaves room for the bootstrap's growth; beyond it the program stops
with a ConfigError before anything is created, pointing at delivery by ``scriptUri`` from a private Blob container read with the VM's identity
(``scriptUriManagedIdentity``). Nothing secret is in the script (the secrets stay in Key Vault), so anyone
who may read the VM reading it learns only the settings.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pulumi
from pulumi_azure_native import compute

from automation.errors import ConfigError
from automation.manifest import MANIFEST_PATH, load_manifest
from infra.vm import DATA_DISK_DRIVE_LETTER, DATA_DISK_LABEL, DATA_DISK_LUN

REPO_ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP_SCRIPT_PATH = REPO_ROOT / "infra" / "bootstrap" / "bootstrap.ps1"
MODULES_DIR = REPO_ROOT / "infra" / "bootstrap" / "modules"
INSTALLER_PATH = REPO_ROOT / "automation" / "local" / "installer.php"

PLACEHOLDER = "__OSTOPS_SETTINGS_JSON__"
# The script's param() block (docs/contract §1); the Run Command passes neither.
SCRIPT_PARAMETERS: tuple[str, ...] = ("SettingsPath", "LogPath")
SETTINGS_SCHEMA = 1
RUN_COMMAND_PREFIX = "ostops-bootstrap"
DIGEST_TAG = "bootstrap-sha256"
RUN_TAG = "bootstrap-run"
MAX_INLINE_SCRIPT_BYTES = 163_840
SETTINGS_MODE = "install"
# Downloading PHP, MariaDB and osTicket and running the installer on a B-series VM can take a while.
BOOTSTRAP_TIMEOUT_SECONDS = 3600


INSTALL_ROLE = "install"
WEB_ROLE = "web"
# The modules of each role, in the order the composed script holds them (the order of the steps: each module
# adds its steps with Add-Step, and the runner, last, runs them top to bottom).
ROLE_MODULES: dict[str, tuple[str, ...]] = {
    INSTALL_ROLE: (
        "00-settings", "10-common", "15-downloads", "20-steps", "25-data-disk", "30-iis-php", "40-database-client",
        "45-mariadb-server", "50-osticket-files", "55-osticket-installer", "58-osticket-lockdown", "60-tls",
        "70-firewall", "75-cron", "80-hsts", "85-check", "90-tls-confirm", "99-run",
    ),
    WEB_ROLE: (
        "00-settings", "10-common", "15-downloads", "20-steps", "30-iis-php", "46-database-tls", "50-osticket-files",
        "56-osticket-web", "58-osticket-lockdown", "70-firewall", "76-cron-elected", "85-check", "99-run",
    ),
}


@dataclass(frozen=True)
class BootstrapFiles:
    """What the VM needs from this repository, read once at program time: the composed script of each role."""

    scripts: Mapping[str, str]
    manifest: Mapping[str, Any]
    installer_base64: str

    @property
    def script(self) -> str:
        """The install role's script (the lab VM)."""
        return self.scripts[INSTALL_ROLE]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found; the Azure bootstrap needs it") from None


def check_placeholder(script: str, path: Path | str = "bootstrap.ps1") -> None:
    """The placeholder must stand once, alone on its line, or the settings cannot be embedded."""
    count = script.count(PLACEHOLDER)
    alone = sum(1 for line in script.splitlines() if line.strip() == PLACEHOLDER)
    if count != 1 or alone != 1:
        found = "is missing" if count == 0 else f"appears {count} times" if count > 1 else "is not alone on its line"
        raise ConfigError(
            f"{path}: the settings placeholder {PLACEHOLDER} {found}; the script needs it exactly once, on a "
            "line by itself inside $EmbeddedSettingsJson = @' ... '@ (docs/bootstrap.md)"
        )


def require_pinned_downloads(manifest: Mapping[str, Any], manifest_path: Path | str = MANIFEST_PATH) -> None:
    """Refuse, before anything is created, a manifest the bootstrap would refuse on the VM minutes later: the
    settings never allow unverified downloads, and the bootstrap's first step rejects an entry whose SHA-256
    is not pinned (docs/bootstrap.md). Pinning is one command: it downloads each file from its publisher,
    verifies it by the entry's own method and writes the digest."""
    unpinned = [name for name, entry in (manifest.get("downloads") or {}).items()
                if str(entry.get("sha256", "unknown")) == "unknown"]
    if unpinned:
        only = " ".join(f"--only {name}" for name in unpinned)
        raise ConfigError(
            f"{manifest_path}: {', '.join(unpinned)} {'has' if len(unpinned) == 1 else 'have'} no pinned SHA-256 "
            f"and the bootstrap refuses unpinned downloads; run `ostops manifest hash --write {only}` (each file is "
            "downloaded from its publisher and verified by its manifest's method before its digest is written), "
            "review the change, then `pulumi up` again")


def read_modules(modules_dir: Path | None = None) -> dict[str, str]:
    """Every module any role names, by name (a missing one is a ConfigError naming its path)."""
    folder = modules_dir or MODULES_DIR
    names = sorted({name for modules in ROLE_MODULES.values() for name in modules})
    return {name: _read(folder / f"{name}.ps1", "bootstrap module").decode("utf-8-sig") for name in names}


def compose_script(entry: str, modules: Mapping[str, str], role: str = INSTALL_ROLE) -> str:
    """The entry script, then the role's modules in ``ROLE_MODULES`` order, one blank line between them."""
    if role not in ROLE_MODULES:
        raise ConfigError(f"bootstrap role {role!r} is not one of {', '.join(sorted(ROLE_MODULES))}")
    parts = [entry, *(modules[name] for name in ROLE_MODULES[role])]
    return "\n".join(part if part.endswith("\n") else part + "\n" for part in parts)


def read_bootstrap_files(
    script_path: Path | None = None,
    manifest_path: Path | None = None,
    installer_path: Path | None = None,
    modules_dir: Path | None = None,
) -> BootstrapFiles:
    """Read the entry script and modules, manifest and installer (by default from this checkout) at program
    time, and compose the script of every role."""
    script_file = script_path or BOOTSTRAP_SCRIPT_PATH
    entry = _read(script_file, "bootstrap script").decode("utf-8-sig")
    check_placeholder(entry, script_file)
    modules = read_modules(modules_dir)
    for name, module in modules.items():
        if PLACEHOLDER in module:
            raise ConfigError(f"{(modules_dir or MODULES_DIR) / (name + '.ps1')}: the settings placeholder {PLACEHOLDER} "
                              f"belongs in {script_file} only")
    scripts = {role: compose_script(entry, modules, role) for role in ROLE_MODULES}
    manifest_file = manifest_path or MANIFEST_PATH
    # Validated as `ostops manifest check` does (ConfigError naming the file, line and key); the VM gets the
    # file's own JSON, as the Windows CI job does.
    load_manifest(manifest_file)
    manifest = json.loads(_read(manifest_file, "download manifest"))
    installer = _read(installer_path or INSTALLER_PATH, "shared PHP installer")
    return BootstrapFiles(
        scripts=scripts, manifest=manifest, installer_base64=base64.b64encode(installer).decode("ascii")
    )


def settings_json(settings: Mapping[str, Any]) -> str:
    """The contract's one-line form: compact, ASCII only (so no line can start with '@), sorted keys."""
    return json.dumps(settings, separators=(",", ":"), ensure_ascii=True, sort_keys=True)


def embed_settings(script: str, settings: Mapping[str, Any]) -> str:
    check_placeholder(script)
    text = settings_json(settings)
    lines = script.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.strip() == PLACEHOLDER:
            ending = line[len(line.rstrip("\r\n")) :]
            lines[index] = text + ending
    return "".join(lines)


def script_digest(script: str) -> str:
    return hashlib.sha256(script.encode("utf-8")).hexdigest()[:12]


def run_command_name(script: str, run: int = 0) -> str:
    """``ostops-bootstrap-r<run>-<digest>``: a new script or a new ``ostops:bootstrapRun`` is a new name."""
    return f"{RUN_COMMAND_PREFIX}-r{run}-{script_digest(script)}"


def check_script_size(script: str, budget: int = MAX_INLINE_SCRIPT_BYTES) -> str:
    size = len(script.encode("utf-8"))
    if size > budget:
        raise ConfigError(
            f"{BOOTSTRAP_SCRIPT_PATH}: the bootstrap script with its settings is {size:,} bytes, over the inline "
            f"budget of {budget:,} (infra/bootstrap_command.py MAX_INLINE_SCRIPT_BYTES): shrink the script or the "
            "installer, or deliver it by scriptUri from a private Blob container (scriptUriManagedIdentity)"
        )
    return script


def bootstrap_settings(
    *,
    files: BootstrapFiles,
    osticket_version: str,
    site_host_name: str,
    helpdesk_name: str,
    admin_username: str,
    admin_email: str,
    automation_source_ip: str,
    enable_db_access: bool,
    vault_uri: str,
    secret_names: Mapping[str, str],
    certificate_sha256: str,
    hsts_max_age_seconds: int = 0,
    smtp_relay: Mapping[str, Any] | None = None,
    backup: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings JSON of docs/contract §3, with Key Vault as the secrets' source.

    ``tls.certificateSha256`` (the SHA-256 of the certificate's DER bytes) is in the script, so a new
    certificate changes the script's digest, so a new Run Command re-runs the bootstrap; the script checks
    that the PFX it reads from Key Vault holds that certificate.

    ``dataDisk`` says where the data disk is (LUN, drive letter, volume label); ``hsts.maxAgeSeconds`` is 0
    with the stack's self-signed certificate; ``smtpRelay`` is null or the relay (its password named as a Key
    Vault secret, never the value); ``mode`` is "install" (the bootstrap keeps an existing data directory);
    ``backup`` is null or the nightly backup (``backup_settings``).
    """
    return {
        "schema": SETTINGS_SCHEMA,
        "osTicketVersion": osticket_version,
        "siteHostName": site_host_name,
        "helpdeskName": helpdesk_name,
        "adminUsername": admin_username,
        "adminEmail": admin_email,
        "automationSourceIp": automation_source_ip,
        "enableDbAccess": enable_db_access,
        "allowUnverifiedDownloads": False,
        "manifest": dict(files.manifest),
        "installerBase64": files.installer_base64,
        "secrets": {"source": "keyvault", "vaultUri": vault_uri, "names": dict(secret_names)},
        "tls": {"enabled": True, "certificateSha256": certificate_sha256},
        "dataDisk": {"lun": DATA_DISK_LUN, "driveLetter": DATA_DISK_DRIVE_LETTER, "label": DATA_DISK_LABEL},
        "hsts": {"maxAgeSeconds": hsts_max_age_seconds},
        "smtpRelay": dict(smtp_relay) if smtp_relay is not None else None,
        "backup": dict(backup) if backup is not None else None,
        "mode": SETTINGS_MODE,
    }


def backup_settings(container_url: str, schedule: str, retention_days: int) -> dict[str, Any]:
    """``settings.backup``: where the scheduled task uploads (the private container, written with the VM's managed
    identity), when (HH:MM, the VM's local time) and how many days the container keeps a backup. The task records
    each attempt in ``automation.scheduled_backups.TABLE`` (its DDL there), which ``ostops instance status`` reads.

    The URL is the container's plain address: a query string (a SAS token) or user info would put a credential in
    the script, which anyone who may read the VM can read, so either is refused."""
    parts = urlsplit(container_url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment or parts.username \
            or parts.password or not parts.path.strip("/"):
        raise ValueError(f"{container_url!r} is not a plain https:// container URL (no SAS, no credentials)")
    return {"containerUrl": container_url, "schedule": schedule, "retentionDays": retention_days}


# --- the web role (ostops:tier production) -----------------------------------------------------------------

# The CA file osTicket's DBSSLCA names on a web instance. Microsoft's "Connect using TLS/SSL in Azure Database for
# MySQL - Flexible Server" (MicrosoftDocs/azure-databases-docs articles/mysql/flexible-server/how-to-connect-tls-ssl.md)
# and its root CA rotation page (concepts-root-certificate-rotation.md, "Create a combined CA certificate") have
# clients trust DigiCert Global Root CA, DigiCert Global Root G2 and Microsoft RSA Root Certificate Authority 2017
# together. The bootstrap downloads each from its publisher and refuses it unless the SHA-256 of the certificate
# (its DER bytes) is the one pinned here, as the publishers document them: DigiCert's "DigiCert Trusted Root
# Authority Certificates" page (digicert.com/kb/digicert-root-certificates.htm, "SHA256 Fingerprint") for the two
# DigiCert roots, Microsoft's "Azure Certificate Authority details" (learn.microsoft.com/azure/security/
# fundamentals/azure-ca-details, "SHA-256 Thumbprint") for Microsoft's. tests/infra/test_web_role.py checks them
# against Debian's ca-certificates too.
MYSQL_CA_CERTIFICATES: tuple[tuple[str, str, str], ...] = (
    ("DigiCertGlobalRootCA", "https://dl.cacerts.digicert.com/DigiCertGlobalRootCA.crt.pem",
     "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161"),
    ("DigiCertGlobalRootG2", "https://cacerts.digicert.com/DigiCertGlobalRootG2.crt.pem",
     "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f"),
    ("MicrosoftRSARootCertificateAuthority2017",
     "https://www.microsoft.com/pkiops/certs/Microsoft%20RSA%20Root%20Certificate%20Authority%202017.crt",
     "c741f70f4b2a8d88bf2e71c14122ef53ef10eba0cfa5e64cfa20f418853073e0"),
)
MYSQL_CA_FILE = "C:\\ostops\\tls\\azure-mysql-ca-bundle.pem"
# The instances serve HTTP on this port to the gateway only (TLS ends at the gateway).
WEB_BACKEND_PORT = 80
# Cron exactly once (docs/azure.md "Cron exactly once"): every instance has the same scheduled task; per tick the
# database elects one: INSERT of the tick number into a table whose primary key is the tick succeeds on one
# instance only, and that instance runs `php api/cron.php` while holding GET_LOCK(name) so that a slow run never
# overlaps the next tick's.
CRON_INTERVAL_MINUTES = 5
CRON_LOCK_NAME = "ostops-cron"
CRON_TICK_TABLE = "ostops_cron_tick"
# The first instance creates the osTicket user and runs the installer under this lock; the others wait for it
# and only write ost-config.php.
INSTALL_LOCK_NAME = "ostops-install"


def web_role_settings(
    base: Mapping[str, Any],
    *,
    database_host: str,
    database_name: str,
    database_user: str,
    table_prefix: str,
    admin_login: str,
    trusted_proxies: str,
    identity_client_id: str,
    secret_names: Mapping[str, str],
) -> dict[str, Any]:
    """The settings of a production web instance: ``bootstrap_settings`` plus ``role: "web"``.

    No local database (``dataDisk`` null, ``enableDbAccess`` false): the instance connects to the Flexible
    Server over TLS (``database.tls``). ``ostConfig`` lists every value of ost-config.php the instance writes,
    each either a plain ``value`` or the name of the Key Vault ``secret`` that holds it, read with the
    user-assigned identity ``secrets.identityClientId`` (every instance must write the same SECRET_SALT).
    ``tls.enabled`` is false: HTTPS ends at Application Gateway, which forwards plain HTTP on
    ``proxy.backendPort`` with X-Forwarded-For and X-Forwarded-Proto, trusted from ``proxy.trustedProxies``.
    """
    settings = dict(base)
    secrets = dict(settings["secrets"])
    secrets["names"] = dict(secret_names)
    secrets["identityClientId"] = identity_client_id
    names = secrets["names"]
    settings.update(
        {
            "role": WEB_ROLE,
            "enableDbAccess": False,
            "dataDisk": None,
            "secrets": secrets,
            "tls": {**dict(settings["tls"]), "enabled": False, "terminatedAt": "gateway"},
            "database": {
                "engine": "azure-mysql-flexible-server",
                "host": database_host,
                "port": 3306,
                "name": database_name,
                "user": database_user,
                "tablePrefix": table_prefix,
                "adminLogin": admin_login,
                "adminPasswordSecretName": names["mysqlAdminPassword"],
                "installLock": INSTALL_LOCK_NAME,
                "tls": {
                    "required": True,
                    "caFile": MYSQL_CA_FILE,
                    "caCertificates": [{"name": n, "url": u, "sha256": h} for n, u, h in MYSQL_CA_CERTIFICATES],
                },
            },
            "ostConfig": {
                "DBTYPE": {"value": "mysql"},
                "DBHOST": {"value": database_host},
                "DBNAME": {"value": database_name},
                "DBUSER": {"value": database_user},
                "DBPASS": {"secret": names["dbAppPassword"]},
                "TABLE_PREFIX": {"value": table_prefix},
                "SECRET_SALT": {"secret": names["secretSalt"]},
                "ADMIN_EMAIL": {"value": settings["adminEmail"]},
                "DBSSLCA": {"value": MYSQL_CA_FILE},
                "TRUSTED_PROXIES": {"value": trusted_proxies},
            },
            "proxy": {"trustedProxies": trusted_proxies, "backendPort": WEB_BACKEND_PORT},
            "cron": {
                "mode": "database-elected",
                "intervalMinutes": CRON_INTERVAL_MINUTES,
                "lockName": CRON_LOCK_NAME,
                "tickTable": CRON_TICK_TABLE,
            },
        }
    )
    return settings


def smtp_relay_settings(
    host: str, port: int, username: str | None, password_secret_name: str | None
) -> dict[str, Any]:
    return {"host": host, "port": port, "username": username, "passwordSecretName": password_secret_name}


def create_bootstrap_command(
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    vm_name: pulumi.Input[str],
    location: pulumi.Input[str],
    script: pulumi.Output[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    run: int = 0,
) -> compute.VirtualMachineRunCommandByVirtualMachine:
    """``script`` is the finished text (settings embedded); no parameters of any kind."""
    return compute.VirtualMachineRunCommandByVirtualMachine(
        name,
        resource_group_name=resource_group_name,
        vm_name=vm_name,
        location=location,
        run_command_name=script.apply(lambda text: run_command_name(text, run)),
        source=compute.VirtualMachineRunCommandScriptSourceArgs(script=script.apply(check_script_size)),
        async_execution=False,
        treat_failure_as_deployment_failure=True,
        timeout_in_seconds=BOOTSTRAP_TIMEOUT_SECONDS,
        tags=script.apply(lambda text: {**tags, DIGEST_TAG: script_digest(text), RUN_TAG: str(run)}),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )
