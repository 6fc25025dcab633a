"""Azure Bastion (``ostops:bastion``) in either tier, under Pulumi mocks: each secure-by-default property its own
assertion, so that dropping one fails exactly one test.

Facts (infra/bastion.py): "Subnet name must be AzureBastionSubnet", "Subnet size must be /26 or larger", the
public IP "SKU must be Standard" and "allocation method must be Static" (MicrosoftDocs azure-docs
articles/bastion/configuration-settings.md); the target subnets take RDP/SSH from the Bastion subnet's range
(articles/bastion/bastion-nsg.md); CLI connections need Standard (includes/bastion-sku.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import bootstrap_command
from infra.network import (
    BASTION_SUBNET_PREFIX,
    RDP_PORT,
    REMOTE_ADMIN_PORTS,
    SSH_PORT,
    VNET_PREFIX,
    InboundRule,
    automation_inbound_rules,
    inbound_rules,
    public_remote_admin,
    web_inbound_rules,
)
from tests.infra.conftest import (
    ADMIN_SOURCE,
    AUTOMATION_SOURCE,
    BASE_CONFIG,
    ProgramRun,
    RecordedResource,
    run_program,
)
from tests.infra.test_production_tier import PRODUCTION

pytestmark = pytest.mark.infra

BASTION = "azure-native:network:BastionHost"
SUBNET = "azure-native:network:Subnet"
PUBLIC_IP = "azure-native:network:PublicIPAddress"
NSG = "azure-native:network:NetworkSecurityGroup"
LAB_BASTION = {**{k: v for k, v in BASE_CONFIG.items() if k != "adminSourceCidr"}, "bastion": "true"}


@pytest.fixture(scope="module")
def runs(bootstrap_paths: dict[str, Path]) -> Iterator[dict[str, ProgramRun]]:
    patcher = pytest.MonkeyPatch()
    patcher.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    patcher.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    try:
        yield {
            "lab": run_program(LAB_BASTION),
            "lab-basic": run_program({**LAB_BASTION, "bastionSku": "Basic", "labClient": "true"}),
            "production": run_program({**PRODUCTION, "bastion": "true"}),
            "lab-default": run_program(BASE_CONFIG),
            "production-default": run_program(PRODUCTION),
        }
    finally:
        patcher.undo()


TIERS = ["lab", "production"]


def bastion_subnet(run: ProgramRun) -> RecordedResource:
    return run.one(SUBNET, "bastion")


def mock_id(resource: RecordedResource) -> str:
    return f"/subscriptions/mock/{resource.type}/{resource.name}"


def rules_of(nsg: RecordedResource) -> list[InboundRule]:
    return [
        InboundRule(r["name"], int(r["priority"]), r["destinationPortRange"], r["sourceAddressPrefix"], r["access"],
                    r["protocol"])
        for r in nsg.props["securityRules"]
    ]


# --- off unless asked ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["lab-default", "production-default"])
def test_bastion_is_off_by_default(runs: dict[str, ProgramRun], key: str) -> None:
    assert runs[key].of_type(BASTION) == []
    assert runs[key].outputs["managementRoute"]["kind"] != "bastion"


# --- the subnet, the address, the host -----------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_the_subnet_is_named_azure_bastion_subnet(runs: dict[str, ProgramRun], tier: str) -> None:
    assert bastion_subnet(runs[tier]).props["subnetName"] == "AzureBastionSubnet"


@pytest.mark.parametrize("tier", TIERS)
def test_the_subnet_is_a_26_or_larger(runs: dict[str, ProgramRun], tier: str) -> None:
    network = ipaddress.ip_network(bastion_subnet(runs[tier]).props["addressPrefix"])
    assert network.prefixlen <= 26


@pytest.mark.parametrize("tier", TIERS)
def test_the_subnet_is_in_the_vnet_and_overlaps_no_other(runs: dict[str, ProgramRun], tier: str) -> None:
    run = runs[tier]
    mine = ipaddress.ip_network(bastion_subnet(run).props["addressPrefix"])
    assert mine.subnet_of(ipaddress.ip_network(VNET_PREFIX))
    others = [ipaddress.ip_network(s.props["addressPrefix"]) for s in run.of_type(SUBNET) if "bastion" not in s.name]
    assert others and not [o for o in others if o.overlaps(mine)]


@pytest.mark.parametrize("tier", TIERS)
def test_the_subnet_holds_nothing_but_bastion(runs: dict[str, ProgramRun], tier: str) -> None:
    subnet = bastion_subnet(runs[tier])
    assert "delegations" not in subnet.props and "networkSecurityGroup" not in subnet.props


@pytest.mark.parametrize("tier", TIERS)
def test_the_public_ip_is_standard(runs: dict[str, ProgramRun], tier: str) -> None:
    assert runs[tier].one(PUBLIC_IP, "bastion").props["sku"]["name"] == "Standard"


@pytest.mark.parametrize("tier", TIERS)
def test_the_public_ip_is_static(runs: dict[str, ProgramRun], tier: str) -> None:
    assert runs[tier].one(PUBLIC_IP, "bastion").props["publicIPAllocationMethod"] == "Static"


@pytest.mark.parametrize("tier", TIERS)
def test_the_host_uses_that_subnet_and_address(runs: dict[str, ProgramRun], tier: str) -> None:
    run = runs[tier]
    config = run.one(BASTION).props["ipConfigurations"][0]
    assert config["subnet"]["id"] == mock_id(bastion_subnet(run))
    assert config["publicIPAddress"]["id"] == mock_id(run.one(PUBLIC_IP, "bastion"))


@pytest.mark.parametrize("tier", TIERS)
def test_the_default_sku_is_standard(runs: dict[str, ProgramRun], tier: str) -> None:
    assert runs[tier].one(BASTION).props["sku"]["name"] == "Standard"


@pytest.mark.parametrize("tier", TIERS)
def test_standard_allows_cli_tunnels(runs: dict[str, ProgramRun], tier: str) -> None:
    assert runs[tier].one(BASTION).props["enableTunneling"] is True


def test_basic_is_chosen_by_the_stack_and_has_no_tunnels(runs: dict[str, ProgramRun]) -> None:
    host = runs["lab-basic"].one(BASTION)
    assert host.props["sku"]["name"] == "Basic"
    assert host.props["enableTunneling"] is False


@pytest.mark.parametrize("key", ["lab", "lab-basic", "production"])
def test_no_shareable_links(runs: dict[str, ProgramRun], key: str) -> None:
    assert runs[key].one(BASTION).props["enableShareableLink"] is False


@pytest.mark.parametrize("tier", TIERS)
def test_the_bastion_is_a_component_of_the_tier(runs: dict[str, ProgramRun], tier: str) -> None:
    run = runs[tier]
    assert run.one(BASTION).parent_type == "ostops:infra:Bastion"
    component = run.one("ostops:infra:Bastion")
    assert component.parent_type == ("ostops:infra:OsTicketHost" if tier == "lab" else "ostops:infra:ProductionTier")


# --- no public RDP or WinRM ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["lab", "lab-basic", "production"])
def test_no_security_group_lets_rdp_or_winrm_in_from_outside(runs: dict[str, ProgramRun], key: str) -> None:
    nsgs = runs[key].of_type(NSG)
    assert nsgs
    for nsg in nsgs:
        assert public_remote_admin(rules_of(nsg)) == [], nsg.name


@pytest.mark.parametrize("key", ["lab", "production"])
def test_bastion_itself_may_reach_rdp(runs: dict[str, ProgramRun], key: str) -> None:
    """Without this rule the closing deny-all would stop Bastion too."""
    for nsg in runs[key].of_type(NSG):
        allowed = {(r.port, r.source) for r in rules_of(nsg) if r.access == "Allow"}
        assert (str(RDP_PORT), BASTION_SUBNET_PREFIX) in allowed, nsg.name


def test_the_lab_client_shares_the_subnet_without_public_rdp(runs: dict[str, ProgramRun]) -> None:
    run = runs["lab-basic"]
    assert run.one("azure-native:compute:VirtualMachine", "lab-client")
    assert public_remote_admin(rules_of(run.one(NSG))) == []


def test_the_check_catches_public_rdp_and_winrm() -> None:
    """The predicate the tests above rely on finds what it must: RDP from the admin, WinRM, any port."""
    assert public_remote_admin(inbound_rules(ADMIN_SOURCE, AUTOMATION_SOURCE, False))
    assert public_remote_admin([InboundRule("winrm", 100, "5986", "*")])
    assert public_remote_admin([InboundRule("all", 100, "*", "203.0.113.0/28")])
    assert public_remote_admin([InboundRule("range", 100, "3000-4000", "*")])
    assert not public_remote_admin([InboundRule("deny", 100, "3389", "*", access="Deny")])
    assert {3389, 22, 5985, 5986} == REMOTE_ADMIN_PORTS


@pytest.mark.parametrize(
    "rules",
    [
        inbound_rules(None, AUTOMATION_SOURCE, True, bastion=True),
        web_inbound_rules(bastion=True),
        automation_inbound_rules(bastion=True),
    ],
    ids=["lab", "web", "automation"],
)
def test_bastion_rules_stay_before_the_closing_deny(rules: list[InboundRule]) -> None:
    assert rules[-1].access == "Deny" and rules[-1].priority == max(r.priority for r in rules)
    assert len({r.priority for r in rules}) == len(rules) == len({r.name for r in rules})


def test_the_automation_subnet_takes_ssh_from_bastion_for_a_linux_jump_host() -> None:
    allowed = {(r.port, r.source) for r in automation_inbound_rules(bastion=True) if r.access == "Allow"}
    assert allowed == {(str(RDP_PORT), BASTION_SUBNET_PREFIX), (str(SSH_PORT), BASTION_SUBNET_PREFIX)}


def test_no_admin_source_with_bastion_in_the_rules() -> None:
    with pytest.raises(ValueError, match="Bastion"):
        inbound_rules(ADMIN_SOURCE, AUTOMATION_SOURCE, False, bastion=True)


# --- the management route --------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_the_management_route_says_bastion(runs: dict[str, ProgramRun], tier: str) -> None:
    route: dict[str, Any] = runs[tier].outputs["managementRoute"]
    assert route["kind"] == "bastion"
    assert route["bastionName"] == runs[tier].one(BASTION).name + "-az"
    assert "Bastion" in route["how"]


def test_without_bastion_the_routes_say_how_else(runs: dict[str, ProgramRun]) -> None:
    assert runs["lab-default"].outputs["managementRoute"]["kind"] == "public"
    assert ADMIN_SOURCE in runs["lab-default"].outputs["managementRoute"]["how"]
    assert runs["production-default"].outputs["managementRoute"]["kind"] == "automation-subnet"
    assert runs["lab-default"].outputs["tier"] == "lab"


# --- the config ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({**LAB_BASTION, "adminSourceCidr": ADMIN_SOURCE}, "ostops:adminSourceCidr", "through Azure Bastion only"),
        ({**BASE_CONFIG, "bastionSku": "Standard"}, "ostops:bastionSku", "needs ostops:bastion"),
        ({**LAB_BASTION, "bastionSku": "Developer"}, "ostops:bastionSku", "Standard, Basic"),
        ({**LAB_BASTION, "bastion": "yes"}, "ostops:bastion", "not true or false"),
    ],
)
def test_bad_bastion_settings_are_refused_by_key(config: dict[str, str], key: str, words: str) -> None:
    from tests.infra.test_config import refused

    error = refused(config)
    line = next(line for line in str(error).splitlines() if line.startswith(key + ":"))
    assert words in line, line


def test_the_lab_client_needs_no_admin_source_with_bastion() -> None:
    from tests.infra.test_config import load

    config = load({**LAB_BASTION, "labClient": "true"})
    assert config.bastion and config.lab_client and config.admin_source_cidr is None
