"""The optional lab client: a Windows desktop VM beside the help-desk server, as in the original two-machine lab.

Off by default (``ostops:labClient``). It shares the server's subnet, so the subnet's security group
applies: RDP only from ``adminSourceCidr``, or only through Azure Bastion (``ostops:bastion``). It signs in with the same VM admin credentials. It takes what it
needs from the server as plain inputs, so neither module imports the other (both import ``infra.vm``).
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import compute

from infra.config import StackConfig, check_computer_name
from infra.vm import WindowsMachine, WindowsMachineArgs

COMPONENT_TYPE = "ostops:infra:LabClient"
CLIENT_COMPUTER_NAME = check_computer_name("labclient")
# Windows client images may run on Azure only under an eligible licence, which the deployer attests here.
CLIENT_LICENSE_TYPE = "Windows_Client"


class LabClientArgs:
    def __init__(
        self,
        *,
        config: StackConfig,
        resource_group_name: pulumi.Input[str],
        subnet_id: pulumi.Input[str],
        admin_username: str,
        admin_password: pulumi.Input[str],
    ) -> None:
        self.config = config
        self.resource_group_name = resource_group_name
        self.subnet_id = subnet_id
        self.admin_username = admin_username
        self.admin_password = admin_password


class LabClient(pulumi.ComponentResource):
    def __init__(self, name: str, args: LabClientArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        config = args.config
        self.machine = WindowsMachine(
            name,
            WindowsMachineArgs(
                resource_group_name=args.resource_group_name,
                location=config.location,
                dns_label=config.lab_client_dns_label,
                subnet_id=args.subnet_id,
                vm_size=config.lab_client_vm_size,
                image=config.lab_client_image_reference,
                computer_name=CLIENT_COMPUTER_NAME,
                admin_username=args.admin_username,
                admin_password=args.admin_password,
                # Platform-orchestrated patching supports server images only; desktops use Windows Update.
                windows_configuration=compute.WindowsConfigurationArgs(
                    provision_vm_agent=True,
                    enable_automatic_updates=True,
                    patch_settings=compute.PatchSettingsArgs(patch_mode=compute.WindowsVMGuestPatchMode.AUTOMATIC_BY_OS),
                ),
                license_type=CLIENT_LICENSE_TYPE,
                tags=config.tags,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.vm = self.machine.vm
        self.public_ip = self.machine.public_ip
        self.fqdn = self.machine.fqdn
        self.public_ip_address = self.machine.public_ip_address
        self.rdp_command = self.machine.rdp_command
        self.register_outputs(
            {"fqdn": self.fqdn, "publicIp": self.public_ip_address, "rdpCommand": self.rdp_command}
        )
