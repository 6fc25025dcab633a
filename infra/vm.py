"""The pieces the help-desk server and the lab client share: image, Trusted Launch, disk, public endpoint.

Neither component imports the other; both import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import compute, network

from infra.config import ImageReference

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


def public_address(public_ip: network.PublicIPAddress) -> pulumi.Output[str]:
    return public_ip.ip_address.apply(lambda ip: ip or "")
