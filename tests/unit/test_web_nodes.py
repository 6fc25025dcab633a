"""The multi-node local twin's pieces without servers: HAProxy's configuration and view, osTicket's settings
behind a proxy on a TLS database, the database certificates, and which servers `down` stops."""

from __future__ import annotations

import contextlib
import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from automation.cli import cli
from automation.errors import LocalInstanceError, UsageError
from automation.instance import DatabaseAccess, Instance, LocalProcesses, Login, WebNode
from automation.local import haproxy, manager, tls, webserver

# `show stat` as HAProxy 2.6.12 printed it for a two-node instance with web2 killed (fields cut after check_status).
SHOW_STAT = """\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status
osticket,FRONTEND,,,1,4,2000,120,1,2,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,9,
osticket_web,web1,0,0,0,2,,80,1,2,,0,,0,0,0,0,UP,1,1,0,0,0,30,0,,1,3,1,,80,,2,0,,5,L7OK
osticket_web,web2,0,0,0,2,,40,1,2,,0,,3,0,1,1,DOWN,1,1,0,2,1,4,4,,1,3,2,,40,,2,0,,5,L4CON
osticket_web,BACKEND,0,0,0,4,200,120,1,2,0,0,,3,0,1,1,UP,1,1,0,,0,30,0,,1,3,0,,120,,1,0,,9,
"""


def test_haproxy_view_reads_each_node_of_the_backend() -> None:
    assert haproxy.parse_stat(SHOW_STAT) == [haproxy.NodeView("web1", "UP", "L7OK"),
                                             haproxy.NodeView("web2", "DOWN", "L4CON")]
    assert [n.up for n in haproxy.parse_stat(SHOW_STAT)] == [True, False]
    assert not haproxy.NodeView("web1", "UP 1/2", "L7OK").up  # rising: not yet in rotation


def test_haproxy_config_balances_checks_and_replaces_forwarded_for(tmp_path: Path) -> None:
    conf = haproxy.write_config(tmp_path, 8080, [9001, 9002, 9003])
    text = conf.read_text()
    assert "bind 127.0.0.1:8080" in text and "balance roundrobin" in text
    for number, port in enumerate((9001, 9002, 9003), 1):
        assert f"server web{number} 127.0.0.1:{port} check" in text
    assert f"uri {haproxy.HEALTH_PATH} " in text and f"expect status {haproxy.HEALTH_STATUS}" in text
    # set-header, not option forwardfor (which appends to a client's own, forgeable header)
    assert "http-request set-header X-Forwarded-For %[src]" in text and "forwardfor" not in text
    check = subprocess.run([haproxy.binary(), "-c", "-f", str(conf)], capture_output=True, text=True,
                           timeout=30, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


SAMPLE = """<?php
define('DBHOST','127.0.0.1:3306');
# Option: TRUSTED_PROXIES (default: <none>)
define('TRUSTED_PROXIES', '');
define('LOCAL_NETWORKS', '127.0.0.0/24');
"""


def test_osticket_config_trusts_haproxy_and_connects_with_the_ca(tmp_path: Path) -> None:
    webroot = tmp_path / "www"
    (webroot / "include").mkdir(parents=True)
    config = webroot / "include" / "ost-config.php"
    config.write_text(SAMPLE)
    ca = tmp_path / "it's here" / "ca.pem"  # a quote in the path must not end PHP's string
    manager.configure_behind_proxy(webroot, ca)
    text = config.read_text()
    assert "define('TRUSTED_PROXIES', '');" not in text
    shown = subprocess.run([webserver.php_cli(), "-r", (f"include '{config}'; echo TRUSTED_PROXIES, '|', DBSSLCA, "
                                                       "'|', var_export(DBSSLCERT, true), '|', "
                                                       "var_export(DBSSLKEY, true);")],
                           capture_output=True, text=True, timeout=30, check=False)
    assert shown.stdout == f"127.0.0.1|{ca}|NULL|NULL", shown.stderr


def test_osticket_config_without_the_trusted_proxies_line_is_refused(tmp_path: Path) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "ost-config.php").write_text("<?php\ndefine('DBHOST','x');\n")
    with pytest.raises(LocalInstanceError, match="TRUSTED_PROXIES"):
        manager.configure_behind_proxy(tmp_path, tmp_path / "ca.pem")


