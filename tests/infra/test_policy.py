"""Every policy passes on what the program builds and catches each deliberately bad resource."""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.policy import predicates
from infra.policy.predicates import (
    ADVISORY,
    POLICIES,
    PUBLISHER_VERIFICATION,
    RUN_COMMAND,
    SECURITY_GROUP,
    SECURITY_RULE,
    VIRTUAL_MACHINE,
    VM_EXTENSION,
    all_violations,
    downloads_hash_pinned,
    version_at_least,
)
from tests.infra.conftest import REPO_ROOT, ProgramRun

pytestmark = pytest.mark.infra

TAGS = {"project": "ostops", "environment": "test", "managed-by": "pulumi"}


def good_vm() -> dict[str, Any]:
    return {
        "tags": dict(TAGS),
        "securityProfile": {
            "securityType": "TrustedLaunch",
            "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
        },
        "osProfile": {
            "adminUsername": "ostopsadmin",
            "windowsConfiguration": {
                "enableAutomaticUpdates": True,
                "patchSettings": {"patchMode": "AutomaticByPlatform"},
            },
        },
    }


def script_with(settings: dict[str, Any]) -> str:
    line = json.dumps(settings, separators=(",", ":"), ensure_ascii=True, sort_keys=True)
    return f"param([string]$SettingsPath)\n$EmbeddedSettingsJson = @'\n{line}\n'@\nWrite-Output 1\n"


def good_run_command(version: str = "1.18.3") -> dict[str, Any]:
    settings = {"osTicketVersion": version, "manifest": {"downloads": {}}}
    return {"tags": dict(TAGS), "source": {"script": script_with(settings)}}


def without_version() -> dict[str, Any]:
    return {"tags": dict(TAGS), "source": {"script": script_with({"manifest": {"downloads": {}}})}}


def rule(port: str, source: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"r{port}",
        "direction": "Inbound",
        "access": "Allow",
        "protocol": "Tcp",
        "sourceAddressPrefix": source,
        "destinationPortRange": port,
        **extra,
    }


def nsg(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"tags": dict(TAGS), "securityRules": list(rules)}


