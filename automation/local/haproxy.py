"""HAProxy in front of the web nodes of a multi-node local instance (``ostops local up --web-nodes N``).

Directives as documented in the installed package (Debian haproxy 2.6, /usr/share/doc/haproxy/configuration.txt):
``balance roundrobin``; ``option httpchk`` with ``http-check send meth GET uri ... hdr Host ...`` and
``http-check expect status``; ``retries`` with ``option redispatch`` (a failed connection is retried on another
server); ``http-request set-header`` with the ``src`` fetch. The runtime view comes from the stats socket's
``show stat`` CSV (management.txt, "show stat": fields pxname, svname, status, check_status, ...).
"""

from __future__ import annotations

import csv
import io
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from automation.errors import EnvironmentProblem
from automation.local import processes

# The health probe: osTicket's logo.php starts no session (NOOP_SESSION) yet loads the configuration from the
# database, so it proves php-fpm and the database at the cost of one small query; without a custom logo it
# answers 302 to the stock image (logo.php, 1.18.1).
HEALTH_PATH = "/logo.php"
HEALTH_STATUS = 302
BACKEND = "osticket_web"
SOCKET_TIMEOUT = 5

CONFIG = """\
global
    stats socket {socket} mode 600 level admin
    maxconn 2000

defaults
    mode http
    timeout connect 5s
    timeout client 130s
    timeout server 130s
    timeout check 5s
    # A connection refused by a dead node is retried once, then on another node.
    retries 2
    option redispatch 1

frontend osticket
    bind 127.0.0.1:{port}
    # The client's address, replacing any X-Forwarded-For it sent itself: osTicket trusts this header from
    # TRUSTED_PROXIES (include/class.osticket.php, get_client_ip), so a forged one must not pass through.
    http-request set-header X-Forwarded-For %[src]
    default_backend {backend}

backend {backend}
    balance roundrobin
    option httpchk
    http-check send meth GET uri {health_path} ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status {health_status}
    default-server inter 1s fall 2 rise 2
{servers}
"""


@dataclass(frozen=True)
class NodeView:
    """One server line of HAProxy's ``show stat``: UP, DOWN, MAINT, ``UP 1/2`` (rising) ..."""

    name: str
    status: str
    check: str

    @property
    def up(self) -> bool:
        return self.status == "UP"


def binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise EnvironmentProblem("haproxy not found; install the Debian package haproxy (apt-get install haproxy)")
    return found


def server_name(node: int) -> str:
    return f"web{node}"


def socket_path(base: Path) -> Path:
    return base / "run" / "haproxy.sock"


def write_config(base: Path, port: int, node_ports: list[int]) -> Path:
    (base / "run").mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"    server {server_name(i)} 127.0.0.1:{p} check" for i, p in enumerate(node_ports, 1))
    conf = base / "haproxy.cfg"
    conf.write_text(CONFIG.format(socket=socket_path(base), port=port, backend=BACKEND, health_path=HEALTH_PATH,
                                  health_status=HEALTH_STATUS, servers=servers))
    return conf


def start(base: Path, conf: Path, port: int) -> int:
    # -db: stay in the foreground (the pid is the one `down` stops); -f: the configuration file.
    proc = processes.spawn([binary(), "-db", "-f", str(conf)], base / "logs" / "haproxy.out")
    processes.wait_for_port(port, proc, "HAProxy", base / "logs" / "haproxy.out")
    return proc.pid


def parse_stat(text: str) -> list[NodeView]:
    """The backend's servers from ``show stat`` CSV (its header line starts with ``# ``)."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return [NodeView(row["svname"], row["status"], row.get("check_status") or "")
            for row in rows if row.get("pxname") == BACKEND and row.get("svname") not in ("FRONTEND", "BACKEND")]


def view(base: Path) -> list[NodeView]:
    """HAProxy's own view of every web node, through its stats socket; OSError when it does not answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(SOCKET_TIMEOUT)
        sock.connect(str(socket_path(base)))
        sock.sendall(b"show stat\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return parse_stat(b"".join(chunks).decode(errors="replace"))
