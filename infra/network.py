"""Inbound firewall rules for the help-desk subnet, as pure data first and Azure arguments second.

``inbound_rules`` decides what may come in; ``security_rule_args`` only translates. Keeping the decision
pure lets the tests check it without Pulumi, and the policy predicates check the translated result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network

HTTP_PORT = 80
HTTPS_PORT = 443
RDP_PORT = 3389
SSH_PORT = 22
MYSQL_PORT = 3306
# Windows Remote Management over HTTP and HTTPS: never opened, but a rule that did would be remote admin.
WINRM_PORTS = (5985, 5986)
REMOTE_ADMIN_PORTS = frozenset({RDP_PORT, SSH_PORT, *WINRM_PORTS})
ANYWHERE = "*"
DENY_ALL_PRIORITY = 4096


@dataclass(frozen=True)
class InboundRule:
    name: str
    priority: int
    port: str
    source: str
    access: str = "Allow"
    protocol: str = "Tcp"
    description: str = ""


# Azure Bastion (ostops:bastion): its subnet must be named AzureBastionSubnet and be "/26 or larger"
# (MicrosoftDocs azure-docs articles/bastion/configuration-settings.md, "Azure Bastion subnet"). The same /26 in
# both tiers' /16, clear of their other subnets.
BASTION_SUBNET_NAME = "AzureBastionSubnet"
BASTION_SUBNET_PREFIX = "10.20.4.0/26"


def bastion_rdp_rule(priority: int = 120, ports: tuple[int, ...] = (RDP_PORT,)) -> list[InboundRule]:
    """RDP (and SSH where asked) from the Bastion subnet only: "Azure Bastion will reach to the target VM over
    private IP. RDP/SSH ports (ports 3389/22 respectively) need to be opened on the target VM side over private
    IP ... add the Azure Bastion Subnet IP address range in this rule" (articles/bastion/bastion-nsg.md, Target
    VM Subnet). Without it the closing deny-all would also stop Bastion."""
    names = {RDP_PORT: "rdp", SSH_PORT: "ssh"}
    return [
        InboundRule(
            f"allow-{names[port]}-bastion", priority + 10 * index, str(port), BASTION_SUBNET_PREFIX,
            description=f"{names[port].upper()} through Azure Bastion only",
        )
        for index, port in enumerate(ports)
    ]


def public_remote_admin(rules: list[InboundRule]) -> list[InboundRule]:
    """The rules that let RDP, SSH or WinRM in from anywhere but the Bastion subnet."""

    def ports(rule: InboundRule) -> set[int]:
        if rule.port == ANYWHERE:
            return set(REMOTE_ADMIN_PORTS)
        low, _, high = rule.port.partition("-")
        return {p for p in REMOTE_ADMIN_PORTS if int(low) <= p <= int(high or low)}

    return [
        rule for rule in rules
        if rule.access == "Allow" and ports(rule) and rule.source != BASTION_SUBNET_PREFIX
    ]


def inbound_rules(
    admin_source_cidr: str | None, automation_source_cidr: str, enable_db_access: bool, bastion: bool = False
) -> list[InboundRule]:
    """Web from anywhere, RDP from the admin only when a source is given (or from Azure Bastion's subnet only,
    with ``bastion``), MySQL from the automation only when asked, nothing else.

    The closing deny also overrides Azure's default AllowVnetInBound and AllowAzureLoadBalancerInBound.
    """
    rules = [
        InboundRule("allow-http", 100, str(HTTP_PORT), ANYWHERE, description="help desk over HTTP"),
        InboundRule("allow-https", 110, str(HTTPS_PORT), ANYWHERE, description="help desk over HTTPS"),
    ]
    if bastion:
        if admin_source_cidr is not None:
            raise ValueError("with Azure Bastion no public RDP rule is made: leave the admin source unset")
        rules.extend(bastion_rdp_rule())
    elif admin_source_cidr is not None:
        rules.append(
            InboundRule(
                "allow-rdp-admin", 120, str(RDP_PORT), admin_source_cidr, description="RDP from the admin"
            )
        )
    if enable_db_access:
        rules.append(
            InboundRule(
                "allow-mysql-automation",
                130,
                str(MYSQL_PORT),
                automation_source_cidr,
                description="MySQL for seeding and verification from the automation host",
            )
        )
    rules.append(
        InboundRule(
            "deny-all-inbound",
            DENY_ALL_PRIORITY,
            ANYWHERE,
            ANYWHERE,
            access="Deny",
            protocol="*",
            description="nothing else comes in",
        )
    )
    return rules


def security_rule_args(rule: InboundRule) -> network.SecurityRuleArgs:
    return network.SecurityRuleArgs(
        name=rule.name,
        description=rule.description,
        priority=rule.priority,
        direction=network.SecurityRuleDirection.INBOUND,
        access=rule.access,
        protocol=rule.protocol,
        source_address_prefix=rule.source,
        source_port_range=ANYWHERE,
        destination_address_prefix=ANYWHERE,
        destination_port_range=rule.port,
    )


# --- the production tier -----------------------------------------------------------------------------------

# One /16 as the lab's, split by role. The gateway's subnet holds Application Gateway alone; the database's is
# delegated to the Flexible Server; the automation subnet is where a self-hosted runner or jump host sits (the
# management path to the private database, docs/azure.md).
GATEWAY_SUBNET_PREFIX = "10.20.0.0/24"
WEB_SUBNET_PREFIX = "10.20.1.0/24"
DATABASE_SUBNET_PREFIX = "10.20.2.0/24"
AUTOMATION_SUBNET_PREFIX = "10.20.3.0/24"


def web_inbound_rules(gateway_prefix: str = GATEWAY_SUBNET_PREFIX, bastion: bool = False) -> list[InboundRule]:
    """The web instances take HTTP from the gateway's subnet only, and RDP from Azure Bastion's subnet with
    ``bastion``; nothing else comes in (no public RDP, no MySQL)."""
    return [
        InboundRule(
            "allow-http-from-gateway", 100, str(HTTP_PORT), gateway_prefix, description="the gateway's backend"
        ),
        *(bastion_rdp_rule() if bastion else []),
        InboundRule(
            "deny-all-inbound", DENY_ALL_PRIORITY, ANYWHERE, ANYWHERE, access="Deny", protocol="*",
            description="nothing else comes in",
        ),
    ]


def automation_inbound_rules(bastion: bool = False) -> list[InboundRule]:
    """A runner polls its CI service outbound; nothing comes in to the automation subnet, but RDP and SSH from
    Azure Bastion's subnet to a jump host there with ``bastion``."""
    return [
        *(bastion_rdp_rule(ports=(RDP_PORT, SSH_PORT)) if bastion else []),
        InboundRule(
            "deny-all-inbound", DENY_ALL_PRIORITY, ANYWHERE, ANYWHERE, access="Deny", protocol="*",
            description="a runner or jump host is reached from inside only",
        )
    ]


