"""Issue 22, Azure: ``ostops:tier production`` under Pulumi mocks, each property of the tier asserted.

The program runs under ``pulumi.runtime.set_mocks`` (tests/infra/conftest.py); the assertions read what the
engine would receive (inputs, resource options) and the stack outputs.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from automation.errors import ConfigError
from infra import bootstrap_command
from infra.bootstrap_command import MYSQL_CA_CERTIFICATES, MYSQL_CA_FILE, WEB_ROLE
from infra.network import (
    AUTOMATION_SUBNET_PREFIX,
    DATABASE_SUBNET_PREFIX,
    GATEWAY_SUBNET_PREFIX,
    WEB_SUBNET_PREFIX,
)
from infra.policy.predicates import all_violations, embedded_settings, mysql_private_and_tls
from infra.tls import GatewayPfxProvider, unencrypted_pfx
from infra.vault import SECRET_NAMES
from tests.infra.conftest import (
    AUTOMATION_SOURCE,
    GIVEN_SECRETS,
    ProgramRun,
    RecordedResource,
    is_secret,
    mock_private_key_pem,
    mock_self_signed_pem,
    plain_strings,
    run_program,
)
from tests.infra.test_config import user_pfx

pytestmark = pytest.mark.infra

SERVER = "azure-native:dbformysql:Server"
CONFIGURATION = "azure-native:dbformysql:Configuration"
FIREWALL_RULE = "azure-native:dbformysql:FirewallRule"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
ZONE_LINK = "azure-native:privatedns:VirtualNetworkLink"
SUBNET = "azure-native:network:Subnet"
VNET = "azure-native:network:VirtualNetwork"
NSG = "azure-native:network:NetworkSecurityGroup"
PUBLIC_IP = "azure-native:network:PublicIPAddress"
GATEWAY = "azure-native:network:ApplicationGateway"
SCALE_SET = "azure-native:compute:VirtualMachineScaleSet"
AUTOSCALE = "azure-native:monitor:AutoscaleSetting"
ALERT = "azure-native:monitor:MetricAlert"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
ROLE = "azure-native:authorization:RoleAssignment"
KV_SECRET = "azure-native:keyvault:Secret"
VM = "azure-native:compute:VirtualMachine"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
PRODUCTION_ONLY_TYPES = {SERVER, CONFIGURATION, PRIVATE_ZONE, ZONE_LINK, GATEWAY, SCALE_SET, ALERT, IDENTITY}

PRODUCTION: dict[str, str] = {
    "location": "westeurope",
    "dnsLabel": "ostops-prod",
    "automationSourceCidr": AUTOMATION_SOURCE,
    "tier": "production",
}
LAB_SALT = "Lab-Salt-From-ost-config-0123456789"
PRODUCTION_SECRETS = {
    **{k: v for k, v in GIVEN_SECRETS.items() if k != "dbRootPassword"},
    # Moving a lab help desk: its SECRET_SALT comes along.
    "secretSalt": LAB_SALT,
}


def mock_id(resource: RecordedResource) -> str:
    """The id the mocks give a resource (conftest RecordingMocks.new_resource)."""
    return f"/subscriptions/mock/{resource.type}/{resource.name}"


@pytest.fixture(scope="module")
def runs(bootstrap_paths: dict[str, Path]) -> Any:
    patcher = pytest.MonkeyPatch()
    patcher.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    patcher.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    try:
        yield {
            "default": run_program(PRODUCTION),
            "sized": run_program(
                {
                    **PRODUCTION,
                    "mysqlSku": "Standard_D4ds_v4",
                    "mysqlStorageGb": "128",
                    "mysqlBackupRetentionDays": "21",
                    "mysqlGeoRedundantBackup": "false",
                    "webInstances": "3",
                    "webMaxInstances": "6",
                    "alertEmail": "ops@example.com",
                },
                PRODUCTION_SECRETS,
            ),
        }
    finally:
        patcher.undo()


@pytest.fixture(scope="module")
def run(runs: dict[str, ProgramRun]) -> ProgramRun:
    return runs["default"]


def subnet(run: ProgramRun, role: str) -> RecordedResource:
    return run.one(SUBNET, f"-{role}-subnet")


def web_settings(run: ProgramRun) -> dict[str, Any]:
    extensions = run.one(SCALE_SET).props["virtualMachineProfile"]["extensionProfile"]["extensions"]
    bootstrap = next(e for e in extensions if e["name"] == "bootstrap")
    found = embedded_settings(bootstrap["settings"]["source"]["script"])
    assert found is not None
    return found


# --- the lab tier is untouched --------------------------------------------------------------------------


def test_the_lab_tier_is_the_default_and_builds_nothing_of_production(program_runs: dict[str, ProgramRun]) -> None:
    for lab in program_runs.values():
        assert {r.type for r in lab.resources}.isdisjoint(PRODUCTION_ONLY_TYPES), lab.config
        assert lab.one(VM, "osticket-vm") and lab.one(RUN_COMMAND)
        assert lab.outputs["tier"] == "lab"


def test_production_builds_no_lab_vm(run: ProgramRun) -> None:
    assert not run.of_type(VM) and not run.of_type(RUN_COMMAND)
    assert run.outputs["tier"] == "production"


# --- Azure Database for MySQL - Flexible Server -----------------------------------------------------------


def test_the_flexible_server_is_mysql_8_0_21_general_purpose_zone_redundant(run: ProgramRun) -> None:
    """8.0.21 or later: osTicket's CREATE TABLE ... SELECT under GTID (osTicket#3384); HA needs General Purpose."""
    server = run.one(SERVER).props
    assert server["version"] == "8.0.21"
    assert server["sku"] == {"name": "Standard_D2ads_v5", "tier": "GeneralPurpose"}
    assert server["highAvailability"]["mode"] == "ZoneRedundant"
    assert server["highAvailability"]["standbyAvailabilityZone"] != server["availabilityZone"]
    assert is_secret(run.one(SERVER).inputs["administratorLoginPassword"])


