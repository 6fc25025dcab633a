"""``FlexibleDatabase``: osTicket's database on Azure Database for MySQL - Flexible Server, private only.

- MySQL 8.0.21 (``ServerVersion.SERVER_VERSION_8_0_21``, the installed pulumi-azure-native's only 8.0 value).
  osTicket builds its dynamic data views (``ost_ticket__cdata``, ``TicketForm::buildDynamicDataView``) with
  ``CREATE TABLE ... SELECT``, refused with "Statement violates GTID consistency" (osTicket/osTicket#3384);
  "Prior to MySQL 8.0.21, CREATE TABLE ... SELECT statements are not allowed when using GTID-based
  replication" (MySQL 8.0 Reference Manual, "Restrictions on Replication with GTIDs").
- General Purpose with zone-redundant high availability: the standby in another zone, chosen at creation;
  "The Burstable tier doesn't support ... High availability" (MicrosoftDocs/azure-databases-docs
  articles/mysql/flexible-server/concepts-service-tiers-storage.md).
- Private access: a subnet delegated to ``Microsoft.DBforMySQL/flexibleServers`` and a private DNS zone
  ``<server>.private.mysql.database.azure.com`` linked to the virtual network (the form Microsoft's
  "Deploy WordPress on AKS with Azure Database for MySQL" tutorial passes to ``--private-dns-zone``);
  ``publicNetworkAccess: Disabled`` ("Value is 'Disabled' when server has VNet integration",
  ``NetworkArgs.public_network_access``) and no firewall rule: there is no public endpoint.
- ``require_secure_transport`` ON and ``tls_version`` TLS 1.2/1.3, as server parameters (``Configuration``):
  "Enforce SSL with TLS version = 1.2 ... require_secure_transport = ON and tls_version = TLS 1.2"; MySQL 8.0
  supports "TLS 1.2, TLS 1.3" (how-to-connect-tls-ssl.md); ``tls_version`` is static and takes effect after a
  restart (same page).
- Backups kept ``mysqlBackupRetentionDays`` (1-35 days, same service-tiers page) and geo-redundant as the stack
  says; the server is ``protect``-ed in Pulumi like the lab's data disk.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_azure_native import dbformysql, network, privatedns

from infra.config import ProductionSettings

COMPONENT_TYPE = "ostops:infra:FlexibleDatabase"
MYSQL_VERSION = dbformysql.ServerVersion.SERVER_VERSION_8_0_21
MYSQL_DELEGATION_SERVICE = "Microsoft.DBforMySQL/flexibleServers"
PRIMARY_ZONE = "1"
STANDBY_ZONE = "2"
# Server parameters (name, value) set as Configuration resources.
SERVER_PARAMETERS: Mapping[str, str] = {
    "require_secure_transport": "ON",
    "tls_version": "TLSv1.2,TLSv1.3",
}
# Server names become <name>.mysql.database.azure.com: 3-63 lower-case letters, digits and '-'.
SERVER_NAME_SUFFIX = "-mysql"


def server_name(dns_label: str) -> str:
    """The help desk's DNS label (unique in its region, lower case) with ``-mysql``, within 63 characters."""
    return dns_label[: 63 - len(SERVER_NAME_SUFFIX)].rstrip("-") + SERVER_NAME_SUFFIX


def private_zone_name(server: str) -> str:
    return f"{server}.private.mysql.database.azure.com"


def server_fqdn(server: str) -> str:
    """The documented host name; osTicket's DBHOST and the certificate's subject ("<servername>.mysql.database.
    azure.com", how-to-connect-tls-ssl.md). With private access it resolves through the private zone."""
    return f"{server}.mysql.database.azure.com"


def delegation() -> network.DelegationArgs:
    return network.DelegationArgs(name="mysql-flexible-server", service_name=MYSQL_DELEGATION_SERVICE)


