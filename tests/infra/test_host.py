"""The whole program under mocks: every resource property the issue asks for, the outputs and the secrets."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from automation.manifest import MANIFEST_PATH, load_manifest
from infra import bootstrap_command
from infra.bootstrap_command import PLACEHOLDER, script_digest
from infra.config import StackConfigError
from infra.policy.predicates import COMMAND_LINE_UNSAFE, MAX_PARAMETER_BYTES, embedded_settings
from infra.tls import certificate_sha256
from infra.vault import CONTRACT_SECRET_NAMES, KEY_VAULT_SECRETS_USER
from infra.vm import VM_REPLACE_ON_CHANGES
from tests.infra.conftest import (
    ADMIN_SOURCE,
    AUTOMATION_SOURCE,
    BASE_CONFIG,
    GIVEN_SECRETS,
    HELPDESK_WITH_QUOTES,
    MOCK_PRINCIPAL,
    MOCK_PUBLIC_IP,
    MOCK_SUBSCRIPTION,
    MOCK_TENANT,
    ProgramRun,
    RecordedResource,
    is_secret,
    plain_strings,
    run_program,
    unwrap_secrets,
)

pytestmark = pytest.mark.infra

HOST = "ostops:infra:OsTicketHost"
LAB = "ostops:infra:LabClient"
MACHINE = "ostops:infra:WindowsMachine"
VAULT_COMPONENT = "ostops:infra:SecretsVault"
VAULT = "azure-native:keyvault:Vault"
KV_SECRET = "azure-native:keyvault:Secret"
ROLE = "azure-native:authorization:RoleAssignment"
BACKUP_COMPONENT = "ostops:infra:BackupStorage"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
VM = "azure-native:compute:VirtualMachine"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
NSG = "azure-native:network:NetworkSecurityGroup"
FQDN = "ostops-unit.westeurope.cloudapp.azure.com"
SECRET_OUTPUTS = {"vmAdminPassword", "osticketAdminPassword", "apiKey", "dbAppPassword"}
PLAIN_OUTPUTS = {
    "tier",
    "managementRoute",
    "backupContainerUrl",
    "backupStorageAccount",
    "certificatePem",
    "keyVaultName",
    "bootstrapRunCommand",
    "resourceGroupName",
    "vmName",
    "helpdeskUrl",
    "staffUrl",
    "apiUrl",
    "fqdn",
    "publicIp",
    "rdpCommand",
    "adminUsername",
    "osticketAdminUsername",
    "dbHost",
    "dbPort",
    "dbName",
    "dbUser",
    "tablePrefix",
    "osticketVersion",
}


def server_vm(run: ProgramRun) -> RecordedResource:
    return run.one(VM, "osticket-vm")


def settings_of(run: ProgramRun) -> dict[str, Any]:
    found = embedded_settings(run.one(RUN_COMMAND).props["source"]["script"])
    assert found is not None
    return found


def vault_secret_values(run: ProgramRun) -> dict[str, str]:
    return {r.props["secretName"]: r.props["properties"]["value"] for r in run.of_type(KV_SECRET)}


def allow_rules(run: ProgramRun) -> dict[str, str]:
    rules = run.one(NSG).props["securityRules"]
    return {r["destinationPortRange"]: r["sourceAddressPrefix"] for r in rules if r["access"] == "Allow"}


# --- component shape ----------------------------------------------------------------------------------


def test_every_resource_is_a_child_of_the_component(default_run: ProgramRun) -> None:
    host = default_run.one(HOST)
    assert host.parent_type == "pulumi:pulumi:Stack"
    children = [r for r in default_run.resources if r.type != HOST]
    assert children
    assert {r.parent_type for r in children} == {HOST, VAULT_COMPONENT, MACHINE, BACKUP_COMPONENT}, [
        (r.name, r.urn) for r in children
    ]
    assert default_run.one(VAULT_COMPONENT).parent_type == HOST
    assert default_run.one(MACHINE).parent_type == HOST
    assert default_run.one(BACKUP_COMPONENT).parent_type == HOST
    assert {r.type for r in children if r.parent_type == MACHINE} == {
        VM,
        "azure-native:network:NetworkInterface",
        "azure-native:network:PublicIPAddress",
    }
    assert {r.type for r in children if r.parent_type == VAULT_COMPONENT} == {
        VAULT,
        KV_SECRET,
        ROLE,
        "random:index/randomString:RandomString",
    }


def test_the_expected_resources_exist_once(default_run: ProgramRun) -> None:
    for resource_type in (
        "azure-native:resources:ResourceGroup",
        "azure-native:network:VirtualNetwork",
        "azure-native:network:Subnet",
        NSG,
        "azure-native:network:PublicIPAddress",
        "azure-native:network:NetworkInterface",
        VM,
        RUN_COMMAND,
        VAULT,
        "tls:index/privateKey:PrivateKey",
        "tls:index/selfSignedCert:SelfSignedCert",
    ):
        assert len(default_run.of_type(resource_type)) == 1, resource_type
    assert len(default_run.of_type(KV_SECRET)) == 6
    # One role for the vault's secrets, one for the backup container.
    assert sorted(r.name for r in default_run.of_type(ROLE)) == ["osticket-backup-writer-vm", "osticket-vault-secrets-user"]
    assert not default_run.of_type(LAB)


def test_the_component_registers_its_outputs(default_run: ProgramRun) -> None:
    host_urn = default_run.one(HOST).urn
    registered = default_run.component_outputs[host_urn]
    assert registered["fqdn"] == FQDN
    assert registered["helpdeskUrl"] == f"https://{FQDN}/"
    assert registered["certificatePem"].startswith("-----BEGIN CERTIFICATE-----")
    assert registered["publicIp"] == MOCK_PUBLIC_IP
    assert registered["adminUsername"] == "ostopsadmin"
    assert len(registered["bootstrapDigest"]) == 12


# --- network ------------------------------------------------------------------------------------------


def test_only_web_and_admin_rdp_are_open_by_default(default_run: ProgramRun) -> None:
    assert allow_rules(default_run) == {"80": "*", "443": "*", "3389": ADMIN_SOURCE}
    rules = default_run.one(NSG).props["securityRules"]
    deny = [r for r in rules if r["access"] == "Deny"]
    assert [(r["direction"], r["sourceAddressPrefix"], r["destinationPortRange"]) for r in deny] == [
        ("Inbound", "*", "*")
    ]
    assert all(r["direction"] == "Inbound" for r in rules)


def test_mysql_opens_to_the_automation_address_only_with_db_access(
    program_runs: dict[str, ProgramRun],
) -> None:
    assert allow_rules(program_runs["db_access"])["3306"] == AUTOMATION_SOURCE
    assert "3306" not in allow_rules(program_runs["default"])


def test_the_subnet_carries_the_security_group(default_run: ProgramRun) -> None:
    subnet = default_run.one("azure-native:network:Subnet").props
    assert subnet["networkSecurityGroup"]["id"].endswith("/osticket-nsg")
    assert subnet["virtualNetworkName"] == "osticket-vnet-az"


def test_static_public_ip_with_the_dns_label(default_run: ProgramRun) -> None:
    pip = default_run.one("azure-native:network:PublicIPAddress").props
    assert pip["publicIPAllocationMethod"] == "Static"
    assert pip["sku"]["name"] == "Standard"
    assert pip["dnsSettings"]["domainNameLabel"] == BASE_CONFIG["dnsLabel"]


def test_the_nic_joins_the_subnet_and_the_public_ip(default_run: ProgramRun) -> None:
    nic = default_run.one("azure-native:network:NetworkInterface").props
    (ip_config,) = nic["ipConfigurations"]
    assert ip_config["subnet"]["id"].endswith("/osticket-subnet")
    assert ip_config["publicIPAddress"]["id"].endswith("/osticket-pip")


# --- virtual machine ----------------------------------------------------------------------------------


def test_the_vm_uses_trusted_launch(default_run: ProgramRun) -> None:
    security = server_vm(default_run).props["securityProfile"]
    assert security == {
        "securityType": "TrustedLaunch",
        "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
    }


def test_the_vm_is_patched_by_the_platform(default_run: ProgramRun) -> None:
    windows = server_vm(default_run).props["osProfile"]["windowsConfiguration"]
    assert windows["enableAutomaticUpdates"] is True
    assert windows["provisionVMAgent"] is True
    assert windows["patchSettings"]["patchMode"] == "AutomaticByPlatform"
    assert windows["patchSettings"]["assessmentMode"] == "AutomaticByPlatform"


def test_boot_diagnostics_managed_disk_and_identity(default_run: ProgramRun) -> None:
    vm = server_vm(default_run).props
    assert vm["diagnosticsProfile"]["bootDiagnostics"]["enabled"] is True
    os_disk = vm["storageProfile"]["osDisk"]
    assert os_disk["createOption"] == "FromImage"
    assert os_disk["managedDisk"]["storageAccountType"] == "StandardSSD_LRS"
    assert "vhd" not in os_disk
    assert vm["identity"]["type"] == "SystemAssigned"


def test_image_size_and_admin_follow_the_config(program_runs: dict[str, ProgramRun]) -> None:
    default = server_vm(program_runs["default"]).props
    assert default["hardwareProfile"]["vmSize"] == "Standard_B2as_v2"
    assert default["storageProfile"]["imageReference"] == {
        "publisher": "MicrosoftWindowsServer",
        "offer": "WindowsServer",
        "sku": "2022-datacenter-azure-edition",
        "version": "latest",
    }
    assert default["osProfile"]["adminUsername"] == "ostopsadmin"
    lab_2019 = server_vm(program_runs["lab"]).props
    assert lab_2019["storageProfile"]["imageReference"]["sku"] == "2019-datacenter-gensecond"


def test_the_vm_admin_password_reaches_azure_only_as_a_secret(program_runs: dict[str, ProgramRun]) -> None:
    for run in program_runs.values():
        vm_inputs = server_vm(run).inputs
        assert is_secret(vm_inputs["osProfile"])
        assert server_vm(run).props["osProfile"]["adminPassword"]
    given = server_vm(program_runs["given_secrets"]).props["osProfile"]["adminPassword"]
    assert given == GIVEN_SECRETS["adminPassword"]


def test_every_taggable_resource_carries_the_stack_tags(default_run: ProgramRun) -> None:
    # pulumi-azure-native 3.29.0 gives these no tags argument.
    untaggable = {
        "azure-native:network:Subnet",
        ROLE,
        "azure-native:maintenance:ConfigurationAssignment",
        "azure-native:storage:BlobServiceProperties",
        "azure-native:storage:BlobContainer",
        "azure-native:storage:ManagementPolicy",
    }
    tagged = [r for r in default_run.resources if r.type.startswith("azure-native:") and r.type not in untaggable]
    for resource in tagged:
        tags = resource.props["tags"]
        assert {k: tags[k] for k in ("project", "environment", "managed-by")} == {
            "project": "ostops",
            "environment": "test",
            "managed-by": "pulumi",
        }, resource.name


# --- bootstrap ---------------------------------------------------------------------------------------


def test_the_run_command_carries_the_script_with_the_settings_and_no_parameters(
    default_run: ProgramRun, bootstrap_paths: dict[str, Path]
) -> None:
    command = default_run.one(RUN_COMMAND).props
    from infra.bootstrap_command import read_bootstrap_files

    template = read_bootstrap_files(bootstrap_paths["script"], installer_path=bootstrap_paths["installer"]).script
    script = command["source"]["script"]
    assert PLACEHOLDER not in script
    settings_line = json.dumps(settings_of(default_run), separators=(",", ":"), ensure_ascii=True, sort_keys=True)
    assert script == template.replace(PLACEHOLDER, settings_line)
    assert command["vmName"] == "osticket-vm-az"
    assert command["treatFailureAsDeploymentFailure"] is True
    assert command["asyncExecution"] is False
    assert "parameters" not in command and "protectedParameters" not in command
    assert "runAsPassword" not in command
    assert command["runCommandName"] == f"ostops-bootstrap-r0-{script_digest(script)}"
    assert command["tags"]["bootstrap-sha256"] == script_digest(script)


@pytest.mark.parametrize("variant", ["default", "given_secrets", "db_access", "lab", "st_marys"])
def test_whatever_parameters_remain_are_small_and_plain(program_runs: dict[str, ProgramRun], variant: str) -> None:
    command = program_runs[variant].one(RUN_COMMAND).props
    remaining = [*command.get("parameters", []), *command.get("protectedParameters", [])]
    text = "".join(f"{p['name']}{p['value']}" for p in remaining)
    assert len(text.encode("utf-8")) < MAX_PARAMETER_BYTES
    assert not any(c.isspace() for c in text)
    assert not set(text) & COMMAND_LINE_UNSAFE


def test_the_embedded_settings_decode_back_to_the_settings(
    program_runs: dict[str, ProgramRun], bootstrap_paths: dict[str, Path]
) -> None:
    settings = settings_of(program_runs["st_marys"])
    vault_name = program_runs["st_marys"].one(VAULT).props["vaultName"]
    backup_account = program_runs["st_marys"].one(STORAGE_ACCOUNT).props["accountName"]
    assert settings == {
        "schema": 1,
        "osTicketVersion": load_manifest().downloads["osticket"].version,
        "siteHostName": FQDN,
        "helpdeskName": HELPDESK_WITH_QUOTES,
        "adminUsername": "ostadmin",
        "adminEmail": f"ostadmin@{FQDN}",
        "automationSourceIp": "192.0.2.50",
        "enableDbAccess": False,
        "allowUnverifiedDownloads": False,
        "manifest": json.loads(MANIFEST_PATH.read_text(encoding="utf-8")),
        "installerBase64": base64.b64encode(bootstrap_paths["installer"].read_bytes()).decode("ascii"),
        "secrets": {
            "source": "keyvault",
            "vaultUri": f"https://{vault_name}.vault.azure.net/",
            "names": dict(CONTRACT_SECRET_NAMES),
        },
        "tls": {
            "enabled": True,
            "certificateSha256": certificate_sha256(program_runs["st_marys"].outputs["certificatePem"]),
        },
        "dataDisk": {"lun": 0, "driveLetter": "F", "label": "ostops-data"},
        "hsts": {"maxAgeSeconds": 0},
        "smtpRelay": None,
        "backup": {
            "containerUrl": f"https://{backup_account}.blob.core.windows.net/osticket-backups",
            "schedule": "02:30",
            "retentionDays": 30,
        },
        "mode": "install",
    }
    script = program_runs["st_marys"].one(RUN_COMMAND).props["source"]["script"]
    assert script.isascii() and "St. Mary's IT \\u2014 Help Desk" in script
    assert settings_of(program_runs["db_access"])["enableDbAccess"] is True


def test_the_vault_is_rbac_soft_deleting_and_named_validly(program_runs: dict[str, ProgramRun]) -> None:
    vault = program_runs["default"].one(VAULT).props
    properties = vault["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["tenantId"] == MOCK_TENANT
    assert properties["sku"] == {"family": "A", "name": "standard"}
    assert "enablePurgeProtection" not in properties
    assert "accessPolicies" not in properties
    assert 3 <= len(vault["vaultName"]) <= 24 and vault["vaultName"].startswith("ostops-kv-")


def test_purge_protection_follows_the_config(bootstrap_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    run = run_program({**BASE_CONFIG, "keyVaultPurgeProtection": "true"})
    assert run.one(VAULT).props["properties"]["enablePurgeProtection"] is True


def test_the_vault_holds_the_six_secrets_as_pulumi_secrets(program_runs: dict[str, ProgramRun]) -> None:
    for run in program_runs.values():
        secrets = run.of_type(KV_SECRET)
        assert {r.props["secretName"] for r in secrets} == set(CONTRACT_SECRET_NAMES.values())
        assert all(is_secret(r.inputs["properties"]) for r in secrets)
        assert {r.props["vaultName"] for r in secrets} == {run.one(VAULT).props["vaultName"]}
    given = vault_secret_values(program_runs["given_secrets"])
    assert given["osticket-admin-password"] == GIVEN_SECRETS["osticketAdminPassword"]
    assert given["mariadb-root-password"] == GIVEN_SECRETS["dbRootPassword"]
    assert given["mariadb-app-password"] == GIVEN_SECRETS["dbAppPassword"]
    assert given["osticket-api-key"] == GIVEN_SECRETS["apiKey"]


def test_the_vm_identity_reads_secrets_from_this_vault_only(default_run: ProgramRun) -> None:
    role = default_run.one(ROLE, "secrets-user").props
    assert role["principalId"] == MOCK_PRINCIPAL
    assert role["principalType"] == "ServicePrincipal"
    assert role["roleDefinitionId"] == (
        f"/subscriptions/{MOCK_SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{KEY_VAULT_SECRETS_USER}"
    )
    assert role["scope"].endswith("/osticket-vault-kv")


def test_the_run_command_waits_for_the_secrets_and_the_role(default_run: ProgramRun) -> None:
    """As registered with the engine: the Run Command depends on the VM, the role, every secret, the patch
    schedule's assignment and the data disk."""
    command = default_run.one(RUN_COMMAND)
    assert command.options is not None
    wanted = [
        default_run.one(VM),
        default_run.one(ROLE, "secrets-user"),
        *default_run.of_type(KV_SECRET),
        default_run.one("azure-native:maintenance:ConfigurationAssignment"),
        default_run.one("azure-native:compute:Disk"),
    ]
    assert {r.urn for r in wanted} <= set(command.options.dependencies)
    assert all(r.urn for r in wanted)


