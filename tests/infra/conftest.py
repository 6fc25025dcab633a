"""Run the Pulumi program under ``pulumi.runtime.set_mocks``: no CLI, no cloud, no network.

``run_program`` runs ``infra/__main__.py``'s ``main()`` once for a given stack config and returns what the
mocks recorded: every resource's type, name, URN and raw inputs (secret values still wrapped in Pulumi's
secret marker), the outputs each component registered, and the stack outputs with their secretness.
Mocks are process-global, so each run installs fresh mocks and a fresh root stack, and the session
fixture puts the runtime back afterwards.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config

from infra import bootstrap_command
from infra.bootstrap_command import PLACEHOLDER
from infra.tls import PFX_RESOURCE_MODULE, PFX_RESOURCE_NAME, PfxProvider

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "ostops"
STACK = "test"
MOCK_PUBLIC_IP = "198.51.100.24"
MOCK_TENANT = "00000000-0000-0000-0000-0000000000aa"
MOCK_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000bb"
MOCK_PRINCIPAL = "00000000-0000-0000-0000-0000000000cc"
PFX_RESOURCE_TYPE = f"pulumi-python:dynamic/{PFX_RESOURCE_MODULE}:{PFX_RESOURCE_NAME}"

ADMIN_SOURCE = "203.0.113.0/28"
AUTOMATION_SOURCE = "192.0.2.50/32"
BASE_CONFIG: dict[str, str] = {
    "location": "westeurope",
    "dnsLabel": "ostops-unit",
    "adminSourceCidr": ADMIN_SOURCE,
    "automationSourceCidr": AUTOMATION_SOURCE,
}
HELPDESK_WITH_QUOTES = "St. Mary's IT \u2014 Help Desk"
# Values given as config secrets in the "given secrets" runs; none may appear outside a secret.
GIVEN_SECRETS: dict[str, str] = {
    "adminPassword": "Vm-Admin-Given-Pw-1234",
    "osticketAdminPassword": "Ost-Admin-Given-Pw-5678",
    "dbRootPassword": "Db-Root-Given-Pw-9012",
    "dbAppPassword": "Db-App-Given-Pw-3456",
    "apiKey": "0123456789ABCDEF0123456789ABCDEF",
}


def mock_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def mock_self_signed_pem(key_pem: str, dns_names: list[str]) -> str:
    """What pulumi-tls would issue: a real certificate for the names, so the program's PFX code runs."""
    key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def mock_random_result(resource_name: str) -> str:
    """What the mocks answer for a RandomPassword: recognisable, so the scan can look for it."""
    if resource_name.endswith("api-key"):
        return "FEDCBA9876543210FEDCBA9876543210"
    return f"Rnd-{resource_name}-Zz9"


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def unwrap_secrets(value: Any) -> Any:
    """The value as a policy sees it: secret markers removed, values kept."""
    if is_secret(value):
        return unwrap_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unwrap_secrets(v) for v in value]
    return value


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in an input that is not inside a secret."""
    if is_secret(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from plain_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from plain_strings(item)


@dataclass(frozen=True)
class RegisteredOptions:
    """The resource options as the engine receives them in RegisterResourceRequest (what it acts on)."""

    protect: bool
    delete_before_replace: bool
    replace_on_changes: tuple[str, ...]
    ignore_changes: tuple[str, ...]
    deleted_with: str  # the URN of the resource this one is deleted with, or ""
    dependencies: tuple[str, ...]  # URNs
    # The URNs the resource's aliases name, as the monitor would resolve them (the mock monitor's URN scheme).
    alias_urns: tuple[str, ...] = ()


@dataclass
class RecordedResource:
    type: str
    name: str
    inputs: dict[str, Any]
    urn: str = ""
    options: RegisteredOptions | None = None

    @property
    def props(self) -> dict[str, Any]:
        unwrapped: dict[str, Any] = unwrap_secrets(self.inputs)
        return unwrapped

    @property
    def parent_type(self) -> str:
        """The parent's type, as the mock monitor writes it into the URN ("" without a parent)."""
        chain = self.urn.split("::")[2].split("$")
        return chain[-2] if len(chain) > 1 else ""


