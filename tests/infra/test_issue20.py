"""Issue 20, the Pulumi side: destroy, re-run, data that outlives the VM, host hardening, the settings contract.

Each test runs the program under ``pulumi.runtime.set_mocks`` (tests/infra/conftest.py) and reads what the
engine would receive: the inputs, and the resource options of each RegisterResourceRequest (``protect``,
``deleteBeforeReplace``, ``deletedWith``, ``ignoreChanges``, ``dependencies``), which is what the engine acts on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from automation.errors import ConfigError
from infra import bootstrap_command
from infra.bootstrap_command import (
    MAX_INLINE_SCRIPT_BYTES,
    bootstrap_settings,
    check_script_size,
    embed_settings,
    read_bootstrap_files,
    script_digest,
    smtp_relay_settings,
)
from infra.policy.predicates import embedded_settings
from infra.replace_guard import VmReplaceGuardProvider
from infra.vault import CONTRACT_SECRET_NAMES
from tests.infra.conftest import BASE_CONFIG, REPO_ROOT, ProgramRun, is_secret, plain_strings, run_program
from tests.infra.test_config import user_pfx

pytestmark = pytest.mark.infra

VAULT = "azure-native:keyvault:Vault"
KV_SECRET = "azure-native:keyvault:Secret"
VM = "azure-native:compute:VirtualMachine"
DISK = "azure-native:compute:Disk"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
NSG = "azure-native:network:NetworkSecurityGroup"
PATCH_WINDOW = "azure-native:maintenance:MaintenanceConfiguration"
PATCH_ASSIGNMENT = "azure-native:maintenance:ConfigurationAssignment"
GUARD = "pulumi-python:dynamic/ostops:VmReplaceGuard"
RELAY = {"smtpRelayHost": "smtp.sendgrid.net", "smtpRelayUsername": "apikey"}
RELAY_PASSWORD = "SG.relay-Pass_w0rd.x"


@pytest.fixture
def program(bootstrap_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    return run_program


def settings_of(run: ProgramRun) -> dict[str, Any]:
    found = embedded_settings(run.one(RUN_COMMAND).props["source"]["script"])
    assert found is not None
    return found


def options(resource: Any) -> Any:
    assert resource.options is not None, f"no options recorded for {resource.name}"
    return resource.options


# --- 3. pulumi destroy ------------------------------------------------------------------------------------


def test_every_secret_is_deleted_with_the_vault(program_runs: dict[str, ProgramRun]) -> None:
    """pulumi-azure-native deletes a Key Vault secret through the data plane (custom_keyvault.go); the RBAC-only
    vault gives the deployer no data-plane role, so each per-secret DELETE was refused (403) and `pulumi
    destroy` failed. Every secret is now deleted with the vault (Pulumi skips its own delete)."""
    for run in program_runs.values():
        vault = run.one(VAULT)
        secrets = run.of_type(KV_SECRET)
        assert secrets
        assert {options(s).deleted_with for s in secrets} == {vault.urn}, run.config


def test_the_relay_password_is_a_vault_secret_deleted_with_the_vault(program: Any) -> None:
    run = program({**BASE_CONFIG, **RELAY}, {"smtpRelayPassword": RELAY_PASSWORD})
    (secret,) = [s for s in run.of_type(KV_SECRET) if s.props["secretName"] == "smtp-relay-password"]
    assert is_secret(secret.inputs["properties"])
    assert secret.props["properties"]["value"] == RELAY_PASSWORD
    assert options(secret).deleted_with == run.one(VAULT).urn
    for resource in run.resources:
        assert RELAY_PASSWORD not in " ".join(plain_strings(resource.inputs)), resource.name


# --- 4. re-running the bootstrap ------------------------------------------------------------------------


def test_bootstrap_run_is_folded_into_the_run_command_name(program: Any) -> None:
    """`pulumi up --replace <run command urn>` changed no input, so the new Run Command had the old name
    ("cannot create already existing resource", pulumi-azure-native#1123). A new ostops:bootstrapRun is a new
    name for the same script."""
    pfx = {"tlsPfxBase64": user_pfx(), "tlsPfxPassword": "Pfx-Pass-123"}  # one certificate for both runs
    first = program(BASE_CONFIG, pfx).one(RUN_COMMAND)
    again = program({**BASE_CONFIG, "bootstrapRun": "1"}, pfx).one(RUN_COMMAND)
    assert first.urn == again.urn  # the same Pulumi resource, replaced
    assert first.props["source"]["script"] == again.props["source"]["script"]
    digest = script_digest(first.props["source"]["script"])
    assert first.props["runCommandName"] == f"ostops-bootstrap-r0-{digest}"
    assert again.props["runCommandName"] == f"ostops-bootstrap-r1-{digest}"
    assert again.props["tags"]["bootstrap-run"] == "1"


def test_the_old_run_command_goes_before_the_new_one_runs(default_run: ProgramRun) -> None:
    command = default_run.one(RUN_COMMAND)
    assert options(command).delete_before_replace is True
    assert options(command).deleted_with == default_run.one(VM).urn


def test_the_docs_give_the_rerun_command_and_drop_the_replace_advice() -> None:
    docs = (REPO_ROOT / "docs" / "azure.md").read_text(encoding="utf-8")
    assert "pulumi config set ostops:bootstrapRun" in docs
    assert "az vm run-command create" in docs or "az vm run-command invoke" in docs
    assert not re.search(r"pulumi up --replace\s+<(urn of )?[^>]*(run ?command|bootstrap)", docs, re.IGNORECASE)
    assert not re.search(r"pulumi up --replace\s+<urn of osticket-vm>", docs)


# --- 5. data outlives the VM ---------------------------------------------------------------------------


def test_a_protected_data_disk_is_attached_at_lun_0_and_only_detached_with_the_vm(default_run: ProgramRun) -> None:
    """MariaDB's data was on the OS disk (deleteOption Delete): replacing the VM deleted every ticket."""
    disk = default_run.one(DISK)
    assert options(disk).protect is True
    assert disk.props["creationData"] == {"createOption": "Empty"}
    assert disk.props["diskSizeGB"] == 32
    assert disk.props["sku"] == {"name": "StandardSSD_LRS"}
    vm = default_run.one(VM).props
    (attached,) = vm["storageProfile"]["dataDisks"]
    assert attached["lun"] == 0
    assert attached["createOption"] == "Attach"
    assert attached["deleteOption"] == "Detach"
    assert attached["managedDisk"]["id"] == f"/subscriptions/mock/{DISK}/{disk.name}"
    assert vm["storageProfile"]["osDisk"]["deleteOption"] == "Delete"
    assert options(default_run.one(VM)).protect is False


def test_the_data_disk_size_and_sku_follow_the_config(program: Any) -> None:
    disk = program({**BASE_CONFIG, "dataDiskSizeGb": "128", "dataDiskSku": "Premium_LRS"}).one(DISK).props
    assert (disk["diskSizeGB"], disk["sku"]) == (128, {"name": "Premium_LRS"})


def test_the_vm_waits_for_the_replace_guard(program_runs: dict[str, ProgramRun]) -> None:
    run = program_runs["lab"]
    guard = run.one(GUARD)
    server = run.one(VM, "osticket-vm")
    assert guard.urn in options(server).dependencies
    assert guard.props["watched"] == {
        "location": "westeurope",
        "windowsImage": "2019-datacenter",
        "adminUsername": "ostopsadmin",
    }
    assert guard.props["allowVmReplace"] is False


def guard_state(**changes: Any) -> dict[str, Any]:
    watched = {"location": "westeurope", "windowsImage": "2022-azure-edition", "adminUsername": "ostopsadmin"}
    allow = changes.pop("allowVmReplace", False)
    return {"watched": {**watched, **changes}, "allowVmReplace": allow, "vm": "osticket-vm"}


def test_a_change_that_replaces_the_vm_is_refused_naming_it() -> None:
    provider = VmReplaceGuardProvider()
    result = provider.check(guard_state(), guard_state(windowsImage="2019-datacenter", adminUsername="helpdesk"))
    reasons = {f.property: f.reason for f in result.failures}
    assert set(reasons) == {"watched.windowsImage", "watched.adminUsername"}
    assert reasons["watched.windowsImage"].startswith(
        "ostops:windowsImage '2022-azure-edition' -> '2019-datacenter' replaces osticket-vm"
    )
    assert "ostops:allowVmReplace true" in reasons["watched.adminUsername"]


def test_the_guard_lets_an_allowed_first_or_unchanged_deployment_through() -> None:
    provider = VmReplaceGuardProvider()
    assert not provider.check(guard_state(), guard_state(windowsImage="2019-datacenter", allowVmReplace=True)).failures
    assert not provider.check({}, guard_state()).failures
    assert not provider.check(guard_state(), guard_state()).failures
    assert not provider.check(guard_state(), guard_state(allowVmReplace=True)).failures
    # Updating the guard records the new values, so the next change compares against them.
    assert provider.update("id", guard_state(), guard_state(windowsImage="x", allowVmReplace=True)).outs == (
        guard_state(windowsImage="x", allowVmReplace=True)
    )


def test_the_docs_no_longer_replace_the_vm_as_a_fix() -> None:
    docs = (REPO_ROOT / "docs" / "azure.md").read_text(encoding="utf-8")
    assert "ostops:allowVmReplace" in docs
    assert "--exclude-protected" in docs
    assert "pulumi state unprotect" in docs


# --- 9. host hardening -----------------------------------------------------------------------------------


def test_rdp_is_closed_unless_an_admin_source_is_given(program: Any) -> None:
    """RDP was accepted from up to a /8; now closed by default, and at most a /28 when opened."""
    config = {k: v for k, v in BASE_CONFIG.items() if k != "adminSourceCidr"}
    rules = program(config).one(NSG).props["securityRules"]
    assert not [r for r in rules if r["destinationPortRange"] == "3389"]
    assert {r["destinationPortRange"] for r in rules if r["access"] == "Allow"} == {"80", "443"}


def test_platform_patching_waits_for_a_window_assigned_before_the_bootstrap(default_run: ProgramRun) -> None:
    """An AutomaticByPlatform patch reboot could land mid-bootstrap: the VM opts in to scheduled patching
    (bypassPlatformSafetyChecksOnUserSchedule) and gets a weekly window before the Run Command starts."""
    vm = default_run.one(VM)
    patch = vm.props["osProfile"]["windowsConfiguration"]["patchSettings"]
    assert patch["patchMode"] == "AutomaticByPlatform"
    assert patch["automaticByPlatformSettings"]["bypassPlatformSafetyChecksOnUserSchedule"] is True
    window = default_run.one(PATCH_WINDOW)
    props = window.props
    assert props["maintenanceScope"] == "InGuestPatch"
    assert props["extensionProperties"] == {"InGuestPatchMode": "User"}
    assert props["recurEvery"] == "Week Sunday" and props["duration"] == "02:00" and props["timeZone"] == "UTC"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d 03:00", props["startDateTime"])
    assert props["installPatches"]["rebootSetting"] == "IfRequired"
    assert "startDateTime" in options(window).ignore_changes
    assignment = default_run.one(PATCH_ASSIGNMENT)
    assert assignment.props["maintenanceConfigurationId"] == f"/subscriptions/mock/{PATCH_WINDOW}/{window.name}"
    assert assignment.props["resourceName"] == f"{vm.name}-az"
    assert (assignment.props["providerName"], assignment.props["resourceType"]) == (
        "Microsoft.Compute",
        "virtualMachines",
    )
    assert assignment.urn in options(default_run.one(RUN_COMMAND)).dependencies


def test_hsts_is_off_on_a_self_signed_certificate_and_on_with_the_users(program: Any) -> None:
    """A two-year HSTS max-age on a self-signed certificate would hard-fail browsers after its renewal."""
    assert settings_of(program(BASE_CONFIG))["hsts"] == {"maxAgeSeconds": 0}
    pfx = {"tlsPfxBase64": user_pfx(), "tlsPfxPassword": "Pfx-Pass-123"}
    assert settings_of(program(BASE_CONFIG, pfx))["hsts"] == {"maxAgeSeconds": 31_536_000}
    assert settings_of(program({**BASE_CONFIG, "hstsMaxAgeSeconds": "600"}, pfx))["hsts"] == {"maxAgeSeconds": 600}


def realistic_script() -> str:
    files = read_bootstrap_files()
    return embed_settings(
        files.script,
        bootstrap_settings(
            files=files,
            osticket_version="1.18.3",
            site_host_name="a" * 63 + ".southeastasia.cloudapp.azure.com",
            helpdesk_name="x" * 120,
            admin_username="ostadmin",
            admin_email="ostadmin@" + "a" * 63 + ".southeastasia.cloudapp.azure.com",
            automation_source_ip="203.0.113.7",
            enable_db_access=True,
            vault_uri=f"https://{'k' * 24}.vault.azure.net/",
            secret_names=CONTRACT_SECRET_NAMES,
            certificate_sha256="0" * 64,
            hsts_max_age_seconds=31_536_000,
            smtp_relay=smtp_relay_settings("smtp.sendgrid.net", 587, "apikey", "smtp-relay-password"),
        ),
    )


def test_the_real_script_with_the_longest_settings_fits_the_inline_budget() -> None:
    size = len(realistic_script().encode("utf-8"))
    assert size <= MAX_INLINE_SCRIPT_BYTES, f"{size:,} bytes: over the budget, deliver by scriptUri"


def test_a_script_over_the_budget_stops_the_program_before_anything_is_created(
    bootstrap_paths: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = realistic_script()
    assert check_script_size(script) == script
    with pytest.raises(ConfigError, match=r"over the inline budget of 163,840 .* scriptUri"):
        check_script_size(script + "#" * (MAX_INLINE_SCRIPT_BYTES - len(script) + 1))
    big = tmp_path / "bootstrap.ps1"
    big.write_text(bootstrap_paths["script"].read_text(encoding="utf-8-sig") + "# " + "x" * MAX_INLINE_SCRIPT_BYTES)
    monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", big)
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    with pytest.raises(ConfigError, match="over the inline budget"):
        run_program(BASE_CONFIG)


# --- the settings contract with the bootstrap ------------------------------------------------------------


def test_the_settings_carry_the_contract_keys(default_run: ProgramRun) -> None:
    settings = settings_of(default_run)
    assert settings["dataDisk"] == {"lun": 0, "driveLetter": "F", "label": "ostops-data"}
    assert settings["hsts"] == {"maxAgeSeconds": 0}
    assert settings["smtpRelay"] is None
    assert settings["mode"] == "install"
    # The disk the settings name is the one the VM has at that LUN.
    (attached,) = default_run.one(VM).props["storageProfile"]["dataDisks"]
    assert attached["lun"] == settings["dataDisk"]["lun"]


def test_an_smtp_relay_reaches_the_settings_by_secret_name_only(program: Any) -> None:
    run = program({**BASE_CONFIG, **RELAY, "smtpRelayPort": "2525"}, {"smtpRelayPassword": RELAY_PASSWORD})
    relay = settings_of(run)["smtpRelay"]
    assert relay == {
        "host": "smtp.sendgrid.net",
        "port": 2525,
        "username": "apikey",
        "passwordSecretName": "smtp-relay-password",
    }
    assert RELAY_PASSWORD not in run.one(RUN_COMMAND).props["source"]["script"]
    # The contract's secret names stay the six; the relay's is named in smtpRelay.
    assert settings_of(run)["secrets"]["names"] == dict(CONTRACT_SECRET_NAMES)


def test_an_unauthenticated_relay_names_no_secret(program: Any) -> None:
    run = program({**BASE_CONFIG, "smtpRelayHost": "relay.corp.example", "smtpRelayPort": "25"})
    assert settings_of(run)["smtpRelay"] == {
        "host": "relay.corp.example",
        "port": 25,
        "username": None,
        "passwordSecretName": None,
    }
    assert "smtp-relay-password" not in {s.props["secretName"] for s in run.of_type(KV_SECRET)}


def test_the_serialized_guard_checks_in_a_fresh_process(tmp_path: Path) -> None:
    """What Pulumi's dynamic provider process does: unpickle the guard's provider from state, then check."""
    import json
    import subprocess
    import sys

    from pulumi.dynamic.dynamic import serialize_provider

    code = (
        "import base64, json, sys, dill\n"
        "blob, olds, news = json.loads(sys.stdin.read())\n"
        "provider = dill.loads(base64.b64decode(blob))\n"
        "print(json.dumps([[f.property, f.reason] for f in provider.check(olds, news).failures]))\n"
    )
    payload = json.dumps([serialize_provider(VmReplaceGuardProvider()), guard_state(), guard_state(location="eastus")])
    result = subprocess.run([sys.executable, "-I", "-c", code], input=payload, capture_output=True, text=True,
                            cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    ((prop, reason),) = json.loads(result.stdout)
    assert prop == "watched.location" and reason.startswith("ostops:location 'westeurope' -> 'eastus' replaces")