def test_the_pfx_holds_the_certificate_for_the_fqdn_and_opens_with_its_password(default_run: ProgramRun) -> None:
    values = vault_secret_values(default_run)
    key, cert, _ = pkcs12.load_key_and_certificates(
        base64.b64decode(values["tls-pfx"]), values["tls-pfx-password"].encode("utf-8")
    )
    assert key is not None and cert is not None
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert names == [FQDN]
    pem = default_run.outputs["certificatePem"]
    assert x509.load_pem_x509_certificate(pem.encode("ascii")) == cert
    tls_cert = default_run.one("tls:index/selfSignedCert:SelfSignedCert").props
    assert tls_cert["dnsNames"] == [FQDN]
    assert "server_auth" in tls_cert["allowedUses"]
    assert values["tls-pfx-password"] in default_run.random_results


def test_the_pfx_is_kept_in_state_and_rebuilt_only_when_its_inputs_change() -> None:
    """Built in an apply, the PFX (random PKCS#12 salt) differed on every `pulumi up` and rewrote tls-pfx."""
    from infra.tls import PfxProvider
    from tests.infra.conftest import mock_private_key_pem, mock_self_signed_pem

    key = mock_private_key_pem()
    props = {"key_pem": key, "cert_pem": mock_self_signed_pem(key, [FQDN]), "password": "Pfx-Pass-1"}
    provider = PfxProvider()
    created = provider.create(props)
    assert created.outs["pfx_base64"] != provider.create(props).outs["pfx_base64"], "why it must be kept"
    _, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(created.outs["pfx_base64"]), b"Pfx-Pass-1")
    assert cert is not None
    assert provider.diff(created.id, created.outs, dict(props)).changes is False
    for name, value in (("password", "Pfx-Pass-2"), ("cert_pem", mock_self_signed_pem(key, [FQDN])),
                        ("key_pem", mock_private_key_pem())):
        diff = provider.diff(created.id, created.outs, {**props, name: value})
        assert diff.changes is True and diff.replaces, name


