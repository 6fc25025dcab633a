"""``OsTicketHost``: the help-desk server on Azure, from resource group to a bootstrapped osTicket over HTTPS.

Modelled on pulumi/examples ``classic-azure-py-webserver-component``: an args class, every child parented
to the component, outputs as attributes and registered at the end.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pulumi
from pulumi_azure_native import compute, maintenance, network, resources

from infra import site, tls
from infra.backup import (
    AzureVmBackup,
    AzureVmBackupArgs,
    storage_service_endpoint,
)
from infra.bastion import Bastion, BastionArgs
from infra.bootstrap_command import (
    BootstrapFiles,
    check_script_size,
    create_bootstrap_command,
    embed_settings,
    role_for_mode,
)
from infra.config import StackConfig, check_computer_name
from infra.network import inbound_rules, security_group, virtual_network
from infra.passwords import secret_or_random
from infra.replace_guard import VmReplaceGuard
from infra.vault import CONTRACT_SECRET_NAMES, SecretsVault, SecretsVaultArgs
from infra.vm import WindowsMachine, WindowsMachineArgs, data_disk, data_disk_attachment, platform_patching

COMPONENT_TYPE = "ostops:infra:OsTicketHost"
SUBNET_PREFIX = "10.20.1.0/24"
SERVER_COMPUTER_NAME = check_computer_name("osticket")

# Platform patching on a schedule: with AutomaticByPlatform and bypassPlatformSafetyChecksOnUserSchedule,
# "VMs with this property set to true are no longer autopatched when the VMs don't have an associated
# maintenance configuration" (Configure schedule patching on Azure VMs for business continuity,
# https://learn.microsoft.com/azure/update-manager/prerequsite-for-schedule-patching), and once the
# configuration is assigned, patches (and their reboots) come only inside its window. The VM is created with
# the flag, the assignment is made before the bootstrap runs: no platform reboot can land mid-bootstrap
# unless a deployment overlaps the window. InGuestPatch needs extensionProperties InGuestPatchMode=User
# (Azure/azure-powershell Az.Maintenance scenario tests; "duration" HH:mm, "startDateTime" "YYYY-MM-DD hh:mm",
# "the current date or future date": pulumi-azure-native maintenance.MaintenanceConfiguration).
PATCH_WINDOW_RECURRENCE = "Week Sunday"
PATCH_WINDOW_START_TIME = "03:00"
PATCH_WINDOW_DURATION = "02:00"
PATCH_WINDOW_TIME_ZONE = "UTC"
PATCH_CLASSIFICATIONS = ("Critical", "Security", "UpdateRollup", "Definition")


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
    vault: SecretsVault
    bootstrap: compute.VirtualMachineRunCommandByVirtualMachine

    def __init__(self, name: str, args: OsTicketHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        config = args.config
        self.config = config
        tags = dict(config.tags)
        child = pulumi.ResourceOptions(parent=self)

        files = args.bootstrap_files

        def settings(fqdn: str, vault_uri: str, certificate_sha256: str, backup_url: str) -> dict[str, Any]:
            return site.settings(
                config,
                files,
                fqdn=fqdn,
                vault_uri=vault_uri,
                certificate_sha256=certificate_sha256,
                secret_names=CONTRACT_SECRET_NAMES,
                enable_db_access=config.enable_db_access,
                backup_container_url=backup_url,
                mode=config.bootstrap_mode,
            )

        # The lab VM's script for the mode (upgrade and rotate have a role of their own). The size budget, checked
        # now with the longest values Azure can give (24-character vault and storage account names), so an
        # oversized script stops the program before anything is created.
        role_script = files.scripts[role_for_mode(config.bootstrap_mode)]
        check_script_size(
            embed_settings(
                role_script,
                settings(config.fqdn, site.LONGEST_VAULT_URI, site.LONGEST_SHA256, site.LONGEST_CONTAINER_URL),
            )
        )

        self.resource_group = resources.ResourceGroup(
            f"{name}-rg", location=config.location, tags=tags, opts=child
        )
        self.resource_group_name = self.resource_group.name
        self._network(name, tags)

        self.credentials = site.credentials(config, name, self)
        self.admin_username = self.credentials.admin_username
        self.admin_password = self.credentials.admin_password
        self.osticket_admin_username = self.credentials.osticket_admin_username
        self.osticket_admin_password = self.credentials.osticket_admin_password
        self.db_app_password = self.credentials.db_app_password
        self.api_key = self.credentials.api_key
        self.db_root_password = secret_or_random(config.db_root_password, f"{name}-db-root-password", self)

        self.data_disk = data_disk(
            name,
            resource_group_name=self.resource_group_name,
            location=config.location,
            size_gb=config.data_disk_size_gb,
            sku=config.data_disk_sku,
            tags=tags,
            parent=self,
        )
        self.replace_guard = VmReplaceGuard(
            f"{name}-vm-replace-guard",
            watched={
                "location": config.location,
                "windowsImage": config.windows_image,
                "adminUsername": config.admin_username,
            },
            allow_replace=config.allow_vm_replace,
            vm=f"{name}-vm",
            opts=child,
        )
        self.machine = WindowsMachine(
            name,
            WindowsMachineArgs(
                resource_group_name=self.resource_group_name,
                location=config.location,
                dns_label=config.dns_label,
                subnet_id=self.subnet.id,
                vm_size=config.vm_size,
                image=config.server_image,
                computer_name=SERVER_COMPUTER_NAME,
                admin_username=config.admin_username,
                admin_password=self.admin_password,
                windows_configuration=platform_patching(scheduled=True),
                data_disks=[data_disk_attachment(self.data_disk)],
                tags=tags,
                depends_on=[self.replace_guard],
            ),
            child,
        )
        self.public_ip = self.machine.public_ip
        self.network_interface = self.machine.network_interface
        self.vm = self.machine.vm
        self._patch_schedule(name, tags)

        self.fqdn = self.machine.fqdn
        self.public_ip_address = self.machine.public_ip_address
        self.tls = site.certificate(config, name, self.fqdn, self)
        self.certificate_pem = self.tls.certificate_pem

        self.vault = SecretsVault(
            f"{name}-vault",
            SecretsVaultArgs(
                resource_group_name=self.resource_group_name,
                location=config.location,
                tags=tags,
                purge_protection=config.key_vault_purge_protection,
                secrets=self._secrets(),
                reader_principal_id=self.machine.principal_id,
            ),
            child,
        )

        self.backup = site.backup_storage(
            name, config, resource_group_name=self.resource_group_name, tags=tags,
            subnet_ids=[self.subnet.id], writers={"vm": self.machine.principal_id}, opts=child,
        )
        self.vm_backup = (
            AzureVmBackup(
                f"{name}-vm-backup",
                AzureVmBackupArgs(
                    resource_group_name=self.resource_group_name,
                    location=config.location,
                    tags=tags,
                    vm_id=self.vm.id,
                    vm_name=self.vm.name,
                    schedule=config.backup.schedule,
                    retention_days=config.backup.retention_days,
                ),
                child,
            )
            if config.backup.azure_backup
            else None
        )

        script = pulumi.Output.all(
            self.fqdn, self.vault.vault_uri, self.certificate_pem, self.backup.container_url
        ).apply(
            lambda parts: embed_settings(
                role_script, settings(parts[0], parts[1], tls.certificate_sha256(parts[2]), parts[3])
            )
        )
        self.bootstrap = create_bootstrap_command(
            f"{name}-bootstrap",
            resource_group_name=self.resource_group_name,
            vm_name=self.vm.name,
            location=config.location,
            script=script,
            tags=tags,
            run=config.bootstrap_run,
            # The secrets must be readable, and the VM on its patch schedule, before the script runs;
            # deleted_with replaces it with the VM.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    self.vm,
                    self.vault.reader_role,
                    *self.vault.secrets.values(),
                    self.patch_assignment,
                    self.data_disk,
                    *self.backup.writer_roles.values(),
                ],
                deleted_with=self.vm,
            ),
        )
        self.bootstrap_digest = self.bootstrap.tags.apply(lambda t: (t or {}).get("bootstrap-sha256", ""))

        urls = site.urls(self.fqdn)
        self.helpdesk_url, self.staff_url, self.api_url = urls.helpdesk, urls.staff, urls.api
        self.rdp_command = self.machine.rdp_command
        self.management_route = self._management_route()
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
                "keyVaultName": self.vault.vault_name,
                "certificatePem": self.certificate_pem,
                "bootstrapDigest": self.bootstrap_digest,
                "dataDiskId": self.data_disk.id,
                "managementRoute": self.management_route,
                "backupContainerUrl": self.backup.container_url,
                "backupStorageAccount": self.backup.account_name,
            }
        )

    def _secrets(self) -> dict[str, pulumi.Input[str]]:
        return {**site.secrets(self.config, self.credentials, self.tls), "dbRootPassword": self.db_root_password}

    def _management_route(self) -> dict[str, pulumi.Input[str]]:
        """How an operator reaches the machine (stack output managementRoute, copied into the instance file)."""
        config = self.config
        database = (
            "MariaDB from automationSourceCidr over TLS" if config.enable_db_access
            else "MariaDB closed (ostops:enableDbAccess false)"
        )
        if self.bastion is not None:
            return {
                "kind": site.ROUTE_BASTION,
                "bastionName": self.bastion.bastion_name,
                "resourceGroup": self.resource_group_name,
                "vmId": self.vm.id,
                "how": f"{site.BASTION_HOW}; the help desk over HTTPS; {database}",
            }
        rdp = (
            f"RDP from {config.admin_source_cidr} only" if config.admin_source_cidr is not None
            else "RDP closed (az vm run-command invoke)"
        )
        return {
            "kind": site.ROUTE_PUBLIC,
            "resourceGroup": self.resource_group_name,
            "vmId": self.vm.id,
            "how": f"the public address: the help desk over HTTPS; {rdp}; {database}",
        }

    def _patch_schedule(self, name: str, tags: dict[str, str]) -> None:
        """A weekly in-guest patch window and its assignment to the VM (see PATCH_WINDOW_*)."""
        tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
        self.patch_window = maintenance.MaintenanceConfiguration(
            f"{name}-patch-window",
            resource_group_name=self.resource_group_name,
            location=self.config.location,
            maintenance_scope=maintenance.MaintenanceScope.IN_GUEST_PATCH,
            visibility=maintenance.Visibility.CUSTOM,
            extension_properties={"InGuestPatchMode": "User"},
            start_date_time=f"{tomorrow} {PATCH_WINDOW_START_TIME}",
            duration=PATCH_WINDOW_DURATION,
            time_zone=PATCH_WINDOW_TIME_ZONE,
            recur_every=PATCH_WINDOW_RECURRENCE,
            install_patches=maintenance.InputPatchConfigurationArgs(
                reboot_setting=maintenance.RebootOptions.IF_REQUIRED,
                windows_parameters=maintenance.InputWindowsParametersArgs(
                    classifications_to_include=list(PATCH_CLASSIFICATIONS)
                ),
            ),
            tags=tags,
            # The start must be today or later when created; afterwards the first date stays.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["startDateTime"]),
        )
        self.patch_assignment = maintenance.ConfigurationAssignment(
            f"{name}-patch-assignment",
            resource_group_name=self.resource_group_name,
            location=self.config.location,
            provider_name="Microsoft.Compute",
            resource_type="virtualMachines",
            resource_name_=self.vm.name,
            maintenance_configuration_id=self.patch_window.id,
            opts=pulumi.ResourceOptions(parent=self, deleted_with=self.vm),
        )

    def _network(self, name: str, tags: dict[str, str]) -> None:
        config = self.config
        child = pulumi.ResourceOptions(parent=self)
        where: dict[str, Any] = {"resource_group_name": self.resource_group_name, "location": config.location, "tags": tags}
        self.network_security_group = security_group(
            f"{name}-nsg",
            inbound_rules(
                config.admin_source_cidr, config.automation_source_cidr, config.enable_db_access,
                bastion=config.bastion,
            ),
            parent=self,
            **where,
        )
        self.virtual_network = virtual_network(f"{name}-vnet", parent=self, **where)
        self.subnet = network.Subnet(
            f"{name}-subnet",
            resource_group_name=self.resource_group_name,
            virtual_network_name=self.virtual_network.name,
            address_prefix=SUBNET_PREFIX,
            network_security_group=network.NetworkSecurityGroupArgs(id=self.network_security_group.id),
            # The backup storage admits this subnet through its virtual network rule (infra/backup.py).
            service_endpoints=storage_service_endpoint(),
            opts=child,
        )
        self.bastion = (
            Bastion(
                f"{name}-bastion",
                BastionArgs(
                    resource_group_name=self.resource_group_name,
                    location=config.location,
                    virtual_network_name=self.virtual_network.name,
                    sku=config.bastion_sku,
                    tags=tags,
                    depends_on=[self.subnet],
                ),
                child,
            )
            if config.bastion
            else None
        )