def test_the_flexible_server_is_reachable_privately_only(run: ProgramRun) -> None:
    server = run.one(SERVER).props
    database_subnet = subnet(run, "database")
    zone = run.one(PRIVATE_ZONE)
    assert server["network"] == {
        "delegatedSubnetResourceId": mock_id(database_subnet),
        "privateDnsZoneResourceId": mock_id(zone),
        "publicNetworkAccess": "Disabled",
    }
    assert database_subnet.props["addressPrefix"] == DATABASE_SUBNET_PREFIX
    assert [d["serviceName"] for d in database_subnet.props["delegations"]] == ["Microsoft.DBforMySQL/flexibleServers"]
    assert zone.props["privateZoneName"] == f"{server['serverName']}.private.mysql.database.azure.com"
    link = run.one(ZONE_LINK).props
    assert link["virtualNetwork"]["id"] == mock_id(run.one(VNET))
    assert link["registrationEnabled"] is False
    # The server waits for its zone to be linked, or private name resolution fails at creation.
    assert run.one(ZONE_LINK).urn in run.one(SERVER).options.dependencies  # type: ignore[union-attr]


def test_no_public_database_endpoint(run: ProgramRun) -> None:
    """No firewall rule, no public IP on the database, no security rule admitting MySQL, policy agrees."""
    assert not run.of_type(FIREWALL_RULE)
    for nsg in run.of_type(NSG):
        for rule in nsg.props["securityRules"]:
            if rule["access"] == "Allow":
                assert rule["destinationPortRange"] != "3306", (nsg.name, rule)
    assert [ip.name for ip in run.of_type(PUBLIC_IP)] == ["osticket-gw-pip"]
    assert mysql_private_and_tls(SERVER, run.one(SERVER).props) == []
    assert run.outputs["dbHost"] == "ostops-prod-mysql.mysql.database.azure.com"


