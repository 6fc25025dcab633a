"""An osTicket installed the way an administrator would, without any of ostops's instance code: a release zip
unpacked into its own folder, its own MariaDB server and database (the same server program, another data
directory, another table prefix), its own php-fpm pool on a Unix socket and its own nginx, and osTicket's own
web installer (setup/install.php) driven over HTTP. Then, as an administrator does in the admin panel, an API key
for this machine and the setting that skips the e-mail domains' MX lookup (offline every lookup fails).

Used by tests/e2e/test_external_e2e.py to prove that ostops works with an osTicket it did not install."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import requests

TABLE_PREFIX = "hd_"  # not ostops's ost_: the prefix must travel through every statement
DB_NAME, DB_USER = "helpdesk", "helpdesk_app"
ADMIN_USERNAME = "deskadmin"


@dataclass
class ExternalOsTicket:
    folder: Path
    url: str
    version: str
    db_port: int
    db_password: str
    admin_password: str
    api_key: str
    table_prefix: str = TABLE_PREFIX
    db_name: str = DB_NAME
    db_user: str = DB_USER
    admin_username: str = ADMIN_USERNAME
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        """The secrets as `ostops instance add` reads them."""
        return {"OSTOPS_DB_PASSWORD": self.db_password, "OSTOPS_API_KEY": self.api_key,
                "OSTOPS_ADMIN_PASSWORD": self.admin_password}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _which(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    assert found, f"{name} is not installed (scripts/setup.sh installs it)"
    return found


def _php_fpm() -> str:
    version = subprocess.run([_which("php"), "-r", "echo PHP_MAJOR_VERSION.'.'.PHP_MINOR_VERSION;"],
                             capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    for name in (f"php-fpm{version}", "php-fpm"):
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if found:
            return found
    raise AssertionError(f"php-fpm for PHP {version} is not installed")


def _wait(check: callable, what: str, log: Path, timeout: float = 60) -> None:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise AssertionError(f"{what} did not start within {timeout:.0f} s; {log}:\n{tail}")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _unpack(zip_path: Path, webroot: Path) -> str:
    """The zip's upload/ folder becomes the web root; the version is the one in the zip's name."""
    with zipfile.ZipFile(zip_path) as archive:
        members = [m for m in archive.namelist() if m.startswith("upload/")]
        archive.extractall(webroot.parent / "unpacked", members)
    (webroot.parent / "unpacked" / "upload").rename(webroot)
    (webroot.parent / "unpacked").rmdir()
    return zip_path.stem.removeprefix("osTicket-v")


def _start_mariadb(folder: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    datadir, sock = folder / "db" / "data", folder / "db" / "server.sock"
    datadir.mkdir(parents=True)
    user = ["--user=root"] if os.geteuid() == 0 else []
    cnf = folder / "db" / "server.cnf"
    cnf.write_text(f"[mysqld]\ndatadir={datadir}\nsocket={sock}\nport={port}\nbind-address=127.0.0.1\n"
                   f"pid-file={folder / 'db' / 'server.pid'}\nlog-error={folder / 'logs' / 'mariadb.log'}\n"
                   "skip-name-resolve\ninnodb_buffer_pool_size=32M\ninnodb_log_file_size=16M\n"
                   "character-set-server=utf8mb4\ncollation-server=utf8mb4_unicode_ci\n")
    install_db = shutil.which("mariadb-install-db") or _which("mysql_install_db")
    subprocess.run([install_db, f"--defaults-file={cnf}", *user, "--auth-root-authentication-method=socket",
                    "--skip-test-db"], capture_output=True, timeout=180, check=True)
    proc = _spawn([_which("mariadbd"), f"--defaults-file={cnf}", *user], folder / "logs" / "mariadbd.out")
    _wait(lambda: _listening(port), "MariaDB", folder / "logs" / "mariadb.log")
    return proc, sock


def _create_database(sock: Path, password: str) -> None:
    conn = pymysql.connect(unix_socket=str(sock), user="root", connect_timeout=10, read_timeout=30,
                           autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{DB_NAME}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            cur.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (DB_USER, password))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{DB_NAME}`.* TO %s@'127.0.0.1'", (DB_USER,))
    finally:
        conn.close()


FPM_POOL = """\
[global]
error_log = {folder}/logs/fpm.log
daemonize = no
[helpdesk]
listen = {folder}/run/fpm.sock
{user}
pm = ondemand
pm.max_children = 4
clear_env = yes
php_admin_value[session.save_path] = {folder}/run
php_admin_value[error_log] = {folder}/logs/php.log
php_admin_flag[log_errors] = on
php_admin_value[date.timezone] = UTC
; no mail transfer agent here: PHP's mail() hands each message to true(1), which accepts it
php_admin_value[sendmail_path] = /bin/true
"""

# osTicket's own URL rules: api/.htaccess sends /api/* to api/http.php, and the staff panel's ajax.php and
# the client's pages take the path after the script (PATH_INFO).
NGINX = """\
{user}
daemon off;
worker_processes 1;
pid {folder}/run/nginx.pid;
error_log {folder}/logs/nginx-error.log;
events {{ worker_connections 64; }}
http {{
  include /etc/nginx/mime.types;
  access_log {folder}/logs/nginx-access.log;
  client_body_temp_path {folder}/run/body;
  fastcgi_temp_path {folder}/run/fastcgi;
  proxy_temp_path {folder}/run/proxy;
  uwsgi_temp_path {folder}/run/uwsgi;
  scgi_temp_path {folder}/run/scgi;
  client_max_body_size 32m;
  server {{
    listen 127.0.0.1:{port};
    root {webroot};
    index index.php;
    location ~ ^/include/ {{ deny all; }}
    location ~ ^/api/(?!http\\.php|cron\\.php|pipe\\.php)(.+)$ {{ rewrite ^/api/(.+)$ /api/http.php/$1 last; }}
    location ~ ^(.+?\\.php)(/.*)?$ {{
      fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
      if (!-f $document_root$fastcgi_script_name) {{ return 404; }}
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass unix:{folder}/run/fpm.sock;
      fastcgi_read_timeout 120s;
    }}
  }}
}}
"""


def _run_web_installer(url: str, db_port: int, db_password: str, admin_password: str) -> None:
    """setup/install.php's form, as a browser posts it (setup/inc/install.inc.php's fields)."""
    session = requests.Session()
    assert session.get(url + "setup/install.php", timeout=60).status_code == 200
    form = {
        "s": "install", "name": "Städtisches Klinikum Help Desk", "email": "helpdesk@klinikum.example.org",
        "lang_id": "en_US", "fname": "Desk", "lname": "Admin", "admin_email": "desk.admin@klinikum.example.org",
        "username": ADMIN_USERNAME, "passwd": admin_password, "passwd2": admin_password,
        "prefix": TABLE_PREFIX, "dbhost": f"127.0.0.1:{db_port}", "dbname": DB_NAME, "dbuser": DB_USER,
        "dbpass": db_password, "timezone": "UTC",
    }
    page = session.post(url + "setup/install.php", data=form, timeout=180)
    assert page.status_code == 200, f"installer answered {page.status_code}"
    assert "Congratulations" in page.text, f"osTicket's installer did not finish: {page.text[-1500:]}"


def _configure(db_port: int, db_password: str, api_key: str) -> None:
    """What an administrator does in the admin panel after installing (Manage > API Keys; Settings > Emails),
    written as SQL, which osTicket's own setup does for these two tables."""
    conn = pymysql.connect(host="127.0.0.1", port=db_port, user=DB_USER, password=db_password, database=DB_NAME,
                           connect_timeout=10, read_timeout=30, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {TABLE_PREFIX}api_key SET isactive=1, ipaddr='127.0.0.1', apikey=%s, "
                        "can_create_tickets=1, can_exec_cron=1, notes='pipeline checks', created=NOW(), "
                        "updated=NOW()", (api_key,))
            cur.execute(f"DELETE FROM {TABLE_PREFIX}config WHERE namespace='core' AND `key`='verify_email_addrs'")
            cur.execute(f"INSERT INTO {TABLE_PREFIX}config SET namespace='core', `key`='verify_email_addrs', "
                        "value='0', updated=NOW()")
    finally:
        conn.close()