def changed(base: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    props = copy.deepcopy(base)
    edit(props)
    return props


# (case id, resource type, props, the policy that must fire)
BAD_RESOURCES: list[tuple[str, str, dict[str, Any], str]] = [
    ("rdp-from-star", SECURITY_GROUP, nsg(rule("3389", "*")), "no-internet-management-ports"),
    ("rdp-from-internet-tag", SECURITY_GROUP, nsg(rule("3389", "Internet")), "no-internet-management-ports"),
    ("ssh-from-any", SECURITY_GROUP, nsg(rule("22", "Any")), "no-internet-management-ports"),
    ("mysql-from-0/0", SECURITY_GROUP, nsg(rule("3306", "0.0.0.0/0")), "no-internet-management-ports"),
    (
        "range-covering-rdp-and-mysql",
        SECURITY_GROUP,
        nsg(rule("3000-4000", "*")),
        "no-internet-management-ports",
    ),
    ("all-ports-open", SECURITY_GROUP, nsg(rule("*", "*")), "no-internet-management-ports"),
    (
        "port-list-with-winrm",
        SECURITY_GROUP,
        nsg(
            rule("80", "10.0.0.1", destinationPortRanges=["443", "5986"], sourceAddressPrefixes=["Internet"])
        ),
        "no-internet-management-ports",
    ),
    ("separate-rule-resource", SECURITY_RULE, {**rule("1433", "*")}, "no-internet-management-ports"),
    # issue 20 §9: RDP was accepted from up to a /8.
    ("rdp-from-a-slash-8", SECURITY_GROUP, nsg(rule("3389", "10.0.0.0/8")), "rdp-narrow-or-closed"),
    ("rdp-from-a-slash-27", SECURITY_RULE, {**rule("3389", "203.0.113.0/27")}, "rdp-narrow-or-closed"),
    ("rdp-from-a-tag", SECURITY_GROUP, nsg(rule("3380-3390", "VirtualNetwork")), "rdp-narrow-or-closed"),
    (
        "data-disk-deleted-with-the-vm",
        VIRTUAL_MACHINE,
        {"storageProfile": {"dataDisks": [{"lun": 0, "createOption": "Attach", "deleteOption": "Delete"}]}},
        "data-disks-kept",
    ),
    (
        "password-in-plain-parameters",
        RUN_COMMAND,
        changed(good_run_command(), lambda p: p.update(parameters=[{"name": "AdminPassword", "value": "x"}])),
        "secrets-only-protected",
    ),
    (
        "api-key-in-plain-parameters",
        RUN_COMMAND,
        changed(good_run_command(), lambda p: p.update(parameters=[{"name": "ApiKey", "value": "x"}])),
        "secrets-only-protected",
    ),
    (
        "secret-in-protected-parameters",
        RUN_COMMAND,
        changed(good_run_command(), lambda p: p.update(protectedParameters=[{"name": "DbPassword", "value": "x"}])),
        "no-secret-in-run-command-parameters",
    ),
    (
        "secret-looking-plain-parameter",
        RUN_COMMAND,
        changed(good_run_command(), lambda p: p.update(parameters=[{"name": "ApiToken", "value": "x"}])),
        "no-secret-in-run-command-parameters",
    ),
    (
        "parameters-over-1kb",
        RUN_COMMAND,
        changed(good_run_command(), lambda p: p.update(parameters=[{"name": "InstallerBase64", "value": "A" * 1024}])),
        "no-secret-in-run-command-parameters",
    ),
    (
        "parameter-with-a-space",
        RUN_COMMAND,
        changed(good_run_command(), lambda p: p.update(parameters=[{"name": "HelpdeskName", "value": "ostops Help"}])),
        "no-secret-in-run-command-parameters",
    ),
    (
        "parameter-with-a-caret",
        RUN_COMMAND,
        changed(good_run_command(), lambda p: p.update(parameters=[{"name": "Site", "value": "a^b"}])),
        "no-secret-in-run-command-parameters",
    ),
    ("nsg-without-https", SECURITY_GROUP, nsg(rule("80", "*")), "https-listener-present"),
    ("nsg-https-denied", SECURITY_GROUP, nsg(rule("443", "*", access="Deny")), "https-listener-present"),
    ("nsg-https-udp-only", SECURITY_GROUP, nsg(rule("443", "*", protocol="Udp")), "https-listener-present"),
    (
        "run-as-password",
        RUN_COMMAND,
        changed(good_run_command(), lambda p: p.update(runAsPassword="x")),
        "secrets-only-protected",
    ),
    (
        "extension-password-in-settings",
        VM_EXTENSION,
        {"tags": dict(TAGS), "settings": {"commandToExecute": "x", "adminPassword": "x"}},
        "secrets-only-protected",
    ),
    (
        "vm-user-data",
        VIRTUAL_MACHINE,
        changed(good_vm(), lambda p: p.update(userData="eA==")),
        "secrets-only-protected",
    ),
    (
        "vm-custom-data",
        VIRTUAL_MACHINE,
        changed(good_vm(), lambda p: p["osProfile"].update(customData="eA==")),
        "secrets-only-protected",
    ),
    (
        "no-security-profile",
        VIRTUAL_MACHINE,
        changed(good_vm(), lambda p: p.pop("securityProfile")),
        "trusted-launch-on",
    ),
    (
        "standard-security-type",
        VIRTUAL_MACHINE,
        changed(good_vm(), lambda p: p["securityProfile"].update(securityType="Standard")),
        "trusted-launch-on",
    ),
    (
        "secure-boot-off",
        VIRTUAL_MACHINE,
        changed(good_vm(), lambda p: p["securityProfile"]["uefiSettings"].update(secureBootEnabled=False)),
        "trusted-launch-on",
    ),
    (
        "no-vtpm",
        VIRTUAL_MACHINE,
        changed(good_vm(), lambda p: p["securityProfile"]["uefiSettings"].pop("vTpmEnabled")),
        "trusted-launch-on",
    ),
    (
        "manual-patching",
        VIRTUAL_MACHINE,
        changed(
            good_vm(),
            lambda p: p["osProfile"]["windowsConfiguration"]["patchSettings"].update(patchMode="Manual"),
        ),
        "automatic-patching-on",
    ),
    (
        "no-patch-settings",
        VIRTUAL_MACHINE,
        changed(good_vm(), lambda p: p["osProfile"]["windowsConfiguration"].pop("patchSettings")),
        "automatic-patching-on",
    ),
    (
        "automatic-updates-off",
        VIRTUAL_MACHINE,
        changed(
            good_vm(), lambda p: p["osProfile"]["windowsConfiguration"].update(enableAutomaticUpdates=False)
        ),
        "automatic-patching-on",
    ),
    (
        "untagged-resource-group",
        "azure-native:resources:ResourceGroup",
        {"location": "westeurope"},
        "required-tags-present",
    ),
    (
        "vm-missing-environment",
        VIRTUAL_MACHINE,
        changed(good_vm(), lambda p: p["tags"].pop("environment")),
        "required-tags-present",
    ),
    (
        "blank-project-tag",
        SECURITY_GROUP,
        changed(nsg(rule("443", "*")), lambda p: p["tags"].update(project=" ")),
        "required-tags-present",
    ),
    (
        "untagged-key-vault",
        "azure-native:keyvault:Vault",
        {"properties": {}},
        "required-tags-present",
    ),
    ("osticket-1.18.2", RUN_COMMAND, good_run_command("1.18.2"), "osticket-version-at-floor"),
    ("osticket-1.17.5", RUN_COMMAND, good_run_command("1.17.5"), "osticket-version-at-floor"),
    ("osticket-v1.18", RUN_COMMAND, good_run_command("v1.18"), "osticket-version-at-floor"),
    ("osticket-latest", RUN_COMMAND, good_run_command("latest"), "osticket-version-at-floor"),
    ("osticket-version-missing", RUN_COMMAND, without_version(), "osticket-version-at-floor"),
    ("no-embedded-settings", RUN_COMMAND, {"tags": dict(TAGS), "source": {"script": "x"}}, "osticket-version-at-floor"),
    # The production tier (issue 22); tests/infra/test_production_tier.py has more.
    (
        "mysql-public-access",
        "azure-native:dbformysql:Server",
        {"tags": dict(TAGS), "network": {"publicNetworkAccess": "Enabled", "delegatedSubnetResourceId": "/s"}},
        "mysql-private-and-tls",
    ),
    (
        "storage-with-shared-keys",
        "azure-native:storage:StorageAccount",
        {
            "tags": dict(TAGS), "enableHttpsTrafficOnly": True, "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False, "networkRuleSet": {"defaultAction": "Deny"},
        },
        "storage-private-and-keyless",
    ),
    ("public-container", "azure-native:storage:BlobContainer", {"publicAccess": "Blob"}, "storage-private-and-keyless"),
    (
        "gateway-without-https",
        "azure-native:network:ApplicationGateway",
        {"tags": dict(TAGS), "httpListeners": [{"name": "http", "protocol": "Http"}]},
        "https-listener-present",
    ),
]


def test_every_policy_has_bad_cases() -> None:
    assert {policy for *_, policy in BAD_RESOURCES} == set(POLICIES) - ADVISORY


@pytest.mark.parametrize(
    ("resource_type", "props", "policy"), [c[1:] for c in BAD_RESOURCES], ids=[c[0] for c in BAD_RESOURCES]
)
def test_each_bad_resource_is_caught(resource_type: str, props: dict[str, Any], policy: str) -> None:
    violations = all_violations(resource_type, props)
    assert policy in violations, violations
    assert all(message.strip() for message in violations[policy])


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (VIRTUAL_MACHINE, good_vm()),
        (RUN_COMMAND, good_run_command()),
        (RUN_COMMAND, good_run_command("1.18.10")),
        (RUN_COMMAND, good_run_command("v1.19")),
        (SECURITY_GROUP, nsg(rule("80", "*"), rule("443", "Internet"), rule("3389", "203.0.113.0/28"))),
        (
            SECURITY_GROUP,
            nsg(rule("443", "*"), rule("3389", "*", access="Deny"), rule("3306", "*", direction="Outbound")),
        ),
        (RUN_COMMAND, changed(good_run_command(), lambda p: p.update(parameters=[{"name": "Mode", "value": "full"}]))),
        (SECURITY_GROUP, nsg(rule("400-500", "Internet"))),
        ("azure-native:network:Subnet", {"addressPrefix": "10.0.0.0/24"}),
    ],
    ids=[
        "vm",
        "run-command",
        "osticket-1.18.10",
        "osticket-v1.19",
        "web-and-admin-rdp",
        "deny-and-outbound",
        "small-plain-parameter",
        "https-in-a-range",
        "subnet",
    ],
)
def test_good_resources_pass(resource_type: str, props: dict[str, Any]) -> None:
    assert all_violations(resource_type, props) == {}


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("1.18.3", True),
        ("1.18.10", True),
        ("1.19", True),
        ("2.0.0", True),
        ("v1.18.3", True),
        ("1.18.2", False),
        ("1.18", False),
        ("1.9.99", False),
        ("", False),
        ("1.18.x", False),
    ],
)
def test_version_floor_compares_numbers(version: str, ok: bool) -> None:
    assert version_at_least(version) is ok