def test_tls_is_required_at_1_2_or_later(run: ProgramRun) -> None:
    parameters = {c.props["configurationName"]: c.props for c in run.of_type(CONFIGURATION)}
    assert parameters["require_secure_transport"]["value"] == "ON"
    versions = set(parameters["tls_version"]["value"].split(","))
    assert versions and versions <= {"TLSv1.2", "TLSv1.3"}
    assert all(p["source"] == "user-override" for p in parameters.values())
    server = run.one(SERVER)
    assert all(c.props["serverName"] == "osticket-db-mysql-az" for c in run.of_type(CONFIGURATION))
    assert {c.options.deleted_with for c in run.of_type(CONFIGURATION)} == {server.urn}  # type: ignore[union-attr]


def test_backups_and_sizes_come_from_the_stack(runs: dict[str, ProgramRun]) -> None:
    default, sized = runs["default"].one(SERVER).props, runs["sized"].one(SERVER).props
    assert default["backup"] == {"backupRetentionDays": 7, "geoRedundantBackup": "Enabled"}
    assert sized["backup"] == {"backupRetentionDays": 21, "geoRedundantBackup": "Disabled"}
    assert (default["storage"]["storageSizeGB"], default["storage"]["autoGrow"]) == (32, "Enabled")
    assert sized["storage"]["storageSizeGB"] == 128
    assert sized["sku"]["name"] == "Standard_D4ds_v4"


def test_the_database_server_is_protected(run: ProgramRun) -> None:
    assert run.one(SERVER).options.protect  # type: ignore[union-attr]


def test_the_secret_salt_is_the_given_one_or_generated_and_stays_in_key_vault(runs: dict[str, ProgramRun]) -> None:
    given = runs["sized"].one(KV_SECRET, "osticket-secret-salt")
    assert is_secret(given.inputs["properties"])
    assert given.props["properties"]["value"] == LAB_SALT
    generated = runs["default"].one(KV_SECRET, "osticket-secret-salt").props["properties"]["value"]
    assert generated in runs["default"].random_results
    assert runs["default"].one("random:index/randomPassword:RandomPassword", "secret-salt").props["length"] == 64
    assert not runs["sized"].of_type("random:index/randomPassword:RandomPassword") or not [
        r for r in runs["sized"].of_type("random:index/randomPassword:RandomPassword") if "secret-salt" in r.name
    ]


# --- the web tier -------------------------------------------------------------------------------------------


def test_the_scale_set_is_flexible_across_zones_with_at_least_two_instances(runs: dict[str, ProgramRun]) -> None:
    vmss = runs["default"].one(SCALE_SET).props
    assert vmss["orchestrationMode"] == "Flexible"
    assert len(set(vmss["zones"])) >= 2
    assert vmss["sku"]["capacity"] >= 2
    assert runs["sized"].one(SCALE_SET).props["sku"]["capacity"] == 3
    profile = vmss["virtualMachineProfile"]
    assert profile["securityProfile"]["securityType"] == "TrustedLaunch"
    assert profile["diagnosticsProfile"]["bootDiagnostics"]["enabled"] is True
    assert profile["networkProfile"]["networkApiVersion"] == "2020-11-01"


def test_the_health_extension_drives_automatic_repairs(run: ProgramRun) -> None:
    vmss = run.one(SCALE_SET).props
    extensions = {e["name"]: e for e in vmss["virtualMachineProfile"]["extensionProfile"]["extensions"]}
    health = extensions["health"]
    assert (health["publisher"], health["type"]) == ("Microsoft.ManagedServices", "ApplicationHealthWindows")
    assert health["settings"] == {"protocol": "tcp", "port": 80}
    assert health["provisionAfterExtensions"] == ["bootstrap"]
    assert vmss["automaticRepairsPolicy"] == {"enabled": True, "gracePeriod": "PT90M", "repairAction": "Replace"}


def test_instances_join_the_gateway_pool_from_the_web_subnet(run: ProgramRun) -> None:
    nic = run.one(SCALE_SET).props["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"][0]
    ip = nic["ipConfigurations"][0]
    assert ip["subnet"]["id"] == mock_id(subnet(run, "web"))
    pools = [p["id"] for p in ip["applicationGatewayBackendAddressPools"]]
    assert len(pools) == 1 and pools[0].endswith("/applicationGateways/osticket-gw-appgw/backendAddressPools/web")
    assert "publicIPAddressConfiguration" not in ip


