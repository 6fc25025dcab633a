"""``OsTicketHost``: the help-desk server on Azure, from resource group to a bootstrapped osTicket over HTTPS.

Modelled on pulumi/examples ``classic-azure-py-webserver-component``: an args class, every child parented
to the component, outputs as attributes and registered at the end.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pulumi
from pulumi_azure_native import compute, maintenance, network, resources

from infra import tls
from infra.backup import (
    AzureVmBackup,
    AzureVmBackupArgs,
    BackupStorage,
    BackupStorageArgs,
    container_url,
    storage_service_endpoint,
)
from infra.bootstrap_command import (
    BootstrapFiles,
    backup_settings,
    bootstrap_settings,
    check_script_size,
    create_bootstrap_command,
    embed_settings,
    smtp_relay_settings,
)
from infra.config import StackConfig, check_computer_name
from infra.network import inbound_rules, security_rule_args
from infra.passwords import random_api_key, secret_or_random
from infra.replace_guard import VmReplaceGuard
from infra.vault import CONTRACT_SECRET_NAMES, SMTP_RELAY_PASSWORD, SecretsVault, SecretsVaultArgs
from infra.vm import (
    boot_diagnostics_profile,
    data_disk,
    data_disk_attachment,
    image_reference_args,
    managed_os_disk,
    network_profile,
    principal_id,
    public_address,
    public_endpoint,
    public_fqdn,
    system_identity,
    trusted_launch_profile,
    vm_options,
)

COMPONENT_TYPE = "ostops:infra:OsTicketHost"
VNET_PREFIX = "10.20.0.0/16"
SUBNET_PREFIX = "10.20.1.0/24"
SERVER_COMPUTER_NAME = check_computer_name("osticket")
DB_NAME = "osticket"
DB_USER = "osticket"
TABLE_PREFIX = "ost_"

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
        relay = config.smtp_relay
        smtp = (
            smtp_relay_settings(
                relay.host, relay.port, relay.username, SMTP_RELAY_PASSWORD if relay.password is not None else None
            )
            if relay is not None
            else None
        )

        def settings(fqdn: str, vault_uri: str, certificate_sha256: str, backup_url: str) -> dict[str, Any]:
            return bootstrap_settings(
                files=files,
                osticket_version=config.osticket_version,
                site_host_name=fqdn,
                helpdesk_name=config.helpdesk_name,
                admin_username=config.osticket_admin_username,
                admin_email=config.osticket_admin_email or f"ostadmin@{fqdn}",
                automation_source_ip=config.automation_source_ip,
                enable_db_access=config.enable_db_access,
                vault_uri=vault_uri,
                secret_names=CONTRACT_SECRET_NAMES,
                certificate_sha256=certificate_sha256,
                hsts_max_age_seconds=config.hsts_max_age_seconds,
                smtp_relay=smtp,
                backup=backup_settings(backup_url, config.backup.schedule, config.backup.retention_days),
            )

        # The size budget, checked now with the longest values Azure can give (24-character vault and storage
        # account names), so an oversized script stops the program before anything is created.
        check_script_size(
            embed_settings(
                files.script,
                settings(config.fqdn, f"https://{'x' * 24}.vault.azure.net/", "0" * 64, container_url("x" * 24)),
            )
        )

        self.resource_group = resources.ResourceGroup(
            f"{name}-rg", location=config.location, tags=tags, opts=child
        )
        self.resource_group_name = self.resource_group.name
        self._network(name, tags)

        self.admin_username = config.admin_username
        self.admin_password = secret_or_random(config.admin_password, f"{name}-vm-admin-password", self)
        self.osticket_admin_username = config.osticket_admin_username
        self.osticket_admin_password = secret_or_random(
            config.osticket_admin_password, f"{name}-osticket-admin-password", self
        )
        self.db_root_password = secret_or_random(config.db_root_password, f"{name}-db-root-password", self)
        self.db_app_password = secret_or_random(config.db_app_password, f"{name}-db-app-password", self)
        self.api_key = secret_or_random(config.api_key, f"{name}-api-key", self, random_api_key)

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
        self.vm = compute.VirtualMachine(
            f"{name}-vm",
            resource_group_name=self.resource_group_name,
            location=config.location,
            hardware_profile=compute.HardwareProfileArgs(vm_size=config.vm_size),
            storage_profile=compute.StorageProfileArgs(
                image_reference=image_reference_args(config.server_image),
                os_disk=managed_os_disk(),
                data_disks=[data_disk_attachment(self.data_disk)],
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
                            reboot_setting=compute.WindowsVMGuestPatchAutomaticByPlatformRebootSetting.IF_REQUIRED,
                            bypass_platform_safety_checks_on_user_schedule=True,
                        ),
                    ),
                ),
            ),
            network_profile=network_profile(self.network_interface),
            security_profile=trusted_launch_profile(),
            diagnostics_profile=boot_diagnostics_profile(),
            identity=system_identity(),
            tags=tags,
            opts=vm_options(self, depends_on=[self.replace_guard]),
        )
        self._patch_schedule(name, tags)

        self.fqdn = public_fqdn(self.public_ip, config.dns_label, config.location)
        self.public_ip_address = public_address(self.public_ip)
        self.tls = (
            tls.given(config.tls_pfx_base64, config.tls_pfx_password)
            if config.tls_pfx_base64 is not None and config.tls_pfx_password is not None
            else tls.self_signed(f"{name}-tls", self.fqdn, self)
        )
        self.certificate_pem = self.tls.certificate_pem

        self.vault = SecretsVault(
            f"{name}-vault",
            SecretsVaultArgs(
                resource_group_name=self.resource_group_name,
                location=config.location,
                tags=tags,
                purge_protection=config.key_vault_purge_protection,
                secrets=self._secrets(),
                reader_principal_id=principal_id(self.vm),
            ),
            child,
        )

        self.backup = BackupStorage(
            f"{name}-backup",
            BackupStorageArgs(
                resource_group_name=self.resource_group_name,
                location=config.location,
                tags=tags,
                subnet_ids=[self.subnet.id],
                writers={"vm": principal_id(self.vm)},
                retention_days=config.backup.retention_days,
                soft_delete_days=config.backup.soft_delete_days,
                allowed_addresses=[config.automation_source_ip],
            ),
            child,
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
                files.script, settings(parts[0], parts[1], tls.certificate_sha256(parts[2]), parts[3])
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

        self.helpdesk_url = self.fqdn.apply(lambda fqdn: f"https://{fqdn}/")
        self.staff_url = self.fqdn.apply(lambda fqdn: f"https://{fqdn}/scp/")
        self.api_url = self.fqdn.apply(lambda fqdn: f"https://{fqdn}/api/")
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
                "keyVaultName": self.vault.vault_name,
                "certificatePem": self.certificate_pem,
                "bootstrapDigest": self.bootstrap_digest,
                "dataDiskId": self.data_disk.id,
                "backupContainerUrl": self.backup.container_url,
                "backupStorageAccount": self.backup.account_name,
            }
        )

    def _secrets(self) -> dict[str, pulumi.Input[str]]:
        secrets: dict[str, pulumi.Input[str]] = {
            "adminPassword": self.osticket_admin_password,
            "dbRootPassword": self.db_root_password,
            "dbAppPassword": self.db_app_password,
            "apiKey": self.api_key,
            "tlsPfx": self.tls.pfx_base64,
            "tlsPfxPassword": self.tls.pfx_password,
        }
        relay = self.config.smtp_relay
        if relay is not None and relay.password is not None:
            secrets["smtpRelayPassword"] = pulumi.Output.secret(relay.password.get_secret_value())
        return secrets

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
            # The backup storage admits this subnet through its virtual network rule (infra/backup.py).
            service_endpoints=storage_service_endpoint(),
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