# --- against the program's own resources --------------------------------------------------------------


def test_every_mocked_resource_passes_every_policy(program_runs: dict[str, ProgramRun]) -> None:
    checked = 0
    for variant, run in program_runs.items():
        for resource in run.resources:
            assert all_violations(resource.type, resource.props) == {}, (variant, resource.name)
            checked += 1
    assert checked > 40


def _mocked(run: ProgramRun, resource_type: str, name: str = "") -> dict[str, Any]:
    return run.one(resource_type, name).props


MUTATIONS: list[tuple[str, str, str, Callable[[dict[str, Any]], None], str]] = [
    (
        "nsg-rdp-opened",
        SECURITY_GROUP,
        "",
        lambda p: p["securityRules"][2].update(sourceAddressPrefix="*"),
        "no-internet-management-ports",
    ),
    (
        "nsg-mysql-opened",
        SECURITY_GROUP,
        "",
        lambda p: p["securityRules"].append(rule("3306", "Internet")),
        "no-internet-management-ports",
    ),
    (
        "vm-trusted-launch-dropped",
        VIRTUAL_MACHINE,
        "osticket-vm",
        lambda p: p.pop("securityProfile"),
        "trusted-launch-on",
    ),
    (
        "vm-patching-manual",
        VIRTUAL_MACHINE,
        "osticket-vm",
        lambda p: p["osProfile"]["windowsConfiguration"]["patchSettings"].update(patchMode="Manual"),
        "automatic-patching-on",
    ),
    ("vm-untagged", VIRTUAL_MACHINE, "osticket-vm", lambda p: p.pop("tags"), "required-tags-present"),
    (
        "nsg-rdp-widened",
        SECURITY_GROUP,
        "",
        lambda p: p["securityRules"][2].update(sourceAddressPrefix="198.51.100.0/24"),
        "rdp-narrow-or-closed",
    ),
    (
        "vm-data-disk-deleted-with-it",
        VIRTUAL_MACHINE,
        "osticket-vm",
        lambda p: p["storageProfile"]["dataDisks"][0].update(deleteOption="Delete"),
        "data-disks-kept",
    ),
    (
        "bootstrap-secret-as-protected-parameter",
        RUN_COMMAND,
        "",
        lambda p: p.update(protectedParameters=[{"name": "ApiKey", "value": "FEDCBA9876543210FEDCBA9876543210"}]),
        "no-secret-in-run-command-parameters",
    ),
    (
        "bootstrap-settings-back-on-the-command-line",
        RUN_COMMAND,
        "",
        lambda p: p.update(parameters=[{"name": "HelpdeskName", "value": "ostops Help Desk"}]),
        "no-secret-in-run-command-parameters",
    ),
    (
        "bootstrap-old-osticket",
        RUN_COMMAND,
        "",
        lambda p: p["source"].update(script=p["source"]["script"].replace('"osTicketVersion":"1.18.3"', '"osTicketVersion":"1.18.1"')),
        "osticket-version-at-floor",
    ),
    (
        "nsg-https-rule-removed",
        SECURITY_GROUP,
        "",
        lambda p: p.update(securityRules=[r for r in p["securityRules"] if r["destinationPortRange"] != "443"]),
        "https-listener-present",
    ),
]


