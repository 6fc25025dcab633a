"""``ostops local up | down | status``: one real osTicket on loopback, from nothing to healthy."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import requests
from pydantic import SecretStr

from automation import health
from automation.errors import (
    ConfigError,
    EnvironmentProblem,
    LocalInstanceError,
    OsTicketError,
    SourceError,
    UsageError,
)
from automation.health import STATUS_HTTP_TIMEOUT, Health
from automation.instance import DatabaseAccess, Instance, LocalProcesses, Login, WebNode
from automation.local import database, haproxy, processes, smtpd, source, tls, webserver
from automation.newsecrets import new_api_key, new_password
from automation.versions import SECURITY_NOTE

INSTALLER = Path(__file__).with_name("installer.php")
HTTP_TIMEOUT = 10
DEFAULT_HTTP_PORT = 8080
# Which pid is which, and what its command line must mention for `down` to touch it.
SERVICES = {"haproxy": "haproxy", "nginx": "nginx", "php-fpm": "php-fpm", "mariadb": "mariadbd",
            "smtpd": smtpd.PROGRAM}
# A multi-node instance names each node's servers "nginx@2", "php-fpm@2" (node 2): the program is before the @.
NODE_MARK = "@"

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
    # Options given to `up` that an existing instance did not use, one sentence each.
    ignored: list[str] = field(default_factory=list)


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
    """This instance's servers, in the order `down` stops them: an instance made before the SMTP server has
    none; a multi-node one has HAProxy and each node's nginx and php-fpm."""
    local = instance.local
    assert local is not None
    if local.web_nodes:
        web = ["haproxy", *(f"{program}{NODE_MARK}{node}" for node in range(1, len(local.web_nodes) + 1)
                            for program in ("nginx", "php-fpm"))]
    else:
        web = ["nginx", "php-fpm"]
    return [*web, "mariadb", *(["smtpd"] if local.smtp_port is not None else [])]


def _is_service(name: str) -> bool:
    return name.partition(NODE_MARK)[0] in SERVICES


def node_dir(base: Path, node: int) -> Path:
    """Node ``node``'s own configuration, pid files, temporary files and logs."""
    return base / "nodes" / f"web{node}"


def _identity(instance: Instance, service: str) -> tuple[str, str]:
    """What the command line of this instance's ``service`` contains: the program, and the instance's folder
    (every server is started with a configuration file inside it)."""
    assert instance.local is not None
    return SERVICES[service.partition(NODE_MARK)[0]], instance.local.dir.rstrip("/") + "/"


def up(base: Path, source_path: Path | None = None, http_port: int | None = None, fresh: bool = False,
       progress: Progress = _quiet, confirm: Callable[[str], bool] | None = None,
       web_nodes: int | None = None) -> UpResult:
    """``confirm(question)`` is asked before ``fresh`` replaces an instance (None: replace without asking).
    ``web_nodes`` N >= 2 builds the multi-node shape: N web nodes behind HAProxy, MariaDB requiring TLS."""
    if web_nodes is not None and web_nodes < 1:
        raise UsageError(f"--web-nodes {web_nodes}: give 1 or more")
    started = time.monotonic()
    base = base.expanduser().resolve()
    existing = load_local(base)
    if existing is not None and fresh:
        return _replace(base, existing, source_path, http_port, progress, started, confirm, web_nodes)
    if existing is not None:
        ignored = ignored_options(existing, source_path, http_port, web_nodes)
        alive = running_services(existing)
        if all(alive.values()):
            return UpResult(existing, time.monotonic() - started, already_running=True, ignored=ignored)
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
        return UpResult(existing, time.monotonic() - started, restarted=True, ignored=ignored)
    if base.exists() and any(base.iterdir()):
        raise ConfigError(f"{base}: folder exists, is not empty and holds no instance.json; choose another --dir "
                          "or empty it")
    _check_tools(web_nodes or 1)
    src = source.resolve(source_path)
    php_warning = php_support_warning(src)
    result = _install(base, src, http_port, progress, started, web_nodes or 1)
    if php_warning:
        result.warnings.insert(0, php_warning)
    return result


