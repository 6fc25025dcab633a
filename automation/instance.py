"""The instance file: every connection detail of one osTicket, JSON, mode 0600.

Written by ``ostops local up`` (the local default) or ``ostops instance from-stack`` (Azure);
read by every other command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from automation.errors import ConfigError
from automation.files import private_file_fix, private_file_problem, write_private
from automation.paths import default_instance_path

SECRET_MASK = "********"
HTTPS_CERTIFICATE_FILE = "https-certificate.pem"  # beside instance.json; its SHA-256 is pinned


class DatabaseAccess(BaseModel):
    # Machine-written state: fields an older or newer ostops wrote are ignored, not fatal.
    model_config = ConfigDict(extra="ignore")

    host: str
    port: int = 3306
    name: str
    user: str
    password: SecretStr
    table_prefix: str = Field(default="ost_", pattern=r"^[A-Za-z0-9_]+_$")
    ssl: bool = False
    # PEM file of the CA (or the self-signed certificate) the server's certificate must chain to; without it
    # the connection is encrypted but the server is not authenticated.
    ssl_ca: str | None = None


class Login(BaseModel):
    """A user name and its password (the admin's, in the instance file)."""

    model_config = ConfigDict(extra="ignore")

    username: str
    password: SecretStr


class WebNode(BaseModel):
    """One web node of a multi-node local instance: its own nginx and php-fpm over the shared osTicket tree."""

    model_config = ConfigDict(extra="ignore")

    http_port: int
    fpm_port: int


class LocalProcesses(BaseModel):
    """What ``ostops local up`` started, so that ``down`` stops exactly that."""

    model_config = ConfigDict(extra="ignore")

    dir: str
    webroot: str
    source: str
    source_origin: str | None = None  # where `up` found the source: --source, OSTICKET_SOURCE, cache, download
    http_port: int
    fpm_port: int
    db_port: int
    # The SMTP server that catches osTicket's mail (automation/local/smtpd.py); None: an instance made before it.
    smtp_port: int | None = None
    pids: dict[str, int] = Field(default_factory=dict)
    db_root_password: SecretStr
    # `local up --web-nodes N` (N >= 2): the nodes behind HAProxy, whose port is then http_port (the instance
    # URL); fpm_port is node 1's. Empty: the single-node shape (nginx on http_port).
    web_nodes: list[WebNode] = Field(default_factory=list)


class ManagementRoute(BaseModel):
    """How an operator reaches an Azure help desk's machines and database (stack output ``managementRoute``):
    ``public`` (the lab VM's address, RDP from adminSourceCidr), ``bastion`` (Azure Bastion only) or
    ``automation-subnet`` (a runner or jump host beside the production tier's private database)."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["public", "bastion", "automation-subnet"]
    how: str = ""
    bastion_name: str | None = None
    resource_group: str | None = None
    virtual_network: str | None = None
    subnet_prefix: str | None = None
    vm_id: str | None = None

    def describe(self) -> str:
        where = f" {self.bastion_name} in {self.resource_group}" if self.bastion_name and self.resource_group else ""
        return f"{self.kind}{where}: {self.how}" if self.how else f"{self.kind}{where}"


class Instance(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kind: Literal["local", "azure", "external"]
    url: str
    osticket_version: str
    api_key: SecretStr
    api_key_ip: str | None = "127.0.0.1"
    admin: Login
    db: DatabaseAccess
    local: LocalProcesses | None = None
    created_at: str = ""
    # SHA-256 (hex) of the server's DER certificate: every https:// call meets exactly that certificate. The
    # PEM is kept beside the instance file (``https-certificate.pem``) for curl and browsers.
    https_certificate_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # Set only by `ostops instance from-stack --allow-plain-http`: secrets may cross the network in clear.
    allow_plain_http: bool = False
    # From the stack's outputs (`ostops instance from-stack`); None for other instances and older stacks.
    tier: Literal["lab", "production"] | None = None
    management_route: ManagementRoute | None = None
    # The private Blob container the VM's nightly backup writes to (stack output backupContainerUrl); with it,
    # `ostops instance status` checks the last scheduled backup (automation/scheduled_backups.py).
    backup_container_url: str | None = Field(default=None, pattern=r"^https://[^?#@\s]+$")

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/") + "/"

    def to_json(self) -> str:
        """Serialise with the secrets in clear: only ever written to a 0600 file."""
        return json.dumps(_reveal(self.model_dump(mode="python")), indent=2) + "\n"

    def save(self, path: Path) -> None:
        write_private(path, self.to_json())

    @classmethod
    def load(cls, path: Path | None = None) -> Instance:
        path = path or default_instance_path()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{path}: no instance file; run `ostops local up` (or `ostops instance from-stack` or `ostops instance "
                "add`) first, "
                "or pass --instance / set OSTOPS_INSTANCE"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the instance file: {getattr(exc, 'strerror', None) or exc}") from exc
        problem = private_file_problem(path)
        if problem:
            # As ssh does with a private key: the file holds passwords and the API key.
            raise ConfigError(f"{path}: {problem} and it holds the passwords and the API key; run "
                              f"`{private_file_fix(path)}`")
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path}: {where}: {first['msg']}") from exc

    def shell_exports(self, show_secrets: bool = False) -> list[str]:
        def secret(value: SecretStr) -> str:
            return value.get_secret_value() if show_secrets else SECRET_MASK

        pairs = {
            "OSTOPS_URL": self.base_url,
            "OSTOPS_API_URL": self.base_url + "api/tickets.json",
            "OSTOPS_API_KEY": secret(self.api_key),
            "OSTOPS_ADMIN_USERNAME": self.admin.username,
            "OSTOPS_ADMIN_PASSWORD": secret(self.admin.password),
            "OSTOPS_DB_HOST": self.db.host,
            "OSTOPS_DB_PORT": str(self.db.port),
            "OSTOPS_DB_NAME": self.db.name,
            "OSTOPS_DB_USER": self.db.user,
            "OSTOPS_DB_PASSWORD": secret(self.db.password),
            "OSTOPS_TABLE_PREFIX": self.db.table_prefix,
        }
        return [f"export {key}={_shell_quote(value)}" for key, value in pairs.items()]


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"
