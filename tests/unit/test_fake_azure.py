"""The Windows CI job's IMDS + Key Vault stand-in (tests/windows/fake_azure.py), driven as the bootstrap drives
it: a token from the identity endpoint with ``Metadata: true``, then each secret with that token."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.windows.fake_azure import (
    IMDS_API_VERSION,
    KEY_VAULT_API_VERSION,
    FakeAzure,
    secret_values,
)

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = REPO / "infra" / "bootstrap"
# Values as people type them: quotes, &, <, accents, CJK.
VALUES = {"osticket-admin-password": "P\"a'ss & <wörd> 密码", "tls-pfx": "MIIK" + "A" * 4000}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeAzure]:
    fake = FakeAzure(0, VALUES, tmp_path / "requests.log")
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.shutdown()
    fake.server_close()


def bootstrap_routes() -> tuple[str, str]:
    """The identity route and the secret URL format exactly as the bootstrap's modules write them."""
    source = "".join(path.read_text(encoding="utf-8") for path in sorted((BOOTSTRAP / "modules").glob("*.ps1")))
    route = source.split("$ImdsIdentityRoute = '", 1)[1].split("'", 1)[0]
    secret = source.split("$url = '", 1)[1].split("'", 1)[0]
    version = source.split("$KeyVaultApiVersion = '", 1)[1].split("'", 1)[0]
    assert secret == "{0}secrets/{1}?api-version={2}" and version == KEY_VAULT_API_VERSION
    return route, secret


def token(server: FakeAzure, **headers: str) -> requests.Response:
    route, _ = bootstrap_routes()
    return requests.get(server.base_url + route, headers={"Metadata": "true", **headers}, timeout=10)


def test_the_bootstrap_s_calls_get_every_secret(server: FakeAzure) -> None:
    route, secret_url = bootstrap_routes()
    assert f"api-version={IMDS_API_VERSION}" in route
    answer = token(server)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["resource"] == "https://vault.azure.net"
    assert all(isinstance(body[k], str) for k in ("expires_in", "expires_on", "not_before"))
    for name, value in VALUES.items():
        url = secret_url.format(server.base_url + "/", name, KEY_VAULT_API_VERSION)
        got = requests.get(url, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10)
        assert got.status_code == 200 and got.json()["value"] == value
        assert got.json()["id"].startswith(f"{server.base_url}/secrets/{name}/")
    log = (Path(server.log_path or "")).read_text(encoding="utf-8")
    assert "GET /secrets/osticket-admin-password 200" in log and "GET /secrets/tls-pfx 200" in log
    assert body["access_token"] not in log and "wörd" not in log, "the log never holds a token or a value"


@pytest.mark.parametrize(("headers", "route", "status"), [
    ({}, None, 400),                                            # no Metadata header
    ({"Metadata": "true", "X-Forwarded-For": "10.0.0.1"}, None, 400),
    ({"Metadata": "true"}, "/metadata/identity/oauth2/token?api-version=2017-09-01&resource=https%3A%2F%2Fvault.azure.net", 400),
    ({"Metadata": "true"}, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com", 400),
])
def test_the_identity_endpoint_refuses_what_imds_refuses(server: FakeAzure, headers: dict[str, str],
                                                         route: str | None, status: int) -> None:
    path = route or bootstrap_routes()[0]
    assert requests.get(server.base_url + path, headers=headers, timeout=10).status_code == status


def test_key_vault_wants_the_token_the_api_version_and_a_known_name(server: FakeAzure) -> None:
    good = token(server).json()["access_token"]
    base = f"{server.base_url}/secrets/tls-pfx"
    missing = requests.get(f"{base}?api-version=7.4", timeout=10)
    assert missing.status_code == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    assert requests.get(f"{base}?api-version=7.4", headers={"Authorization": "Bearer x"}, timeout=10).status_code == 401
    assert requests.get(f"{base}?api-version=2016-10-01", headers={"Authorization": f"Bearer {good}"},
                        timeout=10).status_code == 400
    unknown = requests.get(f"{server.base_url}/secrets/nope?api-version=7.4",
                           headers={"Authorization": f"Bearer {good}"}, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "SecretNotFound"


def test_it_listens_on_loopback_only(server: FakeAzure) -> None:
    assert server.server_address[0] == "127.0.0.1"


def test_secret_values_come_from_named_environment_variables() -> None:
    assert secret_values(["tls-pfx=PFX"], {"PFX": "abc"}) == {"tls-pfx": "abc"}
    for bad in (["tls-pfx"], ["bad_name=PFX"], ["tls-pfx="]):
        with pytest.raises(SystemExit, match="NAME=ENV_VAR"):
            secret_values(bad, {"PFX": "abc"})
    with pytest.raises(SystemExit, match="PFX is empty or unset"):
        secret_values(["tls-pfx=PFX"], {})


def test_the_script_runs_as_the_workflow_starts_it(tmp_path: Path) -> None:
    """As the job starts it: a process with the values in its environment, the URL in --ready-file."""
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "windows" / "fake_azure.py"), "--port", "0", "--ready-file", str(ready),
         "--secret", "osticket-api-key=CI_KEY"],
        env={"CI_KEY": "0123456789ABCDEF0123456789ABCDEF", "PATH": ""}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = json.loads(ready.read_text(encoding="utf-8"))["url"]
        route, _ = bootstrap_routes()
        access = requests.get(url + route, headers={"Metadata": "true"}, timeout=10).json()["access_token"]
        got = requests.get(f"{url}/secrets/osticket-api-key?api-version=7.4",
                           headers={"Authorization": f"Bearer {access}"}, timeout=10)
        assert got.json()["value"] == "0123456789ABCDEF0123456789ABCDEF"
    finally:
        process.terminate()
        process.communicate(timeout=10)