def test_the_pfx_resource_keeps_its_secrets_secret(default_run: ProgramRun) -> None:
    from tests.infra.conftest import PFX_RESOURCE_TYPE

    pfx = default_run.one(PFX_RESOURCE_TYPE)
    assert is_secret(pfx.inputs["key_pem"]) and is_secret(pfx.inputs["password"])
    assert is_secret(pfx.inputs["__provider"])
    assert pfx.parent_type == "ostops:infra:OsTicketHost"


def test_the_serialized_pfx_provider_loads_in_a_fresh_process(tmp_path: Path) -> None:
    """What Pulumi's dynamic provider process does: unpickle the provider from state, then call create."""
    import subprocess
    import sys

    from pulumi.dynamic.dynamic import serialize_provider

    from infra.tls import PfxProvider
    from tests.infra.conftest import mock_private_key_pem, mock_self_signed_pem

    key = mock_private_key_pem()
    props = {"key_pem": key, "cert_pem": mock_self_signed_pem(key, [FQDN]), "password": "Pfx-Pass-1"}
    code = (
        "import base64, json, sys, dill\n"
        "blob, props = json.loads(sys.stdin.read())\n"
        "provider = dill.loads(base64.b64decode(blob))\n"
        "print(provider.create(props).outs['pfx_base64'])\n"
    )
    result = subprocess.run([sys.executable, "-I", "-c", code], input=json.dumps([serialize_provider(PfxProvider()), props]),
                            capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    _, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(result.stdout.strip()), b"Pfx-Pass-1")
    assert cert is not None


