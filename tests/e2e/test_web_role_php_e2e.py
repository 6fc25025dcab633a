"""The web role's PHP programs (infra/bootstrap/modules/56-osticket-web.ps1 and 76-cron-elected.ps1) run for real
against a local MariaDB that requires TLS (the local twin's server, as the Flexible Server's
require_secure_transport): instances started together install the database once and run cron once per tick.
Only osTicket's installer and api/cron.php are stand-ins (they record that they ran)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pymysql
import pytest

from automation.local import database, processes
from automation.local.tls import make_server_tls
from tests.infra.test_web_role import php_programs

pytestmark = pytest.mark.e2e

ROOT_PASSWORD = "root-Pw-1 'quoted' & <x>"
ADMIN, ADMIN_PASSWORD = "ostopsdba", "adm'in \"Pw\" 2 & <é>"
APP_PASSWORD = "app-Pw-3 'q' 密码"
PREFIX, DB_NAME, TICKS = "ost_", "osticket", "ostops_cron_tick"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("web-role-db")
    tls = make_server_tls(base / "tls")
    port = processes.free_port()
    cnf = database.initialise(base, port, tls)
    pid = database.start(base, cnf, port)
    try:
        conn = database.root_connection(base)
        with conn.cursor() as cur:
            cur.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (ROOT_PASSWORD,))
            # The Flexible Server's administrator: may create databases and users and grant on them.
            cur.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (ADMIN, ADMIN_PASSWORD))
            cur.execute("GRANT ALL ON *.* TO %s@'127.0.0.1' WITH GRANT OPTION", (ADMIN,))
        conn.close()
        database.require_tls(base, ROOT_PASSWORD)
        yield {"base": base, "port": port, "ca": str(tls.ca)}
    finally:
        processes.stop(pid)


def run_php(program: str, data: dict[str, Any], folder: Path, name: str) -> subprocess.CompletedProcess[str]:
    path = folder / f"{name}.php"
    path.write_text(program, encoding="utf-8")
    return subprocess.run([shutil.which("php") or "php", str(path)], input=json.dumps(data), capture_output=True,
                          text=True, timeout=120, check=False)


def php_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def root(server: dict[str, Any]) -> pymysql.connections.Connection:
    return database.root_connection(server["base"], ROOT_PASSWORD)


def test_plain_tcp_is_refused(server: dict[str, Any]) -> None:
    with pytest.raises(pymysql.MySQLError):
        pymysql.connect(host="127.0.0.1", port=server["port"], user=ADMIN, password=ADMIN_PASSWORD, connect_timeout=5)


def test_instances_started_together_install_the_database_once(server: dict[str, Any], tmp_path: Path) -> None:
    record = tmp_path / "installer-runs.txt"
    # osTicket's installer stand-in: it gets the same JSON and environment, connects as the application's user
    # over TLS (OSTOPS_DBSSLCA is what the patched db_connect reads) and writes the schema signature.
    stand_in = tmp_path / "installer.php"
    stand_in.write_text("""<?php