def ignored_options(existing: Instance, source_path: Path | None, http_port: int | None,
                    web_nodes: int | None = None) -> list[str]:
    """What ``up`` without ``--fresh`` cannot apply to an instance that exists: it keeps its port and its
    osTicket. A ``--port`` equal to the instance's own, or a ``--source`` naming its own source, is not reported:
    it is what was asked."""
    local = existing.local
    assert local is not None
    ignored = []
    if http_port is not None and http_port != local.http_port:
        ignored.append(f"--port {http_port} ignored: the instance listens on {local.http_port} "
                       "(--fresh rebuilds it on the new port)")
    if source_path is not None and not source.is_source_of(source_path, local.source, local.source_origin):
        ignored.append(f"--source {source_path} ignored: the instance keeps osTicket {existing.osticket_version} "
                       f"from {local.source} (--fresh rebuilds it from the new source)")
    have = len(local.web_nodes) or 1
    if web_nodes is not None and web_nodes != have:
        ignored.append(f"--web-nodes {web_nodes} ignored: the instance has {have} web node{'s' * (have > 1)} "
                       "(--fresh rebuilds it with the new number)")
    return ignored


def _check_tools(web_nodes: int = 1) -> None:
    if web_nodes > 1:
        haproxy.binary()
    webserver.php_cli()
    webserver.fpm_binary()
    webserver.nginx_binary()
    database.binaries()


ALLOW_UNSUPPORTED_PHP = "OSTOPS_ALLOW_UNSUPPORTED_PHP"


def php_support_warning(src: source.OsTicketSource) -> str | None:
    """Refuse a source whose README names a PHP range that excludes this machine's PHP: osTicket 1.18.1 says
    "PHP version 8.1 - 8.2"; 8.3 and 8.4 came with later releases (osTicket#6774, PRs #6697 and #6788).
    With $OSTOPS_ALLOW_UNSUPPORTED_PHP=1 it is a warning instead (the text returned), at the user's risk."""
    supported = source.php_range(src.webroot)
    if supported is None:
        return None
    low, high = supported
    found = webserver.php_version()
    if low <= found <= high:
        return None

    def text(v: tuple[int, int]) -> str:
        return f"{v[0]}.{v[1]}"

    problem = (f"osTicket {src.version} supports PHP {text(low)}-{text(high)} (its README.md), this machine has "
               f"PHP {text(found)}")
    if os.environ.get(ALLOW_UNSUPPORTED_PHP) == "1":
        return f"{problem}; going on because {ALLOW_UNSUPPORTED_PHP}=1 (osTicket does not support this)"
    raise SourceError(f"{src.origin}: {problem}; give --source a release whose README.md lists PHP {text(found)}, "
                      f"install a PHP it supports, or set {ALLOW_UNSUPPORTED_PHP}=1 to try it at your own risk")


def _replace(base: Path, old: Instance, source_path: Path | None, http_port: int | None, progress: Progress,
             started: float, confirm: Callable[[str], bool] | None, web_nodes: int | None = None) -> UpResult:
    """``--fresh``: the new source and tools are checked before the old instance is touched; the old one is
    stopped (until its servers are gone and their ports free), moved aside, and deleted only once the new one
    answers; on any failure the new one is set aside for its logs and the old one is put back and restarted."""
    assert old.local is not None
    nodes = web_nodes or len(old.local.web_nodes) or 1
    _check_tools(nodes)
    src = source.resolve(source_path)
    php_warning = php_support_warning(src)
    if http_port is not None and http_port != old.local.http_port and not processes.port_is_free(http_port):
        raise EnvironmentProblem(f"port {http_port} on 127.0.0.1 is busy; choose another with --port")
    question = (f"Replace the osTicket {old.osticket_version} instance in {base} (its database, tickets and "
                f"secrets) with a new osTicket {src.version} from {src.origin}?")
    if confirm is not None and not confirm(question):
        raise UsageError(f"{base}: not replaced; nothing was changed")
    port = http_port or old.local.http_port
    result = swap(base, old, lambda: _install(base, src, port, progress, started, nodes), progress)
    if php_warning:
        result.warnings.insert(0, php_warning)
    return result


