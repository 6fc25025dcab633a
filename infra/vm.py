"""The Windows machines' shared parts: ``WindowsMachine`` (public IP, NIC and VM, the help-desk server's and the
lab client's), and the image, Trusted Launch, patching, disk and diagnostics settings the scale set uses too.

Neither tier's component imports the other; both import this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_azure_native import compute, network

from infra.config import ImageReference
from infra.network import standard_public_ip

MACHINE_COMPONENT_TYPE = "ostops:infra:WindowsMachine"
OS_DISK_GB = 128
# The data disk's place on the VM: the bootstrap contract's settings.dataDisk (lun, driveLetter, label).
DATA_DISK_LUN = 0
DATA_DISK_DRIVE_LETTER = "F"
DATA_DISK_LABEL = "ostops-data"
# Create-only VM properties: Azure refuses to change them in place and pulumi-azure-native does not mark them
# as replacing (pulumi-azure-native#2674, #577). The old VM goes first, or the new one fails with NicInUse
# because the NIC is still attached (pulumi-azure#811).
VM_REPLACE_ON_CHANGES = (
    "storageProfile.imageReference",
    "osProfile.adminUsername",
    "osProfile.computerName",
    "securityProfile",
)


def vm_options(parent: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(
        parent=parent, replace_on_changes=list(VM_REPLACE_ON_CHANGES), delete_before_replace=True, **extra
    )


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


def platform_patching(scheduled: bool) -> compute.WindowsConfigurationArgs:
    """Windows Update orchestrated by Azure (server images), on the VM's own maintenance window when
    ``scheduled`` (infra/host.py PATCH_WINDOW_*), or whenever Azure picks (the scale set's instances)."""
    settings: dict[str, Any] = {
        "reboot_setting": compute.WindowsVMGuestPatchAutomaticByPlatformRebootSetting.IF_REQUIRED
    }
    if scheduled:
        settings["bypass_platform_safety_checks_on_user_schedule"] = True
    return compute.WindowsConfigurationArgs(
        provision_vm_agent=True,
        enable_automatic_updates=True,
        patch_settings=compute.PatchSettingsArgs(
            patch_mode=compute.WindowsVMGuestPatchMode.AUTOMATIC_BY_PLATFORM,
            assessment_mode=compute.WindowsPatchAssessmentMode.AUTOMATIC_BY_PLATFORM,
            **({"enable_hotpatching": False} if scheduled else {}),
            automatic_by_platform_settings=compute.WindowsVMGuestPatchAutomaticByPlatformSettingsArgs(**settings),
        ),
    )


def managed_os_disk() -> compute.OSDiskArgs:
    # The OS disk is created by Azure from the image, not by Pulumi, so it goes with the VM.
    return compute.OSDiskArgs(
        create_option=compute.DiskCreateOptionTypes.FROM_IMAGE,
        caching=compute.CachingTypes.READ_WRITE,
        delete_option=compute.DiskDeleteOptionTypes.DELETE,
        disk_size_gb=OS_DISK_GB,
        managed_disk=compute.ManagedDiskParametersArgs(
            storage_account_type=compute.StorageAccountTypes.STANDARD_SS_D_LRS
        ),
    )


def data_disk(
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    size_gb: int,
    sku: str,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> compute.Disk:
    """An empty managed disk for MariaDB's data and osTicket's attachments, created by Pulumi apart from the VM.

    ``protect=True``: Pulumi refuses any deployment that would delete it, a replacement included ("A protected
    resource cannot be deleted directly, and it will be an error to do a Pulumi deployment which tries to
    delete a protected resource for any reason", Pulumi resource option ``protect``,
    https://www.pulumi.com/docs/iac/concepts/options/protect/). ``pulumi destroy`` therefore stops at it;
    docs/azure.md ("Tear down") gives ``--exclude-protected`` (keep the data) or ``pulumi state unprotect``.
    """
    return compute.Disk(
        f"{name}-data-disk",
        resource_group_name=resource_group_name,
        location=location,
        sku=compute.DiskSkuArgs(name=sku),
        disk_size_gb=size_gb,
        creation_data=compute.CreationDataArgs(create_option=compute.DiskCreateOption.EMPTY),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, protect=True),
    )


def data_disk_attachment(disk: compute.Disk) -> compute.DataDiskArgs:
    """The disk at LUN 0, attached (``Attach``: it exists before the VM) and only detached when the VM goes.

    ``deleteOption``: "Detach. If this value is used, the data disk is retained after VM is deleted"
    (pulumi-azure-native compute ``DataDiskArgs.delete_option``). A replacement VM attaches the same disk.
    ``caching`` None: the SDK's documented default for Standard storage, kept on Premium too so that
    MariaDB's writes and reads meet the disk itself.
    """
    return compute.DataDiskArgs(
        lun=DATA_DISK_LUN,
        create_option=compute.DiskCreateOptionTypes.ATTACH,
        managed_disk=compute.ManagedDiskParametersArgs(id=disk.id),
        delete_option=compute.DiskDeleteOptionTypes.DETACH,
        caching=compute.CachingTypes.NONE,
    )


def network_profile(nic: network.NetworkInterface) -> compute.NetworkProfileArgs:
    # Pulumi owns the NIC: Detach, so deleting or replacing the VM never deletes it behind Pulumi's back.
    return compute.NetworkProfileArgs(
        network_interfaces=[
            compute.NetworkInterfaceReferenceArgs(
                id=nic.id, primary=True, delete_option=compute.DeleteOptions.DETACH
            )
        ]
    )


def system_identity() -> compute.VirtualMachineIdentityArgs:
    return compute.VirtualMachineIdentityArgs(type=compute.ResourceIdentityType.SYSTEM_ASSIGNED)


def principal_id(vm: compute.VirtualMachine) -> pulumi.Output[str]:
    """The object id of the VM's system-assigned identity (what a role assignment names)."""

    def pick(identity: Any) -> str:
        found = getattr(identity, "principal_id", None) if identity is not None else None
        return str(found or "")

    return vm.identity.apply(pick)


def public_endpoint(
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    dns_label: str,
    subnet_id: pulumi.Input[str],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
    aliases: Sequence[pulumi.Alias] = (),
) -> tuple[network.PublicIPAddress, network.NetworkInterface]:
    """A static Standard public IP with a DNS label (``{name}-pip``) and the NIC that carries it (``{name}-nic``)."""
    child = pulumi.ResourceOptions(parent=parent, aliases=list(aliases))
    public_ip = standard_public_ip(
        f"{name}-pip",
        resource_group_name=resource_group_name,
        location=location,
        dns_label=dns_label,
        tags=tags,
        parent=parent,
        aliases=aliases,
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
        opts=child,
    )
    return public_ip, nic


def public_fqdn(public_ip: network.PublicIPAddress, dns_label: str, location: str) -> pulumi.Output[str]:
    """Azure's FQDN for the label; the documented form stands in until Azure reports it."""

    def pick(settings: Any) -> str:
        fqdn = getattr(settings, "fqdn", None) if settings is not None else None
        return fqdn or f"{dns_label}.{location}.cloudapp.azure.com"

    return public_ip.dns_settings.apply(pick)


def public_address(public_ip: network.PublicIPAddress) -> pulumi.Output[str]:
    return public_ip.ip_address.apply(lambda ip: ip or "")


class WindowsMachineArgs:
    """One Windows VM with its own public endpoint in an existing subnet."""

    def __init__(
        self,
        *,
        resource_group_name: pulumi.Input[str],
        location: str,
        dns_label: str,
        subnet_id: pulumi.Input[str],
        vm_size: str,
        image: ImageReference,
        computer_name: str,
        admin_username: str,
        admin_password: pulumi.Input[str],
        windows_configuration: compute.WindowsConfigurationArgs,
        tags: Mapping[str, str],
        data_disks: Sequence[compute.DataDiskArgs] = (),
        license_type: str | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        self.resource_group_name = resource_group_name
        self.location = location
        self.dns_label = dns_label
        self.subnet_id = subnet_id
        self.vm_size = vm_size
        self.image = image
        self.computer_name = computer_name
        self.admin_username = admin_username
        self.admin_password = admin_password
        self.windows_configuration = windows_configuration
        self.tags = dict(tags)
        self.data_disks = list(data_disks)
        self.license_type = license_type
        self.depends_on = list(depends_on)


class WindowsMachine(pulumi.ComponentResource):
    """``{name}-pip``, ``{name}-nic`` and ``{name}-vm``: Trusted Launch, boot diagnostics, a system identity,
    the create-only properties replaced old-VM-first (``vm_options``).

    These three were children of the component that now parents this one (``OsTicketHost``, ``LabClient``);
    each carries an alias to that parent, so an existing stack keeps them ("The parent resource option:
    { parent: oldParent }", Pulumi, Refactoring with aliases,
    https://www.pulumi.com/docs/iac/operations/stack-management/refactoring-with-aliases/): no replacement.
    """

    public_ip: network.PublicIPAddress
    network_interface: network.NetworkInterface
    vm: compute.VirtualMachine

    def __init__(self, name: str, args: WindowsMachineArgs, opts: pulumi.ResourceOptions) -> None:
        super().__init__(MACHINE_COMPONENT_TYPE, name, {}, opts)
        moved = [pulumi.Alias(parent=opts.parent)] if opts.parent is not None else []
        self.public_ip, self.network_interface = public_endpoint(
            name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            dns_label=args.dns_label,
            subnet_id=args.subnet_id,
            tags=args.tags,
            parent=self,
            aliases=moved,
        )
        self.vm = compute.VirtualMachine(
            f"{name}-vm",
            resource_group_name=args.resource_group_name,
            location=args.location,
            license_type=args.license_type,
            hardware_profile=compute.HardwareProfileArgs(vm_size=args.vm_size),
            storage_profile=compute.StorageProfileArgs(
                image_reference=image_reference_args(args.image),
                os_disk=managed_os_disk(),
                data_disks=args.data_disks or None,
            ),
            os_profile=compute.OSProfileArgs(
                computer_name=args.computer_name,
                admin_username=args.admin_username,
                admin_password=args.admin_password,
                windows_configuration=args.windows_configuration,
            ),
            network_profile=network_profile(self.network_interface),
            security_profile=trusted_launch_profile(),
            diagnostics_profile=boot_diagnostics_profile(),
            identity=system_identity(),
            tags=args.tags,
            opts=vm_options(self, depends_on=args.depends_on, aliases=moved),
        )
        self.fqdn = public_fqdn(self.public_ip, args.dns_label, args.location)
        self.public_ip_address = public_address(self.public_ip)
        self.rdp_command = self.fqdn.apply(lambda fqdn: f"mstsc /v:{fqdn}")
        self.principal_id = principal_id(self.vm)
        self.register_outputs({"vmId": self.vm.id, "fqdn": self.fqdn, "publicIp": self.public_ip_address})
