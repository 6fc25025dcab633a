"""``SecretsVault``: the Key Vault that holds the bootstrap's secrets, readable by the VM's identity only.

RBAC authorization (no access policies), soft delete, purge protection as the stack chooses; each secret a
``keyvault.Secret`` whose value is a Pulumi secret; the VM's system-assigned identity gets the built-in role
"Key Vault Secrets User" scoped to this vault alone.

Every secret is ``deleted_with`` the vault. pulumi-azure-native creates and updates a secret through ARM (a
PUT on ``.../vaults/{vaultName}/secrets/{secretName}``) but deletes it through the Key Vault *data plane*:
"DELETE is implemented via the KeyVault 'data plane' API, because it isn't available via ARM"
(pulumi-azure-native ``provider/pkg/resources/customresources/custom_keyvault.go``, ``keyVaultSecret``:
``azsecrets.NewClient(vaultUrl, ...).DeleteSecret``). The vault is RBAC-only and the deployer holds no data-plane
role, so that call is refused (403) and ``pulumi destroy`` stopped at the first secret. With ``deleted_with``
Pulumi skips the per-secret delete when the vault goes too; deleting the vault soft-deletes it with its
secrets ("Once a secret, key, certificate, or key vault is deleted, it remains recoverable for a configurable
period of 7 to 90 calendar days", Azure Key Vault soft-delete overview,
https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview). Granting the deployer a data-plane
role instead would hand whoever runs ``pulumi up`` read access to every secret: not done.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pulumi
import pulumi_random as random
from pulumi_azure_native import authorization, keyvault

COMPONENT_TYPE = "ostops:infra:SecretsVault"
# Built-in role "Key Vault Secrets User": "Read secret contents" (Azure built-in roles for Security,
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security#key-vault-secrets-user).
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
VAULT_NAME_PREFIX = "ostops-kv-"
VAULT_SUFFIX_LENGTH = 10
# Key Vault names: 3-24 letters, digits and '-' (VaultNameNotValid, Key Vault common error codes,
# https://learn.microsoft.com/azure/key-vault/general/common-error-codes); globally unique. Stricter here:
# lower case, starting with a letter, ending with a letter or digit, no "--".
VAULT_NAME = re.compile(r"[a-z](?!.*--)[a-z0-9-]{1,22}[a-z0-9]")
# Soft-deleted vaults stay recoverable this many days (the SDK accepts 7 to 90).
SOFT_DELETE_DAYS = 7

# The contract's secret names (docs/contract: settings.secrets.names).
CONTRACT_SECRET_NAMES: Mapping[str, str] = {
    "adminPassword": "osticket-admin-password",
    "dbRootPassword": "mariadb-root-password",
    "dbAppPassword": "mariadb-app-password",
    "apiKey": "osticket-api-key",
    "tlsPfx": "tls-pfx",
    "tlsPfxPassword": "tls-pfx-password",
}
# Only with an SMTP relay that authenticates; named in settings.smtpRelay.passwordSecretName.
SMTP_RELAY_PASSWORD = "smtp-relay-password"
# The production tier's web role (settings.role "web"): the Flexible Server's administrator (the elected first
# instance creates the osTicket user with it), the SECRET_SALT every instance's ost-config.php shares (it signs
# links and CSRF tokens and decrypts stored mailbox passwords, so all instances need the same one), and the
# gateway's certificate: Application Gateway reads "base-64 encoded unencrypted pfx" from a Key Vault secret
# (pulumi-azure-native network ``ApplicationGatewaySslCertificateArgs.key_vault_secret_id``), so it gets its own
# password-less copy of the site certificate.
WEB_ROLE_SECRET_NAMES: Mapping[str, str] = {
    "mysqlAdminPassword": "mysql-admin-password",
    "secretSalt": "osticket-secret-salt",
    "gatewayPfx": "tls-gateway-pfx",
}
SECRET_NAMES: Mapping[str, str] = {
    **CONTRACT_SECRET_NAMES,
    "smtpRelayPassword": SMTP_RELAY_PASSWORD,
    **WEB_ROLE_SECRET_NAMES,
}


def vault_name(suffix: str) -> str:
    name = f"{VAULT_NAME_PREFIX}{suffix}"
    if not VAULT_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid Key Vault name")
    return name


def role_definition_id(subscription_id: str, role: str = KEY_VAULT_SECRETS_USER) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


class SecretsVaultArgs:
    def __init__(
        self,
        *,
        resource_group_name: pulumi.Input[str],
        location: str,
        tags: Mapping[str, str],
        purge_protection: bool,
        secrets: Mapping[str, pulumi.Input[str]],
        reader_principal_id: pulumi.Input[str],
        more_readers: Mapping[str, pulumi.Input[str]] | None = None,
        reader_description: str = "The help-desk VM reads its bootstrap secrets",
    ) -> None:
        unknown = sorted(set(secrets) - set(SECRET_NAMES))
        if unknown:
            raise ValueError(f"no Key Vault secret name for {unknown}")
        self.resource_group_name = resource_group_name
        self.location = location
        self.tags = dict(tags)
        self.purge_protection = purge_protection
        self.secrets = dict(secrets)
        self.reader_principal_id = reader_principal_id
        # Further identities (name -> principal id) that may read the secrets, e.g. the gateway's.
        self.more_readers = dict(more_readers or {})
        self.reader_description = reader_description


class SecretsVault(pulumi.ComponentResource):
    vault: keyvault.Vault
    secrets: dict[str, keyvault.Secret]
    reader_role: authorization.RoleAssignment

    def __init__(self, name: str, args: SecretsVaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        suffix = random.RandomString(
            f"{name}-suffix", length=VAULT_SUFFIX_LENGTH, upper=False, special=False, opts=child
        )
        self.vault_name: pulumi.Output[str] = suffix.result.apply(vault_name)
        self.vault = keyvault.Vault(
            f"{name}-kv",
            vault_name=self.vault_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=client.tenant_id,
                sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=SOFT_DELETE_DAYS,
                # The API does not accept false: leave it out unless it is wanted (it cannot be undone).
                enable_purge_protection=True if args.purge_protection else None,
            ),
            tags=args.tags,
            opts=child,
        )
        self.vault_uri: pulumi.Output[str] = pulumi.Output.all(self.vault.properties, self.vault_name).apply(
            lambda parts: getattr(parts[0], "vault_uri", None) or f"https://{parts[1]}.vault.azure.net/"
        )
        self.secrets = {
            key: keyvault.Secret(
                f"{name}-{SECRET_NAMES[key]}",
                resource_group_name=args.resource_group_name,
                vault_name=self.vault.name,
                secret_name=SECRET_NAMES[key],
                properties=keyvault.SecretPropertiesArgs(value=pulumi.Output.secret(value)),
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self, deleted_with=self.vault),
            )
            for key, value in args.secrets.items()
        }
        self.reader_role = authorization.RoleAssignment(
            f"{name}-secrets-user",
            principal_id=args.reader_principal_id,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=client.subscription_id.apply(role_definition_id),
            scope=self.vault.id,
            description=args.reader_description,
            # A new VM identity needs a new assignment; the old one is removed first.
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["principalId"], delete_before_replace=True),
        )
        self.more_reader_roles = {
            reader: authorization.RoleAssignment(
                f"{name}-secrets-user-{reader}",
                principal_id=principal,
                principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                role_definition_id=client.subscription_id.apply(role_definition_id),
                scope=self.vault.id,
                description=f"The {reader} reads its secrets",
                opts=pulumi.ResourceOptions(
                    parent=self, replace_on_changes=["principalId"], delete_before_replace=True
                ),
            )
            for reader, principal in args.more_readers.items()
        }
        self.register_outputs({"vaultName": self.vault_name, "vaultUri": self.vault_uri})
