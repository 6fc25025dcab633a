"""php-fpm behind nginx, both as plain processes on 127.0.0.1, serving the URLs IIS serves."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from automation.errors import EnvironmentProblem, LocalInstanceError
from automation.local import processes

FPM_WORKERS = 6

FPM_CONF = """\
[global]
pid = {base}/run/php-fpm.pid
error_log = {base}/logs/php-fpm.log
daemonize = no

[osticket]
listen = 127.0.0.1:{fpm_port}
listen.allowed_clients = 127.0.0.1
{user_lines}
pm = static
pm.max_children = {workers}
request_terminate_timeout = 120s
catch_workers_output = yes
clear_env = yes
php_admin_value[error_log] = {base}/logs/php-errors.log
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = off
php_admin_value[memory_limit] = 256M
php_admin_value[upload_max_filesize] = 32M
php_admin_value[post_max_size] = 34M
php_admin_value[date.timezone] = UTC
php_admin_value[session.save_path] = {base}/run/sessions
php_admin_value[opcache.enable] = 1
php_admin_value[opcache.validate_timestamps] = 0
"""

NGINX_CONF = """\
{user_line}
worker_processes 2;
pid {base}/run/nginx.pid;
error_log {base}/logs/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {base}/logs/nginx-access.log;
    client_body_temp_path {base}/run/nginx-body;
    proxy_temp_path {base}/run/nginx-proxy;
    fastcgi_temp_path {base}/run/nginx-fastcgi;
    uwsgi_temp_path {base}/run/nginx-uwsgi;
    scgi_temp_path {base}/run/nginx-scgi;
    client_max_body_size 34m;
    keepalive_requests 10000;
    sendfile on;
    server_tokens off;
    server {{
        listen 127.0.0.1:{http_port};
        server_name localhost 127.0.0.1;
        root {webroot};
        index index.php;

        # osTicket's code and configuration are never served.
        location ~ ^/(include|setup)(/|$) {{ return 403; }}
        location ~ /\\. {{ return 403; }}

        # The API front controller, as IIS's web.config and osTicket's api/.htaccess route it.
        location ~ ^/api/(tickets|tasks)(\\.|/) {{ rewrite ^/api/(.*)$ /api/http.php/$1 last; }}

        location ~ [^/]\\.php(/|$) {{
            fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
            if (!-f $document_root$fastcgi_script_name) {{ return 404; }}
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_param PATH_INFO $fastcgi_path_info;
            fastcgi_read_timeout 120s;
            # No upstream keep-alive: an idle kept-alive connection would pin one of the few php-fpm
            # workers, and requests queue behind it.
            fastcgi_pass 127.0.0.1:{fpm_port};
        }}
        location / {{ try_files $uri $uri/ /index.php?$query_string; }}
    }}
}}
"""


def _find(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise EnvironmentProblem(f"{name} not found; install the Debian package {package} (apt-get install {package})")
    return found


def php_cli() -> str:
    return _find("php", "php-cli")


@functools.cache
def php_version() -> tuple[int, int]:
    """The PHP release of the ``php`` on PATH, as (major, minor)."""
    try:
        out = subprocess.run([php_cli(), "-r", 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;'],
                             capture_output=True, text=True, timeout=20, check=True).stdout
        major, minor = out.strip().split(".")
        return int(major), int(minor)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise EnvironmentProblem(f"could not read the PHP version of {php_cli()}: {exc}") from exc


def fpm_binary() -> str:
    """php-fpm of the same release as the PHP CLI (Debian names it php-fpmX.Y), else a plain php-fpm."""
    major, minor = php_version()
    for name in (f"php-fpm{major}.{minor}", "php-fpm"):
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if found:
            return found
    package = f"php{major}.{minor}-fpm"
    raise EnvironmentProblem(f"php-fpm not found; install the Debian package {package} (apt-get install {package})")


def nginx_binary() -> str:
    return _find("nginx", "nginx")


def write_configs(base: Path, webroot: Path, http_port: int, fpm_port: int) -> tuple[Path, Path]:
    (base / "run" / "sessions").mkdir(parents=True, exist_ok=True)
    (base / "logs").mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    # Worker processes run as the user who brought the instance up (root needs saying so explicitly).
    fpm_user = "user = root\ngroup = root" if as_root else ""
    fpm_conf = base / "php-fpm.conf"
    fpm_conf.write_text(FPM_CONF.format(base=base, fpm_port=fpm_port, user_lines=fpm_user, workers=FPM_WORKERS))
    nginx_conf = base / "nginx.conf"
    nginx_conf.write_text(NGINX_CONF.format(base=base, webroot=webroot, http_port=http_port, fpm_port=fpm_port,
                                            user_line="user root;" if as_root else ""))
    return fpm_conf, nginx_conf


def start_fpm(base: Path, conf: Path, port: int) -> int:
    argv = [fpm_binary(), "--nodaemonize", "--fpm-config", str(conf)]
    if os.geteuid() == 0:
        argv.append("--allow-to-run-as-root")
    proc = processes.spawn(argv, base / "logs" / "php-fpm.out")
    processes.wait_for_port(port, proc, "php-fpm", base / "logs" / "php-fpm.log")
    return proc.pid


def start_nginx(base: Path, conf: Path, port: int) -> int:
    argv = [nginx_binary(), "-p", str(base), "-c", str(conf), "-e", str(base / "logs" / "nginx-error.log"),
            "-g", "daemon off;"]
    proc = processes.spawn(argv, base / "logs" / "nginx.out")
    processes.wait_for_port(port, proc, "nginx", base / "logs" / "nginx-error.log")
    return proc.pid


def reload_fpm(pid: int, base: Path, timeout: float = 30) -> None:
    """php-fpm's graceful reload (SIGUSR2: the master stops its workers, re-executes itself, keeping its pid
    under --nodaemonize and its listening socket, and starts new ones; php-src sapi/fpm/tests/
    reload-uses-sigkill-as-last-measure.phpt). Returns once none of the old workers is left and a new one runs.
    The workers' opcache does not re-read changed files (``opcache.validate_timestamps = 0`` above), and the
    reload starts it empty: how an edited ``ost-config.php`` is taken up."""
    if pid <= 0 or not processes.is_running(pid, "php-fpm"):  # kill(-1, …) would signal every process
        raise LocalInstanceError(f"php-fpm (pid {pid}) is not running; start the instance with `ostops local up "
                                 f"--dir {base}`")
    before = processes.children(pid)
    try:
        os.kill(pid, signal.SIGUSR2)
    except ProcessLookupError as exc:
        raise LocalInstanceError(f"php-fpm (pid {pid}) is not running; start the instance with `ostops local up "
                                 f"--dir {base}`") from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = processes.children(pid)
        if now and not now & before:
            return
        if not processes.is_running(pid, "php-fpm"):
            break
        time.sleep(0.05)
    raise LocalInstanceError(f"php-fpm (pid {pid}) did not reload within {timeout:.0f} s; see "
                             f"{base / 'logs' / 'php-fpm.log'}")