def test_instances_get_the_bootstrap_in_the_web_role(run: ProgramRun) -> None:
    settings = web_settings(run)
    assert settings["role"] == WEB_ROLE
    assert settings["dataDisk"] is None and settings["enableDbAccess"] is False
    database = settings["database"]
    assert database["host"] == run.outputs["dbHost"]
    assert database["tls"]["required"] is True
    assert [c["url"] for c in database["tls"]["caCertificates"]] == [u for _, u, _ in MYSQL_CA_CERTIFICATES]
    config = settings["ostConfig"]
    assert config["DBSSLCA"] == {"value": MYSQL_CA_FILE}
    assert config["TRUSTED_PROXIES"] == {"value": GATEWAY_SUBNET_PREFIX}
    assert config["DBHOST"] == {"value": run.outputs["dbHost"]}
    # Values from Key Vault are named, never given, and each named secret exists in the vault.
    vault_secrets = {s.props["secretName"] for s in run.of_type(KV_SECRET)}
    named = {entry["secret"] for entry in config.values() if "secret" in entry}
    assert named == {SECRET_NAMES["dbAppPassword"], SECRET_NAMES["secretSalt"]}
    assert named <= vault_secrets
    assert set(settings["secrets"]["names"].values()) == vault_secrets
    assert settings["secrets"]["identityClientId"] == "client-osticket-web-identity"
    assert settings["tls"]["enabled"] is False and settings["proxy"]["backendPort"] == 80
    assert settings["cron"]["mode"] == "database-elected"


def test_the_bootstrap_extension_runs_the_script_and_carries_no_secret(runs: dict[str, ProgramRun]) -> None:
    for run in runs.values():
        extensions = run.one(SCALE_SET).props["virtualMachineProfile"]["extensionProfile"]["extensions"]
        bootstrap = next(e for e in extensions if e["name"] == "bootstrap")
        assert (bootstrap["publisher"], bootstrap["type"]) == ("Microsoft.CPlat.Core", "RunCommandHandlerWindows")
        script = bootstrap["settings"]["source"]["script"]
        assert bootstrap["forceUpdateTag"] == bootstrap_command.script_digest(script)
        for value in [*run.random_results, *PRODUCTION_SECRETS.values()]:
            assert value not in script


def test_the_web_subnet_takes_http_from_the_gateway_only(run: ProgramRun) -> None:
    web = subnet(run, "web")
    nsg = next(n for n in run.of_type(NSG) if mock_id(n) == web.props["networkSecurityGroup"]["id"])
    allowed = [(r["destinationPortRange"], r["sourceAddressPrefix"]) for r in nsg.props["securityRules"] if r["access"] == "Allow"]
    assert allowed == [("80", GATEWAY_SUBNET_PREFIX)]
    assert web.props["addressPrefix"] == WEB_SUBNET_PREFIX


def test_autoscale_is_optional_and_bounded_by_the_stack(runs: dict[str, ProgramRun]) -> None:
    assert not runs["default"].of_type(AUTOSCALE)
    autoscale = runs["sized"].one(AUTOSCALE).props
    profile = autoscale["profiles"][0]
    assert profile["capacity"] == {"minimum": "3", "maximum": "6", "default": "3"}
    assert {r["metricTrigger"]["metricName"] for r in profile["rules"]} == {"Percentage CPU"}
    assert {r["scaleAction"]["direction"] for r in profile["rules"]} == {"Increase", "Decrease"}
    assert autoscale["targetResourceUri"] == mock_id(runs["sized"].one(SCALE_SET))


# --- Application Gateway v2 ---------------------------------------------------------------------------------


def part_name(reference: dict[str, str]) -> str:
    return reference["id"].rsplit("/", 1)[1]


