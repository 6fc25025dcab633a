"""Write what the Windows CI job feeds the bootstrap: the embedded-settings script, a settings file, or its
ostops instance file.

``--embedded OUT --azure URL`` writes the script exactly as the Run Command receives it: the settings are made
and embedded by the same code the Pulumi program uses (infra/bootstrap_command.py ``bootstrap_settings`` and
``embed_settings``), with Key Vault as the secrets' source. Only what a GitHub runner cannot have differs, each
a settings key the bootstrap validates (docs/bootstrap.md, "The Windows CI job"): the vault and the identity
endpoint are the loopback stand-in (tests/windows/fake_azure.py), there is no data disk, and the runner must not
restart (``restart: never``).

``OUT`` alone writes a settings file for ``-SettingsPath`` with the "environment" secrets source (manual runs).

``--composed OUT [--role ROLE]`` writes the composed script of a role (default install) without settings: the
entry script and the role's modules (infra/bootstrap_command.py ``ROLE_MODULES``), for a run with -SettingsPath.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SECRET_ENV = {"adminPassword": "OSTOPS_ADMIN_PASSWORD", "dbRootPassword": "OSTOPS_DB_ROOT_PASSWORD",
              "dbAppPassword": "OSTOPS_DB_APP_PASSWORD", "apiKey": "OSTOPS_API_KEY",
              "tlsPfx": "OSTOPS_TLS_PFX", "tlsPfxPassword": "OSTOPS_TLS_PFX_PASSWORD"}
SITE_HOST_NAME = "ostops-ci.example.com"  # dotted: osTicket's installer refuses helpdesk@localhost
ADMIN_USERNAME = "ostadmin"
ADMIN_EMAIL = "admin@example.com"
# The runner cannot have these (docs/bootstrap.md): a data disk at a LUN, a restart mid-job.
CI_OVERRIDES: dict[str, Any] = {"dataDisk": None, "restart": "never"}
# The contract's keys the Pulumi side adds; the CI values where bootstrap_settings does not set them yet.
CI_DEFAULTS: dict[str, Any] = {"mode": "install", "hsts": {"maxAgeSeconds": 0}, "smtpRelay": None}


def settings() -> dict[str, object]:
    manifest = json.loads((REPO / "infra" / "bootstrap" / "downloads.json").read_text(encoding="utf-8"))
    return {
        "schema": 1,
        "osTicketVersion": manifest["downloads"]["osticket"]["version"],
        "siteHostName": SITE_HOST_NAME,
        "helpdeskName": "ostops CI",
        "adminUsername": ADMIN_USERNAME,
        "adminEmail": ADMIN_EMAIL,
        "automationSourceIp": "127.0.0.1",
        "enableDbAccess": False,
        "allowUnverifiedDownloads": False,
        "manifest": manifest,
        "installerBase64": base64.b64encode((REPO / "automation" / "local" / "installer.php").read_bytes()).decode(),
        "secrets": {"source": "environment", "names": SECRET_ENV},
        "tls": {"enabled": True},
        **CI_DEFAULTS,
        **CI_OVERRIDES,
    }


def pfx_certificate_sha256(pfx_base64: str, password: str) -> str:
    """SHA-256 of the PFX certificate's DER bytes: settings.tls.certificateSha256's form (infra/tls.py)."""
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

    _, certificate, _ = pkcs12.load_key_and_certificates(base64.b64decode(pfx_base64), password.encode("utf-8"))
    if certificate is None:
        raise SystemExit("make_settings: the PFX in OSTOPS_TLS_PFX holds no certificate")
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def embedded_script(azure_url: str, environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    from infra.bootstrap_command import bootstrap_settings, embed_settings, read_bootstrap_files
    from infra.vault import CONTRACT_SECRET_NAMES as SECRET_NAMES

    files = read_bootstrap_files()
    manifest = files.manifest["downloads"]
    arguments: dict[str, Any] = {
        "files": files, "osticket_version": manifest["osticket"]["version"], "site_host_name": SITE_HOST_NAME,
        "helpdesk_name": "ostops CI", "admin_username": ADMIN_USERNAME, "admin_email": ADMIN_EMAIL,
        "automation_source_ip": "127.0.0.1", "enable_db_access": False,
        "vault_uri": azure_url.rstrip("/") + "/", "secret_names": SECRET_NAMES,
        "certificate_sha256": pfx_certificate_sha256(environ["OSTOPS_TLS_PFX"], environ["OSTOPS_TLS_PFX_PASSWORD"]),
    }
    # Keyword arguments the Pulumi side may add for the contract's new keys: none here (CI_DEFAULTS below).
    for name, parameter in inspect.signature(bootstrap_settings).parameters.items():
        if name not in arguments and parameter.default is inspect.Parameter.empty:
            arguments[name] = None
    made = bootstrap_settings(**arguments)
    for key, value in CI_DEFAULTS.items():
        made.setdefault(key, value)
    made.update(CI_OVERRIDES)
    made["secrets"] = {**made["secrets"], "identityEndpoint": azure_url.rstrip("/")}
    return embed_settings(files.script, made)


def instance() -> dict[str, object]:
    manifest = json.loads((REPO / "infra" / "bootstrap" / "downloads.json").read_text(encoding="utf-8"))
    return {
        "kind": "azure", "url": "http://127.0.0.1/",
        "osticket_version": manifest["downloads"]["osticket"]["version"],
        "api_key": os.environ["OSTOPS_API_KEY"], "api_key_ip": "127.0.0.1",
        "admin": {"username": ADMIN_USERNAME, "password": os.environ["OSTOPS_ADMIN_PASSWORD"]},
        "db": {"host": "127.0.0.1", "port": 3306, "name": "osticket", "user": "osticket",
               "password": os.environ["OSTOPS_DB_APP_PASSWORD"]},
    }


def main(argv: list[str]) -> None:
    if argv[:1] == ["--instance"]:
        # It holds secrets: on Windows a plain write inherits RUNNER_TEMP's ACL and ostops refuses the file.
        from automation.files import write_private

        write_private(Path(argv[1]), json.dumps(instance(), indent=2))
    elif argv[:1] == ["--embedded"] and len(argv) == 4 and argv[2] == "--azure":
        # ASCII only (settings_json escapes the rest), so Windows PowerShell 5.1 reads it right without a BOM.
        Path(argv[1]).write_text(embedded_script(argv[3]), encoding="ascii", newline="")
    elif argv[:1] == ["--composed"] and (len(argv) == 2 or (len(argv) == 4 and argv[2] == "--role")):
        from infra.bootstrap_command import INSTALL_ROLE, read_bootstrap_files

        role = argv[3] if len(argv) == 4 else INSTALL_ROLE
        scripts = read_bootstrap_files().scripts
        if role not in scripts:
            raise SystemExit(f"make_settings: --role {role}: not one of {', '.join(sorted(scripts))}")
        Path(argv[1]).write_text(scripts[role], encoding="ascii", newline="")
    elif len(argv) == 1 and not argv[0].startswith("-"):
        Path(argv[0]).write_text(json.dumps(settings(), separators=(",", ":"), sort_keys=True), encoding="utf-8")
    else:
        raise SystemExit("usage: make_settings.py OUT | --embedded OUT --azure URL | --composed OUT [--role ROLE] | --instance OUT")


if __name__ == "__main__":
    main(sys.argv[1:])
