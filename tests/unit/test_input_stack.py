"""`ostops instance from-stack`: outputs and --db-ca are checked before the instance file is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import certifi
import pytest

from automation.errors import ConfigError
from automation.stack import instance_from_outputs

OSTOPS = str(Path(sys.executable).parent / "ostops")
SECRETS = ("S3cret-Api-Key-0123456789abcdef", "adm-S3cret-1", "db-S3cret-1")
OUTPUTS: dict[str, Any] = {
    "helpdeskUrl": "https://ostops-lab.westeurope.cloudapp.azure.com/", "osticketVersion": "1.18.3",
    "apiKey": SECRETS[0], "osticketAdminUsername": "ostadmin", "osticketAdminPassword": SECRETS[1],
    "dbHost": "ostops-lab.westeurope.cloudapp.azure.com", "dbPort": 3306, "dbName": "osticket",
    "dbUser": "osticket", "dbAppPassword": SECRETS[2], "tablePrefix": "ost_",
}


def refused(change: dict[str, Any], db_ca: str | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        instance_from_outputs(json.dumps({**OUTPUTS, **change}), "outputs.json", db_ca)
    message = str(info.value)
    assert info.value.exit_code == 2
    for secret in SECRETS:
        assert secret not in message
    return message


@pytest.mark.parametrize("url", ["not a url", "ftp://host/", "http://", "https:///path", "//host/", "host.example",
                                 "http://host:99999/", "http://[::1/"])
def test_helpdesk_url_must_be_http_or_https_with_a_host(url: str) -> None:
    message = refused({"helpdeskUrl": url})
    assert message.startswith("outputs.json: stack output helpdeskUrl: ")
    assert url not in message or url == "http://"


@pytest.mark.parametrize("url", ["http://127.0.0.1:18181/", "https://ostops.example.com", "http://[::1]:8080/"])
def test_good_urls_are_accepted(url: str) -> None:
    assert instance_from_outputs(json.dumps({**OUTPUTS, "helpdeskUrl": url}), "o.json").url == url


@pytest.mark.parametrize(("port", "shown"), [(99999, "99999"), (0, "0"), (-1, "-1"), (None, "null"),
                                             (True, "true/false"), (3306.5, "a number"), ([3306], "a list"),
                                             ("db-S3cret-1", "text")])
def test_db_port_must_be_1_to_65535(port: Any, shown: str) -> None:
    message = refused({"dbPort": port})
    assert message.startswith(f"outputs.json: stack output dbPort: must be a port number from 1 to 65535, not {shown};")


@pytest.mark.parametrize("port", [1, 65535, "3306"])
def test_good_ports_are_accepted(port: Any) -> None:
    assert instance_from_outputs(json.dumps({**OUTPUTS, "dbPort": port}), "o.json").db.port == int(port)


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("apiKey", {"a": 1}, "an object"), ("osticketAdminPassword", ["x"], "a list"), ("dbAppPassword", 12, "a number"),
    ("dbUser", True, "true/false"), ("osticketVersion", None, "null"), ("dbName", 1.5, "a number"),
    ("helpdeskUrl", {"url": "http://x/"}, "an object"), ("tablePrefix", ["ost_"], "a list"),
])
def test_text_outputs_must_be_text(key: str, value: Any, kind: str) -> None:
    message = refused({key: value})
    assert f"stack output {key}: must be text, not {kind}" in message


def test_every_problem_is_reported_at_once_and_no_secret_is_shown() -> None:
    message = refused({"helpdeskUrl": SECRETS[0], "dbPort": SECRETS[2], "apiKey": {"k": SECRETS[0]},
                       "dbName": ""})
    assert "stack output apiKey: must be text, not an object" in message
    assert "stack output dbName: is empty" in message
    assert "stack output helpdeskUrl: must be an http:// or https:// URL" in message
    assert "stack output dbPort: must be a port number from 1 to 65535, not text" in message


def test_duplicate_output_is_refused() -> None:
    text = json.dumps(OUTPUTS)[:-1] + ', "apiKey": "other"}'
    with pytest.raises(ConfigError, match=r"outputs\.json: stack output apiKey appears twice"):
        instance_from_outputs(text, "outputs.json")


def test_bad_table_prefix_names_the_stack_output() -> None:
    assert refused({"tablePrefix": "ost"}).startswith("outputs.json: stack output tablePrefix: ")


def test_non_utf8_bytes_name_the_file_and_line() -> None:
    raw = json.dumps(OUTPUTS, indent=1).replace("ostadmin", "ost\\u00e9").encode().replace(b"ost\\u00e9", b"ost\xe9")
    line = raw[:raw.index(b"\xe9")].count(b"\n") + 1
    with pytest.raises(ConfigError, match=rf"^outputs\.json:{line}: not UTF-8 text \(byte 0xe9\); give the output"):
        instance_from_outputs(raw, "outputs.json")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_utf8_and_powershell_utf16_bytes_are_accepted(encoding: str) -> None:
    raw = json.dumps(OUTPUTS).encode(encoding)
    assert instance_from_outputs(raw, "o.json").admin.username == "ostadmin"


@pytest.mark.parametrize("content", [b"not a certificate\n", b"", b"\x00\xff\xfe binary",
                                     b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_db_ca_must_be_a_pem_certificate(tmp_path: Path, content: bytes) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(content)
    message = refused({}, str(ca))
    assert message.startswith(f"{ca}: --db-ca is not a PEM certificate")


def test_db_ca_that_cannot_be_read(tmp_path: Path) -> None:
    message = refused({}, str(tmp_path / "gone.pem"))
    assert message.startswith(f"{tmp_path / 'gone.pem'}: cannot read the --db-ca certificate")


def test_a_real_pem_bundle_is_accepted() -> None:
    instance = instance_from_outputs(json.dumps(OUTPUTS), "o.json", certifi.where())
    assert instance.db.ssl_ca == certifi.where()


def run(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    return subprocess.run([OSTOPS, "instance", "from-stack", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False, env=env)


@pytest.mark.parametrize("change", [{"helpdeskUrl": "not a url"}, {"dbPort": 99999}, {"apiKey": {"a": 1}}])
def test_cli_refuses_bad_outputs_and_writes_nothing(tmp_path: Path, change: dict[str, Any]) -> None:
    source = tmp_path / "outputs.json"
    source.write_text(json.dumps({**OUTPUTS, **change}), encoding="utf-8")
    target = tmp_path / "instance.json"
    result = run(tmp_path, str(source), "--instance", str(target))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"{source}: stack output {next(iter(change))}" in " ".join(output.split())
    assert "Traceback" not in output
    assert not target.exists()


def test_cli_refuses_a_db_ca_that_is_not_a_certificate(tmp_path: Path) -> None:
    ca = tmp_path / "garbage.json"
    ca.write_text('{"not": "a certificate"}', encoding="utf-8")
    target = tmp_path / "instance.json"
    result = run(tmp_path, "--db-ca", str(ca), "--instance", str(target), stdin=json.dumps(OUTPUTS))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"{ca}: --db-ca is not a PEM certificate" in " ".join(output.split())
    assert "Traceback" not in output
    assert not target.exists()


def test_cli_refuses_outputs_that_are_not_utf8_and_reads_stdin(tmp_path: Path) -> None:
    source = tmp_path / "outputs.json"
    source.write_bytes(json.dumps({**OUTPUTS, "helpdeskName": "caf\u00e9"}, ensure_ascii=False).encode("latin-1"))
    target = tmp_path / "instance.json"
    refused = run(tmp_path, str(source), "--instance", str(target))
    assert refused.returncode == 2
    assert f"{source}:1: not UTF-8 text (byte 0xe9)" in refused.stderr
    assert "Traceback" not in refused.stderr and not target.exists()
    accepted = run(tmp_path, "--instance", str(target), stdin=json.dumps(OUTPUTS))
    assert accepted.returncode == 0, accepted.stderr
    assert target.exists()
