"""``ostops local up | down | status``: one real osTicket on loopback, from nothing to healthy."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from pydantic import SecretStr

from automation.errors import ConfigError, EnvironmentProblem, LocalInstanceError
from automation.instance import DatabaseAccess, Instance, LocalProcesses, Login
from automation.local import database, processes, smtpd, source, webserver
from automation.newsecrets import new_api_key, new_password
from automation.osticket import db
from automation.versions import SECURITY_NOTE

INSTALLER = Path(__file__).with_name("installer.php")
HTTP_TIMEOUT = 10
DEFAULT_HTTP_PORT = 8080
# Which pid is which, and what its command line must mention for `down` to touch it.
SERVICES = {"nginx": "nginx", "php-fpm": "php-fpm", "mariadb": "mariadbd", "smtpd": smtpd.PROGRAM}

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class UpResult:
    instance: Instance
    seconds: float
    already_running: bool = False
    restarted: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class Health:
    checks: dict[str, tuple[bool, str]]

    @property
    def healthy(self) -> bool:
        return all(ok for ok, _ in self.checks.values())


def instance_file(base: Path) -> Path:
    return base / "instance.json"


def load_local(base: Path) -> Instance | None:
    path = instance_file(base)
    if not path.exists():
        return None
    instance = Instance.load(path)
    if instance.local is None:
        raise ConfigError(f"{path}: not a local instance")
    return instance


def running_services(instance: Instance) -> dict[str, bool]:
    assert instance.local is not None
    return {name: processes.is_running(instance.local.pids.get(name, -1), *_identity(instance, name))
            for name in _services(instance)}


def _services(instance: Instance) -> list[str]:
    """This instance's servers: an instance made before the SMTP server has none."""
    assert instance.local is not None
    return [name for name in SERVICES if name != "smtpd" or instance.local.smtp_port is not None]


def _identity(instance: Instance, service: str) -> tuple[str, str]:
    """What the command line of this instance's ``service`` contains: the program, and the instance's folder
    (every server is started with a configuration file inside it)."""
    assert instance.local is not None
    return SERVICES[service], instance.local.dir.rstrip("/") + "/"


def up(base: Path, source_path: Path | None = None, http_port: int | None = None, fresh: bool = False,
       progress: Progress = _quiet) -> UpResult:
    started = time.monotonic()
    base = base.expanduser().resolve()
    existing = load_local(base)
    if existing is not None and fresh:
        progress("removing the old instance (--fresh)")
        down(base, progress)
        _wipe(base)
        existing = None
    if existing is not None:
        alive = running_services(existing)
        if all(alive.values()):
            return UpResult(existing, time.monotonic() - started, already_running=True)
        progress("restarting the stopped instance")
        down(base, progress)
        try:
            _start_services(base, existing, progress)
            _wait_healthy(existing)
        except BaseException:
            _stop_services(existing)
            raise
        finally:
            existing.save(instance_file(base))
        return UpResult(existing, time.monotonic() - started, restarted=True)
    if base.exists() and any(base.iterdir()):
        raise ConfigError(f"{base}: folder exists, is not empty and holds no instance.json; choose another --dir "
                          "or empty it")
    return _install(base, source_path, http_port, progress, started)