$in = json_decode(stream_get_contents(STDIN), true);
file_put_contents(__RECORD__, getmypid() . "\\n", FILE_APPEND | LOCK_EX);
$db = mysqli_init();
$db->ssl_set(null, null, getenv('OSTOPS_DBSSLCA'), null, null);
$db->real_connect($in['db_host'], $in['db_user'], $in['db_pass'], $in['db_name'], (int) $in['db_port'], null, MYSQLI_CLIENT_SSL);
sleep(2);
$db->query("CREATE TABLE {$in['table_prefix']}config (id INT AUTO_INCREMENT PRIMARY KEY, namespace VARCHAR(64), `key` VARCHAR(64), value TEXT)");
$db->query("INSERT INTO {$in['table_prefix']}config (namespace, `key`, value) VALUES ('core', 'schema_signature', 'x')");
echo json_encode(array('ok' => true, 'version' => 'stand-in')), "\\n";
""".replace("__RECORD__", php_literal(str(record))), encoding="utf-8")
    program = php_programs()["Install osTicket database once (Action)"]
    check = php_programs()["Install osTicket database once (Test)"]
    common = {"host": "127.0.0.1", "port": server["port"], "ca": server["ca"], "timeout": 10}
    app = {**common, "user": "osticket", "password": APP_PASSWORD, "name": DB_NAME, "prefix": PREFIX}
    before = run_php(check, app, tmp_path, "check")
    assert before.returncode != 0, "the application's user cannot exist before the install"
    data = {**common, "admin_user": ADMIN, "admin_password": ADMIN_PASSWORD, "lock": "ostops-install",
            "lock_seconds": 60, "name": DB_NAME, "user": "osticket", "password": APP_PASSWORD,
            "privileges": "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, CREATE TEMPORARY TABLES, LOCK TABLES",
            "tick_table": TICKS, "prefix": PREFIX, "installer": str(stand_in),
            "config": {"db_host": "127.0.0.1", "db_port": server["port"], "db_name": DB_NAME, "db_user": "osticket",
                       "db_pass": APP_PASSWORD, "table_prefix": PREFIX}}
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda i: run_php(program, data, tmp_path, f"install-{i}"), range(3)))
    answers = [json.loads(r.stdout.strip().splitlines()[-1]) for r in results]
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert all(a["ok"] for a in answers)
    assert len(record.read_text().splitlines()) == 1, "exactly one instance ran the installer"
    assert sorted(a.get("installed_by", "this instance") for a in answers) == [
        "another instance", "another instance", "this instance"]
    after = run_php(check, app, tmp_path, "check")
    assert after.returncode == 0 and json.loads(after.stdout.strip()) == {"installed": True}
    conn = root(server)
    with conn.cursor() as cur:
        cur.execute("SELECT ssl_type FROM mysql.user WHERE User = 'osticket'")
        assert cur.fetchall() == (("ANY",),), "the application's user must use TLS"
    conn.close()


def test_cron_runs_once_per_tick_across_instances(server: dict[str, Any], tmp_path: Path) -> None:
    record = tmp_path / "cron-runs.txt"
    cron = tmp_path / "cron.php"
    cron.write_text(f"<?php file_put_contents({str(record)!r}, getmypid() . \"\\n\", FILE_APPEND | LOCK_EX); sleep(2);\n",
                    encoding="utf-8")
    config = tmp_path / "ost-config.php"
    config.write_text(f"""<?php
if (!defined('INCLUDE_DIR')) die('kwaheri rafiki!');
define('DBHOST', '127.0.0.1:{server['port']}');
define('DBNAME', '{DB_NAME}');
define('DBUSER', 'osticket');
define('DBPASS', {php_literal(APP_PASSWORD)});
define('DBSSLCA', {php_literal(server['ca'])});
""", encoding="utf-8")
    wrapper = (php_programs()["cron wrapper"]
               .replace("C:/inetpub/osticket/include/ost-config.php", str(config))
               .replace("C:/inetpub/osticket/api/cron.php", str(cron))
               .replace("__TICK_TABLE__", TICKS).replace("__MINUTES__", "5").replace("__LOCK__", "ostops-cron"))
    path = tmp_path / "cron-elected.php"
    path.write_text(wrapper, encoding="utf-8")
    if time.time() % 300 > 285:
        time.sleep(20)  # the three runs must fall in one 5-minute tick
    conn = root(server)
    php = shutil.which("php") or "php"
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: subprocess.run([php, str(path)], capture_output=True, text=True, timeout=60,
                                                          check=False), range(3)))
    assert [r.returncode for r in results] == [0, 0, 0], [r.stdout + r.stderr for r in results]
    assert len(record.read_text().splitlines()) == 1, "exactly one instance ran cron in this tick"
    assert sum("another instance runs cron" in r.stdout for r in results) == 2
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*), COUNT(DISTINCT tick) FROM `{DB_NAME}`.`{TICKS}`")
        assert cur.fetchone() == (1, 1)
    conn.close()