def test_the_gateway_serves_https_with_the_key_vault_certificate(run: ProgramRun) -> None:
    gw = run.one(GATEWAY).props
    assert gw["sku"]["tier"] == "Standard_v2"
    certificate = gw["sslCertificates"][0]
    assert "data" not in certificate and "password" not in certificate
    vault = run.one("azure-native:keyvault:Vault").props["vaultName"]
    # No version at the end: the gateway follows a renewed certificate.
    assert certificate["keyVaultSecretId"] == f"https://{vault}.vault.azure.net/secrets/tls-gateway-pfx"
    identity = run.one(IDENTITY, "gateway-identity")
    assert gw["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [mock_id(identity)]}
    https = next(li for li in gw["httpListeners"] if li["protocol"] == "Https")
    assert part_name(https["sslCertificate"]) == certificate["name"]
    assert part_name(https["frontendPort"]) == "https"
    assert gw["sslPolicy"]["policyName"] == "AppGwSslPolicy20220101S"


def test_the_gateway_identity_may_read_the_certificate_before_the_gateway_exists(run: ProgramRun) -> None:
    gateway_principal = "principal-osticket-gateway-identity"
    role = next(r for r in run.of_type(ROLE) if r.props["principalId"] == gateway_principal)
    assert role.props["scope"] == mock_id(run.one("azure-native:keyvault:Vault"))
    assert role.props["roleDefinitionId"].endswith("4633458b-17de-408a-b874-0445c86b69e6")
    dependencies = run.one(GATEWAY).options.dependencies  # type: ignore[union-attr]
    assert role.urn in dependencies
    assert run.one(KV_SECRET, "tls-gateway-pfx").urn in dependencies


def test_http_redirects_to_https(run: ProgramRun) -> None:
    gw = run.one(GATEWAY).props
    redirect = gw["redirectConfigurations"][0]
    assert redirect["redirectType"] == "Permanent"
    assert redirect["includePath"] and redirect["includeQueryString"]
    assert part_name(redirect["targetListener"]) == "https"
    rules = {part_name(r["httpListener"]): r for r in gw["requestRoutingRules"]}
    assert part_name(rules["http"]["redirectConfiguration"]) == redirect["name"]
    assert "backendAddressPool" not in rules["http"]
    assert part_name(rules["https"]["backendAddressPool"]) == "web"


def test_the_gateway_probes_a_cheap_osticket_page(run: ProgramRun) -> None:
    gw = run.one(GATEWAY).props
    probe = gw["probes"][0]
    assert probe["path"] == "/logo.php"
    assert probe["protocol"] == "Http"
    assert probe["match"]["statusCodes"] == ["200-399"]
    settings = gw["backendHttpSettingsCollection"][0]
    assert part_name(settings["probe"]) == probe["name"]
    assert settings["cookieBasedAffinity"] == "Disabled"


def test_x_forwarded_for_is_rewritten_without_the_port(run: ProgramRun) -> None:
    gw = run.one(GATEWAY).props
    [rule_set] = gw["rewriteRuleSets"]
    headers = [
        h for rule in rule_set["rewriteRules"] for h in rule["actionSet"].get("requestHeaderConfigurations", [])
    ]
    assert {"headerName": "X-Forwarded-For", "headerValue": "{var_add_x_forwarded_for_proxy}"} in headers
    https_rule = next(r for r in gw["requestRoutingRules"] if part_name(r["httpListener"]) == "https")
    assert part_name(https_rule["rewriteRuleSet"]) == rule_set["name"]
    # osTicket trusts X-Forwarded-For from the gateway's subnet, and only from there.
    assert subnet(run, "gateway").props["addressPrefix"] == GATEWAY_SUBNET_PREFIX
    assert web_settings(run)["ostConfig"]["TRUSTED_PROXIES"]["value"] == GATEWAY_SUBNET_PREFIX


def test_hsts_is_added_at_the_gateway_only_with_a_trusted_certificate(
    bootstrap_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch, run: ProgramRun
) -> None:
    monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    password = "Pfx-Pass-123"
    trusted = run_program(PRODUCTION, {"tlsPfxBase64": user_pfx(password), "tlsPfxPassword": password})

    def response_headers(r: ProgramRun) -> dict[str, str]:
        rules = r.one(GATEWAY).props["rewriteRuleSets"][0]["rewriteRules"]
        return {
            h["headerName"]: h["headerValue"]
            for rule in rules
            for h in rule["actionSet"].get("responseHeaderConfigurations", [])
        }

    assert response_headers(trusted) == {"Strict-Transport-Security": "max-age=31536000"}
    assert response_headers(run) == {}
    # The user's PFX reaches the gateway re-packed without a password, as a secret.
    secret = trusted.one(KV_SECRET, "tls-gateway-pfx")
    assert is_secret(secret.inputs["properties"])
    key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret.props["properties"]["value"]), None)
    assert key is not None and cert is not None


