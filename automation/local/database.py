"""MariaDB as a plain process in a private data directory, on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pymysql

from automation.errors import EnvironmentProblem, LocalInstanceError
from automation.local import processes
from automation.local.tls import ServerTls

CONNECT_TIMEOUT = 5

MY_CNF = """\
[mariadbd]
datadir = {datadir}
socket = {socket}
pid-file = {pidfile}
port = {port}
bind-address = 127.0.0.1
skip-name-resolve
skip-log-bin
log-error = {log}
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
innodb_buffer_pool_size = 256M
innodb_log_file_size = 64M
# A disposable local instance: trade crash-durability of the last second for speed.
innodb_flush_log_at_trx_commit = 2
sync_binlog = 0
max_connections = 200
"""

# The multi-node twin's TLS (MariaDB 10.5.2+: require_secure_transport refuses TCP without TLS, error 3159
# ER_SECURE_TRANSPORT_REQUIRED; the Unix socket counts as secure, so root keeps its socket; the variable is
# dynamic - mariadb.com/docs/reference/mdb/system-variables/require_secure_transport/). It starts OFF because
# osTicket's installer connects without TLS (setup/inc/class.installer.php calls db_connect() without the ssl
# options bootstrap.php passes); `require_tls` turns it ON right after, here and in the file.
TLS_CNF = """\
ssl_ca = {ca}
ssl_cert = {cert}
ssl_key = {key}
tls_version = TLSv1.2,TLSv1.3
require_secure_transport = OFF
"""
REQUIRE_OFF, REQUIRE_ON = "require_secure_transport = OFF", "require_secure_transport = ON"


def binaries() -> tuple[str, str]:
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
    install_db = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not server or not install_db:
        raise EnvironmentProblem("MariaDB server not found; install the Debian package mariadb-server "
                                 "(apt-get install mariadb-server)")
    return server, install_db


def _user_args() -> list[str]:
    return ["--user=root"] if os.geteuid() == 0 else []


def initialise(base: Path, port: int, tls: ServerTls | None = None) -> Path:
    """Create the data directory and config file; returns the config file. With ``tls`` the server offers TLS
    with that certificate (and is made to require it by `require_tls`)."""
    _, install_db = binaries()
    datadir = base / "mariadb" / "data"
    datadir.mkdir(parents=True, exist_ok=True)
    cnf = base / "mariadb" / "my.cnf"
    cnf.write_text(MY_CNF.format(datadir=datadir, socket=base / "mariadb" / "mysqld.sock",
                                 pidfile=base / "mariadb" / "mysqld.pid", port=port,
                                 log=base / "logs" / "mariadb.log"))
    if tls is not None:
        with cnf.open("a") as out:
            out.write(TLS_CNF.format(ca=tls.ca, cert=tls.cert, key=tls.key))
    log = base / "logs" / "mariadb-install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        result = subprocess.run(
            [install_db, f"--defaults-file={cnf}", *_user_args(), "--auth-root-authentication-method=normal",
             "--skip-test-db", "--skip-name-resolve"],
            stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False,
        )
    if result.returncode != 0:
        raise LocalInstanceError(f"mariadb-install-db failed (exit {result.returncode}); last lines of {log}:\n"
                                 f"{processes.tail(log)}")
    return cnf


def start(base: Path, cnf: Path, port: int) -> int:
    server, _ = binaries()
    log = base / "logs" / "mariadb.log"
    proc = processes.spawn([server, f"--defaults-file={cnf}", *_user_args()], base / "logs" / "mariadb.out")
    processes.wait_for_port(port, proc, "MariaDB", log)
    return proc.pid


def root_connection(base: Path, root_password: str | None = None) -> pymysql.connections.Connection:
    """Connect as root over the private socket (no password before ``secure`` sets one)."""
    try:
        return pymysql.connect(unix_socket=str(base / "mariadb" / "mysqld.sock"), user="root",
                               password=root_password or "", connect_timeout=CONNECT_TIMEOUT,
                               read_timeout=30, write_timeout=30, autocommit=True)
    except pymysql.MySQLError as exc:
        raise LocalInstanceError(f"cannot connect to the local MariaDB as root: {exc.args[-1]}") from exc


def create_app_database(base: Path, db_name: str, app_user: str, app_password: str, root_password: str) -> None:
    """The osTicket database, a least-privilege application user, and a root password."""
    conn = root_connection(base)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            cur.execute("CREATE USER IF NOT EXISTS %s@'127.0.0.1' IDENTIFIED BY %s", (app_user, app_password))
            cur.execute("CREATE USER IF NOT EXISTS %s@'localhost' IDENTIFIED BY %s", (app_user, app_password))
            # What osTicket's installer and upgrader need on its own schema, and nothing else.
            privileges = ("SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, "
                          "CREATE TEMPORARY TABLES, LOCK TABLES")
            cur.execute(f"GRANT {privileges} ON `{db_name}`.* TO %s@'127.0.0.1'", (app_user,))
            cur.execute(f"GRANT {privileges} ON `{db_name}`.* TO %s@'localhost'", (app_user,))
            cur.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (root_password,))
            cur.execute("FLUSH PRIVILEGES")
    except pymysql.MySQLError as exc:
        raise LocalInstanceError(f"cannot create the osTicket database and user: {exc.args[-1]}") from exc
    finally:
        conn.close()


def require_tls(base: Path, root_password: str) -> None:
    """From now on TCP connections without TLS are refused: at once (SET GLOBAL) and after restarts (my.cnf)."""
    cnf = base / "mariadb" / "my.cnf"
    conn = root_connection(base, root_password)
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL require_secure_transport = ON")
    except pymysql.MySQLError as exc:
        raise LocalInstanceError(f"MariaDB would not require TLS: {exc.args[-1]}") from exc
    finally:
        conn.close()
    cnf.write_text(cnf.read_text().replace(REQUIRE_OFF, REQUIRE_ON))