class FlexibleDatabaseArgs:
    def __init__(
        self,
        *,
        resource_group_name: pulumi.Input[str],
        location: str,
        server_name: str,
        database_name: str,
        admin_login: str,
        admin_password: pulumi.Input[str],
        settings: ProductionSettings,
        delegated_subnet_id: pulumi.Input[str],
        virtual_network_id: pulumi.Input[str],
        tags: Mapping[str, str],
    ) -> None:
        self.resource_group_name = resource_group_name
        self.location = location
        self.server_name = server_name
        self.database_name = database_name
        self.admin_login = admin_login
        self.admin_password = admin_password
        self.settings = settings
        self.delegated_subnet_id = delegated_subnet_id
        self.virtual_network_id = virtual_network_id
        self.tags = dict(tags)


class FlexibleDatabase(pulumi.ComponentResource):
    server: dbformysql.Server
    private_zone: privatedns.PrivateZone
    zone_link: privatedns.VirtualNetworkLink
    parameters: dict[str, dbformysql.Configuration]
    database: dbformysql.Database

    def __init__(self, name: str, args: FlexibleDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        self.private_zone = privatedns.PrivateZone(
            f"{name}-dns",
            resource_group_name=args.resource_group_name,
            private_zone_name=private_zone_name(args.server_name),
            location="global",
            tags=args.tags,
            opts=child,
        )
        self.zone_link = privatedns.VirtualNetworkLink(
            f"{name}-dns-link",
            resource_group_name=args.resource_group_name,
            private_zone_name=self.private_zone.name,
            virtual_network_link_name=f"{args.server_name}-vnet",
            location="global",
            virtual_network=privatedns.SubResourceArgs(id=args.virtual_network_id),
            registration_enabled=False,
            tags=args.tags,
            opts=child,
        )
        self.server = dbformysql.Server(
            f"{name}-mysql",
            resource_group_name=args.resource_group_name,
            location=args.location,
            server_name=args.server_name,
            version=MYSQL_VERSION,
            sku=dbformysql.MySQLServerSkuArgs(
                name=settings.mysql_sku, tier=dbformysql.ServerSkuTier.GENERAL_PURPOSE
            ),
            administrator_login=args.admin_login,
            administrator_login_password=pulumi.Output.secret(args.admin_password),
            availability_zone=PRIMARY_ZONE,
            high_availability=dbformysql.HighAvailabilityArgs(
                mode=dbformysql.HighAvailabilityMode.ZONE_REDUNDANT, standby_availability_zone=STANDBY_ZONE
            ),
            storage=dbformysql.StorageArgs(
                storage_size_gb=settings.mysql_storage_gb, auto_grow=dbformysql.EnableStatusEnum.ENABLED
            ),
            backup=dbformysql.BackupArgs(
                backup_retention_days=settings.backup_retention_days,
                geo_redundant_backup=(
                    dbformysql.EnableStatusEnum.ENABLED
                    if settings.geo_redundant_backup
                    else dbformysql.EnableStatusEnum.DISABLED
                ),
            ),
            network=dbformysql.NetworkArgs(
                delegated_subnet_resource_id=args.delegated_subnet_id,
                private_dns_zone_resource_id=self.private_zone.id,
                public_network_access=dbformysql.EnableStatusEnum.DISABLED,
            ),
            tags=args.tags,
            # The help desk's data: never deleted by a deployment (as the lab's data disk).
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=[self.zone_link]),
        )
        self.parameters = {
            parameter: dbformysql.Configuration(
                f"{name}-{parameter.replace('_', '-')}",
                resource_group_name=args.resource_group_name,
                server_name=self.server.name,
                configuration_name=parameter,
                value=value,
                source=dbformysql.ConfigurationSource.USER_OVERRIDE,
                opts=pulumi.ResourceOptions(parent=self, deleted_with=self.server),
            )
            for parameter, value in SERVER_PARAMETERS.items()
        }
        self.database = dbformysql.Database(
            f"{name}-osticket",
            resource_group_name=args.resource_group_name,
            server_name=self.server.name,
            database_name=args.database_name,
            opts=pulumi.ResourceOptions(parent=self, deleted_with=self.server),
        )
        self.fqdn: pulumi.Output[str] = self.server.fully_qualified_domain_name.apply(
            lambda found: found or server_fqdn(args.server_name)
        )
        self.register_outputs({"fqdn": self.fqdn, "serverId": self.server.id})