def _install(base: Path, source_path: Path | None, http_port: int | None, progress: Progress,
             started: float) -> UpResult:
    php = webserver.php_cli()
    webserver.fpm_binary()
    webserver.nginx_binary()
    database.binaries()
    if http_port is not None and not processes.port_is_free(http_port):
        raise EnvironmentProblem(f"port {http_port} on 127.0.0.1 is busy; choose another with --port")
    if http_port is None:
        http_port = DEFAULT_HTTP_PORT if processes.port_is_free(DEFAULT_HTTP_PORT) else processes.free_port()
    src = source.resolve(source_path)
    warnings = []
    if src.below_security_floor:
        warnings.append(f"osTicket {src.version} is below the security floor ({SECURITY_NOTE}); "
                        "accepted for local use only")
    progress(f"osTicket {src.version} from {src.origin}")

    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    db_port, fpm_port, smtp_port = processes.free_port(), processes.free_port(), processes.free_port()
    webroot = base / "www"
    root_password, app_password = new_password(), new_password()
    instance = Instance(
        kind="local",
        url=f"http://127.0.0.1:{http_port}/",
        osticket_version=src.version,
        api_key=SecretStr(new_api_key()),
        admin=Login(username="ostadmin", password=SecretStr(new_password())),
        db=DatabaseAccess(host="127.0.0.1", port=db_port, name="osticket", user="osticket",
                          password=SecretStr(app_password), table_prefix="ost_"),
        local=LocalProcesses(dir=str(base), webroot=str(webroot), source=str(src.webroot), http_port=http_port,
                             fpm_port=fpm_port, db_port=db_port, smtp_port=smtp_port, db_root_password=SecretStr(root_password)),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    assert instance.local is not None
    try:
        progress("copying osTicket and initialising MariaDB")
        with ThreadPoolExecutor(max_workers=2) as pool:
            copying = pool.submit(_copy_webroot, src.webroot, webroot)
            cnf = database.initialise(base, db_port)
            copying.result()
        progress("starting MariaDB")
        instance.local.pids["mariadb"] = database.start(base, cnf, db_port)
        database.create_app_database(base, instance.db.name, instance.db.user, app_password, root_password)
        instance.save(instance_file(base))
        progress("starting php-fpm, nginx and the SMTP server")
        instance.local.pids["smtpd"] = smtpd.start(base, smtp_port)
        fpm_conf, nginx_conf = webserver.write_configs(base, webroot, http_port, fpm_port)
        instance.local.pids["php-fpm"] = webserver.start_fpm(base, fpm_conf, fpm_port)
        instance.local.pids["nginx"] = webserver.start_nginx(base, nginx_conf, http_port)
        instance.save(instance_file(base))
        progress("running osTicket's installer")
        run_installer(php, instance)
        _harden(webroot)
        _wait_healthy(instance)
    except BaseException:
        # Leave nothing running behind a failed bring-up (what was started is known in memory, whether or
        # not it reached the instance file); the folder stays for its logs.
        with contextlib.suppress(Exception):
            _stop_services(instance)
        raise
    instance.save(instance_file(base))
    return UpResult(instance, time.monotonic() - started, warnings=warnings)


def _copy_webroot(src: Path, dst: Path) -> None:
    def link_or_copy(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    # Hard links make the copy instant; every file osTicket writes is new or replaced, never edited in place.
    shutil.copytree(src, dst, copy_function=link_or_copy, ignore=shutil.ignore_patterns(".git"))
    with contextlib.suppress(FileNotFoundError):
        (dst / "include" / "ost-config.php").unlink()


def installer_config(instance: Instance) -> dict[str, str | int]:
    assert instance.local is not None
    return {
        "webroot": instance.local.webroot,
        "db_host": instance.db.host,
        "db_port": instance.db.port,
        "db_name": instance.db.name,
        "db_user": instance.db.user,
        "db_pass": instance.db.password.get_secret_value(),
        "table_prefix": instance.db.table_prefix,
        "helpdesk_name": "ostops Help Desk",
        "helpdesk_email": "helpdesk@example.com",
        "admin_firstname": "osTicket",
        "admin_lastname": "Admin",
        "admin_email": "ostadmin@example.com",
        "admin_username": instance.admin.username,
        "admin_password": instance.admin.password.get_secret_value(),
        "helpdesk_url": instance.base_url,
        "api_key": instance.api_key.get_secret_value(),
        "api_key_ip": instance.api_key_ip or "127.0.0.1",
        # The help desk's address sends through the local SMTP server (no auth, no TLS: loopback).
        **({"smtp_host": "127.0.0.1", "smtp_port": instance.local.smtp_port} if instance.local.smtp_port else {}),
    }


def run_installer(php: str, instance: Instance) -> None:
    try:
        result = subprocess.run([php, str(INSTALLER)], input=json.dumps(installer_config(instance)),
                                capture_output=True, text=True, timeout=180, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LocalInstanceError("osTicket's installer did not finish within 180 s") from exc
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    try:
        answer = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        answer = {"ok": False, "error": (result.stdout + result.stderr).strip()[-2000:] or "no output"}
    if result.returncode != 0 or not answer.get("ok"):
        details = "; ".join(f"{k}: {v}" for k, v in (answer.get("errors") or {}).items())
        raise LocalInstanceError(f"osTicket's installer failed: {answer.get('error')}"
                                 + (f" ({details})" if details else ""))


def _harden(webroot: Path) -> None:
    shutil.rmtree(webroot / "setup")
    os.chmod(webroot / "include" / "ost-config.php", 0o440)


def _start_services(base: Path, instance: Instance, progress: Progress) -> None:
    local = instance.local
    assert local is not None
    for port in (local.db_port, local.fpm_port, local.http_port, local.smtp_port):
        if port is not None and not processes.port_is_free(port):
            raise EnvironmentProblem(f"port {port} on 127.0.0.1 is busy; stop what holds it or use `up --fresh`")
    progress("starting MariaDB, php-fpm, nginx" + (" and the SMTP server" if local.smtp_port else ""))
    if local.smtp_port is not None:
        local.pids["smtpd"] = smtpd.start(base, local.smtp_port)
    local.pids["mariadb"] = database.start(base, base / "mariadb" / "my.cnf", local.db_port)
    local.pids["php-fpm"] = webserver.start_fpm(base, base / "php-fpm.conf", local.fpm_port)
    local.pids["nginx"] = webserver.start_nginx(base, base / "nginx.conf", local.http_port)


def _wait_healthy(instance: Instance, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            response = requests.get(instance.base_url, timeout=HTTP_TIMEOUT)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = exc.__class__.__name__
        time.sleep(0.1)
    raise LocalInstanceError(f"{instance.base_url} did not answer 200 within {timeout:.0f} s (last: {last})")


def down(base: Path, progress: Progress = _quiet) -> list[str]:
    """Stop exactly the processes this instance started; returns their names."""
    instance = load_local(base.expanduser().resolve())
    if instance is None:
        return []
    return _stop_services(instance, progress)


def _stop_services(instance: Instance, progress: Progress = _quiet) -> list[str]:
    if instance.local is None:
        return []
    stopped = []
    for name in ("nginx", "php-fpm", "mariadb", "smtpd"):
        pid = instance.local.pids.get(name)
        if pid and processes.is_running(pid, *_identity(instance, name)):
            progress(f"stopping {name} (pid {pid})")
            processes.stop(pid, *_identity(instance, name), timeout=30 if name == "mariadb" else 10)
            stopped.append(name)
    return stopped


def _wipe(base: Path) -> None:
    if not instance_file(base).exists():
        raise ConfigError(f"{base}: refusing to delete a folder that holds no instance.json")
    shutil.rmtree(base)


def status(instance: Instance) -> Health:
    """Processes (local instances), HTTP on /, the database with osTicket's tables, and the API key as osTicket
    holds it. The HTTP and database checks run side by side, so a hung server costs one timeout, not two."""
    checks: dict[str, tuple[bool, str]] = {}
    if instance.local is not None:
        for name, alive in running_services(instance).items():
            checks[f"process {name}"] = (alive, f"pid {instance.local.pids.get(name)}" if alive else "not running")
    with ThreadPoolExecutor(max_workers=2) as pool:
        http = pool.submit(_http_check, instance)
        database = pool.submit(_database_checks, instance)
        checks["http"] = http.result()
        checks.update(database.result())
    if checks.get("process nginx", (True, ""))[0] is False and checks["http"][0]:
        answered = checks["http"][1]
        checks["http"] = (False, f"{answered}, but from another program: this instance's nginx is not running")
    return Health(checks)


def _http_check(instance: Instance) -> tuple[bool, str]:
    try:
        response = requests.get(instance.base_url, timeout=HTTP_TIMEOUT)
    except requests.RequestException as exc:
        return False, f"GET {instance.base_url} -> {exc.__class__.__name__}"
    return response.status_code == 200, f"GET {instance.base_url} -> {response.status_code}"


def _database_checks(instance: Instance) -> dict[str, tuple[bool, str]]:
    """The API key is looked up in osTicket's own table rather than tried over HTTP: osTicket writes the key
    in clear into its system log with every API error, so a probe that provokes one would leak it."""
    where = f"{instance.db.host}:{instance.db.port}/{instance.db.name}"
    try:
        conn = db.connect(instance)
    except db.DatabaseError as exc:
        return {"database": (False, str(exc)), "api key": (False, "not checked: the database is unreachable")}
    t = db.Tables(instance.db.table_prefix)
    try:
        with db.cursor(conn) as cur:
            cur.execute(f"SELECT isactive, ipaddr, can_create_tickets, can_exec_cron, "
                        f"SUBSTRING_INDEX(USER(), '@', -1) AS seen_from FROM {t.api_key} "
                        "WHERE apikey = %s", (instance.api_key.get_secret_value(),))
            row = cur.fetchone()
    except db.DatabaseError as exc:
        return {"database": (False, f"{where}: {exc}; is the table prefix {instance.db.table_prefix!r} right?"),
                "api key": (False, "not checked: osTicket's tables were not found")}
    finally:
        conn.close()
    database = (True, f"{where}: osTicket's tables found (prefix {instance.db.table_prefix})")
    if row is None:
        key = (False, "osTicket holds no such API key: deleted in the admin panel, or a stale instance file")
    elif not row["isactive"]:
        key = (False, f"disabled in osTicket's admin panel (bound to {row['ipaddr']})")
    elif not row["can_create_tickets"]:
        key = (False, f"active for {row['ipaddr']} but may not create tickets")
    elif _differs(row["ipaddr"], row["seen_from"]):
        # osTicket accepts the key only from its bound address; the database sees this machine as the API would.
        refused = (f"active for {row['ipaddr']}, but this machine reaches osTicket from {row['seen_from']}: the "
                   "API will refuse it (HTTP 401); bind the key to this address (on Azure: automationSourceCidr)")
        key = (False, refused)
    else:
        key = (True, f"active for {row['ipaddr']}, creates tickets" + (", runs cron" if row["can_exec_cron"] else ""))
    return {"database": database, "api key": key}


def _differs(bound: str, seen_from: str) -> bool:
    """True only when both are IP addresses and differ (a host name, e.g. behind a proxy, proves nothing)."""
    try:
        return ipaddress.ip_address(bound) != ipaddress.ip_address(seen_from)
    except ValueError:
        return False
