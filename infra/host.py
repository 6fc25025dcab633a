"""``OsTicketHost``: the help-desk server on Azure, from resource group to a bootstrapped osTicket.

Modelled on pulumi/examples ``classic-azure-py-webserver-component``: an args class, every child parented
to the component, outputs as attributes and registered at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_random as random
from pulumi_azure_native import compute, network, resources
from pydantic import SecretStr

from infra.bootstrap_command import BootstrapFiles, create_bootstrap_command
from infra.config import ImageReference, StackConfig
from infra.network import MYSQL_PORT, inbound_rules, security_rule_args

if TYPE_CHECKING:
    from infra.lab_client import LabClient

COMPONENT_TYPE = "ostops:infra:OsTicketHost"
VNET_PREFIX = "10.20.0.0/16"
SUBNET_PREFIX = "10.20.1.0/24"
# Windows computer names are NetBIOS names: at most 15 characters.
SERVER_COMPUTER_NAME = "osticket"
OS_DISK_GB = 128
DB_NAME = "osticket"
DB_USER = "osticket"
TABLE_PREFIX = "ost_"
# Characters that survive PowerShell, PHP and MySQL quoting unchanged.
PASSWORD_SPECIALS = "-_"


def random_password(name: str, parent: pulumi.Resource, length: int = 24) -> pulumi.Output[str]:
    password = random.RandomPassword(
        name,
        length=length,
        special=True,
        override_special=PASSWORD_SPECIALS,
        min_lower=2,
        min_upper=2,
        min_numeric=2,
        min_special=1,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return pulumi.Output.secret(password.result)


def random_api_key(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """32 upper-case hex characters, like the keys osTicket generates; kept secret in state too."""
    key = random.RandomPassword(
        name,
        length=32,
        lower=False,
        upper=False,
        numeric=True,
        special=True,
        override_special="ABCDEF",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return pulumi.Output.secret(key.result)


def secret_or_random(
    given: SecretStr | None,
    name: str,
    parent: pulumi.Resource,
    make: Callable[[str, pulumi.Resource], pulumi.Output[str]] = random_password,
) -> pulumi.Output[str]:
    if given is not None:
        return pulumi.Output.secret(given.get_secret_value())
    return make(name, parent)


def image_reference_args(image: ImageReference) -> compute.ImageReferenceArgs:
    return compute.ImageReferenceArgs(
        publisher=image.publisher, offer=image.offer, sku=image.sku, version=image.version
    )


def trusted_launch_profile() -> compute.SecurityProfileArgs:
    return compute.SecurityProfileArgs(
        security_type=compute.SecurityTypes.TRUSTED_LAUNCH,
        uefi_settings=compute.UefiSettingsArgs(secure_boot_enabled=True, v_tpm_enabled=True),
    )


def boot_diagnostics_profile() -> compute.DiagnosticsProfileArgs:
    # No storage URI: Azure keeps boot diagnostics in a managed storage account.
    return compute.DiagnosticsProfileArgs(boot_diagnostics=compute.BootDiagnosticsArgs(enabled=True))


def managed_os_disk() -> compute.OSDiskArgs:
    return compute.OSDiskArgs(
        create_option=compute.DiskCreateOptionTypes.FROM_IMAGE,
        caching=compute.CachingTypes.READ_WRITE,
        delete_option=compute.DiskDeleteOptionTypes.DELETE,
        disk_size_gb=OS_DISK_GB,
        managed_disk=compute.ManagedDiskParametersArgs(
            storage_account_type=compute.StorageAccountTypes.STANDARD_SS_D_LRS
        ),
    )


def public_endpoint(
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    dns_label: str,
    subnet_id: pulumi.Input[str],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> tuple[network.PublicIPAddress, network.NetworkInterface]:
    """A static Standard public IP with a DNS label (``{name}-pip``) and the NIC that carries it (``{name}-nic``)."""
    public_ip = network.PublicIPAddress(
        f"{name}-pip",
        resource_group_name=resource_group_name,
        location=location,
        sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
        public_ip_allocation_method=network.IPAllocationMethod.STATIC,
        public_ip_address_version="IPv4",
        dns_settings=network.PublicIPAddressDnsSettingsArgs(domain_name_label=dns_label),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    nic = network.NetworkInterface(
        f"{name}-nic",
        resource_group_name=resource_group_name,
        location=location,
        ip_configurations=[
            network.NetworkInterfaceIPConfigurationArgs(
                name="primary",
                primary=True,
                private_ip_allocation_method=network.IPAllocationMethod.DYNAMIC,
                subnet=network.SubnetArgs(id=subnet_id),
                public_ip_address=network.PublicIPAddressArgs(id=public_ip.id),
            )
        ],
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return public_ip, nic


def public_fqdn(public_ip: network.PublicIPAddress, dns_label: str, location: str) -> pulumi.Output[str]:
    """Azure's FQDN for the label; the documented form stands in until Azure reports it."""

    def pick(settings: Any) -> str:
        fqdn = getattr(settings, "fqdn", None) if settings is not None else None
        return fqdn or f"{dns_label}.{location}.cloudapp.azure.com"

    return public_ip.dns_settings.apply(pick)


