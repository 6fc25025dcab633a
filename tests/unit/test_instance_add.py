"""`ostops instance add` and `ostops instance status` without an osTicket: bad input is refused before anything is
written (exit 2), secrets come only from the environment or a prompt, and the Azure transport rules hold."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from automation import external, health
from automation.cli import cli, exit_code_for, exit_code_for_outcome
from automation.errors import OsTicketError
from automation.instance import Instance
from tests.unit.test_https_pinning import (  # https_server: the fixture, used by name
    azure_instance,
    https_server,  # noqa: F401
    self_signed,
    sha256_of,
)

SECRETS = {"OSTOPS_DB_PASSWORD": "db-S3cret&<x>", "OSTOPS_API_KEY": "C0FFEE" + "A" * 26,
           "OSTOPS_ADMIN_PASSWORD": "ädmin-Pässword"}


def invoke(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """The command as `ostops` runs it: an ostops error becomes its exit code and message (automation.cli.main)."""
    result = CliRunner().invoke(cli, args, env=env)
    if isinstance(result.exception, OsTicketError):
        return exit_code_for(result.exception), result.output + str(result.exception)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add(tmp_path: Path, *extra: str, env: dict[str, str] | None = None, url: str = "http://127.0.0.1:9/",
        db_host: str = "127.0.0.1") -> tuple[int, str, Path]:
    target = tmp_path / "desk" / "instance.json"
    code, output = invoke(["instance", "add", "desk", "--url", url, "--db-host", db_host,
                           "--db-port", str(closed_port()), "--instance", str(target), *extra],
                          env=SECRETS if env is None else env)
    return code, output, target


def test_add_writes_a_0600_external_instance_without_printing_a_secret(tmp_path: Path) -> None:
    code, output, target = add(tmp_path, "--table-prefix", "hd_", "--osticket-version", "1.18.1")
    assert code == 0, output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    instance = Instance.load(target)
    assert (instance.kind, instance.osticket_version, instance.db.table_prefix) == ("external", "1.18.1", "hd_")
    assert instance.db.password.get_secret_value() == SECRETS["OSTOPS_DB_PASSWORD"]
    assert instance.admin.password.get_secret_value() == SECRETS["OSTOPS_ADMIN_PASSWORD"]
    assert instance.api_key.get_secret_value() == SECRETS["OSTOPS_API_KEY"]
    assert instance.api_key_ip is None and not instance.db.ssl
    for secret in SECRETS.values():
        assert secret not in output
    # Nothing answers: written anyway, with the reason.
    assert "cannot connect to osTicket's database" in output and "ostops instance status" in output


def test_an_existing_file_is_replaced_only_with_yes(tmp_path: Path) -> None:
    assert add(tmp_path)[0] == 0
    code, output, target = add(tmp_path, "--osticket-version", "9.9")
    assert code == 2 and "--yes" in output
    assert Instance.load(target).osticket_version == "unknown"
    assert add(tmp_path, "--osticket-version", "9.9", "--yes")[0] == 0
    assert Instance.load(target).osticket_version == "9.9"


@pytest.mark.parametrize(("extra", "url", "db_host", "message"), [
    (["--ssh-tunnel", "ops@db.example.org"], "http://127.0.0.1/", "127.0.0.1",
     "ssh -f -N -o ExitOnForwardFailure=yes -o ConnectTimeout=10 -L 13306:127.0.0.1:3306 ops@db.example.org"),
    ([], "http://helpdesk.example.org/", "127.0.0.1", "--allow-plain-http"),
    ([], "ftp://helpdesk.example.org/", "127.0.0.1", "--url ftp://helpdesk.example.org/: must be an http://"),
    ([], "https://helpdesk.example.org/", "db.example.org", "--db-ca PEM"),
    (["--db-tls-insecure", "--db-ca", "CA"], "https://helpdesk.example.org/", "db.example.org", "give one"),
    (["--table-prefix", "ost"], "http://127.0.0.1/", "127.0.0.1", "ending with '_'"),
    (["--https-certificate", "CA"], "http://127.0.0.1/", "127.0.0.1", "--url is not https://"),
])
def test_bad_options_exit_2_and_write_nothing(tmp_path: Path, extra: list[str], url: str, db_host: str,
                                              message: str) -> None:
    _, _, pem = self_signed(tmp_path, "ca")
    (tmp_path / "CA").write_text(pem)
    extra = [str(tmp_path / "CA") if arg == "CA" else arg for arg in extra]
    code, output, target = add(tmp_path, *extra, url=url, db_host=db_host)
    assert code == 2, output
    assert message in " ".join(output.split())
    assert not target.exists()


def test_a_bad_name_is_refused(tmp_path: Path) -> None:
    code, output = invoke(["instance", "add", "../etc", "--url", "http://127.0.0.1/", "--db-host", "127.0.0.1"],
                          env=SECRETS)
    assert code == 2 and "instance name '../etc'" in output


def test_missing_secrets_are_named_and_never_taken_from_argv(tmp_path: Path) -> None:
    code, output, target = add(tmp_path, env={"OSTOPS_DB_PASSWORD": "x"})
    assert code == 2
    assert "OSTOPS_API_KEY" in output and "OSTOPS_ADMIN_PASSWORD" in output and "OSTOPS_DB_PASSWORD" not in output
    assert not target.exists()
    assert "--db-password" not in CliRunner().invoke(cli, ["instance", "add", "--help"]).output


def test_a_secret_missing_from_the_environment_is_asked_for() -> None:
    asked: list[str] = []

    def ask(variable: str, description: str) -> str:
        asked.append(variable)
        return "typed-" + variable

    found = external.read_secrets({"OSTOPS_API_KEY": "from-env"}, ask)
    assert asked == ["OSTOPS_DB_PASSWORD", "OSTOPS_ADMIN_PASSWORD"]
    assert found == {"db_password": "typed-OSTOPS_DB_PASSWORD", "api_key": "from-env",
                     "admin_password": "typed-OSTOPS_ADMIN_PASSWORD"}


def test_remote_database_over_tls_authenticated_or_not(tmp_path: Path) -> None:
    ca, _, _ = self_signed(tmp_path, "db-ca")
    code, output, target = add(tmp_path, "--db-ca", str(ca), url="https://helpdesk.example.org/",
                               db_host="db.invalid")
    assert code == 0, output
    db = Instance.load(target).db
    assert db.ssl and db.ssl_ca == str(ca.resolve())
    code, output, target = add(tmp_path, "--db-tls-insecure", "--yes", url="https://helpdesk.example.org/",
                               db_host="db.invalid")
    assert code == 0, output
    db = Instance.load(target).db
    assert db.ssl and db.ssl_ca is None
    assert "not authenticated" in output


def test_https_certificate_is_pinned_and_kept_beside(tmp_path: Path,
                                                     https_server: tuple[str, str]) -> None:  # noqa: F811
    url, pem = https_server
    (tmp_path / "served.crt").write_text(pem)
    code, output, target = add(tmp_path, "--https-certificate", str(tmp_path / "served.crt"), url=url)
    assert code == 0, output
    assert Instance.load(target).https_certificate_sha256 == sha256_of(pem)
    assert (target.parent / "https-certificate.pem").read_text() == pem.strip() + "\n"
    # `instance status` reaches it through the pin, and names the database that does not answer.
    status = CliRunner().invoke(cli, ["instance", "status", "--json", "--instance", str(target)],
                                standalone_mode=False)
    assert exit_code_for_outcome(status.return_value) == 4  # the database down: the environment
    doc = json.loads(status.output)
    assert doc["kind"] == "external" and doc["checks"]["http"] == {"ok": True, "detail": f"GET {url} -> 200"}
    assert doc["checks"]["database"]["ok"] is False


def test_the_http_check_honours_the_pinned_certificate(https_server: tuple[str, str],  # noqa: F811
                                                       tmp_path: Path) -> None:
    """Before: `local status`'s check called requests.get without the instance's pin, so an Azure instance's
    self-signed certificate always failed the check; now it goes through the instance's own session."""
    url, pem = https_server
    assert health.http_check(azure_instance(url, sha256_of(pem))) == (True, f"GET {url} -> 200")
    _, _, other = self_signed(tmp_path, "other")
    ok, detail = health.http_check(azure_instance(url, sha256_of(other)))
    assert not ok and "TLS refused the server's certificate (the pinned certificate)" in detail


def test_the_http_check_refuses_plain_http_to_another_machine() -> None:
    ok, detail = health.http_check(azure_instance("http://203.0.113.7/"))
    assert not ok and "--allow-plain-http" in detail


def test_the_schema_signature_names_the_release() -> None:
    assert health.release_of_schema("5fb92bef17f3b603659e024c01cc7a59").endswith("(osTicket 1.18.1)")
    assert health.release_of_schema("83a22ba22b1a6a624fcb1da03882ac1b").endswith("(osTicket 1.17.5)")
    assert "does not know" in health.release_of_schema("0" * 32)
