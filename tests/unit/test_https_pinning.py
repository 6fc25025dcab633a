"""HTTPS to the Azure VM: the stack's certificate is pinned (a different one refused), and no secret goes over
plain HTTP to another machine unless the user said --allow-plain-http."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from automation.errors import ConfigError
from automation.instance import DatabaseAccess, Instance, Login
from automation.osticket.http import check_transport, instance_session, new_session
from automation.stack import read_stack_outputs

FQDN = "ostops-lab.westeurope.cloudapp.azure.com"
OSTOPS = str(Path(sys.executable).parent / "ostops")


def self_signed(tmp: Path, name: str) -> tuple[Path, Path, str]:
    """A throwaway certificate for FQDN (as the stack makes one): cert file, key file, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, FQDN)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(FQDN)]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_file.write_text(pem)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file, pem


def sha256_of(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"osTicket"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An HTTPS server on 127.0.0.1 presenting a throwaway certificate: (base URL, its PEM)."""
    cert_file, key_file, pem = self_signed(tmp_path, "served")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", pem
    finally:
        server.shutdown()
        server.server_close()


def azure_instance(url: str, sha256: str | None = None, allow_plain_http: bool = False) -> Instance:
    return Instance(kind="azure", url=url, osticket_version="1.18.3", api_key=SecretStr("k" * 32),
                    api_key_ip=None, admin=Login(username="ostadmin", password=SecretStr("pw-123456")),
                    db=DatabaseAccess(host=FQDN, name="osticket", user="osticket", password=SecretStr("db-pw"),
                                      ssl=True),
                    https_certificate_sha256=sha256, allow_plain_http=allow_plain_http)


def test_the_pinned_certificate_is_accepted(https_server: tuple[str, str]) -> None:
    url, pem = https_server
    session = instance_session(azure_instance(url, sha256_of(pem)))
    assert session.get(url, timeout=5).text == "osTicket"


def test_a_different_certificate_is_refused(https_server: tuple[str, str], tmp_path: Path) -> None:
    url, _ = https_server
    _, _, other = self_signed(tmp_path, "other")
    with pytest.raises(requests.exceptions.SSLError, match=r"[Ff]ingerprint"):
        new_session(pin_sha256=sha256_of(other)).get(url, timeout=5)


def test_without_a_pin_a_self_signed_certificate_is_refused(https_server: tuple[str, str]) -> None:
    url, _ = https_server
    with pytest.raises(requests.exceptions.SSLError):
        new_session().get(url, timeout=5)


@pytest.mark.parametrize("url", [f"http://{FQDN}/", "http://203.0.113.7:8080/", "http://10.0.0.4/"])
def test_plain_http_to_another_machine_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        instance_session(azure_instance(url))
    assert info.value.exit_code == 2
    assert url in str(info.value) and "--allow-plain-http" in str(info.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/", "http://localhost/", "http://[::1]:80/",
                                 f"https://{FQDN}/"])
def test_loopback_and_https_need_no_permission(url: str) -> None:
    check_transport(url, allow_plain_http=False)


def test_allow_plain_http_is_explicit() -> None:
    session = instance_session(azure_instance(f"http://{FQDN}/", allow_plain_http=True))
    assert isinstance(session, requests.Session)


OUTPUTS = {"osticketVersion": "1.18.3", "apiKey": "S3cret-Api-Key-0123456789abcdef",
           "osticketAdminUsername": "ostadmin", "osticketAdminPassword": "adm-S3cret-1", "dbHost": FQDN,
           "dbPort": 3306, "dbName": "osticket", "dbUser": "osticket", "dbAppPassword": "db-S3cret-1",
           "tablePrefix": "ost_"}


def test_stack_outputs_pin_the_stack_certificate(tmp_path: Path) -> None:
    _, _, pem = self_signed(tmp_path, "stack")
    read = read_stack_outputs(json.dumps({**OUTPUTS, "helpdeskUrl": f"https://{FQDN}/", "certificatePem": pem}),
                              "outputs.json")
    assert read.instance.https_certificate_sha256 == sha256_of(pem)
    assert read.certificate_pem == pem


def test_stack_outputs_with_plain_http_are_refused_unless_allowed() -> None:
    text = json.dumps({**OUTPUTS, "helpdeskUrl": f"http://{FQDN}/"})
    with pytest.raises(ConfigError, match=f"http://{FQDN}/: stack output helpdeskUrl is plain http://"):
        read_stack_outputs(text, "outputs.json")
    assert read_stack_outputs(text, "outputs.json", allow_plain_http=True).instance.allow_plain_http


def test_a_certificate_output_that_is_not_pem_names_the_output() -> None:
    with pytest.raises(ConfigError, match="stack output certificatePem: not a PEM certificate"):
        read_stack_outputs(json.dumps({**OUTPUTS, "helpdeskUrl": f"https://{FQDN}/",
                                       "certificatePem": "-----BEGIN CERTIFICATE-----\nAAAA\n"}), "outputs.json")


def test_cli_writes_the_certificate_beside_the_instance(tmp_path: Path) -> None:
    _, _, pem = self_signed(tmp_path, "stack")
    outputs = json.dumps({**OUTPUTS, "helpdeskUrl": f"https://{FQDN}/", "certificatePem": pem})
    target = tmp_path / "azure" / "instance.json"
    result = subprocess.run([OSTOPS, "instance", "from-stack", "-", "--instance", str(target)], input=outputs,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert (target.parent / "https-certificate.pem").read_text() == pem
    assert json.loads(target.read_text())["https_certificate_sha256"] == sha256_of(pem)
    for secret in ("S3cret-Api-Key-0123456789abcdef", "adm-S3cret-1", "db-S3cret-1"):
        assert secret not in result.stdout + result.stderr


def test_cli_refuses_plain_http_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "azure" / "instance.json"
    outputs = json.dumps({**OUTPUTS, "helpdeskUrl": f"http://{FQDN}/"})
    result = subprocess.run([OSTOPS, "instance", "from-stack", "-", "--instance", str(target)], input=outputs,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"http://{FQDN}/" in result.stderr and "--allow-plain-http" in result.stderr
    assert not target.parent.exists()
    allowed = subprocess.run([OSTOPS, "instance", "from-stack", "-", "--instance", str(target),
                              "--allow-plain-http"], input=outputs, capture_output=True, text=True, timeout=60,
                             check=False)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(target.read_text())["allow_plain_http"] is True
    assert "in clear" in allowed.stderr + allowed.stdout
