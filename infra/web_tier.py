"""The production web tier: ``WebGateway`` (Application Gateway v2) in front of ``WebScaleSet`` (Windows VMSS Flex).

``WebGateway``
- HTTPS listener on 443 with the certificate from Key Vault, read by a user-assigned identity
  (``keyVaultSecretId``: "Secret Id of (base-64 encoded unencrypted pfx) 'Secret' or 'Certificate' object stored
  in KeyVault", pulumi-azure-native network ``ApplicationGatewaySslCertificateArgs``). The id has no version, so
  the gateway picks up a renewed certificate by itself ("As version-less secretId is provided here, Application
  Gateway will sync the certificate in regular intervals with the KeyVault", Az.Network
  Add-AzApplicationGatewaySslCertificate, example 2).
- HTTP on 80 only redirects to the HTTPS listener (``redirectConfigurations``, Permanent, path and query kept).
- A health probe on ``/logo.php``: osTicket's cheapest PHP page that reads the database: it defines
  ``NOOP_SESSION`` (no session row is written) and loads the config, then redirects to the logo (osTicket
  1.18.1 ``upload/logo.php``), so 200-399 is healthy.
- A rewrite rule set for client addresses: the gateway's X-Forwarded-For carries ``IP:port``, which osTicket's
  address checks (API keys bound to an address) refuse; the request header is set to the server variable
  ``add_x_forwarded_for_proxy`` ("the X-Forwarded-For client request header ... without the port information",
  Rewrite HTTP headers with Azure Application Gateway, learn.microsoft.com/azure/application-gateway/
  rewrite-http-headers-url; "Remove port information from the X-Forwarded-For header", Azure blog "Rewrite HTTP
  headers with Azure Application Gateway"). Rewrites are v2-only (same page). osTicket trusts the header from
  ``TRUSTED_PROXIES`` = the gateway's subnet (web role settings).
- Standard_v2 across zones 1-3, autoscaling from 2 instances, TLS policy AppGwSslPolicy20220101S.

``WebScaleSet``
- Flexible orchestration (``platformFaultDomainCount`` 1, ``networkApiVersion`` 2020-11-01 for the NICs the scale
  set makes), at least two instances spread over zones 1-3, Trusted Launch and boot diagnostics as the lab VM,
  a user-assigned identity that reads the Key Vault secrets.
- The Application Health extension (publisher ``Microsoft.ManagedServices``, type ``ApplicationHealthWindows``,
  settings protocol/port; "Use Application Health extension with Virtual Machine Scale Sets",
  learn.microsoft.com/azure/virtual-machine-scale-sets/virtual-machine-scale-sets-health-extension) feeds
  automatic repairs (``automaticRepairsPolicy``, grace period at the documented maximum PT90M so a bootstrap
  that takes up to an hour is not repaired mid-way). It probes TCP 80 on purpose: the gateway's probe already
  takes a failing osTicket out of rotation, and an instance is replaced only when IIS itself is gone; a database
  outage (every instance failing the page at once) must not make the scale set replace every instance.
- The bootstrap goes to every instance, new ones and repaired ones included, as the managed Run Command handler
  extension of the scale-set model (``Microsoft.CPlat.Core`` / ``RunCommandHandlerWindows``, public settings
  ``source.script`` and ``timeoutInSeconds``, as the handler receives them: Azure/WALinuxAgent test data
  "Microsoft.CPlat.Core.RunCommandHandlerWindows" runtime settings). ``forceUpdateTag`` is the script's digest.
- An optional CPU autoscale rule (``monitor.AutoscaleSetting`` on the host metric "Percentage CPU").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_azure_native import compute, managedidentity, monitor, network

from infra.bootstrap_command import BOOTSTRAP_TIMEOUT_SECONDS, WEB_BACKEND_PORT, script_digest
from infra.config import ProductionSettings, StackConfig
from infra.network import standard_public_ip
from infra.vm import (
    boot_diagnostics_profile,
    image_reference_args,
    platform_patching,
    public_fqdn,
    trusted_launch_profile,
)

GATEWAY_COMPONENT_TYPE = "ostops:infra:WebGateway"
SCALE_SET_COMPONENT_TYPE = "ostops:infra:WebScaleSet"
ZONES: tuple[str, ...] = ("1", "2", "3")
GATEWAY_MIN_CAPACITY = 2
GATEWAY_MAX_CAPACITY = 4
GATEWAY_SSL_POLICY = network.ApplicationGatewaySslPolicyName.APP_GW_SSL_POLICY20220101_S
PROBE_PATH = "/logo.php"
PROBE_STATUS_CODES = ("200-399",)
XFF_HEADER = "X-Forwarded-For"
XFF_WITHOUT_PORT = "{var_add_x_forwarded_for_proxy}"
HSTS_HEADER = "Strict-Transport-Security"
# Names of the gateway's parts, referenced by id inside the same resource.
FRONTEND_IP = "public"
PORT_HTTP = "http"
PORT_HTTPS = "https"
LISTENER_HTTP = "http"
LISTENER_HTTPS = "https"
CERTIFICATE = "site"
BACKEND_POOL = "web"
BACKEND_SETTINGS = "web-http"
PROBE = "osticket"
REDIRECT = "http-to-https"
REWRITE_SET = "client-address"
HEALTH_EXTENSION = "health"
BOOTSTRAP_EXTENSION = "bootstrap"
HEALTH_EXTENSION_PUBLISHER = "Microsoft.ManagedServices"
HEALTH_EXTENSION_TYPE = "ApplicationHealthWindows"
HEALTH_EXTENSION_VERSION = "1.0"
RUN_COMMAND_PUBLISHER = "Microsoft.CPlat.Core"
RUN_COMMAND_TYPE = "RunCommandHandlerWindows"
RUN_COMMAND_VERSION = "2.0"
REPAIR_GRACE_PERIOD = "PT90M"
# "between 15 minutes and 120 minutes ... default value is 90 minutes" (VirtualMachineScaleSetExtensionProfile
# extensions_time_budget): room for the bootstrap's hour.
EXTENSIONS_TIME_BUDGET = "PT90M"
COMPUTER_NAME_PREFIX = "ostweb"
NETWORK_API_VERSION = compute.NetworkApiVersion.NETWORK_API_VERSION_2020_11_01
# CPU autoscale: out above 70 % over 10 minutes, in below 30 % over 20 minutes, one instance at a time.
CPU_METRIC = "Percentage CPU"
CPU_METRIC_NAMESPACE = "microsoft.compute/virtualmachinescalesets"
SCALE_OUT_CPU = 70.0
SCALE_IN_CPU = 30.0


def gateway_part_id(subscription_id: str, resource_group: str, gateway: str, kind: str, part: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.Network/"
        f"applicationGateways/{gateway}/{kind}/{part}"
    )


def rewrite_rule_set(hsts_max_age_seconds: int) -> network.ApplicationGatewayRewriteRuleSetArgs:
    """X-Forwarded-For without the client's port; with a trusted certificate, HSTS on every response."""
    rules = [
        network.ApplicationGatewayRewriteRuleArgs(
            name="xff-without-port",
            rule_sequence=100,
            action_set=network.ApplicationGatewayRewriteRuleActionSetArgs(
                request_header_configurations=[
                    network.ApplicationGatewayHeaderConfigurationArgs(
                        header_name=XFF_HEADER, header_value=XFF_WITHOUT_PORT
                    )
                ]
            ),
        )
    ]
    if hsts_max_age_seconds > 0:
        rules.append(
            network.ApplicationGatewayRewriteRuleArgs(
                name="hsts",
                rule_sequence=200,
                action_set=network.ApplicationGatewayRewriteRuleActionSetArgs(
                    response_header_configurations=[
                        network.ApplicationGatewayHeaderConfigurationArgs(
                            header_name=HSTS_HEADER, header_value=f"max-age={hsts_max_age_seconds}"
                        )
                    ]
                ),
            )
        )
    return network.ApplicationGatewayRewriteRuleSetArgs(name=REWRITE_SET, rewrite_rules=rules)


