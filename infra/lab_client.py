"""The optional lab client: a Windows desktop VM beside the help-desk server, as in the original two-machine lab.

Off by default (``ostops:labClient``). It shares the server's subnet, so the subnet's security group
applies: RDP only from ``adminSourceCidr``. It signs in with the same VM admin credentials.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import compute

from infra.host import (
    OsTicketHost,
    boot_diagnostics_profile,
    image_reference_args,
    managed_os_disk,
    public_endpoint,
    public_fqdn,
    trusted_launch_profile,
)

COMPONENT_TYPE = "ostops:infra:LabClient"
CLIENT_COMPUTER_NAME = "labclient"
# Windows client images may run on Azure only under an eligible licence, which the deployer attests here.
CLIENT_LICENSE_TYPE = "Windows_Client"


class LabClientArgs:
    def __init__(self, host: OsTicketHost) -> None:
        self.host = host


class LabClient(pulumi.ComponentResource):
    def __init__(self, name: str, args: LabClientArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        host = args.host
        config = host.config
        tags = dict(config.tags)
        dns_label = f"{config.dns_label}-client"[:63]

        self.public_ip, self.network_interface = public_endpoint(
            name,
            resource_group_name=host.resource_group_name,
            location=config.location,
            dns_label=dns_label,
            subnet_id=host.subnet.id,
            tags=tags,
            parent=self,
        )
        self.vm = compute.VirtualMachine(
            f"{name}-vm",
            resource_group_name=host.resource_group_name,
            location=config.location,
            license_type=CLIENT_LICENSE_TYPE,
            hardware_profile=compute.HardwareProfileArgs(vm_size=config.lab_client_vm_size),
            storage_profile=compute.StorageProfileArgs(
                image_reference=image_reference_args(config.lab_client_image_reference),
                os_disk=managed_os_disk(),
            ),
            os_profile=compute.OSProfileArgs(
                computer_name=CLIENT_COMPUTER_NAME,
                admin_username=host.admin_username,
                admin_password=host.admin_password,
                windows_configuration=compute.WindowsConfigurationArgs(
                    provision_vm_agent=True,
                    enable_automatic_updates=True,
                    # Platform-orchestrated patching supports server images only; desktops use Windows Update.
                    patch_settings=compute.PatchSettingsArgs(
                        patch_mode=compute.WindowsVMGuestPatchMode.AUTOMATIC_BY_OS,
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
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.fqdn = public_fqdn(self.public_ip, dns_label, config.location)
        self.public_ip_address: pulumi.Output[str] = self.public_ip.ip_address.apply(lambda ip: ip or "")
        self.rdp_command = self.fqdn.apply(lambda fqdn: f"mstsc /v:{fqdn}")
        self.register_outputs(
            {"fqdn": self.fqdn, "publicIp": self.public_ip_address, "rdpCommand": self.rdp_command}
        )