# --- monitoring ---------------------------------------------------------------------------------------------


def test_alerts_cover_gateway_errors_unhealthy_instances_and_the_database(runs: dict[str, ProgramRun]) -> None:
    run = runs["default"]
    alerts = {a.name.removeprefix("osticket-monitoring-"): a.props for a in run.of_type(ALERT)}
    metrics = {name: a["criteria"]["allOf"][0]["metricName"] for name, a in alerts.items()}
    assert metrics == {
        "gateway-5xx": "ResponseStatus",
        "unhealthy-instances": "UnhealthyHostCount",
        "database-cpu": "cpu_percent",
        "database-storage": "storage_percent",
    }
    five = alerts["gateway-5xx"]["criteria"]["allOf"][0]["dimensions"]
    assert five == [{"name": "HttpStatusGroup", "operator": "Include", "values": ["5xx"]}]
    assert alerts["gateway-5xx"]["scopes"] == [mock_id(run.one(GATEWAY))]
    assert alerts["database-cpu"]["scopes"] == [mock_id(run.one(SERVER))]
    assert not run.of_type(ACTION_GROUP) and all("actions" not in a for a in alerts.values())
    sized = runs["sized"]
    group = sized.one(ACTION_GROUP)
    assert group.props["emailReceivers"][0]["emailAddress"] == "ops@example.com"
    assert all(a.props["actions"] == [{"actionGroupId": mock_id(group)}] for a in sized.of_type(ALERT))


# --- structure, secrets, outputs, policies -----------------------------------------------------------------


def test_components_parent_their_children_and_register_outputs(run: ProgramRun) -> None:
    assert run.one(SERVER).parent_type == "ostops:infra:FlexibleDatabase"
    assert run.one(GATEWAY).parent_type == "ostops:infra:WebGateway"
    assert run.one(SCALE_SET).parent_type == "ostops:infra:WebScaleSet"
    assert {a.parent_type for a in run.of_type(ALERT)} == {"ostops:infra:Monitoring"}
    assert run.one("ostops:infra:WebGateway").parent_type == "ostops:infra:ProductionTier"
    tier = next(o for urn, o in run.component_outputs.items() if urn.endswith("ProductionTier::osticket"))
    assert tier["dbHost"] == run.outputs["dbHost"]
    assert tier["managementRoute"]["subnetPrefix"] == AUTOMATION_SUBNET_PREFIX


def test_outputs_give_the_instance_file_and_the_management_path(run: ProgramRun) -> None:
    outputs = run.outputs
    assert outputs["helpdeskUrl"] == "https://ostops-prod.westeurope.cloudapp.azure.com/"
    route = outputs["managementRoute"]
    assert route["kind"] == "automation-subnet"
    assert route["subnetId"] == mock_id(subnet(run, "automation"))
    assert route["dbHost"] == outputs["dbHost"]
    assert outputs["dbTlsRequired"] is True
    assert {"apiKey", "osticketAdminPassword", "dbAppPassword", "vmAdminPassword"} <= run.secret_outputs
    automation = subnet(run, "automation")
    nsg = next(n for n in run.of_type(NSG) if mock_id(n) == automation.props["networkSecurityGroup"]["id"])
    assert [r["access"] for r in nsg.props["securityRules"]] == ["Deny"]


