"""The whole program under mocks: every resource property the issue asks for, the outputs and the secrets."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from automation.manifest import MANIFEST_PATH, load_manifest
from infra import bootstrap_command
from infra.bootstrap_command import PLAIN_PARAMETERS, PROTECTED_PARAMETERS, read_bootstrap_files
from infra.config import StackConfigError
from tests.infra.conftest import (
    ADMIN_SOURCE,
    AUTOMATION_SOURCE,
    BASE_CONFIG,
    GIVEN_SECRETS,
    MOCK_PUBLIC_IP,
    ProgramRun,
    RecordedResource,
    is_secret,
    plain_strings,
    run_program,
)

pytestmark = pytest.mark.infra

HOST = "ostops:infra:OsTicketHost"
LAB = "ostops:infra:LabClient"
VM = "azure-native:compute:VirtualMachine"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
NSG = "azure-native:network:NetworkSecurityGroup"
FQDN = "ostops-unit.westeurope.cloudapp.azure.com"
SECRET_OUTPUTS = {"vmAdminPassword", "osticketAdminPassword", "apiKey", "dbAppPassword"}
PLAIN_OUTPUTS = {
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


def parameters(run: ProgramRun, field: str = "parameters") -> dict[str, str]:
    props = run.one(RUN_COMMAND).props
    return {p["name"]: p["value"] for p in props[field]}


def allow_rules(run: ProgramRun) -> dict[str, str]:
    rules = run.one(NSG).props["securityRules"]
    return {r["destinationPortRange"]: r["sourceAddressPrefix"] for r in rules if r["access"] == "Allow"}


# --- component shape ----------------------------------------------------------------------------------


def test_every_resource_is_a_child_of_the_component(default_run: ProgramRun) -> None:
    host = default_run.one(HOST)
    assert host.parent_type == "pulumi:pulumi:Stack"
    children = [r for r in default_run.resources if r.type != HOST]
    assert children
    assert {r.parent_type for r in children} == {HOST}, [(r.name, r.urn) for r in children]


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
    ):
        assert len(default_run.of_type(resource_type)) == 1, resource_type
    assert not default_run.of_type(LAB)


def test_the_component_registers_its_outputs(default_run: ProgramRun) -> None:
    host_urn = default_run.one(HOST).urn
    registered = default_run.component_outputs[host_urn]
    assert registered["fqdn"] == FQDN
    assert registered["helpdeskUrl"] == f"http://{FQDN}/"
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
    tagged = [
        r for r in default_run.resources if r.type.startswith("azure-native:") and "Subnet" not in r.type
    ]
    for resource in tagged:
        tags = resource.props["tags"]
        assert {k: tags[k] for k in ("project", "environment", "managed-by")} == {
            "project": "ostops",
            "environment": "test",
            "managed-by": "pulumi",
        }, resource.name


# --- bootstrap ----------------------------------------------------------------------------------------


def test_the_run_command_carries_the_script_and_contract_parameters(
    default_run: ProgramRun, bootstrap_paths: dict[str, Path]
) -> None:
    command = default_run.one(RUN_COMMAND).props
    assert command["source"]["script"] == bootstrap_paths["script"].read_text(encoding="utf-8-sig")
    assert command["vmName"] == "osticket-vm-az"
    assert command["treatFailureAsDeploymentFailure"] is True
    assert command["asyncExecution"] is False
    assert [p["name"] for p in command["parameters"]] == list(PLAIN_PARAMETERS)
    assert [p["name"] for p in command["protectedParameters"]] == list(PROTECTED_PARAMETERS)
    assert "runAsPassword" not in command


def test_plain_parameter_values(
    program_runs: dict[str, ProgramRun], bootstrap_paths: dict[str, Path]
) -> None:
    plain = parameters(program_runs["default"])
    assert plain["OsTicketVersion"] == load_manifest().downloads["osticket"].version
    assert plain["SiteHostName"] == FQDN
    assert plain["HelpdeskName"] == "ostops Help Desk"
    assert plain["AdminUsername"] == "ostadmin"
    assert plain["AdminEmail"] == f"ostadmin@{FQDN}"
    assert plain["AutomationSourceIp"] == "192.0.2.50"
    assert plain["EnableDbAccess"] == "false"
    assert parameters(program_runs["db_access"])["EnableDbAccess"] == "true"
    assert base64.b64decode(plain["ManifestBase64"]) == MANIFEST_PATH.read_bytes()
    assert base64.b64decode(plain["InstallerBase64"]) == bootstrap_paths["installer"].read_bytes()
    assert all(isinstance(value, str) for value in plain.values())


def test_protected_parameters_are_secret_and_hold_the_secrets(program_runs: dict[str, ProgramRun]) -> None:
    for run in program_runs.values():
        assert is_secret(run.one(RUN_COMMAND).inputs["protectedParameters"])
    given = parameters(program_runs["given_secrets"], "protectedParameters")
    assert given == {
        "AdminPassword": GIVEN_SECRETS["osticketAdminPassword"],
        "DbRootPassword": GIVEN_SECRETS["dbRootPassword"],
        "DbAppPassword": GIVEN_SECRETS["dbAppPassword"],
        "ApiKey": GIVEN_SECRETS["apiKey"],
    }
    generated = parameters(program_runs["default"], "protectedParameters")
    assert set(generated.values()) <= set(program_runs["default"].random_results)
    assert len(set(generated.values())) == 4


def test_generated_secrets_use_random_passwords(default_run: ProgramRun) -> None:
    passwords = {r.name: r.props for r in default_run.of_type("random:index/randomPassword:RandomPassword")}
    assert set(passwords) == {
        "osticket-vm-admin-password",
        "osticket-osticket-admin-password",
        "osticket-db-root-password",
        "osticket-db-app-password",
        "osticket-api-key",
    }
    api_key = passwords["osticket-api-key"]
    assert (api_key["length"], api_key["lower"], api_key["upper"], api_key["overrideSpecial"]) == (
        32,
        False,
        False,
        "ABCDEF",
    )
    assert all(p["length"] >= 24 for name, p in passwords.items() if name != "osticket-api-key")


def test_given_secrets_create_no_random_passwords(program_runs: dict[str, ProgramRun]) -> None:
    assert not program_runs["given_secrets"].of_type("random:index/randomPassword:RandomPassword")


def test_a_changed_script_changes_the_same_run_command(
    bootstrap_paths: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    commands = []
    for edit in ("", "\n# a changed bootstrap\n"):
        script = tmp_path / "bootstrap.ps1"
        script.write_text(bootstrap_paths["script"].read_text(encoding="utf-8-sig") + edit, encoding="utf-8")
        monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", script)
        commands.append(run_program(BASE_CONFIG).one(RUN_COMMAND))
    before, after = commands
    assert before.urn == after.urn
    assert before.props["runCommandName"] == after.props["runCommandName"]
    assert before.props["source"]["script"] != after.props["source"]["script"]
    assert before.props["tags"]["bootstrap-sha256"] != after.props["tags"]["bootstrap-sha256"]
    assert (
        after.props["tags"]["bootstrap-sha256"]
        == read_bootstrap_files(script, MANIFEST_PATH, bootstrap_paths["installer"]).digest
    )


# --- outputs ------------------------------------------------------------------------------------------


def test_exactly_the_contract_outputs_are_exported(default_run: ProgramRun) -> None:
    assert set(default_run.outputs) == SECRET_OUTPUTS | PLAIN_OUTPUTS
    assert default_run.secret_outputs == SECRET_OUTPUTS


def test_output_values(program_runs: dict[str, ProgramRun]) -> None:
    outputs = program_runs["default"].outputs
    assert outputs == outputs | {
        "helpdeskUrl": f"http://{FQDN}/",
        "staffUrl": f"http://{FQDN}/scp/",
        "apiUrl": f"http://{FQDN}/api/",
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
    protected = parameters(generated, "protectedParameters")
    assert generated.outputs["apiKey"] == protected["ApiKey"]
    assert generated.outputs["osticketAdminPassword"] == protected["AdminPassword"]
    assert generated.outputs["vmAdminPassword"] == server_vm(generated).props["osProfile"]["adminPassword"]


# --- no plaintext secrets anywhere --------------------------------------------------------------------


def known_secret_values(run: ProgramRun) -> set[str]:
    return set(GIVEN_SECRETS.values()) | set(run.random_results)


def plaintext_leaks(resources: list[RecordedResource], secrets: set[str]) -> list[tuple[str, str]]:
    return [
        (resource.name, text)
        for resource in resources
        for text in plain_strings(resource.inputs)
        if any(secret in text for secret in secrets)
    ]


@pytest.mark.parametrize("variant", ["default", "given_secrets", "db_access", "lab"])
def test_no_recorded_input_holds_a_secret_in_plain_text(
    program_runs: dict[str, ProgramRun], variant: str
) -> None:
    run = program_runs[variant]
    secrets = known_secret_values(run) - {""}
    assert len(secrets) >= 5
    # The scan must see every secret somewhere, or it would pass for the wrong reason.
    everywhere = [str(r.props) for r in run.resources]
    assert {s for s in secrets if any(s in text for text in everywhere)} >= (
        set(run.random_results) if variant in {"default", "db_access"} else set(GIVEN_SECRETS.values())
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
    assert client.parent_type == LAB
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