# --- the Azure resources both tiers make from the rules above ----------------------------------------------

# Both tiers' address space; their subnets are carved from it above (and in infra/host.py for the lab).
VNET_PREFIX = "10.20.0.0/16"


def security_group(
    name: str,
    rules: list[InboundRule],
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> network.NetworkSecurityGroup:
    return network.NetworkSecurityGroup(
        name,
        resource_group_name=resource_group_name,
        location=location,
        security_rules=[security_rule_args(rule) for rule in rules],
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def virtual_network(
    name: str, *, resource_group_name: pulumi.Input[str], location: str, tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> network.VirtualNetwork:
    return network.VirtualNetwork(
        name,
        resource_group_name=resource_group_name,
        location=location,
        address_space=network.AddressSpaceArgs(address_prefixes=[VNET_PREFIX]),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def standard_public_ip(
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
    dns_label: str | None = None,
    zones: Sequence[str] | None = None,
    aliases: Sequence[pulumi.Alias] = (),
) -> network.PublicIPAddress:
    """A static IPv4 address of the Standard SKU (what the VMs, the gateway and Bastion each need)."""
    return network.PublicIPAddress(
        name,
        resource_group_name=resource_group_name,
        location=location,
        sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
        public_ip_allocation_method=network.IPAllocationMethod.STATIC,
        public_ip_address_version="IPv4",
        dns_settings=network.PublicIPAddressDnsSettingsArgs(domain_name_label=dns_label) if dns_label else None,
        zones=list(zones) if zones else None,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, aliases=list(aliases)),
    )