def test_a_user_pfx_replaces_the_self_signed_one(bootstrap_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.infra.test_config import user_pfx

    monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    pfx = user_pfx("User-Pfx-Pass-1")
    run = run_program(BASE_CONFIG, {"tlsPfxBase64": pfx, "tlsPfxPassword": "User-Pfx-Pass-1"})
    assert not run.of_type("tls:index/selfSignedCert:SelfSignedCert")
    values = vault_secret_values(run)
    assert values["tls-pfx"] == pfx and values["tls-pfx-password"] == "User-Pfx-Pass-1"
    assert "helpdesk.example.org" in str(
        x509.load_pem_x509_certificate(run.outputs["certificatePem"].encode("ascii")).subject
    )
    leaks = [t for r in run.resources for t in plain_strings(r.inputs) if pfx in t or "User-Pfx-Pass-1" in t]
    assert leaks == []


def test_the_settings_pin_the_deployed_certificate(default_run: ProgramRun) -> None:
    """The fingerprint is the SHA-256 of the DER bytes, as Windows hashes X509Certificate2.RawData."""
    pem = default_run.outputs["certificatePem"]
    der = x509.load_pem_x509_certificate(pem.encode("ascii")).public_bytes(serialization.Encoding.DER)
    assert settings_of(default_run)["tls"]["certificateSha256"] == hashlib.sha256(der).hexdigest()


def test_a_new_certificate_gets_a_new_run_command(bootstrap_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """from-stack pins the new certificatePem, so the VM must get the new PFX: the certificate's fingerprint is
    in the script, so a new certificate is a new script digest, a new Run Command and a re-run."""
    from tests.infra.test_config import user_pfx

    monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    runs = [run_program(BASE_CONFIG, {"tlsPfxBase64": user_pfx("Pfx-Pass-123"), "tlsPfxPassword": "Pfx-Pass-123"})
            for _ in range(2)]
    before, after = (run.one(RUN_COMMAND) for run in runs)
    assert before.urn == after.urn
    fingerprints = [settings_of(run)["tls"]["certificateSha256"] for run in runs]
    assert fingerprints[0] != fingerprints[1]
    assert fingerprints == [certificate_sha256(run.outputs["certificatePem"]) for run in runs]
    assert before.props["runCommandName"] != after.props["runCommandName"]
    assert before.props["tags"]["bootstrap-sha256"] != after.props["tags"]["bootstrap-sha256"]


def test_generated_secrets_use_random_passwords(default_run: ProgramRun) -> None:
    passwords = {r.name: r.props for r in default_run.of_type("random:index/randomPassword:RandomPassword")}
    assert set(passwords) == {
        "osticket-vm-admin-password",
        "osticket-osticket-admin-password",
        "osticket-db-root-password",
        "osticket-db-app-password",
        "osticket-api-key",
        "osticket-tls-pfx-password",
    }
    api_key = passwords["osticket-api-key"]
    assert (api_key["length"], api_key["lower"], api_key["upper"], api_key["overrideSpecial"]) == (
        32,
        False,
        False,
        "ABCDEF",
    )
    assert all(p["length"] >= 24 for name, p in passwords.items() if name != "osticket-api-key")


def test_given_secrets_create_no_random_passwords_but_the_pfx_one(program_runs: dict[str, ProgramRun]) -> None:
    names = [r.name for r in program_runs["given_secrets"].of_type("random:index/randomPassword:RandomPassword")]
    assert names == ["osticket-tls-pfx-password"]


def test_a_changed_script_gets_a_new_run_command_name(
    bootstrap_paths: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    commands = []
    for edit in ("", "\n# a fixed bootstrap\n"):
        script = tmp_path / "bootstrap.ps1"
        script.write_text(bootstrap_paths["script"].read_text(encoding="utf-8-sig") + edit, encoding="utf-8")
        monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", script)
        commands.append(run_program(BASE_CONFIG).one(RUN_COMMAND))
    before, after = commands
    assert before.urn == after.urn
    assert before.props["source"]["script"] != after.props["source"]["script"]
    assert before.props["runCommandName"] != after.props["runCommandName"]
    assert after.props["runCommandName"] == f"ostops-bootstrap-r0-{script_digest(after.props['source']['script'])}"


def test_the_vm_is_replaced_old_first_on_create_only_changes() -> None:
    from infra.vm import vm_options

    options = vm_options(None)  # type: ignore[arg-type]
    assert set(options.replace_on_changes or []) == set(VM_REPLACE_ON_CHANGES)
    assert {"storageProfile.imageReference", "osProfile.adminUsername", "securityProfile"} <= set(
        VM_REPLACE_ON_CHANGES
    )
    assert options.delete_before_replace is True


def test_the_nic_is_detached_not_deleted_with_the_vm(program_runs: dict[str, ProgramRun]) -> None:
    for vm in program_runs["lab"].of_type(VM):
        (nic,) = vm.props["networkProfile"]["networkInterfaces"]
        assert nic["deleteOption"] == "Detach"


# --- outputs ------------------------------------------------------------------------------------------


def test_exactly_the_contract_outputs_are_exported(default_run: ProgramRun) -> None:
    assert set(default_run.outputs) == SECRET_OUTPUTS | PLAIN_OUTPUTS
    assert default_run.secret_outputs == SECRET_OUTPUTS


def test_output_values(program_runs: dict[str, ProgramRun]) -> None:
    outputs = program_runs["default"].outputs
    assert outputs == outputs | {
        "helpdeskUrl": f"https://{FQDN}/",
        "staffUrl": f"https://{FQDN}/scp/",
        "apiUrl": f"https://{FQDN}/api/",
        "fqdn": FQDN,
        "publicIp": MOCK_PUBLIC_IP,
        "rdpCommand": f"mstsc /v:{FQDN}",
        "adminUsername": "ostopsadmin",
        "osticketAdminUsername": "ostadmin",
        "dbHost": "",
        "dbPort": 3306,
        "dbName": "osticket",
        "dbUser": "osticket",
        "tablePrefix": "ost_",
        "osticketVersion": load_manifest().downloads["osticket"].version,
    }
    assert program_runs["db_access"].outputs["dbHost"] == FQDN


def test_secret_outputs_hold_the_same_secrets_the_vm_got(program_runs: dict[str, ProgramRun]) -> None:
    given = program_runs["given_secrets"].outputs
    assert given["vmAdminPassword"] == GIVEN_SECRETS["adminPassword"]
    assert given["osticketAdminPassword"] == GIVEN_SECRETS["osticketAdminPassword"]
    assert given["apiKey"] == GIVEN_SECRETS["apiKey"]
    assert given["dbAppPassword"] == GIVEN_SECRETS["dbAppPassword"]
    generated = program_runs["default"]
    vault = vault_secret_values(generated)
    assert generated.outputs["apiKey"] == vault["osticket-api-key"]
    assert generated.outputs["osticketAdminPassword"] == vault["osticket-admin-password"]
    assert generated.outputs["dbAppPassword"] == vault["mariadb-app-password"]
    assert generated.outputs["vmAdminPassword"] == server_vm(generated).props["osProfile"]["adminPassword"]


# --- no plaintext secrets anywhere --------------------------------------------------------------------


def known_secret_values(run: ProgramRun) -> set[str]:
    """Every secret the run holds: given, generated, the PFX and its password, the TLS private key."""
    return (
        set(GIVEN_SECRETS.values())
        | set(run.random_results)
        | set(vault_secret_values(run).values())
        | set(run.private_keys)
    )


def plaintext_leaks(resources: list[RecordedResource], secrets: set[str]) -> list[tuple[str, str]]:
    return [
        (resource.name, text)
        for resource in resources
        for text in plain_strings(resource.inputs)
        if any(secret in text for secret in secrets)
    ]


def all_strings(value: Any) -> list[str]:
    """Every string anywhere in an input, secrets unwrapped."""
    value = unwrap_secrets(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *all_strings(v)]]
    if isinstance(value, list | tuple):
        return [s for v in value for s in all_strings(v)]
    return []


@pytest.mark.parametrize("variant", ["default", "given_secrets", "lab", "st_marys"])
def test_the_run_command_holds_no_secret_value_anywhere(program_runs: dict[str, ProgramRun], variant: str) -> None:
    run = program_runs[variant]
    secrets = known_secret_values(run) - {""}
    assert len(secrets) >= 8  # four app secrets, the PFX, its password, the TLS key, the VM password
    strings = all_strings(run.one(RUN_COMMAND).inputs)
    assert strings
    assert [s for s in secrets if any(s in text for text in strings)] == []


@pytest.mark.parametrize("variant", ["default", "given_secrets", "db_access", "lab", "st_marys"])
def test_no_recorded_input_holds_a_secret_in_plain_text(
    program_runs: dict[str, ProgramRun], variant: str
) -> None:
    run = program_runs[variant]
    secrets = known_secret_values(run) - {""}
    assert len(secrets) >= 5
    # The scan must see every secret somewhere, or it would pass for the wrong reason.
    everywhere = [str(r.props) for r in run.resources]
    assert {s for s in secrets if any(s in text for text in everywhere)} >= (
        set(run.random_results) if variant in {"default", "db_access", "st_marys"} else set(GIVEN_SECRETS.values())
    )
    assert plaintext_leaks(run.resources, secrets) == []


def test_no_plain_output_holds_a_secret(program_runs: dict[str, ProgramRun]) -> None:
    for run in program_runs.values():
        secrets = known_secret_values(run)
        plain = [str(v) for k, v in run.outputs.items() if k not in run.secret_outputs]
        assert not [text for text in plain if any(secret in text for secret in secrets)]


def test_the_scan_catches_a_plaintext_password() -> None:
    leaky = RecordedResource(
        RUN_COMMAND, "leaky", {"parameters": [{"name": "AdminPassword", "value": "Vm-Admin-Given-Pw-1234"}]}
    )
    assert plaintext_leaks([leaky], set(GIVEN_SECRETS.values())) == [("leaky", "Vm-Admin-Given-Pw-1234")]


# --- lab client ---------------------------------------------------------------------------------------


def test_the_lab_client_is_off_by_default(default_run: ProgramRun) -> None:
    assert len(default_run.of_type(VM)) == 1
    assert "labClientRdpCommand" not in default_run.outputs


def test_the_lab_client_is_a_trusted_launch_desktop_parented_to_the_host(
    program_runs: dict[str, ProgramRun],
) -> None:
    run = program_runs["lab"]
    lab = run.one(LAB)
    assert lab.parent_type == HOST
    client = run.one(VM, "lab-client")
    assert client.parent_type == MACHINE
    assert run.one(MACHINE, "lab-client").parent_type == LAB
    props = client.props
    assert props["storageProfile"]["imageReference"]["publisher"] == "MicrosoftWindowsDesktop"
    assert props["storageProfile"]["imageReference"]["offer"] == "windows-11"
    assert props["securityProfile"]["securityType"] == "TrustedLaunch"
    assert props["securityProfile"]["uefiSettings"] == {"secureBootEnabled": True, "vTpmEnabled": True}
    assert props["osProfile"]["windowsConfiguration"]["patchSettings"]["patchMode"] == "AutomaticByOS"
    assert props["osProfile"]["windowsConfiguration"]["enableAutomaticUpdates"] is True
    assert props["diagnosticsProfile"]["bootDiagnostics"]["enabled"] is True
    assert is_secret(client.inputs["osProfile"])
    nic = run.one("azure-native:network:NetworkInterface", "lab-client").props
    assert nic["ipConfigurations"][0]["subnet"]["id"].endswith("/osticket-subnet")


def test_the_lab_client_rdp_is_still_admin_only(program_runs: dict[str, ProgramRun]) -> None:
    run = program_runs["lab"]
    assert len(run.of_type(NSG)) == 1
    assert allow_rules(run) == {"80": "*", "443": "*", "3389": ADMIN_SOURCE}
    assert run.outputs["labClientRdpCommand"] == "mstsc /v:ostops-unit-client.westeurope.cloudapp.azure.com"
    labels = [r.props["dnsSettings"]["domainNameLabel"] for r in run.of_type("azure-native:network:PublicIPAddress")]
    assert sorted(labels) == ["ostops-unit", "ostops-unit-client"]
    assert run.outputs["labClientPublicIp"] == MOCK_PUBLIC_IP


# --- acceptance: a bad stack config stops the program before any resource -----------------------------


def test_an_open_admin_source_stops_the_program(
    bootstrap_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    with pytest.raises(
        StackConfigError, match=r"^ostops:adminSourceCidr: '0\.0\.0\.0/0' would open RDP"
    ) as caught:
        run_program({**BASE_CONFIG, "adminSourceCidr": "0.0.0.0/0"})
    assert caught.value.key == "ostops:adminSourceCidr"