@contextmanager
def installed(zip_path: Path) -> Iterator[ExternalOsTicket]:
    """An osTicket from ``zip_path``, running until the block ends; its folder is removed afterwards (kept when
    $OSTOPS_KEEP_E2E is set)."""
    folder = Path(tempfile.mkdtemp(prefix="external-osticket-"))
    for sub in ("logs", "run"):
        (folder / sub).mkdir()
    webroot = folder / "htdocs"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        version = _unpack(zip_path, webroot)
        shutil.copy(webroot / "include" / "ost-sampleconfig.php", webroot / "include" / "ost-config.php")
        os.chmod(webroot / "include" / "ost-config.php", 0o666)  # the installer's "make it writable" step
        db_port, http_port = _free_port(), _free_port()
        db_password, admin_password = secrets.token_urlsafe(16), "Desk&Admin<2024>" + secrets.token_hex(4)
        api_key = secrets.token_hex(16).upper()
        proc, sock = _start_mariadb(folder, db_port)
        procs.append(proc)
        _create_database(sock, db_password)
        user = "user = root\ngroup = root" if os.geteuid() == 0 else ""
        (folder / "fpm.conf").write_text(FPM_POOL.format(folder=folder, user=user))
        procs.append(_spawn([_php_fpm(), "--nodaemonize", "--fpm-config", str(folder / "fpm.conf"),
                             *(["--allow-to-run-as-root"] if os.geteuid() == 0 else [])], folder / "logs" / "fpm.out"))
        _wait(lambda: (folder / "run" / "fpm.sock").exists(), "php-fpm", folder / "logs" / "fpm.log")
        (folder / "nginx.conf").write_text(NGINX.format(folder=folder, port=http_port, webroot=webroot,
                                                             user="user root;" if os.geteuid() == 0 else ""))
        procs.append(_spawn([_which("nginx"), "-p", str(folder), "-c", str(folder / "nginx.conf"),
                             "-e", str(folder / "logs" / "nginx-error.log")], folder / "logs" / "nginx.out"))
        _wait(lambda: _listening(http_port), "nginx", folder / "logs" / "nginx-error.log")
        url = f"http://127.0.0.1:{http_port}/"
        _run_web_installer(url, db_port, db_password, admin_password)
        shutil.rmtree(webroot / "setup")  # osTicket's post-install advice
        os.chmod(webroot / "include" / "ost-config.php", 0o644)
        _configure(db_port, db_password, api_key)
        yield ExternalOsTicket(folder, url, version, db_port, db_password, admin_password, api_key, processes=procs)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if not os.environ.get("OSTOPS_KEEP_E2E"):
            shutil.rmtree(folder, ignore_errors=True)