class OsTicketHostArgs:
    """Everything the host needs: the checked stack config and the files shipped to the VM."""

    def __init__(self, config: StackConfig, bootstrap_files: BootstrapFiles) -> None:
        self.config = config
        self.bootstrap_files = bootstrap_files


class OsTicketHost(pulumi.ComponentResource):
    resource_group: resources.ResourceGroup
    network_security_group: network.NetworkSecurityGroup
    virtual_network: network.VirtualNetwork
    subnet: network.Subnet
    public_ip: network.PublicIPAddress
    network_interface: network.NetworkInterface
    vm: compute.VirtualMachine
    bootstrap: compute.VirtualMachineRunCommandByVirtualMachine

    def __init__(self, name: str, args: OsTicketHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        config = args.config
        self.config = config
        tags = dict(config.tags)
        child = pulumi.ResourceOptions(parent=self)

        self.resource_group = resources.ResourceGroup(
            f"{name}-rg", location=config.location, tags=tags, opts=child
        )
        self.resource_group_name = self.resource_group.name
        self.network_security_group = network.NetworkSecurityGroup(
            f"{name}-nsg",
            resource_group_name=self.resource_group_name,
            location=config.location,
            security_rules=[
                security_rule_args(rule)
                for rule in inbound_rules(
                    config.admin_source_cidr, config.automation_source_cidr, config.enable_db_access
                )
            ],
            tags=tags,
            opts=child,
        )
        self.virtual_network = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=self.resource_group_name,
            location=config.location,
            address_space=network.AddressSpaceArgs(address_prefixes=[VNET_PREFIX]),
            tags=tags,
            opts=child,
        )
        self.subnet = network.Subnet(
            f"{name}-subnet",
            resource_group_name=self.resource_group_name,
            virtual_network_name=self.virtual_network.name,
            address_prefix=SUBNET_PREFIX,
            network_security_group=network.NetworkSecurityGroupArgs(id=self.network_security_group.id),
            opts=child,
        )
        self.public_ip, self.network_interface = public_endpoint(
            name,
            resource_group_name=self.resource_group_name,
            location=config.location,
            dns_label=config.dns_label,
            subnet_id=self.subnet.id,
            tags=tags,
            parent=self,
        )

        self.admin_username = config.admin_username
        self.admin_password = secret_or_random(config.admin_password, f"{name}-vm-admin-password", self)
        self.osticket_admin_username = config.osticket_admin_username
        self.osticket_admin_password = secret_or_random(
            config.osticket_admin_password, f"{name}-osticket-admin-password", self
        )
        self.db_root_password = secret_or_random(config.db_root_password, f"{name}-db-root-password", self)
        self.db_app_password = secret_or_random(config.db_app_password, f"{name}-db-app-password", self)
        self.api_key = secret_or_random(config.api_key, f"{name}-api-key", self, random_api_key)

        self.vm = compute.VirtualMachine(
            f"{name}-vm",
            resource_group_name=self.resource_group_name,
            location=config.location,
            hardware_profile=compute.HardwareProfileArgs(vm_size=config.vm_size),
            storage_profile=compute.StorageProfileArgs(
                image_reference=image_reference_args(config.server_image), os_disk=managed_os_disk()
            ),
            os_profile=compute.OSProfileArgs(
                computer_name=SERVER_COMPUTER_NAME,
                admin_username=config.admin_username,
                admin_password=self.admin_password,
                windows_configuration=compute.WindowsConfigurationArgs(
                    provision_vm_agent=True,
                    enable_automatic_updates=True,
                    patch_settings=compute.PatchSettingsArgs(
                        patch_mode=compute.WindowsVMGuestPatchMode.AUTOMATIC_BY_PLATFORM,
                        assessment_mode=compute.WindowsPatchAssessmentMode.AUTOMATIC_BY_PLATFORM,
                        enable_hotpatching=False,
                        automatic_by_platform_settings=compute.WindowsVMGuestPatchAutomaticByPlatformSettingsArgs(
                            reboot_setting=compute.WindowsVMGuestPatchAutomaticByPlatformRebootSetting.IF_REQUIRED
                        ),
                    ),
                ),
            ),
            network_profile=compute.NetworkProfileArgs(
                network_interfaces=[
                    compute.NetworkInterfaceReferenceArgs(
                        id=self.network_interface.id, primary=True, delete_option=compute.DeleteOptions.DELETE
                    )
                ]
            ),
            security_profile=trusted_launch_profile(),
            diagnostics_profile=boot_diagnostics_profile(),
            identity=compute.VirtualMachineIdentityArgs(type=compute.ResourceIdentityType.SYSTEM_ASSIGNED),
            tags=tags,
            opts=child,
        )

        self.fqdn = public_fqdn(self.public_ip, config.dns_label, config.location)
        self.public_ip_address: pulumi.Output[str] = self.public_ip.ip_address.apply(lambda ip: ip or "")
        self.bootstrap = create_bootstrap_command(
            f"{name}-bootstrap",
            resource_group_name=self.resource_group_name,
            vm_name=self.vm.name,
            location=config.location,
            files=args.bootstrap_files,
            plain={
                "OsTicketVersion": config.osticket_version,
                "SiteHostName": self.fqdn,
                "HelpdeskName": config.helpdesk_name,
                "AdminUsername": config.osticket_admin_username,
                "AdminEmail": self.fqdn.apply(lambda fqdn: config.osticket_admin_email or f"ostadmin@{fqdn}"),
                "AutomationSourceIp": config.automation_source_ip,
                "EnableDbAccess": "true" if config.enable_db_access else "false",
            },
            protected={
                "AdminPassword": self.osticket_admin_password,
                "DbRootPassword": self.db_root_password,
                "DbAppPassword": self.db_app_password,
                "ApiKey": self.api_key,
            },
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.vm]),
        )

        self.helpdesk_url = self.fqdn.apply(lambda fqdn: f"http://{fqdn}/")
        self.staff_url = self.fqdn.apply(lambda fqdn: f"http://{fqdn}/scp/")
        self.api_url = self.fqdn.apply(lambda fqdn: f"http://{fqdn}/api/")
        self.rdp_command = self.fqdn.apply(lambda fqdn: f"mstsc /v:{fqdn}")
        self.db_host: pulumi.Output[str] = (
            self.fqdn if config.enable_db_access else pulumi.Output.from_input("")
        )

        self.register_outputs(
            {
                "helpdeskUrl": self.helpdesk_url,
                "staffUrl": self.staff_url,
                "apiUrl": self.api_url,
                "fqdn": self.fqdn,
                "publicIp": self.public_ip_address,
                "rdpCommand": self.rdp_command,
                "adminUsername": self.admin_username,
                "vmId": self.vm.id,
                "bootstrapDigest": args.bootstrap_files.digest,
            }
        )