def test_no_secret_value_appears_outside_a_secret(runs: dict[str, ProgramRun]) -> None:
    for run in runs.values():
        values = [v for v in [*run.random_results, *PRODUCTION_SECRETS.values()] if len(v) >= 8]
        for resource in run.resources:
            for text in plain_strings(resource.inputs):
                assert not any(v in text for v in values), resource.name
        for key, value in run.outputs.items():
            if key not in run.secret_outputs:
                assert not any(v in json.dumps(value) for v in values), key


def test_every_production_resource_passes_every_policy(runs: dict[str, ProgramRun]) -> None:
    for run in runs.values():
        for resource in run.resources:
            assert all_violations(resource.type, resource.props) == {}, resource.name


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (SERVER, {"network": {"publicNetworkAccess": "Enabled", "delegatedSubnetResourceId": "/x"}}),
        (SERVER, {"network": {"publicNetworkAccess": "Disabled"}}),
        (SERVER, {}),
        (FIREWALL_RULE, {"firewallRuleName": "all", "startIpAddress": "0.0.0.0", "endIpAddress": "255.255.255.255"}),
        (CONFIGURATION, {"configurationName": "require_secure_transport", "value": "OFF"}),
    ],
    ids=["public-access", "no-delegated-subnet", "no-network", "firewall-rule", "tls-off"],
)
def test_the_policy_catches_a_public_or_plain_database(resource_type: str, props: dict[str, Any]) -> None:
    assert mysql_private_and_tls(resource_type, props)


def test_docs_list_every_production_output_and_key(runs: dict[str, ProgramRun]) -> None:
    from infra.config import PRODUCTION_KEYS
    from tests.infra.conftest import REPO_ROOT

    docs = (REPO_ROOT / "docs" / "azure.md").read_text(encoding="utf-8")
    outputs = set().union(*(run.outputs for run in runs.values()))
    assert not [key for key in outputs if f"`{key}`" not in docs]
    assert not [key for key in (*PRODUCTION_KEYS, "tier") if f"ostops:{key}" not in docs and f"`{key}`" not in docs]


# --- config ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"mysqlSku": "Standard_D2ds_v4"}, "ostops:mysqlSku", "production tier"),
        ({"tier": "production", "mysqlSku": "Standard_B2s"}, "ostops:mysqlSku", "no high availability"),
        ({"tier": "production", "enableDbAccess": "true"}, "ostops:enableDbAccess", "no public database"),
        ({"tier": "production", "webInstances": "1"}, "ostops:webInstances", "outside 2-10"),
        (
            {"tier": "production", "webInstances": "4", "webMaxInstances": "3"},
            "ostops:webMaxInstances",
            "below ostops:webInstances",
        ),
        ({"tier": "production", "mysqlBackupRetentionDays": "36"}, "ostops:mysqlBackupRetentionDays", "1-35"),
        ({"tier": "staging"}, "ostops:tier", "lab, production"),
    ],
)
def test_bad_tier_settings_are_refused_by_key(config: dict[str, str], key: str, words: str) -> None:
    from infra.config import StackConfigError
    from tests.infra.test_config import load

    base = {k: v for k, v in PRODUCTION.items() if k != "tier"}
    with pytest.raises(StackConfigError) as caught:
        load({**base, **config})
    assert isinstance(caught.value, ConfigError)
    line = next(line for line in str(caught.value).splitlines() if line.startswith(key))
    assert words in line, line


def test_the_gateway_pfx_opens_without_a_password() -> None:
    key_pem = mock_private_key_pem()
    cert_pem = mock_self_signed_pem(key_pem, ["ostops-prod.westeurope.cloudapp.azure.com"])
    for pfx in (GatewayPfxProvider.build(key_pem, cert_pem, "ignored"), unencrypted_pfx(user_pfx("Pfx-Pass-9"), "Pfx-Pass-9")):
        key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(pfx), None)
        assert key is not None and cert is not None
