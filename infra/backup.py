"""``BackupStorage``: the private Blob container the nightly backup on the VM writes to with its managed identity.

Modelled on pulumi/examples ``classic-azure-py-webserver-component`` like ``OsTicketHost``: an args class, every
child parented to the component, outputs as attributes and registered at the end.

Secure by default, each property below checked by tests/infra/test_backup.py:

- ``enable_https_traffic_only`` and ``minimum_tls_version`` TLS1_2 ("The default interpretation is TLS 1.0 for this
  property", pulumi-azure-native 3.29.0 ``storage.StorageAccount``).
- ``allow_blob_public_access`` False and the container's ``public_access`` None: no anonymous reads.
- ``allow_shared_key_access`` False: "If false, then all requests, including shared access signatures, must be
  authorized with Azure Active Directory (Azure AD)" (same SDK). No account key is ever read, output or put in the
  VM's settings; the VM writes with its identity's token, the operator reads with ``--auth-mode login``
  ("Set the --auth-mode parameter to login to sign in using a Microsoft Entra security principal", Choose how to
  authorize access to blob data with Azure CLI, https://learn.microsoft.com/azure/storage/blobs/authorize-data-operations-cli).
  ``default_to_o_auth_authentication`` makes the portal use Entra ID too.
- The public endpoint denies by default and admits the VM's subnet through a ``Microsoft.Storage`` service endpoint
  (a virtual network rule) and, for the operator's downloads, the automation address (an IP rule). A service
  endpoint, not a private endpoint: it is one property on the subnet the program already has and one rule on the
  account, where a private endpoint needs a private DNS zone ``privatelink.blob.core.windows.net``, its virtual
  network link, the endpoint and its DNS zone group, and the operator's machine then cannot reach the account at
  all. "Virtual network rules grant storage access to traffic originating from specific subnets. To create a
  virtual network rule, you first enable a service endpoint on the subnet", and "The Microsoft.Storage endpoint
  restricts traffic to storage accounts in the same region as the subnet" (Configure virtual network and IP rules,
  https://learn.microsoft.com/training/modules/configure-network-security-azure-storage/3-configure-vnet-ip-rules):
  the account is created in the VM's region. IP rules: "Small address ranges using /31 or /32 prefix sizes are not
  supported ... configured using individual IP address rules", and "IP network rules have no effect on requests
  originating from the same Azure region as the storage account" (Configure Azure Storage firewalls and virtual
  networks, https://learn.microsoft.com/azure/storage/common/storage-network-security), hence the subnet rule for
  the VM and a plain address for the automation host. "Azure Storage firewall rules apply only to data plane
  operations. Control plane operations are not subject to the restrictions" (same page, "Restrictions and
  limitations"): Pulumi still manages the container and the policies through ARM.
- Blob soft delete and container soft delete: "you specify a retention period for deleted objects of between 1 and
  365 days"; "If data in an existing blob or snapshot is deleted while blob soft delete is enabled but blob
  versioning is not enabled, then a soft deleted snapshot is generated to save the state of the overwritten data"
  (Soft delete for blobs, https://learn.microsoft.com/azure/storage/blobs/soft-delete-blob-overview). Versioning is
  off: every backup is a new blob name written once, so soft delete already covers an overwrite or a delete, and
  versions would keep every overwritten copy "indefinite (until explicitly deleted)" (Choose soft delete or
  versioning, https://learn.microsoft.com/azure/storage/blobs/soft-delete-vs-versioning-options), outliving the
  retention the lifecycle rule promises. The VM's role cannot purge soft-deleted blobs: ``allow_permanent_delete``
  stays off.
- A lifecycle rule deletes backups older than ``ostops:backupRetentionDays``: block blobs under the prefix
  ``osticket-backups/`` ("A prefix string must start with a container name", Azure Blob Storage lifecycle management
  policy structure, https://learn.microsoft.com/azure/storage/blobs/lifecycle-management-policy-structure), action
  ``baseBlob.delete.daysAfterCreationGreaterThan`` (Microsoft.Storage storageAccounts/managementPolicies template
  reference, https://learn.microsoft.com/azure/templates/microsoft.storage/storageaccounts/managementpolicies).
- The writer's role, "Storage Blob Data Contributor" (``ba92f5b4-2d11-453d-a403-e96b0029c9fe``, Azure built-in roles
  for Storage, https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-blob-data-contributor),
  is scoped to the container alone, not the account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_random as random
from pulumi_azure_native import authorization, network, storage

from infra.vault import role_definition_id

COMPONENT_TYPE = "ostops:infra:BackupStorage"
CONTAINER_NAME = "osticket-backups"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ACCOUNT_NAME_PREFIX = "ostopsbk"
ACCOUNT_SUFFIX_LENGTH = 10
# "Storage account names must be between 3 and 24 characters in length and use numbers and lower-case letters
# only" (pulumi-azure-native storage.StorageAccount ``account_name``); globally unique, hence the random suffix.
ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
STORAGE_SERVICE_ENDPOINT = "Microsoft.Storage"
LIFECYCLE_RULE_NAME = "delete-old-backups"


def account_name(suffix: str) -> str:
    name = f"{ACCOUNT_NAME_PREFIX}{suffix}"
    if not ACCOUNT_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid storage account name")
    return name


def container_url(account: str) -> str:
    """The container's URL in Azure's public cloud (``https://<account>.blob.core.windows.net/<container>``)."""
    return f"https://{account}.blob.core.windows.net/{CONTAINER_NAME}"


def storage_service_endpoint() -> list[network.ServiceEndpointPropertiesFormatArgs]:
    """The subnet property that lets the subnet's traffic reach the account through its virtual network rule."""
    return [network.ServiceEndpointPropertiesFormatArgs(service=STORAGE_SERVICE_ENDPOINT)]


def public_addresses(addresses: Sequence[str]) -> list[str]:
    """The addresses an IP rule may name: "Private IP address ranges (as defined in RFC 1918) are not allowed"
    (Configure Azure Storage firewalls and virtual networks, IP network rules), and a private automation host
    reaches the account through its own subnet's rule anyway."""
    import ipaddress

    return [a for a in addresses if ipaddress.ip_address(a).is_global]


class BackupStorageArgs:
    def __init__(
        self,
        *,
        resource_group_name: pulumi.Input[str],
        location: str,
        tags: Mapping[str, str],
        subnet_ids: Sequence[pulumi.Input[str]],
        writers: Mapping[str, pulumi.Input[str]],
        retention_days: int,
        soft_delete_days: int,
        allowed_addresses: Sequence[str] = (),
    ) -> None:
        if not subnet_ids:
            raise ValueError("BackupStorage needs the subnet the VM writes from")
        if not writers:
            raise ValueError("BackupStorage needs the identity that writes the backups")
        self.resource_group_name = resource_group_name
        self.location = location
        self.tags = dict(tags)
        self.subnet_ids = list(subnet_ids)
        # name -> principal id of a managed identity that writes backups (the VM's, the web instances').
        self.writers = dict(writers)
        self.retention_days = retention_days
        self.soft_delete_days = soft_delete_days
        # Public addresses (single IPv4, no prefix) that may reach the data plane: the automation host's.
        self.allowed_addresses = public_addresses(allowed_addresses)


class BackupStorage(pulumi.ComponentResource):
    account: storage.StorageAccount
    blob_service: storage.BlobServiceProperties
    container: storage.BlobContainer
    lifecycle: storage.ManagementPolicy
    writer_roles: dict[str, authorization.RoleAssignment]

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        suffix = random.RandomString(
            f"{name}-suffix", length=ACCOUNT_SUFFIX_LENGTH, upper=False, special=False, opts=child
        )
        self.account = storage.StorageAccount(
            f"{name}-sa",
            account_name=suffix.result.apply(account_name),
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name=storage.SkuName.STANDARD_LRS),
            access_tier=storage.AccessTier.HOT,
            enable_https_traffic_only=True,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            public_network_access=storage.PublicNetworkAccess.ENABLED,
            network_rule_set=storage.NetworkRuleSetArgs(
                default_action=storage.DefaultAction.DENY,
                bypass=storage.Bypass.NONE,
                virtual_network_rules=[
                    storage.VirtualNetworkRuleArgs(virtual_network_resource_id=subnet, action=storage.Action.ALLOW)
                    for subnet in args.subnet_ids
                ],
                ip_rules=[
                    storage.IPRuleArgs(i_p_address_or_range=address, action=storage.Action.ALLOW)
                    for address in args.allowed_addresses
                ],
            ),
            tags=args.tags,
            opts=child,
        )
        self.account_name: pulumi.Output[str] = self.account.name
        self.blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            account_name=self.account.name,
            resource_group_name=args.resource_group_name,
            blob_services_name="default",
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=args.soft_delete_days, allow_permanent_delete=False
            ),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=args.soft_delete_days
            ),
            is_versioning_enabled=False,
            opts=child,
        )
        self.container = storage.BlobContainer(
            f"{name}-container",
            account_name=self.account.name,
            resource_group_name=args.resource_group_name,
            container_name=CONTAINER_NAME,
            public_access=storage.PublicAccess.NONE,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.blob_service]),
        )
        self.lifecycle = storage.ManagementPolicy(
            f"{name}-lifecycle",
            account_name=self.account.name,
            resource_group_name=args.resource_group_name,
            management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(
                rules=[
                    storage.ManagementPolicyRuleArgs(
                        name=LIFECYCLE_RULE_NAME,
                        type=storage.RuleType.LIFECYCLE,
                        enabled=True,
                        definition=storage.ManagementPolicyDefinitionArgs(
                            filters=storage.ManagementPolicyFilterArgs(
                                blob_types=["blockBlob"], prefix_match=[f"{CONTAINER_NAME}/"]
                            ),
                            actions=storage.ManagementPolicyActionArgs(
                                base_blob=storage.ManagementPolicyBaseBlobArgs(
                                    delete=storage.DateAfterModificationArgs(
                                        days_after_creation_greater_than=args.retention_days
                                    )
                                ),
                                snapshot=storage.ManagementPolicySnapShotArgs(
                                    delete=storage.DateAfterCreationArgs(
                                        days_after_creation_greater_than=args.retention_days
                                    )
                                ),
                            ),
                        ),
                    )
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )
        self.writer_roles = {
            writer: authorization.RoleAssignment(
                f"{name}-writer-{writer}",
                principal_id=principal,
                principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                role_definition_id=client.subscription_id.apply(
                    lambda subscription: role_definition_id(subscription, STORAGE_BLOB_DATA_CONTRIBUTOR)
                ),
                scope=self.container.id,
                description=f"The {writer} writes the nightly osTicket backups",
                # A new identity needs a new assignment; the old one is removed first.
                opts=pulumi.ResourceOptions(
                    parent=self, replace_on_changes=["principalId"], delete_before_replace=True
                ),
            )
            for writer, principal in args.writers.items()
        }
        self.container_url: pulumi.Output[str] = pulumi.Output.all(self.account.name, self.container.id).apply(
            lambda parts: container_url(parts[0])
        )
        self.register_outputs({"backupStorageAccount": self.account_name, "backupContainerUrl": self.container_url})


# --- ostops:azureBackup: Azure Backup of the lab's VM -------------------------------------------------------

VM_BACKUP_COMPONENT_TYPE = "ostops:infra:AzureVmBackup"
# The VM runs Trusted Launch (infra/vm.py); the Enhanced policy (policyType V2) protects it: "Azure Backup now
# supports the Enhanced policy ... Support for new Azure offerings, including Trusted Launch VMs", and "Only the
# Azure CLI (version 2.73.0 and later), PowerShell (version Az 14.0.0 and later), and the REST API (version
# 2025-01-01 and later) support Trusted Launch VM backup with the Standard policy" (Back up Azure VMs with the
# Enhanced policy, https://learn.microsoft.com/azure/backup/backup-azure-vms-enhanced-policy); pulumi-azure-native
# 3.29.0's recoveryservices uses API 2024-10-01.
VM_BACKUP_POLICY_NAME = "ostops-daily-enhanced"
VM_BACKUP_TIME_ZONE = "UTC"
# The names Azure Backup gives an Azure VM's container and item (Protected Items - Create Or Update, example
# "Enable Protection on Azure IaasVm": .../backupFabrics/Azure/protectionContainers/
# IaasVMContainer;iaasvmcontainerv2;<resource group>;<vm>/protectedItems/VM;iaasvmcontainerv2;<resource group>;<vm>,
# https://learn.microsoft.com/rest/api/backup/protected-items/create-or-update).
VM_BACKUP_FABRIC = "Azure"


def vm_backup_container_name(resource_group: str, vm: str) -> str:
    return f"IaasVMContainer;iaasvmcontainerv2;{resource_group};{vm}"


def vm_backup_item_name(resource_group: str, vm: str) -> str:
    return f"VM;iaasvmcontainerv2;{resource_group};{vm}"


def vm_backup_time(schedule: str) -> str:
    """The VM snapshot an hour after the nightly dump starts, on the next full hour (the dump takes seconds; the
    snapshot then holds it too)."""
    hour, minute = (int(part) for part in schedule.split(":"))
    start = (hour + 1 + (1 if minute else 0)) % 24
    return f"{start:02d}:00"


class AzureVmBackupArgs:
    def __init__(
        self,
        *,
        resource_group_name: pulumi.Input[str],
        location: str,
        tags: Mapping[str, str],
        vm_id: pulumi.Input[str],
        vm_name: pulumi.Input[str],
        schedule: str,
        retention_days: int,
    ) -> None:
        self.resource_group_name = resource_group_name
        self.location = location
        self.tags = dict(tags)
        self.vm_id = vm_id
        self.vm_name = vm_name
        self.schedule = schedule
        self.retention_days = retention_days


class AzureVmBackup(pulumi.ComponentResource):
    """A Recovery Services vault, a daily Enhanced VM backup policy, and the VM protected by it."""

    vault: Any
    policy: Any
    protected_item: Any

    def __init__(self, name: str, args: AzureVmBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        from pulumi_azure_native import recoveryservices as rs

        super().__init__(VM_BACKUP_COMPONENT_TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        run_time = f"2024-01-01T{vm_backup_time(args.schedule)}:00Z"
        self.vault = rs.Vault(
            f"{name}-rsv",
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=rs.SkuArgs(name=rs.SkuName.STANDARD),
            properties=rs.VaultPropertiesArgs(),
            tags=args.tags,
            opts=child,
        )
        self.policy = rs.ProtectionPolicy(
            f"{name}-policy",
            resource_group_name=args.resource_group_name,
            vault_name=self.vault.name,
            policy_name=VM_BACKUP_POLICY_NAME,
            properties=rs.AzureIaaSVMProtectionPolicyArgs(
                backup_management_type="AzureIaasVM",
                policy_type=rs.IAASVMPolicyType.V2,
                time_zone=VM_BACKUP_TIME_ZONE,
                schedule_policy=rs.SimpleSchedulePolicyV2Args(
                    schedule_policy_type="SimpleSchedulePolicyV2",
                    schedule_run_frequency=rs.ScheduleRunType.DAILY,
                    daily_schedule=rs.DailyScheduleArgs(schedule_run_times=[run_time]),
                ),
                retention_policy=rs.LongTermRetentionPolicyArgs(
                    retention_policy_type="LongTermRetentionPolicy",
                    daily_schedule=rs.DailyRetentionScheduleArgs(
                        retention_times=[run_time],
                        retention_duration=rs.RetentionDurationArgs(
                            count=args.retention_days, duration_type=rs.RetentionDurationType.DAYS
                        ),
                    ),
                ),
            ),
            tags=args.tags,
            opts=child,
        )
        names = pulumi.Output.all(args.resource_group_name, args.vm_name)
        self.protected_item = rs.ProtectedItem(
            f"{name}-vm",
            resource_group_name=args.resource_group_name,
            vault_name=self.vault.name,
            fabric_name=VM_BACKUP_FABRIC,
            container_name=names.apply(lambda n: vm_backup_container_name(n[0], n[1])),
            protected_item_name=names.apply(lambda n: vm_backup_item_name(n[0], n[1])),
            properties=rs.AzureIaaSComputeVMProtectedItemArgs(
                protected_item_type="Microsoft.Compute/virtualMachines",
                source_resource_id=args.vm_id,
                policy_id=self.policy.id,
            ),
            tags=args.tags,
            opts=child,
        )
        self.register_outputs({"recoveryServicesVault": self.vault.name, "policy": self.policy.name})
