"""``ProductionTier`` (``ostops:tier production``): osTicket on a managed database behind a redundant web tier.

One resource group and virtual network, split by role (infra/network.py): Application Gateway v2 in its own
subnet (``WebGateway``), a Windows scale set of web instances (``WebScaleSet``), Azure Database for MySQL -
Flexible Server in a delegated subnet with a private DNS zone (``FlexibleDatabase``), an automation subnet for
the management path, the stack's Key Vault (``SecretsVault``, shared with the lab tier) and the site certificate
(``infra.tls``, shared too), and Azure Monitor alerts (``Monitoring``). Modelled like ``OsTicketHost`` on
pulumi/examples ``classic-azure-py-webserver-component``: an args class, children parented to the component,
outputs as attributes and registered at the end.

Instances get the same bootstrap as the lab VM with ``role: "web"`` (infra/bootstrap_command.py
``web_role_settings``): no local database, ost-config.php from Key Vault, cron elected through the database.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import authorization, managedidentity, network, resources

from infra import site, tls
from infra.backup import storage_service_endpoint
from infra.bastion import Bastion, BastionArgs
from infra.bootstrap_command import (
    WEB_ROLE,
    BootstrapFiles,
    check_script_size,
    embed_settings,
    web_role_settings,
)
from infra.config import ProductionSettings, StackConfig
from infra.database import FlexibleDatabase, FlexibleDatabaseArgs, delegation, server_name
from infra.monitoring import Monitoring, MonitoringArgs
from infra.network import (
    AUTOMATION_SUBNET_PREFIX,
    DATABASE_SUBNET_PREFIX,
    GATEWAY_SUBNET_PREFIX,
    WEB_SUBNET_PREFIX,
    automation_inbound_rules,
    security_group,
    virtual_network,
    web_inbound_rules,
)
from infra.passwords import random_password, secret_or_random
from infra.site import DB_NAME, DB_USER, TABLE_PREFIX
from infra.vault import SECRET_NAMES, SecretsVault, SecretsVaultArgs
from infra.web_tier import WebGateway, WebGatewayArgs, WebScaleSet, WebScaleSetArgs

COMPONENT_TYPE = "ostops:infra:ProductionTier"
# The Flexible Server's administrator. Not one of the names Azure reserves (azure_superuser, admin,
# administrator, root, guest, public); the web role creates the osTicket user with it.
MYSQL_ADMIN_LOGIN = "ostopsdba"
SECRET_SALT_LENGTH = 64
MANAGEMENT_ROUTE = (
    "Run ostops (seed, run, verify, report, backup) from a self-hosted runner or jump host in the automation "
    "subnet, or through an Azure Bastion tunnel into it; the database has no public endpoint (docs/azure.md, "
    "'Management path')"
)
BASTION_ROUTE = (
    "Through Azure Bastion (`az network bastion tunnel` or `rdp`) to a jump host in the automation subnet, and "
    "ostops from there; the database has no public endpoint and no NSG lets RDP or WinRM in from the internet "
    "(docs/azure.md, 'Management path')"
)


class ProductionTierArgs:
    def __init__(self, config: StackConfig, bootstrap_files: BootstrapFiles) -> None:
        if config.production is None:
            raise ValueError("ProductionTier needs ostops:tier production")
        self.config = config
        self.settings: ProductionSettings = config.production
        self.bootstrap_files = bootstrap_files


class ProductionTier(pulumi.ComponentResource):
    resource_group: resources.ResourceGroup
    virtual_network: network.VirtualNetwork
    subnets: dict[str, network.Subnet]
    vault: SecretsVault
    database: FlexibleDatabase
    gateway: WebGateway
    web: WebScaleSet
    monitoring: Monitoring

    def __init__(self, name: str, args: ProductionTierArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        config, settings = args.config, args.settings
        self.config = config
        tags = dict(config.tags)
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))

        self.resource_group = resources.ResourceGroup(f"{name}-rg", location=config.location, tags=tags, opts=child)
        self.resource_group_name = self.resource_group.name
        self._network(name, tags)

        self.credentials = site.credentials(config, name, self)
        self.admin_username = self.credentials.admin_username
        self.admin_password = self.credentials.admin_password
        self.osticket_admin_username = self.credentials.osticket_admin_username
        self.osticket_admin_password = self.credentials.osticket_admin_password
        self.db_app_password = self.credentials.db_app_password
        self.api_key = self.credentials.api_key
        self.mysql_admin_password = random_password(f"{name}-mysql-admin-password", self)
        self.secret_salt = secret_or_random(
            settings.secret_salt,
            f"{name}-secret-salt",
            self,
            lambda n, parent: random_password(n, parent, length=SECRET_SALT_LENGTH),
        )

        # The certificate names the gateway's FQDN, which the config determines (the label is unique in the region).
        self.fqdn_expected = config.fqdn
        self.tls = site.certificate(config, name, config.fqdn, self, gateway=True)
        self.certificate_pem = self.tls.certificate_pem

        # The web instances read their bootstrap secrets, the gateway its certificate, each as its own identity.
        self.web_identity, self.gateway_identity = (
            managedidentity.UserAssignedIdentity(
                f"{name}-{role}-identity", resource_group_name=self.resource_group_name, location=config.location,
                tags=tags, opts=child,
            )
            for role in ("web", "gateway")
        )
        secrets = self._secrets()
        self.vault = SecretsVault(
            f"{name}-vault",
            SecretsVaultArgs(
                resource_group_name=self.resource_group_name,
                location=config.location,
                tags=tags,
                purge_protection=config.key_vault_purge_protection,
                secrets=secrets,
                reader_principal_id=self.web_identity.principal_id,
                reader_description="The web instances read their bootstrap secrets",
                more_readers={"gateway": self.gateway_identity.principal_id},
            ),
            child,
        )

        mysql_server = server_name(config.dns_label)
        self.database = FlexibleDatabase(
            f"{name}-db",
            FlexibleDatabaseArgs(
                resource_group_name=self.resource_group_name,
                location=config.location,
                server_name=mysql_server,
                database_name=DB_NAME,
                admin_login=MYSQL_ADMIN_LOGIN,
                admin_password=self.mysql_admin_password,
                settings=settings,
                delegated_subnet_id=self.subnets["database"].id,
                virtual_network_id=self.virtual_network.id,
                tags=tags,
            ),
            child,
        )

        self.gateway = WebGateway(
            f"{name}-gw",
            WebGatewayArgs(
                resource_group_name=self.resource_group_name,
                location=config.location,
                dns_label=config.dns_label,
                subnet_id=self.subnets["gateway"].id,
                subscription_id=client.subscription_id,
                certificate_secret_id=self.vault.vault_uri.apply(
                    lambda uri: f"{uri.rstrip('/')}/secrets/{SECRET_NAMES['gatewayPfx']}"
                ),
                hsts_max_age_seconds=config.hsts_max_age_seconds,
                tags=tags,
                depends_on=[self.vault.more_reader_roles["gateway"], self.vault.secrets["gatewayPfx"]],
            ),
            self.gateway_identity,
            child,
        )
        self.fqdn = self.gateway.fqdn
        # The web instances write the nightly backup (the bootstrap's own election decides which one); the
        # automation subnet may read it for a restore drill.
        self.backup = site.backup_storage(
            name, config, resource_group_name=self.resource_group_name, tags=tags,
            subnet_ids=[self.subnets["web"].id, self.subnets["automation"].id],
            writers={"web-instances": self.web_identity.principal_id}, opts=child,
        )

        files = args.bootstrap_files
        names = {key: SECRET_NAMES[key] for key in secrets}

        def settings_for(
            fqdn: str, vault_uri: str, certificate_sha256: str, db_host: str, client_id: str, backup_url: str
        ) -> dict[str, Any]:
            base = site.settings(
                config,
                files,
                fqdn=fqdn,
                vault_uri=vault_uri,
                certificate_sha256=certificate_sha256,
                secret_names=names,
                enable_db_access=False,
                backup_container_url=backup_url,
            )
            return web_role_settings(
                base,
                database_host=db_host,
                database_name=DB_NAME,
                database_user=DB_USER,
                table_prefix=TABLE_PREFIX,
                admin_login=MYSQL_ADMIN_LOGIN,
                trusted_proxies=GATEWAY_SUBNET_PREFIX,
                identity_client_id=client_id,
                secret_names=names,
            )

        # The size budget with the longest values Azure can give, before anything is created.
        check_script_size(
            embed_settings(
                files.scripts[WEB_ROLE],
                settings_for(
                    config.fqdn, site.LONGEST_VAULT_URI, site.LONGEST_SHA256, "x" * 90, "0" * 36,
                    site.LONGEST_CONTAINER_URL,
                ),
            )
        )
        script = pulumi.Output.all(
            self.fqdn, self.vault.vault_uri, self.certificate_pem, self.database.fqdn, self.web_identity.client_id,
            self.backup.container_url,
        ).apply(
            lambda parts: check_script_size(
                embed_settings(
                    files.scripts[WEB_ROLE],
                    settings_for(
                        parts[0], parts[1], tls.certificate_sha256(parts[2]), parts[3], parts[4] or "", parts[5]
                    ),
                )
            )
        )
        self.web = WebScaleSet(
            f"{name}-web",
            WebScaleSetArgs(
                config=config,
                settings=settings,
                resource_group_name=self.resource_group_name,
                subnet_id=self.subnets["web"].id,
                backend_pool_id=self.gateway.backend_pool_id,
                identity_id=self.web_identity.id,
                admin_password=self.admin_password,
                script=script,
                tags=tags,
                # Secrets readable and the database reachable (TLS enforced) before any instance bootstraps.
                depends_on=[
                    self.vault.reader_role,
                    *self.vault.secrets.values(),
                    self.database.server,
                    *self.database.parameters.values(),
                    self.database.database,
                    self.gateway.gateway,
                    *self.backup.writer_roles.values(),
                ],
            ),
            child,
        )
        self.monitoring = Monitoring(
            f"{name}-monitoring",
            MonitoringArgs(
                resource_group_name=self.resource_group_name,
                gateway_id=self.gateway.gateway.id,
                database_id=self.database.server.id,
                alert_email=settings.alert_email,
                tags=tags,
            ),
            child,
        )

        urls = site.urls(self.fqdn)
        self.helpdesk_url, self.staff_url, self.api_url = urls.helpdesk, urls.staff, urls.api
        self.db_host = self.database.fqdn
        self.management_route: dict[str, pulumi.Input[str]] = {
            "kind": site.ROUTE_BASTION if self.bastion is not None else site.ROUTE_AUTOMATION_SUBNET,
            "subnetId": self.subnets["automation"].id,
            "subnetPrefix": AUTOMATION_SUBNET_PREFIX,
            "virtualNetwork": self.virtual_network.name,
            "resourceGroup": self.resource_group_name,
            "dbHost": self.database.fqdn,
            "how": MANAGEMENT_ROUTE if self.bastion is None else BASTION_ROUTE,
            **({"bastionName": self.bastion.bastion_name} if self.bastion is not None else {}),
        }
        self.register_outputs(
            {
                "helpdeskUrl": self.helpdesk_url,
                "fqdn": self.fqdn,
                "dbHost": self.db_host,
                "keyVaultName": self.vault.vault_name,
                "scaleSetName": self.web.scale_set.name,
                "managementRoute": self.management_route,
                "backupContainerUrl": self.backup.container_url,
                "backupStorageAccount": self.backup.account_name,
            }
        )

    def _secrets(self) -> dict[str, pulumi.Input[str]]:
        gateway_pfx = self.tls.gateway_pfx_base64
        if gateway_pfx is None:
            raise ValueError("the production tier needs the gateway's copy of the certificate")
        return {
            **site.secrets(self.config, self.credentials, self.tls),
            "mysqlAdminPassword": self.mysql_admin_password,
            "secretSalt": self.secret_salt,
            "gatewayPfx": gateway_pfx,
        }

    def _network(self, name: str, tags: dict[str, str]) -> None:
        """The /16 with the gateway, web, database (delegated) and automation subnets."""
        bastion = self.config.bastion
        where: dict[str, Any] = {"resource_group_name": self.resource_group_name, "location": self.config.location, "tags": tags}
        self.web_security_group = security_group(
            f"{name}-web-nsg", web_inbound_rules(bastion=bastion), parent=self, **where
        )
        self.automation_security_group = security_group(
            f"{name}-automation-nsg", automation_inbound_rules(bastion=bastion), parent=self, **where
        )
        self.virtual_network = virtual_network(f"{name}-vnet", parent=self, **where)
        layout: list[tuple[str, str, dict[str, Any]]] = [
            # Application Gateway alone in its subnet, no NSG on it (the gateway's own management ports).
            ("gateway", GATEWAY_SUBNET_PREFIX, {}),
            # web and automation reach the backup storage through its virtual network rules (infra/backup.py).
            (
                "web",
                WEB_SUBNET_PREFIX,
                {
                    "network_security_group": network.NetworkSecurityGroupArgs(id=self.web_security_group.id),
                    "service_endpoints": storage_service_endpoint(),
                },
            ),
            ("database", DATABASE_SUBNET_PREFIX, {"delegations": [delegation()]}),
            (
                "automation",
                AUTOMATION_SUBNET_PREFIX,
                {
                    "network_security_group": network.NetworkSecurityGroupArgs(id=self.automation_security_group.id),
                    "service_endpoints": storage_service_endpoint(),
                },
            ),
        ]
        self.subnets = {}
        previous: list[pulumi.Resource] = []
        for role, prefix, extra in layout:
            # One after another, so that no two changes to the virtual network overlap.
            subnet = network.Subnet(
                f"{name}-{role}-subnet",
                resource_group_name=self.resource_group_name,
                virtual_network_name=self.virtual_network.name,
                subnet_name=role,
                address_prefix=prefix,
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
                **extra,
            )
            self.subnets[role] = subnet
            previous = [subnet]
        self.bastion = (
            Bastion(
                f"{name}-bastion",
                BastionArgs(
                    resource_group_name=self.resource_group_name,
                    location=self.config.location,
                    virtual_network_name=self.virtual_network.name,
                    sku=self.config.bastion_sku,
                    tags=tags,
                    depends_on=previous,
                ),
                pulumi.ResourceOptions(parent=self),
            )
            if bastion
            else None
        )
