"""Issue 20: settings.smtpRelay. The shared installer (automation/local/installer.php, which the Windows
bootstrap runs with the relay's host, port, user name and the password from Key Vault) makes an SMTP account
with basic authentication, the default MTA, its credentials stored as osTicket's admin panel stores them. The
proof is osTicket's own code reading them back: EmailAccountConfig in the account's namespace, the password
decrypted with the SECRET_SALT of ost-config.php (include/class.email.php, getBasicAuthCredentials)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from automation.instance import Instance
from automation.local import manager, webserver

pytestmark = pytest.mark.e2e

# As people type them: quotes, &, <, accents, CJK.
RELAY_USER = "relay@example.com"
RELAY_PASSWORD = "Pa\"ss' & <wörd> 密码"
# Reads the relay's credentials with osTicket's own classes, from the CLI (as api/cron.php starts osTicket).
READBACK = r"""<?php
chdir($argv[1] . '/api');
require 'api.inc.php';
require_once INCLUDE_DIR . 'class.email.php';
require_once INCLUDE_DIR . 'class.crypto.php';
$id = (int) $cfg->getDefaultMTA()->getId();
$row = db_fetch_array(db_query('SELECT email_id, auth_bk, host, port FROM ' . EMAIL_ACCOUNT_TABLE . ' WHERE id=' . $id));
$ns = sprintf('email.%d.account.%d', $row['email_id'], $id);
$info = (new EmailAccountConfig($ns))->toArray();
echo json_encode(array('auth_bk' => $row['auth_bk'], 'host' => $row['host'], 'port' => (int) $row['port'],
    'username' => $info['username'],
    'password' => Crypto::decrypt($info['passwd'], SECRET_SALT, md5($info['username'] . $ns))));
"""


@pytest.fixture(scope="module")
def relayed() -> Iterator[Instance]:
    original = manager.installer_config

    def with_relay(instance: Instance) -> dict[str, str | int]:
        return {**original(instance), "smtp_host": "smtp.example.com", "smtp_port": 587,
                "smtp_username": RELAY_USER, "smtp_password": RELAY_PASSWORD}

    root = Path(tempfile.mkdtemp(prefix="ostops-e2e-relay-"))
    manager.installer_config = with_relay  # type: ignore[assignment]
    try:
        yield manager.up(root / "instance").instance
    finally:
        manager.installer_config = original  # type: ignore[assignment]
        manager.down(root / "instance")
        shutil.rmtree(root, ignore_errors=True)


def test_the_relay_is_the_default_mta_with_credentials_osticket_can_read(relayed: Instance, tmp_path: Path) -> None:
    assert relayed.local is not None
    script = tmp_path / "readback.php"
    script.write_text(READBACK, encoding="utf-8")
    result = subprocess.run([webserver.php_cli(), str(script), relayed.local.webroot], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got == {"auth_bk": "basic", "host": "smtp.example.com", "port": 587, "username": RELAY_USER,
                   "password": RELAY_PASSWORD}
    # Only ciphertext in the database: the password never sits there in plain text.
    connection = pymysql.connect(host=relayed.db.host, port=relayed.db.port, user=relayed.db.user,
                                 password=relayed.db.password.get_secret_value(), database=relayed.db.name,
                                 connect_timeout=10, read_timeout=30)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT `value` FROM `{relayed.db.table_prefix}config` WHERE `namespace` LIKE %s",
                           ("email.%.account.%",))
            values = " ".join(str(v) for (v,) in cursor.fetchall())
    finally:
        connection.close()
    assert RELAY_USER in values and "wörd" not in values and "密码" not in values