@dataclass
class ProgramRun:
    config: dict[str, str]
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    component_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    random_results: list[str] = field(default_factory=list)
    private_keys: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # the token of every function (invoke) the program called

    def of_type(self, resource_type: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == resource_type]

    def one(self, resource_type: str, name_contains: str = "") -> RecordedResource:
        found = [r for r in self.of_type(resource_type) if name_contains in r.name]
        assert len(found) == 1, (
            f"expected one {resource_type} named *{name_contains}*, got {[r.name for r in found]}"
        )
        return found[0]


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like Azure would for the few outputs the program reads, and records every input."""

    def __init__(self) -> None:
        self.resources: list[RecordedResource] = []
        self.random_results: list[str] = []
        self.private_keys: list[str] = []
        self.calls: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(RecordedResource(args.typ, args.name, copy.deepcopy(args.inputs)))
        state = dict(args.inputs)
        state.setdefault("name", f"{args.name}-az")
        if args.typ == "azure-native:network:PublicIPAddress":
            state["ipAddress"] = MOCK_PUBLIC_IP
            label = unwrap_secrets(args.inputs).get("dnsSettings", {}).get("domainNameLabel")
            if label is not None:  # Bastion's address has no DNS label
                state["dnsSettings"] = {
                    "domainNameLabel": label,
                    "fqdn": f"{label}.{args.inputs['location']}.cloudapp.azure.com",
                }
        if args.typ == "random:index/randomPassword:RandomPassword":
            # Deliberately not marked secret: the program must not rely on the provider for that.
            result = mock_random_result(args.name)
            self.random_results.append(result)
            state["result"] = result
        if args.typ == "random:index/randomString:RandomString":
            state["result"] = "abc123def4"[: int(args.inputs["length"])]
        identity = state.get("identity")
        if isinstance(identity, Mapping) and isinstance(identity.get("userAssignedIdentities"), list):
            # Inputs list the identities' ids; Azure answers with a map from id to the identity's details.
            state["identity"] = {
                **identity, "userAssignedIdentities": {i: {} for i in identity["userAssignedIdentities"]}
            }
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            state["principalId"] = f"principal-{args.name}"
            state["clientId"] = f"client-{args.name}"
        if args.typ == "azure-native:compute:VirtualMachine":
            state["identity"] = {**state.get("identity", {}), "principalId": MOCK_PRINCIPAL}
            state["vmId"] = f"vmid-{args.name}"
        if args.typ == "azure-native:keyvault:Vault":
            state["name"] = args.inputs["vaultName"]
            state["properties"] = {**args.inputs["properties"], "vaultUri": f"https://{args.inputs['vaultName']}.vault.azure.net/"}
        if args.typ == "azure-native:storage:StorageAccount":
            state["name"] = args.inputs["accountName"]
        if args.typ == "azure-native:compute:VirtualMachineRunCommandByVirtualMachine":
            state["name"] = args.inputs["runCommandName"]
        if args.typ == "tls:index/privateKey:PrivateKey":
            pem = mock_private_key_pem()
            self.private_keys.append(pem)
            state["privateKeyPem"] = pem
        if args.typ == PFX_RESOURCE_TYPE:
            # What PfxProvider.create answers: the PFX built from the inputs (so the PFX tests still open it).
            props = unwrap_secrets(args.inputs)
            result = PfxProvider().create(props)
            state = {**state, **result.outs}
        if args.typ == "tls:index/selfSignedCert:SelfSignedCert":
            props = unwrap_secrets(args.inputs)
            state["certPem"] = mock_self_signed_pem(props["privateKeyPem"], list(props["dnsNames"]))
        return f"/subscriptions/mock/{args.typ}/{args.name}", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.calls.append(args.token)
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": "mock-client",
                "objectId": "mock-object",
                "subscriptionId": MOCK_SUBSCRIPTION,
                "tenantId": MOCK_TENANT,
            }, []
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.component_outputs: dict[str, dict[str, Any]] = {}
        self.options: dict[str, RegisteredOptions] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        self.options[response.urn] = RegisteredOptions(
            protect=bool(request.protect),
            delete_before_replace=bool(request.deleteBeforeReplace),
            replace_on_changes=tuple(request.replaceOnChanges),
            ignore_changes=tuple(request.ignoreChanges),
            deleted_with=request.deletedWith,
            dependencies=tuple(request.dependencies),
            alias_urns=tuple(self.alias_urns(request)),
        )
        return response

    def alias_urns(self, request: Any) -> list[str]:
        """Each alias as a URN: a spec keeps the resource's own name and type unless it names others."""
        found = []
        for alias in request.aliases:
            if alias.urn:
                found.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            found.append(self.make_urn(parent, spec.type or request.type, spec.name or request.name))
        return found

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.component_outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