@pytest.mark.parametrize(
    ("resource_type", "name", "edit", "policy"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_a_broken_copy_of_a_mocked_resource_is_caught(
    default_run: ProgramRun,
    resource_type: str,
    name: str,
    edit: Callable[[dict[str, Any]], None],
    policy: str,
) -> None:
    props = copy.deepcopy(_mocked(default_run, resource_type, name))
    assert all_violations(resource_type, props) == {}
    edit(props)
    assert policy in all_violations(resource_type, props)


# --- the PolicyPack wrapper ---------------------------------------------------------------------------


def test_the_pack_wraps_every_predicate_mandatory_unless_advisory() -> None:
    from pulumi_policy import EnforcementLevel, ResourceValidationArgs

    pack_main = importlib.import_module("infra.policy.__main__")
    policies = pack_main.build_policies()
    assert [policy.name for policy in policies] == list(POLICIES)
    for policy in policies:
        expected = EnforcementLevel.ADVISORY if policy.name in ADVISORY else EnforcementLevel.MANDATORY
        assert policy.enforcement_level == expected, policy.name
    assert {"downloads-hash-pinned"} == ADVISORY

    reported: list[str] = []
    bad_vm = changed(good_vm(), lambda p: p.pop("securityProfile"))
    for policy in policies:
        args = ResourceValidationArgs(VIRTUAL_MACHINE, bad_vm, "urn:x", "vm", None, None)  # type: ignore[arg-type]
        policy.validate(args, lambda message, _urn=None: reported.append(message))
    assert reported == predicates.trusted_launch_on(VIRTUAL_MACHINE, bad_vm)


def test_the_pack_project_file_is_python_and_uses_the_repo_venv() -> None:
    pack_file = REPO_ROOT / "infra" / "policy" / "PulumiPolicy.yaml"
    document = yaml.safe_load(pack_file.read_text(encoding="utf-8"))
    assert document["runtime"]["name"] == "python"
    venv = (pack_file.parent / document["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == (REPO_ROOT / ".venv").resolve()


def test_the_predicates_do_not_need_pulumi_policy() -> None:
    source = Path(predicates.__file__).read_text(encoding="utf-8")
    assert "pulumi_policy" not in source.replace("``pulumi_policy``", "")


# --- advisory: unpinned download hashes are reported, not blocking ---------------------------------------


def _with_manifest(downloads: dict[str, Any]) -> dict[str, Any]:
    return {"source": {"script": script_with({"manifest": {"downloads": downloads}})}}


def test_publisher_verified_downloads_need_no_pin(program_runs: dict[str, ProgramRun]) -> None:
    """The real manifest leaves some hashes 'unknown' (vcredist, urlrewrite: Authenticode; osTicket: GitHub's
    digest), each verified by its publisher, so nothing is reported."""
    from automation.manifest import METHOD_NOTES, load_manifest

    assert set(METHOD_NOTES) - {"sha256"} == PUBLISHER_VERIFICATION
    run = next(iter(program_runs.values()))
    command = run.one(RUN_COMMAND).props
    assert load_manifest().unknown_hashes(), "the case this test is about"
    assert downloads_hash_pinned(RUN_COMMAND, command) == []
    assert "downloads-hash-pinned" not in all_violations(RUN_COMMAND, command, advisory=True)


def test_pinned_downloads_pass_and_garbage_is_caught() -> None:
    pinned = {"php": {"url": "https://example.org/php.zip", "verify": "sha256", "sha256": "a" * 64}}
    assert downloads_hash_pinned(RUN_COMMAND, _with_manifest(pinned)) == []
    for method in sorted(PUBLISHER_VERIFICATION):
        verified = {"vc": {"url": "https://example.org/vc.exe", "verify": method, "sha256": "unknown"}}
        assert downloads_hash_pinned(RUN_COMMAND, _with_manifest(verified)) == [], method
    for unverified in ({"verify": "sha256", "sha256": "unknown"}, {"sha256": "unknown"}, {"verify": "md5"}):
        entry = {"php": {"url": "https://example.org/php.zip", **unverified}}
        messages = downloads_hash_pinned(RUN_COMMAND, _with_manifest(entry))
        assert len(messages) == 1 and "ostops manifest hash --write --only php" in messages[0], unverified
        assert "downloads-hash-pinned" in all_violations(RUN_COMMAND, _with_manifest(entry), advisory=True)
        assert "downloads-hash-pinned" not in all_violations(RUN_COMMAND, _with_manifest(entry))
    garbage = {"source": {"script": script_with({"manifest": {"downloads": ["php"]}})}}
    assert downloads_hash_pinned(RUN_COMMAND, garbage) == ["the embedded manifest is not a download manifest"]
    assert downloads_hash_pinned(RUN_COMMAND, {"source": {"script": "no settings"}}) != []
