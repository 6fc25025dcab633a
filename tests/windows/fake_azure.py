"""A stand-in for the two Azure endpoints the Windows bootstrap calls, on loopback only, for the Windows CI job.

The bootstrap (infra/bootstrap/bootstrap.ps1, Get-KeyVaultSecret) reads each secret exactly as on Azure:

1. ``GET {identityEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net``
   with the header ``Metadata: true`` -- the VM's managed identity token from IMDS (Microsoft, "How to use
   managed identities for Azure resources on an Azure VM to acquire an access token": the Metadata header is
   required, a request with X-Forwarded-For is refused, the answer is JSON with access_token, expires_in,
   expires_on, not_before, resource and token_type, numbers as strings);
2. ``GET {vaultUri}/secrets/{name}?api-version=7.4`` with ``Authorization: Bearer <token>`` -- Key Vault's
   Get Secret (REST API 7.4: 200 with a SecretBundle ``{"value", "id", "attributes"}``, 401 without a valid
   token, 404 ``SecretNotFound``).

This server answers both on 127.0.0.1 (it cannot listen elsewhere), with secret values taken from environment
variables named on the command line (``--secret NAME=ENV_VAR``), so no value is ever on a command line or in a
file. It records every request (method, path without the query, status; never a value or a token) in
``--log`` so the job can show the bootstrap read every secret through it.

    python tests/windows/fake_azure.py --port 0 --ready-file ready.json --log requests.log \
        --secret osticket-admin-password=OSTOPS_ADMIN_PASSWORD ...
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

LOOPBACK = "127.0.0.1"
TOKEN_PATH = "/metadata/identity/oauth2/token"
IMDS_API_VERSION = "2018-02-01"
VAULT_RESOURCE = "https://vault.azure.net"
KEY_VAULT_API_VERSION = "7.4"
# Key Vault secret names: 1-127 letters, digits and dashes.
SECRET_PATH = re.compile(r"^/secrets/([0-9A-Za-z-]{1,127})/?$")
TOKEN_SECONDS = 3600


class FakeAzure(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, values: dict[str, str], log: Path | None = None) -> None:
        super().__init__((LOOPBACK, port), Handler)
        self.values = dict(values)
        self.token = secrets.token_urlsafe(32)
        self.log_path = log
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))
            if self.log_path is not None:
                with self.log_path.open("a", encoding="utf-8") as log:
                    log.write(f"{method} {path} {status}\n")


class Handler(BaseHTTPRequestHandler):
    server: FakeAzure
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log above holds what is needed, and never a query string

    def _send(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        # Recorded before the answer leaves: a client that reads the log right after its answer finds the line.
        self.server.record(self.command, urlsplit(self.path).path, status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == TOKEN_PATH:
            self._token(query)
        elif match := SECRET_PATH.match(url.path):
            self._secret(match.group(1), query)
        else:
            self._send(404, {"error": {"code": "NotFound", "message": f"no route {url.path}"}})

    def do_POST(self) -> None:
        self._send(405, {"error": {"code": "MethodNotAllowed", "message": "GET only"}})

    def _token(self, query: dict[str, list[str]]) -> None:
        if self.headers.get("X-Forwarded-For") is not None:
            self._send(400, {"error": "invalid_request", "error_description": "X-Forwarded-For is not allowed"})
        elif self.headers.get("Metadata", "").lower() != "true":
            self._send(400, {"error": "invalid_request", "error_description": "Required metadata header not specified"})
        elif query.get("api-version") != [IMDS_API_VERSION]:
            self._send(400, {"error": "invalid_request", "error_description": "api-version is invalid"})
        elif [r.rstrip("/") for r in query.get("resource", [])] != [VAULT_RESOURCE]:
            self._send(400, {"error": "invalid_resource", "error_description": "this stand-in serves Key Vault only"})
        else:
            now = int(time.time())
            self._send(200, {
                "access_token": self.server.token, "refresh_token": "", "expires_in": str(TOKEN_SECONDS),
                "expires_on": str(now + TOKEN_SECONDS), "not_before": str(now), "resource": VAULT_RESOURCE,
                "token_type": "Bearer",
            })

    def _secret(self, name: str, query: dict[str, list[str]]) -> None:
        challenge = {"WWW-Authenticate": f'Bearer authorization="{self.server.base_url}", resource="{VAULT_RESOURCE}"'}
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self._send(401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or "
                                                                          "PoP token."}}, challenge)
        elif query.get("api-version") != [KEY_VAULT_API_VERSION]:
            self._send(400, {"error": {"code": "BadParameter", "message": "api-version is not supported here"}})
        elif name not in self.server.values:
            self._send(404, {"error": {"code": "SecretNotFound", "message": f"A secret with (name/id) {name} was not "
                                                                            "found in this key vault."}})
        else:
            now = int(time.time())
            self._send(200, {
                "value": self.server.values[name],
                "id": f"{self.server.base_url}/secrets/{name}/{uuid.uuid4().hex}",
                "attributes": {"enabled": True, "created": now, "updated": now,
                               "recoveryLevel": "Recoverable+Purgeable"},
                "tags": {},
            })


def secret_values(pairs: list[str], environ: os._Environ[str] | dict[str, str]) -> dict[str, str]:
    """``NAME=ENV_VAR`` pairs -> {secret name: value of ENV_VAR}; an error names the pair at fault."""
    values = {}
    for pair in pairs:
        name, sep, variable = pair.partition("=")
        if not sep or not SECRET_PATH.match(f"/secrets/{name}") or not variable:
            raise SystemExit(f"fake_azure: --secret {pair!r} is not NAME=ENV_VAR (NAME: letters, digits, dashes)")
        value = environ.get(variable, "")
        if not value:
            raise SystemExit(f"fake_azure: --secret {name}: environment variable {variable} is empty or unset")
        values[name] = value
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="IMDS + Key Vault stand-in on 127.0.0.1 for the Windows CI job.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--secret", action="append", default=[], metavar="NAME=ENV_VAR",
                        help="serve secret NAME with the value of environment variable ENV_VAR (repeatable)")
    parser.add_argument("--ready-file", type=Path, help="write {\"url\": ...} here once listening")
    parser.add_argument("--log", type=Path, help="append one line per request (method, path, status)")
    args = parser.parse_args(argv)
    server = FakeAzure(args.port, secret_values(args.secret, os.environ), args.log)
    if args.ready_file is not None:
        args.ready_file.write_text(json.dumps({"url": server.base_url}), encoding="utf-8")
    print(f"fake_azure: serving {len(server.values)} secret(s) on {server.base_url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