T = TypeVar("T")


def swap(base: Path, old: Instance, build: Callable[[], T], progress: Progress = _quiet) -> T:
    """Replace the instance in ``base`` with what ``build`` makes there: the old one is stopped (until its servers
    are gone and their ports free), moved aside, and deleted only once ``build`` returned; when it raises, what
    it made is set aside (``base.failed-…``, for its logs) and the old one is put back and restarted."""
    progress("stopping the old instance (kept until the new one answers)")
    _stop_services(old, progress)
    wait_stopped(old)
    aside = _aside(base, "previous")
    base.rename(aside)
    try:
        result = build()
    except BaseException as exc:
        if base.exists():
            base.rename(_aside(base, "failed"))
        aside.rename(base)
        note = f"the old instance is back in {base}"
        try:
            _start_services(base, old, progress)
            _wait_healthy(old)
            old.save(instance_file(base))
        except Exception as problem:  # noqa: BLE001 (the new instance's failure is the one to raise)
            with contextlib.suppress(Exception):
                _stop_services(old)
            note += f" but did not start again ({problem}); `ostops local up --dir {base}` retries"
        if isinstance(exc, OsTicketError):
            exc.problems.append(note)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return result


def restart_php(instance: Instance) -> None:
    """Restart php-fpm alone (new PHP code or config in place: no worker keeps the old one in its opcache)."""
    local = instance.local
    assert local is not None
    pid = local.pids.get("php-fpm")
    if pid:
        processes.stop(pid, *_identity(instance, "php-fpm"), timeout=10)
    deadline = time.monotonic() + 10
    while not processes.port_is_free(local.fpm_port) and time.monotonic() < deadline:
        time.sleep(0.05)
    base = Path(local.dir)
    local.pids["php-fpm"] = webserver.start_fpm(base, base / "php-fpm.conf", local.fpm_port)
    instance.save(instance_file(base))
    _wait_healthy(instance)