def _handshake(made: tls.ServerTls, client_ca: Path) -> str:
    """A TLS handshake to a server with ``made``'s certificate, the client checking it against ``client_ca``
    for the name 127.0.0.1 (check_hostname on, as ostops's db._tls asks)."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(made.cert, made.key)
    client = ssl.create_default_context(cafile=str(client_ca))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def serve() -> None:
            conn, _ = listener.accept()
            with contextlib.suppress(OSError), server.wrap_socket(conn, server_side=True) as wrapped:
                wrapped.recv(1)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with socket.create_connection(listener.getsockname(), timeout=5) as raw, \
                    client.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
                wrapped.sendall(b"x")
                return str(wrapped.version())
        finally:
            thread.join(5)


def test_database_certificate_passes_a_real_handshake_checked_against_the_ca(tmp_path: Path) -> None:
    made = tls.make_server_tls(tmp_path / "tls")
    assert stat.S_IMODE(made.key.stat().st_mode) == 0o600
    assert _handshake(made, made.ca) in ("TLSv1.2", "TLSv1.3")
    other = tls.make_server_tls(tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(made, other.ca)  # another instance's CA does not vouch for this server


def _two_nodes(base: Path) -> Instance:
    base.mkdir(mode=0o700)
    instance = Instance(
        kind="local", url="http://127.0.0.1:8123/", osticket_version="1.18.1",
        api_key=SecretStr("A" * 32), admin=Login(username="a", password=SecretStr("b")),
        db=DatabaseAccess(host="127.0.0.1", port=3307, name="osticket", user="osticket", password=SecretStr("c"),
                          ssl=True, ssl_ca=str(base / "tls" / "ca.pem")),
        local=LocalProcesses(dir=str(base), webroot=str(base / "www"), source="/src", http_port=8123,
                             fpm_port=9001, db_port=3307, smtp_port=2525, db_root_password=SecretStr("d"),
                             web_nodes=[WebNode(http_port=8201, fpm_port=9001),
                                        WebNode(http_port=8202, fpm_port=9002)]),
    )
    instance.save(manager.instance_file(base))
    return instance


def test_every_server_of_every_node_is_known_and_stopped_front_first(tmp_path: Path) -> None:
    instance = _two_nodes(tmp_path / "inst")
    assert manager._services(instance) == ["haproxy", "nginx@1", "php-fpm@1", "nginx@2", "php-fpm@2", "mariadb",
                                           "smtpd"]
    assert manager._identity(instance, "php-fpm@2") == ("php-fpm", str(tmp_path / "inst") + "/")
    assert sorted(manager._ports(instance)) == [2525, 3307, 8123, 8201, 8202, 9001, 9002]
    # An instance file from before the field still loads, as the single-node shape.
    single = Instance.model_validate_json(instance.to_json().replace('"web_nodes"', '"unused"'))
    assert single.local is not None and single.local.web_nodes == []
    assert manager._services(single) == ["nginx", "php-fpm", "mariadb", "smtpd"]


def test_up_on_an_existing_instance_names_a_different_web_node_count(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _two_nodes(tmp_path / "inst")
    monkeypatch.setattr(manager, "running_services", lambda _: dict.fromkeys(manager.SERVICES, True))
    assert manager.up(tmp_path / "inst", web_nodes=2).ignored == []
    assert manager.up(tmp_path / "inst", web_nodes=3).ignored == [
        "--web-nodes 3 ignored: the instance has 2 web nodes (--fresh rebuilds it with the new number)"]


def test_web_nodes_below_one_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--web-nodes 0"):
        manager.up(tmp_path / "inst", web_nodes=0)
    result = CliRunner().invoke(cli, ["local", "up", "--dir", str(tmp_path / "inst"), "--web-nodes", "0"])
    assert result.exit_code == 2 and "--web-nodes" in result.output
    assert not (tmp_path / "inst").exists()
