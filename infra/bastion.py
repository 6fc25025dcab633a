"""``Bastion``: Azure Bastion in the stack's virtual network, the only way RDP (and SSH) reaches a machine when
``ostops:bastion`` is on; no NSG then has a public RDP or WinRM rule (infra/network.py).

What Azure asks of it (MicrosoftDocs azure-docs articles/bastion/configuration-settings.md):
- a dedicated subnet named ``AzureBastionSubnet``, "/26 or larger", holding nothing else;
- a public IP whose "SKU must be **Standard**" and whose "assignment/allocation method must be **Static**".
SKUs: the installed pulumi-azure-native's ``BastionHostSkuName`` is Basic, Standard, Developer or Premium. Standard
is the default because "Connect to VMs using Azure CLI" (``az network bastion rdp`` / ``tunnel``, the native
client, ``enableTunneling``) is Standard or higher (includes/bastion-sku.md; "Connections via native client
require the Bastion Standard SKU", articles/bastion/connect-vm-native-client-windows.md): that tunnel is how the
automation reaches a jump host. Basic is accepted (portal RDP only); Developer is refused by the config, as it
has no subnet or public IP of its own and no CLI connections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
from pulumi_azure_native import network

from infra.network import BASTION_SUBNET_NAME, BASTION_SUBNET_PREFIX, standard_public_ip

COMPONENT_TYPE = "ostops:infra:Bastion"
TUNNELING_SKUS = frozenset({network.BastionHostSkuName.STANDARD.value, network.BastionHostSkuName.PREMIUM.value})


class BastionArgs:
    def __init__(
        self,
        *,
        resource_group_name: pulumi.Input[str],
        location: str,
        virtual_network_name: pulumi.Input[str],
        sku: str,
        tags: Mapping[str, str],
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        self.resource_group_name = resource_group_name
        self.location = location
        self.virtual_network_name = virtual_network_name
        self.sku = network.BastionHostSkuName(sku)
        self.tags = dict(tags)
        # Another change to the same virtual network (a subnet) that must finish first.
        self.depends_on = list(depends_on)


class Bastion(pulumi.ComponentResource):
    subnet: network.Subnet
    public_ip: network.PublicIPAddress
    host: network.BastionHost

    def __init__(self, name: str, args: BastionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.subnet = network.Subnet(
            f"{name}-subnet",
            resource_group_name=args.resource_group_name,
            virtual_network_name=args.virtual_network_name,
            subnet_name=BASTION_SUBNET_NAME,
            address_prefix=BASTION_SUBNET_PREFIX,
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
        )
        self.public_ip = standard_public_ip(
            f"{name}-pip", resource_group_name=args.resource_group_name, location=args.location, tags=args.tags,
            parent=self,
        )
        self.tunneling = args.sku.value in TUNNELING_SKUS
        self.host = network.BastionHost(
            f"{name}-host",
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=network.SkuArgs(name=args.sku),
            enable_tunneling=self.tunneling,
            # A shareable link lets whoever holds it reach a VM without a sign-in to Azure: never.
            enable_shareable_link=False,
            ip_configurations=[
                network.BastionHostIPConfigurationArgs(
                    name="bastion",
                    subnet=network.SubResourceArgs(id=self.subnet.id),
                    public_ip_address=network.SubResourceArgs(id=self.public_ip.id),
                )
            ],
            tags=args.tags,
            opts=child,
        )
        self.bastion_name: pulumi.Output[str] = self.host.name
        self.register_outputs({"bastionName": self.host.name, "sku": args.sku.value, "tunneling": self.tunneling})
