"""Turn ``pulumi stack output --json --show-secrets`` into the instance file the local default writes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError

from automation.errors import ConfigError
from automation.instance import DatabaseAccess, Instance, Login, ManagementRoute
from automation.osticket.http import check_transport

REQUIRED = ("helpdeskUrl", "osticketVersion", "apiKey", "osticketAdminUsername", "osticketAdminPassword",
            "dbHost", "dbPort", "dbName", "dbUser", "dbAppPassword", "tablePrefix")


SECRETS = ("apiKey", "osticketAdminPassword", "dbAppPassword")
TEXT = ("helpdeskUrl", "osticketVersion", "apiKey", "osticketAdminUsername", "osticketAdminPassword", "dbHost",
        "dbName", "dbUser", "dbAppPassword", "tablePrefix")
# Instance field → the stack output it came from, so that a model error names what the user can see.
FIELD_OUTPUTS = {"url": "helpdeskUrl", "osticket_version": "osticketVersion", "api_key": "apiKey",
                 "admin.username": "osticketAdminUsername", "admin.password": "osticketAdminPassword",
                 "db.host": "dbHost", "db.port": "dbPort", "db.name": "dbName", "db.user": "dbUser",
                 "db.password": "dbAppPassword", "db.table_prefix": "tablePrefix", "table_prefix": "tablePrefix",
                 "tier": "tier"}
# managementRoute's keys (camelCase, as the stack outputs them) → ManagementRoute's fields.
ROUTE_FIELDS = {"kind": "kind", "how": "how", "bastionName": "bastion_name", "resourceGroup": "resource_group",
                "virtualNetwork": "virtual_network", "subnetPrefix": "subnet_prefix", "vmId": "vm_id"}
HINT = "give the output of `pulumi stack output --json --show-secrets`"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _kind(value: Any) -> str:
    """What a JSON value is, without showing it (it may be a secret)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__)


def _url_problem(url: str) -> str | None:
    """What is wrong with the URL, without echoing it (a misplaced output could be a secret)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        return "not a valid URL (check its port and brackets)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host name, like http://ostops-lab.example.com/"
    return None


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        port = value
    elif isinstance(value, str) and value.strip().isdigit():
        port = int(value.strip())
    else:
        return None
    return port if 1 <= port <= 65535 else None


AZURE_DB_CA_HINT = ("give the VM's C:\\MariaDB\\data\\ostops-server-cert.pem (it starts with "
                    "-----BEGIN CERTIFICATE-----)")


def check_db_ca(db_ca: str, hint: str = AZURE_DB_CA_HINT) -> None:
    """The --db-ca file must hold a PEM certificate TLS can use, or every database command would fail later."""
    try:
        ssl.create_default_context(cafile=db_ca)
    except ssl.SSLError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ConfigError(f"{db_ca}: --db-ca is not a PEM certificate ({reason}); {hint}") from None
    except OSError as exc:
        raise ConfigError(f"{db_ca}: cannot read the --db-ca certificate: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. a NUL character in the path
        raise ConfigError(f"{db_ca}: --db-ca is not a usable certificate file ({exc})") from None


def _backup_container_url(value: Any, source: str) -> str | None:
    """The stack's backup container (absent from stacks made before scheduled backups): a plain https:// URL,
    never one carrying a SAS token or credentials."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source}: stack output backupContainerUrl: must be the container's https:// URL, not "
                          f"{_kind(value) if not isinstance(value, str) else 'empty text'}; {HINT}")
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment or "@" in parts.netloc:
        # Not echoed: a URL with a query could hold a SAS token.
        raise ConfigError(f"{source}: stack output backupContainerUrl: must be a plain https:// container URL "
                          f"without a query or credentials; {HINT}")
    return value.strip()


@dataclass(frozen=True)
class StackInstance:
    """What the stack's outputs give: the instance, and the web server's certificate (PEM) it pins."""

    instance: Instance
    certificate_pem: str | None


def certificate_sha256(pem: str, source: str) -> str:
    """SHA-256 of the certificate's DER form, the fingerprint urllib3 compares the server's against."""
    try:
        der = ssl.PEM_cert_to_DER_cert(pem.strip() + "\n")
    except ValueError as exc:
        raise ConfigError(f"{source}: stack output certificatePem: not a PEM certificate ({exc}); {HINT}") from None
    return hashlib.sha256(der).hexdigest()


def instance_from_outputs(text: str | bytes, source: str, db_ca: str | None = None,
                          allow_plain_http: bool = False) -> Instance:
    return read_stack_outputs(text, source, db_ca, allow_plain_http).instance


