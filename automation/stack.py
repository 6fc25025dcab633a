"""Turn ``pulumi stack output --json --show-secrets`` into the instance file the local default writes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import SecretStr, ValidationError

from automation.errors import ConfigError
from automation.instance import Credentials, DatabaseAccess, Instance

REQUIRED = ("helpdeskUrl", "osticketVersion", "apiKey", "osticketAdminUsername", "osticketAdminPassword",
            "dbHost", "dbPort", "dbName", "dbUser", "dbAppPassword", "tablePrefix")


def instance_from_outputs(text: str, source: str, db_ca: str | None = None) -> Instance:
    try:
        outputs: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}: not JSON ({exc.msg}); give the output of "
                          "`pulumi stack output --json --show-secrets`") from exc
    if not isinstance(outputs, dict):
        raise ConfigError(f"{source}: expected a JSON object of stack outputs")
    missing = [key for key in REQUIRED if key not in outputs]
    if missing:
        raise ConfigError(f"{source}: stack outputs lack {', '.join(missing)}; is this the ostops stack?")
    masked = [key for key in ("apiKey", "osticketAdminPassword", "dbAppPassword") if outputs[key] == "[secret]"]
    if masked:
        raise ConfigError(f"{source}: {', '.join(masked)} shown as [secret]; run `pulumi stack output --json "
                          "--show-secrets`")
    if not outputs["dbHost"]:
        raise ConfigError(f"{source}: dbHost is empty: the stack keeps MariaDB private, and seeding and "
                          "verification read osTicket's database; run `pulumi config set ostops:enableDbAccess "
                          "true && pulumi up` from the automation's address")
    try:
        return Instance(
            kind="azure",
            url=str(outputs["helpdeskUrl"]),
            osticket_version=str(outputs["osticketVersion"]),
            api_key=SecretStr(str(outputs["apiKey"])),
            api_key_ip=None,
            admin=Credentials(username=str(outputs["osticketAdminUsername"]),
                              password=SecretStr(str(outputs["osticketAdminPassword"]))),
            db=DatabaseAccess(host=str(outputs["dbHost"]), port=outputs["dbPort"], name=str(outputs["dbName"]),
                              user=str(outputs["dbUser"]), password=SecretStr(str(outputs["dbAppPassword"])),
                              table_prefix=str(outputs["tablePrefix"]), ssl=True, ssl_ca=db_ca),
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        # pydantic would echo the input; for a secret field that is the secret, so say only what is wrong.
        raise ConfigError(f"{source}: stack output {where}: {first['msg']}") from None
