"""`ostops instance from-stack` on the mocked program's own outputs: an https:// instance that pins the
certificate the stack made, accepted from a server presenting it and refused from any other."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from automation.osticket.http import instance_session
from automation.stack import read_stack_outputs
from tests.infra.conftest import ProgramRun

pytestmark = pytest.mark.infra


def stack_output_json(run: ProgramRun) -> str:
    """What `pulumi stack output --json --show-secrets` prints for these outputs."""
    return json.dumps(run.outputs, indent=2)


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(cert_pem: str, key_pem: str, folder: Path) -> Iterator[str]:
    (folder / "cert.pem").write_text(cert_pem)
    (folder / "key.pem").write_text(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stack(program_runs: dict[str, ProgramRun]) -> ProgramRun:
    return program_runs["db_access"]


def test_the_instance_is_https_and_pins_the_stacks_certificate(stack: ProgramRun) -> None:
    read = read_stack_outputs(stack_output_json(stack), "stack.json")
    assert read.instance.base_url.startswith("https://")
    assert read.instance.base_url.rstrip("/").endswith(".westeurope.cloudapp.azure.com")
    assert read.certificate_pem is not None
    assert read.certificate_pem.strip() == stack.outputs["certificatePem"].strip()
    assert read.instance.https_certificate_sha256 is not None
    assert not read.instance.allow_plain_http


def only_key(run: ProgramRun) -> str:
    assert len(run.private_keys) == 1, "the stack makes one TLS key"
    return run.private_keys[0]


def test_a_server_with_the_stacks_certificate_is_accepted(stack: ProgramRun, tmp_path: Path) -> None:
    instance = read_stack_outputs(stack_output_json(stack), "stack.json").instance
    with serve(stack.outputs["certificatePem"], only_key(stack), tmp_path) as url:
        assert instance_session(instance).get(url, timeout=5).text == "ok"


def test_a_server_with_another_stacks_certificate_is_refused(stack: ProgramRun,
                                                             program_runs: dict[str, ProgramRun],
                                                             tmp_path: Path) -> None:
    """The other stack's certificate names the same FQDN and is just as self-signed: only the pin tells."""
    other = program_runs["default"]
    assert other.outputs["certificatePem"] != stack.outputs["certificatePem"]
    instance = read_stack_outputs(stack_output_json(stack), "stack.json").instance
    with serve(other.outputs["certificatePem"], only_key(other), tmp_path) as url, \
            pytest.raises(requests.exceptions.SSLError, match=r"[Ff]ingerprint"):
        instance_session(instance).get(url, timeout=5)


def test_the_lab_stack_gives_its_tier_and_route_to_the_instance_file(stack: ProgramRun) -> None:
    instance = read_stack_outputs(stack_output_json(stack), "stack.json").instance
    assert instance.tier == "lab"
    assert instance.management_route is not None and instance.management_route.kind == "public"
    assert "MariaDB from automationSourceCidr" in instance.management_route.how


def test_the_unit_fixture_is_what_the_production_program_outputs(bootstrap_paths: dict[str, Path]) -> None:
    """tests/unit/data/stack_outputs_production_bastion.json stands for this program's outputs: same keys, same
    route, and from-stack reads both alike."""
    from infra import bootstrap_command
    from tests.infra.conftest import run_program
    from tests.infra.test_production_tier import PRODUCTION

    fixture_path = Path(__file__).parents[1] / "unit" / "data" / "stack_outputs_production_bastion.json"
    fixture = json.loads(fixture_path.read_text(encoding="utf-8"))
    with pytest.MonkeyPatch.context() as patcher:
        patcher.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
        patcher.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
        run = run_program({**PRODUCTION, "bastion": "true"})
    assert set(run.outputs) - {"certificatePem"} == set(fixture)
    assert run.outputs["managementRoute"] == fixture["managementRoute"]
    from_program = read_stack_outputs(stack_output_json(run), "stack.json").instance
    from_fixture = read_stack_outputs(json.dumps(fixture), "fixture.json").instance
    assert from_program.management_route == from_fixture.management_route
    assert from_program.tier == from_fixture.tier == "production"
    assert from_fixture.backup_container_url == fixture["backupContainerUrl"]


def test_from_stack_copies_the_backup_container_url(stack: ProgramRun) -> None:
    instance = read_stack_outputs(stack_output_json(stack), "outputs.json").instance
    assert instance.backup_container_url == stack.outputs["backupContainerUrl"]
    assert instance.backup_container_url.startswith("https://ostopsbk")
    assert instance.backup_container_url.endswith(".blob.core.windows.net/osticket-backups")