def _aside(base: Path, why: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    return base.with_name(f"{base.name}.{why}-{stamp}-{os.getpid()}")


def wait_stopped(instance: Instance, timeout: float = 30) -> None:
    """Until every server the instance started has finished exiting (`processes.lingers`: an exiting process
    has no command line yet still holds its files and ports) and its ports are free. MariaDB removes its socket
    and pid file before it exits; a killed one leaves them stale, which is harmless: the old folder is moved
    aside whole, so the new data directory never shares a path with them."""
    local = instance.local
    assert local is not None
    deadline = time.monotonic() + timeout
    while True:
        alive = [name for name, pid in local.pids.items()
                 if _is_service(name) and processes.lingers(pid, *_identity(instance, name))]
        busy = [port for port in _ports(instance) if not processes.port_is_free(port)]
        if not alive and not busy:
            return
        if time.monotonic() > deadline:
            raise LocalInstanceError(f"the old instance in {local.dir} did not stop within {timeout:.0f} s "
                                     f"(still running: {', '.join(alive) or 'none'}; ports in use: "
                                     f"{', '.join(map(str, busy)) or 'none'}); nothing was replaced: `ostops local up --dir "
                                     f"{local.dir}` starts it again")
        time.sleep(0.05)


def _ports(instance: Instance) -> list[int]:
    """Every TCP port this instance's servers listen on."""
    local = instance.local
    assert local is not None
    ports = [local.db_port, local.fpm_port, local.http_port, *([local.smtp_port] if local.smtp_port else [])]
    for node in local.web_nodes:
        ports += [node.http_port, node.fpm_port]
    return list(dict.fromkeys(ports))


def _install(base: Path, src: source.OsTicketSource, http_port: int | None, progress: Progress,
             started: float, web_nodes: int = 1) -> UpResult:
    php = webserver.php_cli()
    if http_port is not None and not processes.port_is_free(http_port):
        raise EnvironmentProblem(f"port {http_port} on 127.0.0.1 is busy; choose another with --port")
    if http_port is None:
        http_port = DEFAULT_HTTP_PORT if processes.port_is_free(DEFAULT_HTTP_PORT) else processes.free_port()
    warnings = []
    if src.below_security_floor:
        warnings.append(f"osTicket {src.version} is below the security floor ({SECURITY_NOTE}); "
                        "accepted for local use only")
    progress(f"osTicket {src.version} from {src.origin}")

    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    db_port, fpm_port, smtp_port = processes.free_port(), processes.free_port(), processes.free_port()
    nodes = [WebNode(http_port=processes.free_port(), fpm_port=fpm_port if i == 0 else processes.free_port())
             for i in range(web_nodes)] if web_nodes > 1 else []
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
        local=LocalProcesses(dir=str(base), webroot=str(webroot), source=str(src.webroot), source_origin=src.origin,
                             http_port=http_port, fpm_port=fpm_port, db_port=db_port, smtp_port=smtp_port,
                             db_root_password=SecretStr(root_password), web_nodes=nodes),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    assert instance.local is not None
    server_tls = None
    if nodes:
        # What Azure Database for MySQL asks of its clients: TLS, the server checked against a CA file.
        server_tls = tls.make_server_tls(base / "tls")
        instance.db.ssl, instance.db.ssl_ca = True, str(server_tls.ca)
    try:
        progress("copying osTicket and initialising MariaDB")
        with ThreadPoolExecutor(max_workers=2) as pool:
            copying = pool.submit(copy_webroot, src.webroot, webroot)
            cnf = database.initialise(base, db_port, server_tls)
            copying.result()
        progress("starting MariaDB" + (" (TLS)" if server_tls else ""))
        instance.local.pids["mariadb"] = database.start(base, cnf, db_port)
        database.create_app_database(base, instance.db.name, instance.db.user, app_password, root_password)
        instance.save(instance_file(base))
        if nodes:
            progress(f"starting {len(nodes)} web nodes (php-fpm, nginx), HAProxy and the SMTP server")
        else:
            progress("starting php-fpm, nginx and the SMTP server")
        instance.local.pids["smtpd"] = smtpd.start(base, smtp_port)
        _write_web_configs(base, instance)
        _start_nodes(base, instance)
        instance.save(instance_file(base))
        progress("running osTicket's installer")
        run_installer(php, instance)
        if server_tls is not None:
            # Before the first request: php-fpm's opcache never re-reads a file it has compiled.
            configure_behind_proxy(webroot, server_tls.ca)
            database.require_tls(base, root_password)
            _start_proxy(base, instance)
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


def copy_webroot(src: Path, dst: Path) -> None:
    def link_or_copy(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    # Hard links make the copy instant; every file osTicket writes is new or replaced, never edited in place.
    shutil.copytree(src, dst, copy_function=link_or_copy, ignore=shutil.ignore_patterns(".git"))
    with contextlib.suppress(FileNotFoundError):
        (dst / "include" / "ost-config.php").unlink()


def _write_web_configs(base: Path, instance: Instance) -> None:
    local = instance.local
    assert local is not None
    webroot = Path(local.webroot)
    if not local.web_nodes:
        webserver.write_configs(base, webroot, local.http_port, local.fpm_port)
        return
    for number, node in enumerate(local.web_nodes, 1):
        webserver.write_configs(node_dir(base, number), webroot, node.http_port, node.fpm_port)
    haproxy.write_config(base, local.http_port, [node.http_port for node in local.web_nodes])


def _start_nodes(base: Path, instance: Instance) -> None:
    """php-fpm and nginx: the one pair, or each node's (its own pool and port over the shared tree)."""
    local = instance.local
    assert local is not None
    if not local.web_nodes:
        local.pids["php-fpm"] = webserver.start_fpm(base, base / "php-fpm.conf", local.fpm_port)
        local.pids["nginx"] = webserver.start_nginx(base, base / "nginx.conf", local.http_port)
        return
    for number, node in enumerate(local.web_nodes, 1):
        folder = node_dir(base, number)
        local.pids[f"php-fpm{NODE_MARK}{number}"] = webserver.start_fpm(folder, folder / "php-fpm.conf",
                                                                        node.fpm_port)
        local.pids[f"nginx{NODE_MARK}{number}"] = webserver.start_nginx(folder, folder / "nginx.conf",
                                                                       node.http_port)


def _start_proxy(base: Path, instance: Instance) -> None:
    local = instance.local
    assert local is not None
    if local.web_nodes:
        local.pids["haproxy"] = haproxy.start(base, base / "haproxy.cfg", local.http_port)


TRUSTED_PROXIES_SAMPLE = "define('TRUSTED_PROXIES', '');"
PROXY = "127.0.0.1"  # HAProxy's address as the nodes see it


def configure_behind_proxy(webroot: Path, ca: Path) -> None:
    """ost-config.php for the nodes behind HAProxy, on a database that requires TLS.

    - ``TRUSTED_PROXIES`` (include/ost-sampleconfig.php, "Option: TRUSTED_PROXIES"): main.inc.php sets
      ``$_SERVER['REMOTE_ADDR'] = osTicket::get_client_ip()``, which takes X-Forwarded-For only from a trusted
      proxy (include/class.osticket.php), so tickets, logs and API-key address checks see the client.
    - ``DBSSLCA`` (ost-sampleconfig.php, "SSL Options"): Bootstrap::connect() (bootstrap.php) then passes
      ``array('ca' => DBSSLCA, 'cert' => DBSSLCERT, 'key' => DBSSLKEY)`` to db_connect(), which calls mysqli's
      ssl_set(key, cert, ca) (include/mysqli.php). DBSSLCERT and DBSSLKEY must be defined too (PHP 8 stops on
      an undefined constant); null means no client certificate, as on Azure's Flexible Server.
    """
    config = webroot / "include" / "ost-config.php"
    text = config.read_text(encoding="utf-8")
    if TRUSTED_PROXIES_SAMPLE not in text:
        raise LocalInstanceError(f"{config}: no {TRUSTED_PROXIES_SAMPLE!r} line to set; this osTicket's "
                                 "ost-sampleconfig.php differs from the 1.18 one ostops knows")
    php_ca = str(ca).replace("\\", "\\\\").replace("'", "\\'")
    text = text.replace(TRUSTED_PROXIES_SAMPLE, (
        f"define('TRUSTED_PROXIES', '{PROXY}');\n"
        "# ostops: osTicket's database connection requires TLS, the server checked against this CA.\n"
        f"define('DBSSLCA', '{php_ca}');\ndefine('DBSSLCERT', null);\ndefine('DBSSLKEY', null);"))
    config.write_text(text, encoding="utf-8")


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
    for port in _ports(instance):
        if not processes.port_is_free(port):
            raise EnvironmentProblem(f"port {port} on 127.0.0.1 is busy; stop what holds it or use `up --fresh`")
    web = (f"{len(local.web_nodes)} web nodes (php-fpm, nginx), HAProxy" if local.web_nodes else "php-fpm, nginx")
    progress(f"starting MariaDB, {web}" + (" and the SMTP server" if local.smtp_port else ""))
    if local.smtp_port is not None:
        local.pids["smtpd"] = smtpd.start(base, local.smtp_port)
    local.pids["mariadb"] = database.start(base, base / "mariadb" / "my.cnf", local.db_port)
    _start_nodes(base, instance)
    _start_proxy(base, instance)


def _exited_services(instance: Instance) -> list[str]:
    local = instance.local
    if local is None:
        return []
    return [f"{name} (pid {pid})" for name, pid in local.pids.items()
            if _is_service(name) and not processes.is_running(pid, *_identity(instance, name))]


def _wait_healthy(instance: Instance, timeout: float = 20) -> None:
    """Until the instance answers 200 on / while every server it started still runs: a 200 from another
    program that took the port first (our nginx then exits at once) is not this instance answering."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            response = requests.get(instance.base_url, timeout=HTTP_TIMEOUT)
            if response.status_code == 200:
                exited = _exited_services(instance)
                if exited:
                    assert instance.local is not None
                    raise LocalInstanceError(
                        f"{', '.join(exited)} exited while {instance.base_url} answered: another program probably "
                        f"holds one of its ports (HTTP {instance.local.http_port}); see the logs in "
                        f"{instance.local.dir}/logs, stop what holds the port or choose another with --port")
                if not instance.local or not instance.local.web_nodes:
                    return
                down_nodes = [n.name for n in haproxy.view(Path(instance.local.dir)) if not n.up]
                if not down_nodes:
                    return
                last = f"HAProxy has not yet seen {', '.join(down_nodes)} healthy"
            else:
                last = f"HTTP {response.status_code}"
        except (requests.RequestException, OSError) as exc:
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
    for name in _services(instance):
        pid = instance.local.pids.get(name)
        if pid and processes.is_running(pid, *_identity(instance, name)):
            progress(f"stopping {name} (pid {pid})")
            processes.stop(pid, *_identity(instance, name), timeout=30 if name == "mariadb" else 10)
            stopped.append(name)
    return stopped


def status(instance: Instance) -> Health:
    """Processes (local instances), then what every instance is checked for (automation.health): HTTP on /,
    the database with osTicket's tables, and the API key as osTicket holds it."""
    checks: dict[str, tuple[bool, str]] = {}
    if instance.local is not None:
        for name, alive in running_services(instance).items():
            pid = instance.local.pids.get(name)
            if alive and pid and processes.is_stopped(pid):
                frozen = f"pid {pid} is stopped (frozen by SIGSTOP or a debugger): it answers nothing until `kill -CONT {pid}`"
                checks[f"process {name}"] = (False, frozen)
                continue
            checks[f"process {name}"] = (alive, f"pid {pid}" if alive else "not running")
    nodes = instance.local.web_nodes if instance.local is not None else []
    with ThreadPoolExecutor(max_workers=1 + len(nodes)) as pool:
        shared = pool.submit(health.check, instance)
        node_checks = [pool.submit(_node_check, number, node.http_port) for number, node in enumerate(nodes, 1)]
        found = shared.result()
        checks.update(found.checks)
        for number, check in enumerate(node_checks, 1):
            checks[f"node {haproxy.server_name(number)}"] = check.result()
    front = "haproxy" if nodes else "nginx"
    if checks.get(f"process {front}", (True, ""))[0] is False and checks["http"][0]:
        answered = checks["http"][1]
        checks["http"] = (False, f"{answered}, but from another program: this instance's {front} is not running")
    if nodes and instance.local is not None:
        checks.update(_haproxy_checks(instance, len(nodes)))
    about = dict(found.about)
    if instance.local is not None:
        origin = instance.local.source_origin or "unrecorded (an instance from before ostops recorded it)"
        about["source"] = f"{instance.local.source} ({origin})"
    return Health(checks, about)


def _node_check(number: int, port: int) -> tuple[bool, str]:
    """One web node, directly: HAProxy's own probe (osTicket's logo.php through that node's nginx and php-fpm)."""
    url = f"http://127.0.0.1:{port}{haproxy.HEALTH_PATH}"
    try:
        response = requests.get(url, timeout=STATUS_HTTP_TIMEOUT, allow_redirects=False)
    except requests.Timeout:
        return False, f"GET {url} -> no answer within {STATUS_HTTP_TIMEOUT} s"
    except requests.RequestException as exc:
        return False, f"GET {url} -> {exc.__class__.__name__}"
    return response.status_code == haproxy.HEALTH_STATUS, f"GET {url} -> {response.status_code}"


def _haproxy_checks(instance: Instance, count: int) -> dict[str, tuple[bool, str]]:
    """HAProxy's view of each node (its health checks), from its stats socket."""
    assert instance.local is not None
    names = [haproxy.server_name(n) for n in range(1, count + 1)]
    try:
        seen = {node.name: node for node in haproxy.view(Path(instance.local.dir))}
    except OSError as exc:
        reason = f"HAProxy's stats socket did not answer ({exc.strerror or exc.__class__.__name__})"
        return {f"haproxy {name}": (False, reason) for name in names}
    checks = {}
    for name in names:
        node = seen.get(name)
        if node is None:
            checks[f"haproxy {name}"] = (False, "not in HAProxy's configuration")
        else:
            checks[f"haproxy {name}"] = (node.up, f"{node.status} (last check: {node.check or 'none'})")
    return checks