def placeholder_script() -> str:
    return (
        "# stand-in used only by the infra tests\nparam([string]$SettingsPath, [string]$LogPath = 'x')\n"
        f"$EmbeddedSettingsJson = @'\n{PLACEHOLDER}\n'@\nWrite-Output 'ok'\n"
    )


def install_config(config: Mapping[str, str], secret_keys: Mapping[str, str] | None = None) -> None:
    values = {f"{PROJECT}:{k}": v for k, v in config.items()}
    secrets = dict(secret_keys or {})
    values.update({f"{PROJECT}:{k}": v for k, v in secrets.items()})
    set_all_config(values, [f"{PROJECT}:{k}" for k in secrets])


def run_program(config: Mapping[str, str], secrets: Mapping[str, str] | None = None) -> ProgramRun:
    from unittest import mock

    import infra.__main__ as program_module
    from infra.__main__ import main

    recording = RecordingMocks()
    monitor = RecordingMonitor(recording)
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(recording, project=PROJECT, stack=STACK, preview=False, monitor=monitor)
    install_config(config, secrets)
    exported: dict[str, Any] = {}
    secret_outputs: set[str] = set()

    @pulumi.runtime.test
    def program() -> Any:
        main()
        root = settings.get_root_resource()
        outputs = dict(getattr(root, "outputs", {}))

        async def collect() -> None:
            for key, value in outputs.items():
                output = pulumi.Output.from_input(value)
                exported[key] = await output.future()
                if await output.is_secret():
                    secret_outputs.add(key)

        return asyncio.ensure_future(collect())

    # The deployer pins the downloads that have no public digest once (`ostops manifest hash --write`, which
    # needs the internet); the program refuses to start before that (tests/infra/test_run_command.py). Here the
    # program runs as after that step.
    with mock.patch.object(program_module, "require_pinned_downloads", return_value=None):
        program()
    urns = {(urn.split("::")[2].split("$")[-1], urn.split("::", 3)[3]): urn for urn in monitor.resources}
    for resource in recording.resources:
        resource.urn = urns.get((resource.type, resource.name), "")
        resource.options = monitor.options.get(resource.urn)
    return ProgramRun(
        config=dict(config),
        resources=recording.resources,
        outputs=exported,
        secret_outputs=secret_outputs,
        component_outputs=monitor.component_outputs,
        random_results=recording.random_results,
        private_keys=recording.private_keys,
        calls=recording.calls,
    )


@pytest.fixture(scope="session", autouse=True)
def _restore_pulumi_runtime() -> Iterator[None]:
    yield
    set_all_config({}, [])
    settings.reset_options()


@pytest.fixture(scope="session")
def bootstrap_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real script and installer when they exist; a placeholder stands in only for a missing file."""
    folder = tmp_path_factory.mktemp("bootstrap")
    script = bootstrap_command.BOOTSTRAP_SCRIPT_PATH
    if not script.exists():
        script = folder / "bootstrap.ps1"
        script.write_text(placeholder_script(), encoding="utf-8")
    installer = bootstrap_command.INSTALLER_PATH
    if not installer.exists():
        installer = folder / "installer.php"
        installer.write_text("<?php // placeholder used only by the infra tests\n", encoding="utf-8")
    return {"script": script, "installer": installer}


@pytest.fixture(scope="session")
def program_runs(bootstrap_paths: dict[str, Path]) -> Iterator[dict[str, ProgramRun]]:
    """The program run once per interesting stack config."""
    patcher = pytest.MonkeyPatch()
    patcher.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    patcher.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    try:
        yield {
            "default": run_program(BASE_CONFIG),
            "given_secrets": run_program(BASE_CONFIG, GIVEN_SECRETS),
            "db_access": run_program({**BASE_CONFIG, "enableDbAccess": "true"}),
            "lab": run_program(
                {**BASE_CONFIG, "labClient": "true", "windowsImage": "2019-datacenter"}, GIVEN_SECRETS
            ),
            "st_marys": run_program({**BASE_CONFIG, "helpdeskName": HELPDESK_WITH_QUOTES}),
        }
    finally:
        patcher.undo()


@pytest.fixture(scope="session")
def default_run(program_runs: dict[str, ProgramRun]) -> ProgramRun:
    return program_runs["default"]
