"""Write the Windows CI job's bootstrap settings (``-SettingsPath``) or its ostops instance file.

The settings follow the contract (docs/bootstrap.md): secrets come from environment variables ("environment"
source), so only their names are in the file.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SECRET_ENV = {"adminPassword": "OSTOPS_ADMIN_PASSWORD", "dbRootPassword": "OSTOPS_DB_ROOT_PASSWORD",
              "dbAppPassword": "OSTOPS_DB_APP_PASSWORD", "apiKey": "OSTOPS_API_KEY",
              "tlsPfx": "OSTOPS_TLS_PFX", "tlsPfxPassword": "OSTOPS_TLS_PFX_PASSWORD"}


def settings() -> dict[str, object]:
    manifest = json.loads((REPO / "infra" / "bootstrap" / "downloads.json").read_text(encoding="utf-8"))
    return {
        "schema": 1,
        "osTicketVersion": manifest["downloads"]["osticket"]["version"],
        # Dotted: osTicket's installer refuses an e-mail address at host "localhost" (helpdesk@<siteHostName>).
        "siteHostName": "ostops-ci.example.com",
        "helpdeskName": "ostops CI",
        "adminUsername": "ostadmin",
        "adminEmail": "admin@example.com",
        "automationSourceIp": "127.0.0.1",
        "enableDbAccess": False,
        "allowUnverifiedDownloads": False,
        "manifest": manifest,
        "installerBase64": base64.b64encode((REPO / "automation" / "local" / "installer.php").read_bytes()).decode(),
        "secrets": {"source": "environment", "names": SECRET_ENV},
        "tls": {"enabled": True},
    }


def instance() -> dict[str, object]:
    import os

    manifest = json.loads((REPO / "infra" / "bootstrap" / "downloads.json").read_text(encoding="utf-8"))
    return {
        "kind": "azure", "url": "http://127.0.0.1/",
        "osticket_version": manifest["downloads"]["osticket"]["version"],
        "api_key": os.environ["OSTOPS_API_KEY"], "api_key_ip": "127.0.0.1",
        "admin": {"username": "ostadmin", "password": os.environ["OSTOPS_ADMIN_PASSWORD"]},
        "db": {"host": "127.0.0.1", "port": 3306, "name": "osticket", "user": "osticket",
               "password": os.environ["OSTOPS_DB_APP_PASSWORD"]},
    }


def main(argv: list[str]) -> None:
    if argv[:1] == ["--instance"]:
        # It holds secrets: on Windows a plain write inherits RUNNER_TEMP's ACL and ostops refuses the file.
        from automation.files import write_private

        write_private(Path(argv[1]), json.dumps(instance(), indent=2))
    else:
        Path(argv[0]).write_text(json.dumps(settings(), separators=(",", ":"), sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