def stack_outputs(host: OsTicketHost, lab_client: LabClient | None = None) -> dict[str, pulumi.Input[Any]]:
    """The stack outputs ``ostops instance from-stack`` reads; secrets stay Pulumi secrets."""
    config = host.config
    outputs: dict[str, pulumi.Input[Any]] = {
        "helpdeskUrl": host.helpdesk_url,
        "staffUrl": host.staff_url,
        "apiUrl": host.api_url,
        "fqdn": host.fqdn,
        "publicIp": host.public_ip_address,
        "rdpCommand": host.rdp_command,
        "adminUsername": host.admin_username,
        "osticketAdminUsername": host.osticket_admin_username,
        "vmAdminPassword": pulumi.Output.secret(host.admin_password),
        "osticketAdminPassword": pulumi.Output.secret(host.osticket_admin_password),
        "apiKey": pulumi.Output.secret(host.api_key),
        "dbAppPassword": pulumi.Output.secret(host.db_app_password),
        "dbHost": host.db_host,
        "dbPort": MYSQL_PORT,
        "dbName": DB_NAME,
        "dbUser": DB_USER,
        "tablePrefix": TABLE_PREFIX,
        "osticketVersion": config.osticket_version,
    }
    if lab_client is not None:
        outputs["labClientPublicIp"] = lab_client.public_ip_address
        outputs["labClientRdpCommand"] = lab_client.rdp_command
    return outputs