def read_stack_outputs(text: str | bytes, source: str, db_ca: str | None = None,
                       allow_plain_http: bool = False) -> StackInstance:
    """``text`` may be bytes (the file opened in binary mode), so that non-UTF-8 input is one clear error."""
    if isinstance(text, bytes):
        raw = text
        # Windows PowerShell 5's `>` writes UTF-16 with a byte-order mark; anything else must be UTF-8.
        encoding = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            name = "UTF-16" if encoding == "utf-16" else "UTF-8"
            raise ConfigError(f"{source}:{line}: not {name} text (byte 0x{raw[exc.start]:02x}); {HINT}") from None
    try:
        outputs: Any = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}: not JSON ({exc.msg}); {HINT}") from exc
    except _DuplicateKey as exc:
        raise ConfigError(f"{source}: stack output {exc.key} appears twice; {HINT}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not JSON (nested too deeply); {HINT}") from None
    if not isinstance(outputs, dict):
        raise ConfigError(f"{source}: expected a JSON object of stack outputs")
    missing = [key for key in REQUIRED if key not in outputs]
    if missing:
        raise ConfigError(f"{source}: stack outputs lack {', '.join(missing)}; is this the ostops stack?")
    masked = [key for key in SECRETS if outputs[key] == "[secret]"]
    if masked:
        raise ConfigError(f"{source}: {', '.join(masked)} shown as [secret]; run `pulumi stack output --json "
                          "--show-secrets`")
    if not outputs["dbHost"]:
        raise ConfigError(f"{source}: dbHost is empty: the stack keeps MariaDB private, and seeding and "
                          "verification read osTicket's database; run `pulumi config set ostops:enableDbAccess "
                          "true && pulumi up` from the automation's address")
    problems: list[str] = []
    for key in TEXT:
        value = outputs[key]
        if not isinstance(value, str):
            problems.append(f"{key}: must be text, not {_kind(value)}")
        elif not value.strip():
            problems.append(f"{key}: is empty")
    if isinstance(outputs["helpdeskUrl"], str) and outputs["helpdeskUrl"].strip():
        url_problem = _url_problem(outputs["helpdeskUrl"])
        if url_problem:
            problems.append(f"helpdeskUrl: {url_problem}")
    port = _port(outputs["dbPort"])
    if port is None:
        value = outputs["dbPort"]
        # Only a number is shown: text could be a secret pasted into the wrong output.
        shown = str(value) if isinstance(value, int) and not isinstance(value, bool) else _kind(value)
        problems.append(f"dbPort: must be a port number from 1 to 65535, not {shown}")
    if problems:
        listed = "; ".join(f"stack output {problem}" for problem in problems)
        raise ConfigError(f"{source}: {listed}; is this the output of the ostops stack?")
    pem = outputs.get("certificatePem")
    if pem is not None and (not isinstance(pem, str) or not pem.strip()):
        raise ConfigError(f"{source}: stack output certificatePem: must be the PEM text of a certificate; {HINT}")
    sha256 = certificate_sha256(pem, source) if pem else None
    backup_url = _backup_container_url(outputs.get("backupContainerUrl"), source)
    check_transport(outputs["helpdeskUrl"], allow_plain_http, where="stack output helpdeskUrl")
    if db_ca is not None:
        check_db_ca(db_ca)
    assert port is not None  # checked above
    route = _management_route(outputs.get("managementRoute"), source)
    try:
        instance = Instance(
            kind="azure",
            url=outputs["helpdeskUrl"],
            osticket_version=outputs["osticketVersion"],
            api_key=SecretStr(outputs["apiKey"]),
            api_key_ip=None,
            admin=Login(username=outputs["osticketAdminUsername"],
                              password=SecretStr(outputs["osticketAdminPassword"])),
            db=DatabaseAccess(host=outputs["dbHost"], port=port, name=outputs["dbName"],
                              user=outputs["dbUser"], password=SecretStr(outputs["dbAppPassword"]),
                              table_prefix=outputs["tablePrefix"], ssl=True, ssl_ca=db_ca),
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            https_certificate_sha256=sha256,
            allow_plain_http=allow_plain_http,
            tier=outputs.get("tier"),
            management_route=route,
            backup_container_url=backup_url,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        # pydantic would echo the input; for a secret field that is the secret, so say only what is wrong.
        raise ConfigError(f"{source}: stack output {FIELD_OUTPUTS.get(where, where)}: {first['msg']}") from None
    return StackInstance(instance, pem.strip() + "\n" if pem else None)


def _management_route(value: Any, source: str) -> ManagementRoute | None:
    """The stack's ``managementRoute`` (absent from stacks made before it existed: None)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: stack output managementRoute: must be an object, not {_kind(value)}; {HINT}")
    fields = {ROUTE_FIELDS[key]: item for key, item in value.items() if key in ROUTE_FIELDS}
    try:
        return ManagementRoute(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = next((k for k, f in ROUTE_FIELDS.items() if f == str(first["loc"][0])), str(first["loc"][0]))
        raise ConfigError(f"{source}: stack output managementRoute.{key}: {first['msg']}; {HINT}") from None
