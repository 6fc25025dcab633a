"""Issue 21, scheduled backups on Azure: ``BackupStorage`` (and ``AzureVmBackup``) under Pulumi mocks.

Each secure-by-default property is its own assertion on what the engine receives, and each is also dropped from
a copy of the mocked resource to show the policy pack catches it; the role's scope, the lifecycle rule, the
settings the bootstrap gets and the outputs are checked on both tiers.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automation.errors import ConfigError
from infra import bootstrap_command
from infra.backup import (
    CONTAINER_NAME,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    vm_backup_container_name,
    vm_backup_item_name,
    vm_backup_time,
)
from infra.bootstrap_command import backup_settings
from infra.policy.predicates import all_violations, embedded_settings, storage_private_and_keyless
from tests.infra.conftest import (
    AUTOMATION_SOURCE,
    BASE_CONFIG,
    MOCK_PRINCIPAL,
    MOCK_SUBSCRIPTION,
    ProgramRun,
    RecordedResource,
    plain_strings,
    run_program,
)

pytestmark = pytest.mark.infra

ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
CONTAINER = "azure-native:storage:BlobContainer"
LIFECYCLE = "azure-native:storage:ManagementPolicy"
ROLE = "azure-native:authorization:RoleAssignment"
SUBNET = "azure-native:network:Subnet"
VM = "azure-native:compute:VirtualMachine"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
SCALE_SET = "azure-native:compute:VirtualMachineScaleSet"
RS_VAULT = "azure-native:recoveryservices:Vault"
RS_POLICY = "azure-native:recoveryservices:ProtectionPolicy"
RS_ITEM = "azure-native:recoveryservices:ProtectedItem"
COMPONENT = "ostops:infra:BackupStorage"
# A public address (the conftest's is a documentation address, which is not global).
PUBLIC_AUTOMATION_IP = "20.61.7.9"
PRODUCTION = {
    "location": "westeurope",
    "dnsLabel": "ostops-prod",
    "automationSourceCidr": AUTOMATION_SOURCE,
    "tier": "production",
}


def mock_id(resource: RecordedResource) -> str:
    return f"/subscriptions/mock/{resource.type}/{resource.name}"


@pytest.fixture(scope="module")
def runs(bootstrap_paths: dict[str, Path]) -> Iterator[dict[str, ProgramRun]]:
    patcher = pytest.MonkeyPatch()
    patcher.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    patcher.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    try:
        yield {
            "lab": run_program(BASE_CONFIG),
            "tuned": run_program(
                {
                    **BASE_CONFIG,
                    "backupSchedule": "1:05",
                    "backupRetentionDays": "45",
                    "backupSoftDeleteDays": "21",
                    "azureBackup": "true",
                    "automationSourceCidr": f"{PUBLIC_AUTOMATION_IP}/32",
                }
            ),
            "production": run_program(PRODUCTION),
        }
    finally:
        patcher.undo()


def lab_settings(run: ProgramRun) -> dict[str, Any]:
    found = embedded_settings(run.one(RUN_COMMAND).props["source"]["script"])
    assert found is not None
    return found


def web_settings(run: ProgramRun) -> dict[str, Any]:
    extensions = run.one(SCALE_SET).props["virtualMachineProfile"]["extensionProfile"]["extensions"]
    bootstrap = next(e for e in extensions if e["name"] == "bootstrap")
    found = embedded_settings(bootstrap["settings"]["source"]["script"])
    assert found is not None
    return found


# --- secure by default: one assertion per property ------------------------------------------------------


def test_https_only(runs: dict[str, ProgramRun]) -> None:
    assert runs["lab"].one(ACCOUNT).props["enableHttpsTrafficOnly"] is True


def test_tls_1_2_at_least(runs: dict[str, ProgramRun]) -> None:
    assert runs["lab"].one(ACCOUNT).props["minimumTlsVersion"] == "TLS1_2"


def test_no_anonymous_blob_access(runs: dict[str, ProgramRun]) -> None:
    assert runs["lab"].one(ACCOUNT).props["allowBlobPublicAccess"] is False


def test_no_shared_key_so_entra_id_only(runs: dict[str, ProgramRun]) -> None:
    account = runs["lab"].one(ACCOUNT).props
    assert account["allowSharedKeyAccess"] is False
    assert account["defaultToOAuthAuthentication"] is True


def test_the_public_endpoint_admits_only_the_vm_subnet_and_the_automation_address(
    runs: dict[str, ProgramRun],
) -> None:
    run = runs["lab"]
    rules = run.one(ACCOUNT).props["networkRuleSet"]
    assert rules["defaultAction"] == "Deny"
    assert rules["bypass"] == "None"
    assert rules["virtualNetworkRules"] == [
        {"virtualNetworkResourceId": mock_id(run.one(SUBNET)), "action": "Allow"}
    ]
    # Azure refuses private ranges in an IP rule: a non-public automation address gets none.
    assert rules["ipRules"] == []
    # A bare address: Azure refuses /31 and /32 in an IP rule.
    tuned = runs["tuned"].one(ACCOUNT).props["networkRuleSet"]
    assert tuned["ipRules"] == [{"iPAddressOrRange": PUBLIC_AUTOMATION_IP, "action": "Allow"}]


def test_the_vm_subnet_has_the_storage_service_endpoint(runs: dict[str, ProgramRun]) -> None:
    assert runs["lab"].one(SUBNET).props["serviceEndpoints"] == [{"service": "Microsoft.Storage"}]


def test_the_container_is_private_and_named_by_the_contract(runs: dict[str, ProgramRun]) -> None:
    container = runs["lab"].one(CONTAINER).props
    assert container["containerName"] == CONTAINER_NAME == "osticket-backups"
    assert container["publicAccess"] == "None"


def test_blob_and_container_soft_delete_default_to_14_days(runs: dict[str, ProgramRun]) -> None:
    service = runs["lab"].one(BLOB_SERVICE).props
    assert service["blobServicesName"] == "default"
    assert service["deleteRetentionPolicy"] == {"enabled": True, "days": 14, "allowPermanentDelete": False}
    assert service["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 14}
    assert service["isVersioningEnabled"] is False


def test_soft_delete_days_follow_the_config(runs: dict[str, ProgramRun]) -> None:
    service = runs["tuned"].one(BLOB_SERVICE).props
    assert service["deleteRetentionPolicy"]["days"] == 21
    assert service["containerDeleteRetentionPolicy"]["days"] == 21


STORAGE_MUTATIONS = [
    ("https-dropped", ACCOUNT, lambda p: p.pop("enableHttpsTrafficOnly")),
    ("tls-1-0", ACCOUNT, lambda p: p.update(minimumTlsVersion="TLS1_0")),
    ("tls-dropped", ACCOUNT, lambda p: p.pop("minimumTlsVersion")),
    ("public-blobs", ACCOUNT, lambda p: p.update(allowBlobPublicAccess=True)),
    ("public-blobs-dropped", ACCOUNT, lambda p: p.pop("allowBlobPublicAccess")),
    ("shared-key-dropped", ACCOUNT, lambda p: p.pop("allowSharedKeyAccess")),
    ("network-open", ACCOUNT, lambda p: p["networkRuleSet"].update(defaultAction="Allow")),
    ("network-rules-dropped", ACCOUNT, lambda p: p.pop("networkRuleSet")),
    ("public-container", CONTAINER, lambda p: p.update(publicAccess="Container")),
]


@pytest.mark.parametrize(("resource_type", "edit"), [m[1:] for m in STORAGE_MUTATIONS], ids=[m[0] for m in STORAGE_MUTATIONS])
def test_dropping_a_secure_property_is_caught_by_the_policy(
    runs: dict[str, ProgramRun], resource_type: str, edit: Any
) -> None:
    props = copy.deepcopy(runs["lab"].one(resource_type).props)
    assert all_violations(resource_type, props) == {}
    edit(props)
    assert storage_private_and_keyless(resource_type, props)
    assert "storage-private-and-keyless" in all_violations(resource_type, props)


# --- the lifecycle rule ---------------------------------------------------------------------------------


def lifecycle_rule(run: ProgramRun) -> dict[str, Any]:
    policy = run.one(LIFECYCLE).props
    assert policy["managementPolicyName"] == "default"
    (rule,) = policy["policy"]["rules"]
    assert rule["enabled"] is True and rule["type"] == "Lifecycle"
    found: dict[str, Any] = rule["definition"]
    return found


def test_the_lifecycle_rule_deletes_backups_older_than_the_retention(runs: dict[str, ProgramRun]) -> None:
    rule = lifecycle_rule(runs["lab"])
    assert rule["filters"] == {"blobTypes": ["blockBlob"], "prefixMatch": ["osticket-backups/"]}
    assert rule["actions"]["baseBlob"] == {"delete": {"daysAfterCreationGreaterThan": 30}}
    assert rule["actions"]["snapshot"] == {"delete": {"daysAfterCreationGreaterThan": 30}}
    assert lifecycle_rule(runs["tuned"])["actions"]["baseBlob"]["delete"]["daysAfterCreationGreaterThan"] == 45


def test_the_lifecycle_rule_belongs_to_the_backup_account(runs: dict[str, ProgramRun]) -> None:
    run = runs["lab"]
    assert run.one(LIFECYCLE).props["accountName"] == run.one(ACCOUNT).props["accountName"]


# --- the writer's role ----------------------------------------------------------------------------------


def writer_role(run: ProgramRun) -> dict[str, Any]:
    props: dict[str, Any] = run.one(ROLE, "-backup-writer-").props
    return props


def test_the_vm_identity_may_write_to_the_container_only(runs: dict[str, ProgramRun]) -> None:
    run = runs["lab"]
    role = writer_role(run)
    assert role["principalId"] == MOCK_PRINCIPAL
    assert role["principalType"] == "ServicePrincipal"
    assert role["roleDefinitionId"] == (
        f"/subscriptions/{MOCK_SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    )
    assert STORAGE_BLOB_DATA_CONTRIBUTOR == "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    assert role["scope"] == mock_id(run.one(CONTAINER))
    assert role["scope"] != mock_id(run.one(ACCOUNT))


def test_a_new_identity_replaces_the_assignment_old_one_first(runs: dict[str, ProgramRun]) -> None:
    options = runs["lab"].one(ROLE, "-backup-writer-").options
    assert options is not None
    assert "principalId" in options.replace_on_changes and options.delete_before_replace


def test_the_bootstrap_waits_for_the_writer_role(runs: dict[str, ProgramRun]) -> None:
    run = runs["lab"]
    options = run.one(RUN_COMMAND).options
    assert options is not None
    assert run.one(ROLE, "-backup-writer-").urn in options.dependencies


def test_every_backup_resource_is_a_child_of_the_component(runs: dict[str, ProgramRun]) -> None:
    for run in (runs["lab"], runs["production"]):
        assert run.one(COMPONENT).parent_type in {"ostops:infra:OsTicketHost", "ostops:infra:ProductionTier"}
        for resource_type in (ACCOUNT, BLOB_SERVICE, CONTAINER, LIFECYCLE):
            assert run.one(resource_type).parent_type == COMPONENT
        assert run.one(ROLE, "-backup-writer-").parent_type == COMPONENT
        registered = run.component_outputs[run.one(COMPONENT).urn]
        assert registered["backupContainerUrl"] == run.outputs["backupContainerUrl"]


# --- settings, outputs, and no key anywhere -------------------------------------------------------------


def test_the_bootstrap_gets_the_backup_settings(runs: dict[str, ProgramRun]) -> None:
    run = runs["lab"]
    account = run.one(ACCOUNT).props["accountName"]
    url = f"https://{account}.blob.core.windows.net/osticket-backups"
    assert lab_settings(run)["backup"] == {"containerUrl": url, "schedule": "02:30", "retentionDays": 30}
    assert lab_settings(runs["tuned"])["backup"]["schedule"] == "01:05"
    assert lab_settings(runs["tuned"])["backup"]["retentionDays"] == 45
    assert run.outputs["backupContainerUrl"] == url
    assert run.outputs["backupStorageAccount"] == account


def test_production_wires_the_web_instances_identity_and_both_subnets(runs: dict[str, ProgramRun]) -> None:
    run = runs["production"]
    role = writer_role(run)
    assert role["principalId"] == "principal-osticket-web-identity"
    assert role["scope"] == mock_id(run.one(CONTAINER))
    web, automation = run.one(SUBNET, "-web-subnet"), run.one(SUBNET, "-automation-subnet")
    for subnet in (web, automation):
        assert subnet.props["serviceEndpoints"] == [{"service": "Microsoft.Storage"}]
    rules = run.one(ACCOUNT).props["networkRuleSet"]["virtualNetworkRules"]
    assert [r["virtualNetworkResourceId"] for r in rules] == [mock_id(web), mock_id(automation)]
    assert "serviceEndpoints" not in run.one(SUBNET, "-database-subnet").props
    account = run.one(ACCOUNT).props["accountName"]
    assert web_settings(run)["backup"] == {
        "containerUrl": f"https://{account}.blob.core.windows.net/osticket-backups",
        "schedule": "02:30",
        "retentionDays": 30,
    }
    assert run.outputs["backupContainerUrl"].startswith(f"https://{account}.")


def test_no_storage_key_or_sas_is_ever_read_output_or_put_in_the_settings(runs: dict[str, ProgramRun]) -> None:
    for run in runs.values():
        # The program never asks Azure for a key or a SAS.
        assert not [t for t in run.calls if t.startswith("azure-native:storage:list")], run.calls
        assert not [k for k in run.outputs if re.search("accountkey|storagekey|connectionstring|sas", k.lower())]
        settings = web_settings(run) if run.config.get("tier") == "production" else lab_settings(run)
        assert set(settings["backup"]) == {"containerUrl", "schedule", "retentionDays"}
        for text in [*plain_strings(run.outputs), *plain_strings(settings)]:
            assert "AccountKey=" not in text and "sig=" not in text and "SharedAccessSignature" not in text
        assert "?" not in run.outputs["backupContainerUrl"]


@pytest.mark.parametrize(
    "url",
    [
        "https://acct.blob.core.windows.net/osticket-backups?sv=2022-11-02&sig=abc",
        "http://acct.blob.core.windows.net/osticket-backups",
        "https://user:pw@acct.blob.core.windows.net/osticket-backups",
        "https://acct.blob.core.windows.net/",
    ],
)
def test_the_settings_refuse_a_container_url_carrying_a_credential(url: str) -> None:
    with pytest.raises(ValueError, match="plain https://"):
        backup_settings(url, "02:30", 30)


# --- config ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("backupSchedule", "25:00", "is not a time of day HH:MM"),
        ("backupSchedule", "nightly", "is not a time of day HH:MM"),
        ("backupRetentionDays", "3", "outside 7-3650"),
        ("backupSoftDeleteDays", "400", "outside 1-365"),
        ("azureBackup", "yes", "is not true or false"),
    ],
)
def test_bad_backup_config_is_refused_naming_the_key(
    bootstrap_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch, key: str, value: str, problem: str
) -> None:
    monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    with pytest.raises(ConfigError) as caught:
        run_program({**BASE_CONFIG, key: value})
    assert f"ostops:{key}" in str(caught.value) and problem in str(caught.value)


def test_azure_backup_is_refused_on_production(bootstrap_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    with pytest.raises(ConfigError, match="ostops:azureBackup: is not used by ostops:tier production"):
        run_program({**PRODUCTION, "azureBackup": "true"})


# --- ostops:azureBackup ---------------------------------------------------------------------------------


def test_azure_backup_is_off_by_default(runs: dict[str, ProgramRun]) -> None:
    for resource_type in (RS_VAULT, RS_POLICY, RS_ITEM):
        assert not runs["lab"].of_type(resource_type)
        assert not runs["production"].of_type(resource_type)


def test_azure_backup_protects_the_vm_with_a_daily_enhanced_policy(runs: dict[str, ProgramRun]) -> None:
    run = runs["tuned"]
    vault = run.one(RS_VAULT).props
    assert vault["sku"] == {"name": "Standard"}
    policy = run.one(RS_POLICY).props
    assert policy["vaultName"] == "osticket-vm-backup-rsv-az"
    properties = policy["properties"]
    assert properties["backupManagementType"] == "AzureIaasVM"
    assert properties["policyType"] == "V2"  # Trusted Launch VMs need the Enhanced policy
    assert properties["timeZone"] == "UTC"
    schedule = properties["schedulePolicy"]
    assert schedule["schedulePolicyType"] == "SimpleSchedulePolicyV2"
    assert schedule["scheduleRunFrequency"] == "Daily"
    # backupSchedule 01:05: the dump first, the VM snapshot at the next full hour an hour later.
    assert schedule["dailySchedule"] == {"scheduleRunTimes": ["2024-01-01T03:00:00Z"]}
    retention = properties["retentionPolicy"]["dailySchedule"]
    assert retention["retentionDuration"] == {"count": 45, "durationType": "Days"}
    item = run.one(RS_ITEM).props
    vm = run.one(VM)
    assert item["fabricName"] == "Azure"
    assert item["containerName"] == vm_backup_container_name("osticket-rg-az", "osticket-vm-az")
    assert item["protectedItemName"] == vm_backup_item_name("osticket-rg-az", "osticket-vm-az")
    assert item["properties"]["protectedItemType"] == "Microsoft.Compute/virtualMachines"
    assert item["properties"]["sourceResourceId"] == mock_id(vm)
    assert item["properties"]["policyId"] == mock_id(run.one(RS_POLICY))
    for resource_type in (RS_VAULT, RS_POLICY, RS_ITEM):
        assert all_violations(resource_type, run.one(resource_type).props) == {}


@pytest.mark.parametrize(("schedule", "snapshot"), [("02:30", "04:00"), ("02:00", "03:00"), ("23:15", "01:00")])
def test_the_vm_snapshot_follows_the_dump(schedule: str, snapshot: str) -> None:
    assert vm_backup_time(schedule) == snapshot


def test_the_item_names_are_azure_backups_own() -> None:
    assert vm_backup_container_name("rg", "vm") == "IaasVMContainer;iaasvmcontainerv2;rg;vm"
    assert vm_backup_item_name("rg", "vm") == "VM;iaasvmcontainerv2;rg;vm"
