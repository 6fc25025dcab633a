"""Inbound firewall rules for the help-desk subnet, as pure data first and Azure arguments second.

``inbound_rules`` decides what may come in; ``security_rule_args`` only translates. Keeping the decision
pure lets the tests check it without Pulumi, and the policy predicates check the translated result.
"""

from __future__ import annotations

from dataclasses import dataclass

from pulumi_azure_native import network

HTTP_PORT = 80
HTTPS_PORT = 443
RDP_PORT = 3389
MYSQL_PORT = 3306
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


def inbound_rules(
    admin_source_cidr: str | None, automation_source_cidr: str, enable_db_access: bool
) -> list[InboundRule]:
    """Web from anywhere, RDP from the admin only when a source is given, MySQL from the automation only when
    asked, nothing else.

    The closing deny also overrides Azure's default AllowVnetInBound and AllowAzureLoadBalancerInBound.
    """
    rules = [
        InboundRule("allow-http", 100, str(HTTP_PORT), ANYWHERE, description="help desk over HTTP"),
        InboundRule("allow-https", 110, str(HTTPS_PORT), ANYWHERE, description="help desk over HTTPS"),
    ]
    if admin_source_cidr is not None:
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


def web_inbound_rules(gateway_prefix: str = GATEWAY_SUBNET_PREFIX) -> list[InboundRule]:
    """The web instances take HTTP from the gateway's subnet only; nothing else comes in (no RDP, no MySQL)."""
    return [
        InboundRule(
            "allow-http-from-gateway", 100, str(HTTP_PORT), gateway_prefix, description="the gateway's backend"
        ),
        InboundRule(
            "deny-all-inbound", DENY_ALL_PRIORITY, ANYWHERE, ANYWHERE, access="Deny", protocol="*",
            description="nothing else comes in",
        ),
    ]


def automation_inbound_rules() -> list[InboundRule]:
    """A runner polls its CI service outbound; nothing comes in to the automation subnet."""
    return [
        InboundRule(
            "deny-all-inbound", DENY_ALL_PRIORITY, ANYWHERE, ANYWHERE, access="Deny", protocol="*",
            description="a runner or jump host is reached from inside only",
        )
    ]