class WebGatewayArgs:
    def __init__(
        self,
        *,
        resource_group_name: pulumi.Output[str],
        location: str,
        dns_label: str,
        subnet_id: pulumi.Input[str],
        subscription_id: pulumi.Output[str],
        certificate_secret_id: pulumi.Output[str],
        hsts_max_age_seconds: int,
        tags: Mapping[str, str],
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        self.resource_group_name = resource_group_name
        self.location = location
        self.dns_label = dns_label
        self.subnet_id = subnet_id
        self.subscription_id = subscription_id
        self.certificate_secret_id = certificate_secret_id
        self.hsts_max_age_seconds = hsts_max_age_seconds
        self.tags = dict(tags)
        # What must exist before the gateway reads its certificate (the secret, the identity's role).
        self.depends_on = list(depends_on)


class WebGateway(pulumi.ComponentResource):
    identity: managedidentity.UserAssignedIdentity
    public_ip: network.PublicIPAddress
    gateway: network.ApplicationGateway

    def __init__(
        self,
        name: str,
        args: WebGatewayArgs,
        identity: managedidentity.UserAssignedIdentity,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(GATEWAY_COMPONENT_TYPE, name, {}, opts)
        self.identity = identity
        self.public_ip = standard_public_ip(
            f"{name}-pip",
            resource_group_name=args.resource_group_name,
            location=args.location,
            dns_label=args.dns_label,
            zones=ZONES,
            tags=args.tags,
            parent=self,
        )
        self.fqdn = public_fqdn(self.public_ip, args.dns_label, args.location)
        gateway_name = f"{name}-appgw"

        def part(kind: str, part_name: str) -> network.SubResourceArgs:
            return network.SubResourceArgs(
                id=pulumi.Output.all(args.subscription_id, args.resource_group_name).apply(
                    lambda ids: gateway_part_id(ids[0], ids[1], gateway_name, kind, part_name)
                )
            )

        self.gateway = network.ApplicationGateway(
            gateway_name,
            application_gateway_name=gateway_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=network.ApplicationGatewaySkuArgs(
                name=network.ApplicationGatewaySkuName.STANDARD_V2, tier=network.ApplicationGatewayTier.STANDARD_V2
            ),
            autoscale_configuration=network.ApplicationGatewayAutoscaleConfigurationArgs(
                min_capacity=GATEWAY_MIN_CAPACITY, max_capacity=GATEWAY_MAX_CAPACITY
            ),
            zones=list(ZONES),
            identity=network.ManagedServiceIdentityArgs(
                type=network.ResourceIdentityType.USER_ASSIGNED, user_assigned_identities=[identity.id]
            ),
            ssl_policy=network.ApplicationGatewaySslPolicyArgs(
                policy_type=network.ApplicationGatewaySslPolicyType.PREDEFINED, policy_name=GATEWAY_SSL_POLICY
            ),
            enable_http2=True,
            gateway_ip_configurations=[
                network.ApplicationGatewayIPConfigurationArgs(
                    name="gateway", subnet=network.SubResourceArgs(id=args.subnet_id)
                )
            ],
            frontend_ip_configurations=[
                network.ApplicationGatewayFrontendIPConfigurationArgs(
                    name=FRONTEND_IP, public_ip_address=network.SubResourceArgs(id=self.public_ip.id)
                )
            ],
            frontend_ports=[
                network.ApplicationGatewayFrontendPortArgs(name=PORT_HTTP, port=80),
                network.ApplicationGatewayFrontendPortArgs(name=PORT_HTTPS, port=443),
            ],
            ssl_certificates=[
                network.ApplicationGatewaySslCertificateArgs(
                    name=CERTIFICATE, key_vault_secret_id=args.certificate_secret_id
                )
            ],
            http_listeners=[
                network.ApplicationGatewayHttpListenerArgs(
                    name=LISTENER_HTTP,
                    protocol=network.ApplicationGatewayProtocol.HTTP,
                    frontend_ip_configuration=part("frontendIPConfigurations", FRONTEND_IP),
                    frontend_port=part("frontendPorts", PORT_HTTP),
                ),
                network.ApplicationGatewayHttpListenerArgs(
                    name=LISTENER_HTTPS,
                    protocol=network.ApplicationGatewayProtocol.HTTPS,
                    frontend_ip_configuration=part("frontendIPConfigurations", FRONTEND_IP),
                    frontend_port=part("frontendPorts", PORT_HTTPS),
                    ssl_certificate=part("sslCertificates", CERTIFICATE),
                ),
            ],
            backend_address_pools=[network.ApplicationGatewayBackendAddressPoolArgs(name=BACKEND_POOL)],
            probes=[
                network.ApplicationGatewayProbeArgs(
                    name=PROBE,
                    protocol=network.ApplicationGatewayProtocol.HTTP,
                    path=PROBE_PATH,
                    pick_host_name_from_backend_http_settings=False,
                    host=self.fqdn,
                    interval=30,
                    timeout=30,
                    unhealthy_threshold=3,
                    match=network.ApplicationGatewayProbeHealthResponseMatchArgs(
                        status_codes=list(PROBE_STATUS_CODES)
                    ),
                )
            ],
            backend_http_settings_collection=[
                network.ApplicationGatewayBackendHttpSettingsArgs(
                    name=BACKEND_SETTINGS,
                    port=WEB_BACKEND_PORT,
                    protocol=network.ApplicationGatewayProtocol.HTTP,
                    # Sessions live in osTicket's database: any instance serves any request.
                    cookie_based_affinity=network.ApplicationGatewayCookieBasedAffinity.DISABLED,
                    request_timeout=120,
                    probe=part("probes", PROBE),
                )
            ],
            redirect_configurations=[
                network.ApplicationGatewayRedirectConfigurationArgs(
                    name=REDIRECT,
                    redirect_type=network.ApplicationGatewayRedirectType.PERMANENT,
                    target_listener=part("httpListeners", LISTENER_HTTPS),
                    include_path=True,
                    include_query_string=True,
                )
            ],
            rewrite_rule_sets=[rewrite_rule_set(args.hsts_max_age_seconds)],
            request_routing_rules=[
                network.ApplicationGatewayRequestRoutingRuleArgs(
                    name="https-to-web",
                    rule_type=network.ApplicationGatewayRequestRoutingRuleType.BASIC,
                    priority=100,
                    http_listener=part("httpListeners", LISTENER_HTTPS),
                    backend_address_pool=part("backendAddressPools", BACKEND_POOL),
                    backend_http_settings=part("backendHttpSettingsCollection", BACKEND_SETTINGS),
                    rewrite_rule_set=part("rewriteRuleSets", REWRITE_SET),
                ),
                network.ApplicationGatewayRequestRoutingRuleArgs(
                    name="http-redirect",
                    rule_type=network.ApplicationGatewayRequestRoutingRuleType.BASIC,
                    priority=200,
                    http_listener=part("httpListeners", LISTENER_HTTP),
                    redirect_configuration=part("redirectConfigurations", REDIRECT),
                ),
            ],
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
        )
        self.backend_pool_id: pulumi.Output[str] = pulumi.Output.all(
            args.subscription_id, args.resource_group_name
        ).apply(lambda ids: gateway_part_id(ids[0], ids[1], gateway_name, "backendAddressPools", BACKEND_POOL))
        self.public_address: pulumi.Output[str] = self.public_ip.ip_address.apply(lambda ip: ip or "")
        self.register_outputs({"fqdn": self.fqdn, "gatewayId": self.gateway.id})


def health_extension() -> compute.VirtualMachineScaleSetExtensionArgs:
    return compute.VirtualMachineScaleSetExtensionArgs(
        name=HEALTH_EXTENSION,
        publisher=HEALTH_EXTENSION_PUBLISHER,
        type=HEALTH_EXTENSION_TYPE,
        type_handler_version=HEALTH_EXTENSION_VERSION,
        auto_upgrade_minor_version=True,
        settings={"protocol": "tcp", "port": WEB_BACKEND_PORT},
        provision_after_extensions=[BOOTSTRAP_EXTENSION],
    )


def bootstrap_extension(script: pulumi.Output[str]) -> compute.VirtualMachineScaleSetExtensionArgs:
    return compute.VirtualMachineScaleSetExtensionArgs(
        name=BOOTSTRAP_EXTENSION,
        publisher=RUN_COMMAND_PUBLISHER,
        type=RUN_COMMAND_TYPE,
        type_handler_version=RUN_COMMAND_VERSION,
        auto_upgrade_minor_version=True,
        force_update_tag=script.apply(script_digest),
        settings=script.apply(
            lambda text: {"source": {"script": text}, "timeoutInSeconds": BOOTSTRAP_TIMEOUT_SECONDS}
        ),
    )


class WebScaleSetArgs:
    def __init__(
        self,
        *,
        config: StackConfig,
        settings: ProductionSettings,
        resource_group_name: pulumi.Input[str],
        subnet_id: pulumi.Input[str],
        backend_pool_id: pulumi.Input[str],
        identity_id: pulumi.Input[str],
        admin_password: pulumi.Input[str],
        script: pulumi.Output[str],
        tags: Mapping[str, str],
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        self.config = config
        self.settings = settings
        self.resource_group_name = resource_group_name
        self.subnet_id = subnet_id
        self.backend_pool_id = backend_pool_id
        self.identity_id = identity_id
        self.admin_password = admin_password
        self.script = script
        self.tags = dict(tags)
        self.depends_on = list(depends_on)


def cpu_autoscale_profile(
    scale_set_id: pulumi.Input[str], settings: ProductionSettings
) -> monitor.AutoscaleProfileArgs:
    def rule(
        direction: monitor.ScaleDirection, operator: monitor.ComparisonOperationType, threshold: float, window: str
    ) -> monitor.ScaleRuleArgs:
        return monitor.ScaleRuleArgs(
            metric_trigger=monitor.MetricTriggerArgs(
                metric_name=CPU_METRIC,
                metric_namespace=CPU_METRIC_NAMESPACE,
                metric_resource_uri=scale_set_id,
                operator=operator,
                statistic=monitor.MetricStatisticType.AVERAGE,
                threshold=threshold,
                time_aggregation=monitor.TimeAggregationType.AVERAGE,
                time_grain="PT1M",
                time_window=window,
            ),
            scale_action=monitor.ScaleActionArgs(
                direction=direction, type=monitor.ScaleType.CHANGE_COUNT, value="1", cooldown="PT10M"
            ),
        )

    return monitor.AutoscaleProfileArgs(
        name="cpu",
        capacity=monitor.ScaleCapacityArgs(
            minimum=str(settings.web_instances),
            maximum=str(settings.web_max_instances),
            default=str(settings.web_instances),
        ),
        rules=[
            rule(monitor.ScaleDirection.INCREASE, monitor.ComparisonOperationType.GREATER_THAN, SCALE_OUT_CPU, "PT10M"),
            rule(monitor.ScaleDirection.DECREASE, monitor.ComparisonOperationType.LESS_THAN, SCALE_IN_CPU, "PT20M"),
        ],
    )


class WebScaleSet(pulumi.ComponentResource):
    scale_set: compute.VirtualMachineScaleSet
    autoscale: monitor.AutoscaleSetting | None

    def __init__(self, name: str, args: WebScaleSetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(SCALE_SET_COMPONENT_TYPE, name, {}, opts)
        config, settings = args.config, args.settings
        os_profile: dict[str, Any] = {
            "computer_name_prefix": COMPUTER_NAME_PREFIX,
            "admin_username": config.admin_username,
            "admin_password": pulumi.Output.secret(args.admin_password),
            "windows_configuration": platform_patching(scheduled=False),
        }
        self.scale_set = compute.VirtualMachineScaleSet(
            f"{name}-vmss",
            resource_group_name=args.resource_group_name,
            location=config.location,
            orchestration_mode=compute.OrchestrationMode.FLEXIBLE,
            platform_fault_domain_count=1,
            single_placement_group=False,
            zones=list(ZONES),
            sku=compute.SkuArgs(name=config.vm_size, capacity=settings.web_instances),
            identity=compute.VirtualMachineScaleSetIdentityArgs(
                type=compute.ResourceIdentityType.USER_ASSIGNED, user_assigned_identities=[args.identity_id]
            ),
            upgrade_policy=compute.UpgradePolicyArgs(mode=compute.UpgradeMode.MANUAL),
            automatic_repairs_policy=compute.AutomaticRepairsPolicyArgs(
                enabled=True, grace_period=REPAIR_GRACE_PERIOD, repair_action=compute.RepairAction.REPLACE
            ),
            virtual_machine_profile=compute.VirtualMachineScaleSetVMProfileArgs(
                os_profile=compute.VirtualMachineScaleSetOSProfileArgs(**os_profile),
                storage_profile=compute.VirtualMachineScaleSetStorageProfileArgs(
                    image_reference=image_reference_args(config.server_image),
                    os_disk=compute.VirtualMachineScaleSetOSDiskArgs(
                        create_option=compute.DiskCreateOptionTypes.FROM_IMAGE,
                        caching=compute.CachingTypes.READ_WRITE,
                        delete_option=compute.DiskDeleteOptionTypes.DELETE,
                        managed_disk=compute.VirtualMachineScaleSetManagedDiskParametersArgs(
                            storage_account_type=compute.StorageAccountTypes.STANDARD_SS_D_LRS
                        ),
                    ),
                ),
                network_profile=compute.VirtualMachineScaleSetNetworkProfileArgs(
                    network_api_version=NETWORK_API_VERSION,
                    network_interface_configurations=[
                        compute.VirtualMachineScaleSetNetworkConfigurationArgs(
                            name="web-nic",
                            primary=True,
                            delete_option=compute.DeleteOptions.DELETE,
                            ip_configurations=[
                                compute.VirtualMachineScaleSetIPConfigurationArgs(
                                    name="web-ip",
                                    primary=True,
                                    subnet=compute.ApiEntityReferenceArgs(id=args.subnet_id),
                                    application_gateway_backend_address_pools=[
                                        compute.SubResourceArgs(id=args.backend_pool_id)
                                    ],
                                )
                            ],
                        )
                    ],
                ),
                security_profile=trusted_launch_profile(),
                diagnostics_profile=boot_diagnostics_profile(),
                extension_profile=compute.VirtualMachineScaleSetExtensionProfileArgs(
                    extensions=[bootstrap_extension(args.script), health_extension()],
                    extensions_time_budget=EXTENSIONS_TIME_BUDGET,
                ),
            ),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
        )
        self.autoscale = (
            monitor.AutoscaleSetting(
                f"{name}-autoscale",
                resource_group_name=args.resource_group_name,
                location=config.location,
                target_resource_uri=self.scale_set.id,
                enabled=True,
                profiles=[cpu_autoscale_profile(self.scale_set.id, settings)],
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            if settings.autoscale
            else None
        )
        self.register_outputs({"scaleSetId": self.scale_set.id})
