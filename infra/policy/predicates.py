"""Policy predicates: pure functions over one resource's type and input properties.

Each predicate takes ``(resource_type, props)`` where ``props`` uses the engine's camelCase property
names (what ``pulumi preview --policy-pack`` and the unit-test mocks both see) and returns a list of
violation messages, empty when the resource complies. Nothing here imports ``pulumi_policy``, so the
predicates can be imported and tested without starting the policy server.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Props = Mapping[str, Any]
Predicate = Callable[[str, Props], list[str]]

VIRTUAL_MACHINE = "azure-native:compute:VirtualMachine"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
VM_EXTENSION = "azure-native:compute:VirtualMachineExtension"
SECURITY_GROUP = "azure-native:network:NetworkSecurityGroup"
SECURITY_RULE = "azure-native:network:SecurityRule"

OSTICKET_SECURITY_FLOOR = "1.18.3"
OSTICKET_VERSION_SETTING = "osTicketVersion"
REQUIRED_TAGS = ("project", "environment", "managed-by")
KEY_VAULT = "azure-native:keyvault:Vault"
MYSQL_SERVER = "azure-native:dbformysql:Server"
APPLICATION_GATEWAY = "azure-native:network:ApplicationGateway"
MYSQL_FIREWALL_RULE = "azure-native:dbformysql:FirewallRule"
MYSQL_CONFIGURATION = "azure-native:dbformysql:Configuration"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_CONTAINER = "azure-native:storage:BlobContainer"
TAGGABLE_TYPES = frozenset(
    {
        MYSQL_SERVER,
        "azure-native:compute:VirtualMachineScaleSet",
        APPLICATION_GATEWAY,
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:monitor:MetricAlert",
        KEY_VAULT,
        "azure-native:resources:ResourceGroup",
        "azure-native:network:VirtualNetwork",
        SECURITY_GROUP,
        "azure-native:network:PublicIPAddress",
        "azure-native:network:NetworkInterface",
        VIRTUAL_MACHINE,
        RUN_COMMAND,
        VM_EXTENSION,
        "azure-native:compute:Disk",
        "azure-native:maintenance:MaintenanceConfiguration",
        STORAGE_ACCOUNT,
        "azure-native:recoveryservices:Vault",
        "azure-native:recoveryservices:ProtectionPolicy",
        "azure-native:recoveryservices:ProtectedItem",
    }
)
RDP_PORT = 3389
# RDP, when open at all, only from a /28 (16 addresses) or narrower (infra/config.py WIDEST_ADMIN_PREFIX).
WIDEST_RDP_PREFIX = 28

# SSH, SQL Server, MySQL/MariaDB, PostgreSQL, RDP, WinRM over HTTP and HTTPS.
MANAGEMENT_AND_DATABASE_PORTS = (22, 1433, 3306, 5432, 3389, 5985, 5986)
INTERNET_SOURCES = frozenset({"*", "0.0.0.0/0", "0.0.0.0", "internet", "any", "::/0"})
AUTOMATIC_PATCH_MODES = frozenset({"AutomaticByPlatform", "AutomaticByOS"})
SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|credential|api_?key|private_?key|connection_?string", re.IGNORECASE
)


def parse_version(text: str) -> tuple[int, ...] | None:
    """``"1.18.3"`` or ``"v1.18.3"`` to ``(1, 18, 3)``; ``None`` when it is not a dotted number."""
    match = re.fullmatch(r"v?(\d+(?:\.\d+)*)", text.strip())
    if match is None:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def version_at_least(version: str, floor: str = OSTICKET_SECURITY_FLOOR) -> bool:
    parsed, minimum = parse_version(version), parse_version(floor)
    if parsed is None or minimum is None:
        return False
    width = max(len(parsed), len(minimum))
    return parsed + (0,) * (width - len(parsed)) >= minimum + (0,) * (width - len(minimum))


def _get(props: Props | None, *path: str) -> Any:
    current: Any = props
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _port_range_covers(port_range: str, port: int) -> bool:
    text = str(port_range).strip()
    if text == "*":
        return True
    low, _, high = text.partition("-")
    try:
        return int(low) <= port <= int(high or low)
    except ValueError:
        return True  # a range we cannot read cannot be shown to be safe


def _rule_violations(rule: Props, where: str) -> list[str]:
    direction = str(rule.get("direction", "")).lower()
    access = str(rule.get("access", "")).lower()
    if direction != "inbound" or access != "allow":
        return []
    sources = _as_list(rule.get("sourceAddressPrefix")) + _as_list(rule.get("sourceAddressPrefixes"))
    open_sources = sorted({s for s in sources if str(s).strip().lower() in INTERNET_SOURCES})
    if not open_sources:
        return []
    port_ranges = _as_list(rule.get("destinationPortRange")) + _as_list(rule.get("destinationPortRanges"))
    exposed = [p for p in MANAGEMENT_AND_DATABASE_PORTS if any(_port_range_covers(r, p) for r in port_ranges)]
    if not exposed:
        return []
    name = rule.get("name") or where
    message = (
        f"security rule {name!r} allows inbound port(s) {', '.join(map(str, exposed))} "
        f"from {', '.join(open_sources)}: management and database ports must not be open to the internet"
    )
    return [message]


def no_internet_management_ports(resource_type: str, props: Props) -> list[str]:
    """No inbound Allow rule opens a management or database port to the whole internet."""
    if resource_type == SECURITY_RULE:
        return _rule_violations(props, "security rule")
    if resource_type == SECURITY_GROUP:
        violations: list[str] = []
        for index, rule in enumerate(_as_list(props.get("securityRules"))):
            violations += _rule_violations(rule, f"securityRules[{index}]")
        return violations
    return []


def _secret_looking(names: Iterable[str]) -> list[str]:
    return [name for name in names if SECRET_NAME.search(name)]


def secrets_only_protected(resource_type: str, props: Props) -> list[str]:
    """Secrets travel only in protected parameters/settings, never in plain ones or in user/custom data."""
    violations: list[str] = []
    if resource_type == RUN_COMMAND:
        plain_names = [str(p.get("name", "")) for p in _as_list(props.get("parameters"))]
        leaked = _secret_looking(plain_names)
        if leaked:
            violations.append(
                f"run command passes secret-looking parameter(s) {', '.join(leaked)} in plain 'parameters'; "
                "use 'protectedParameters'"
            )
        if props.get("runAsPassword"):
            violations.append("run command sets 'runAsPassword': run as the VM's system account instead")
    elif resource_type == VM_EXTENSION:
        settings = props.get("settings")
        leaked = _secret_looking(settings.keys()) if isinstance(settings, Mapping) else []
        if leaked:
            violations.append(
                f"VM extension puts secret-looking setting(s) {', '.join(leaked)} in plain 'settings'; "
                "use 'protectedSettings'"
            )
    elif resource_type == VIRTUAL_MACHINE:
        for field in ("userData",):
            if props.get(field):
                violations.append(
                    f"virtual machine sets '{field}', which is readable from inside the VM "
                    "and the portal: pass configuration through the bootstrap's protected "
                    "parameters"
                )
        if _get(props, "osProfile", "customData"):
            violations.append(
                "virtual machine sets 'osProfile.customData': pass configuration through the "
                "bootstrap's protected parameters"
            )
    return violations


# Whatever reaches the Run Command's parameters ends up on powershell.exe's command line (Microsoft's managed
# Run Command page: the script runs as `script.ps1 -name value`): values with spaces are split
# (azure-cli#25042, azure-powershell#7269), ^ & % < > | " are mangled (azure-powershell#29880), cmd.exe
# stops at 8,191 characters. So: small, plain, and never a secret (protected parameters included).
MAX_PARAMETER_BYTES = 1024
COMMAND_LINE_UNSAFE = frozenset('^&%<>|"')


def _parameter_text(parameters: list[Any]) -> list[tuple[str, str]]:
    return [(str(p.get("name", "")), str(p.get("value", ""))) for p in parameters if isinstance(p, Mapping)]


def parameter_problems(parameters: list[Any]) -> list[str]:
    """What is wrong with a Run Command's (plain) parameter list for a command line."""
    pairs = _parameter_text(parameters)
    problems = []
    size = sum(len(name.encode("utf-8")) + len(value.encode("utf-8")) for name, value in pairs)
    if size >= MAX_PARAMETER_BYTES:
        problems.append(f"run command parameters total {size} bytes; keep them under {MAX_PARAMETER_BYTES}")
    for name, value in pairs:
        if any(c.isspace() for c in value) or set(value) & COMMAND_LINE_UNSAFE:
            problems.append(
                f"run command parameter {name!r} holds whitespace or one of ^ & % < > | \" "
                "(they do not survive the command line)"
            )
    leaked = _secret_looking(name for name, _ in pairs)
    if leaked:
        problems.append(f"run command passes secret-looking parameter(s) {', '.join(leaked)} on the command line")
    return problems


def no_secret_in_run_command_parameters(resource_type: str, props: Props) -> list[str]:
    """A Run Command carries no secret in any parameter: the script reads secrets from Key Vault."""
    if resource_type != RUN_COMMAND:
        return []
    violations = parameter_problems(_as_list(props.get("parameters")))
    protected = _as_list(props.get("protectedParameters"))
    if protected:
        names = ", ".join(name for name, _ in _parameter_text(protected)) or "(unnamed)"
        violations.append(
            f"run command passes protected parameter(s) {names}: protected parameters still reach the "
            "script's command line; keep secrets in Key Vault"
        )
    return violations


def _admits(rule: Props, port: int) -> bool:
    if str(rule.get("direction", "")).lower() != "inbound" or str(rule.get("access", "")).lower() != "allow":
        return False
    if str(rule.get("protocol", "")).lower() not in {"tcp", "*"}:
        return False
    ranges = _as_list(rule.get("destinationPortRange")) + _as_list(rule.get("destinationPortRanges"))
    return any(_port_range_covers(r, port) for r in ranges)


HTTPS_PORT = 443


def _private_source(rule: Props) -> bool:
    sources = _as_list(rule.get("sourceAddressPrefix")) + _as_list(rule.get("sourceAddressPrefixes"))
    try:
        return bool(sources) and all(ipaddress.ip_network(str(s), strict=False).is_private for s in sources)
    except ValueError:
        return False


def _internal_only(rules: list[Props]) -> bool:
    """A security group behind the front door (the production tier's web and automation subnets): every inbound
    Allow comes from a private range, and everything else is denied from anywhere."""
    inbound = [r for r in rules if str(r.get("direction", "")).lower() == "inbound"]
    allows = [r for r in inbound if str(r.get("access", "")).lower() == "allow"]
    deny_all = any(
        str(r.get("access", "")).lower() == "deny"
        and str(r.get("sourceAddressPrefix", "")).strip().lower() in INTERNET_SOURCES
        and str(r.get("destinationPortRange", "")).strip() == "*"
        for r in inbound
    )
    return deny_all and all(_private_source(r) for r in allows)


def https_listener_present(resource_type: str, props: Props) -> list[str]:
    """The web front door is HTTPS: the security group admits TCP 443, or the gateway has an HTTPS listener.

    A security group that admits nothing from outside the private network is not a front door (the production
    tier's web subnet takes HTTP from Application Gateway only)."""
    if resource_type == APPLICATION_GATEWAY:
        listeners = [li for li in _as_list(props.get("httpListeners")) if isinstance(li, Mapping)]
        if any(str(li.get("protocol", "")).lower() == "https" and li.get("sslCertificate") for li in listeners):
            return []
        return ["application gateway has no HTTPS listener with a certificate"]
    if resource_type != SECURITY_GROUP:
        return []
    rules = [r for r in _as_list(props.get("securityRules")) if isinstance(r, Mapping)]
    if any(_admits(r, HTTPS_PORT) for r in rules) or _internal_only(rules):
        return []
    return [f"security group admits no inbound TCP {HTTPS_PORT}: the help desk must be reachable over HTTPS"]


def embedded_settings(script: str) -> dict[str, Any] | None:
    """The settings JSON a finished bootstrap script carries (the line after ``$EmbeddedSettingsJson = @'``)."""
    lines = script.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line.strip().replace(" ", "") == "$EmbeddedSettingsJson=@'":
            try:
                found = json.loads(lines[index + 1])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def _run_command_settings(props: Props) -> dict[str, Any] | None:
    script = _get(props, "source", "script")
    return embedded_settings(script) if isinstance(script, str) else None


def trusted_launch_on(resource_type: str, props: Props) -> list[str]:
    """Every VM uses Trusted Launch with secure boot and a virtual TPM."""
    if resource_type != VIRTUAL_MACHINE:
        return []
    violations = []
    if _get(props, "securityProfile", "securityType") != "TrustedLaunch":
        violations.append("virtual machine must set securityProfile.securityType to 'TrustedLaunch'")
    if _get(props, "securityProfile", "uefiSettings", "secureBootEnabled") is not True:
        violations.append(
            "virtual machine must enable secure boot (securityProfile.uefiSettings.secureBootEnabled)"
        )
    if _get(props, "securityProfile", "uefiSettings", "vTpmEnabled") is not True:
        violations.append("virtual machine must enable the vTPM (securityProfile.uefiSettings.vTpmEnabled)")
    return violations


def _wide_rdp(rule: Props, where: str) -> list[str]:
    if str(rule.get("direction", "")).lower() != "inbound" or str(rule.get("access", "")).lower() != "allow":
        return []
    port_ranges = _as_list(rule.get("destinationPortRange")) + _as_list(rule.get("destinationPortRanges"))
    if not any(_port_range_covers(r, RDP_PORT) for r in port_ranges):
        return []
    sources = _as_list(rule.get("sourceAddressPrefix")) + _as_list(rule.get("sourceAddressPrefixes"))
    wide = []
    for source in sources:
        try:
            network = ipaddress.ip_network(str(source).strip(), strict=False)
        except ValueError:
            wide.append(str(source))  # a tag (Internet, VirtualNetwork, *...) is no narrow range
            continue
        if network.prefixlen < WIDEST_RDP_PREFIX:
            wide.append(str(source))
    if not wide:
        return []
    name = rule.get("name") or where
    return [(f"security rule {name!r} allows RDP from {', '.join(wide)}: open it from a /{WIDEST_RDP_PREFIX} or "
            "narrower, or not at all (Azure Bastion)")]


def rdp_narrow_or_closed(resource_type: str, props: Props) -> list[str]:
    """RDP is closed, or open from a /28 or narrower range only."""
    if resource_type == SECURITY_RULE:
        return _wide_rdp(props, "security rule")
    if resource_type == SECURITY_GROUP:
        violations: list[str] = []
        for index, rule in enumerate(_as_list(props.get("securityRules"))):
            violations += _wide_rdp(rule, f"securityRules[{index}]")
        return violations
    return []


def data_disks_kept(resource_type: str, props: Props) -> list[str]:
    """A VM's data disks outlive it: ``deleteOption`` Detach (Azure's default), never Delete."""
    if resource_type != VIRTUAL_MACHINE:
        return []
    disks = _as_list(_get(props, "storageProfile", "dataDisks"))
    return [
        f"data disk at LUN {disk.get('lun')} has deleteOption 'Delete': it would be deleted with the VM; use 'Detach'"
        for disk in disks
        if isinstance(disk, Mapping) and str(disk.get("deleteOption", "")).lower() == "delete"
    ]


def automatic_patching_on(resource_type: str, props: Props) -> list[str]:
    """Every Windows VM patches itself: platform-orchestrated (or OS-managed where the image has no platform
    patching, e.g. desktop images) with automatic updates enabled."""
    if resource_type != VIRTUAL_MACHINE:
        return []
    windows = _get(props, "osProfile", "windowsConfiguration")
    if windows is None:
        linux_mode = _get(props, "osProfile", "linuxConfiguration", "patchSettings", "patchMode")
        if linux_mode == "AutomaticByPlatform":
            return []
        return [
            f"virtual machine patch mode is {linux_mode!r}: set patchSettings.patchMode to 'AutomaticByPlatform'"
        ]
    violations = []
    mode = _get(windows, "patchSettings", "patchMode")
    if mode not in AUTOMATIC_PATCH_MODES:
        violations.append(
            f"virtual machine patch mode is {mode!r}: set "
            "osProfile.windowsConfiguration.patchSettings.patchMode to 'AutomaticByPlatform'"
        )
    if windows.get("enableAutomaticUpdates") is not True:
        violations.append(
            "virtual machine must set osProfile.windowsConfiguration.enableAutomaticUpdates to true"
        )
    return violations


def required_tags_present(
    resource_type: str, props: Props, required: Sequence[str] = REQUIRED_TAGS
) -> list[str]:
    """Every taggable resource carries the project's required tags, each with a value."""
    if resource_type not in TAGGABLE_TYPES:
        return []
    tags = props.get("tags")
    tags = tags if isinstance(tags, Mapping) else {}
    missing = [key for key in required if not str(tags.get(key) or "").strip()]
    if not missing:
        return []
    return [f"{resource_type} is missing required tag(s): {', '.join(missing)}"]


def osticket_version_at_floor(
    resource_type: str, props: Props, floor: str = OSTICKET_SECURITY_FLOOR
) -> list[str]:
    """The bootstrap installs an osTicket release at or above the security floor."""
    if resource_type != RUN_COMMAND:
        return []
    settings = _run_command_settings(props) or {}
    versions = [str(settings[OSTICKET_VERSION_SETTING])] if OSTICKET_VERSION_SETTING in settings else []
    if not versions:
        message = (
            f"run command script embeds no {OSTICKET_VERSION_SETTING} setting, so the osTicket "
            f"version cannot be checked against the security floor {floor}"
        )
        return [message]
    return [
        f"osTicket {version} is below the security floor {floor}"
        for version in versions
        if not version_at_least(version, floor)
    ]


MANIFEST_SETTING = "manifest"


# Methods that check a download against what its publisher publishes (automation/manifest.py METHOD_NOTES
# less the plain pinned "sha256"): an entry with one needs no pin of its own.
PUBLISHER_VERIFICATION = frozenset({"php-sha256-list", "mariadb-sha256sums", "authenticode", "github-release-digest"})


def downloads_hash_pinned(resource_type: str, props: Props) -> list[str]:
    """Every download the bootstrap makes is verified by its publisher or pinned by SHA-256 in the manifest."""
    if resource_type != RUN_COMMAND:
        return []
    settings = _run_command_settings(props)
    if settings is None or MANIFEST_SETTING not in settings:
        return [f"run command script embeds no {MANIFEST_SETTING} setting, so download hashes cannot be checked"]
    downloads = settings[MANIFEST_SETTING].get("downloads") if isinstance(settings[MANIFEST_SETTING], dict) else None
    if not isinstance(downloads, dict) or not all(isinstance(e, dict) for e in downloads.values()):
        return [f"the embedded {MANIFEST_SETTING} is not a download manifest"]
    return [
        f"download {name!r} ({entry.get('url')}) has neither a publisher verification method nor a pinned "
        f"SHA-256; run `ostops manifest hash --write --only {name}` where the network is reachable"
        for name, entry in downloads.items()
        if entry.get("verify") not in PUBLISHER_VERIFICATION and not re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256")))
    ]


def mysql_private_and_tls(resource_type: str, props: Props) -> list[str]:
    """A Flexible Server has no public endpoint (public network access off, a delegated subnet, no firewall
    rule) and its ``require_secure_transport`` is never turned off."""
    if resource_type == MYSQL_SERVER:
        found = []
        access = str(_get(props, "network", "publicNetworkAccess") or "")
        if access != "Disabled":
            found.append(
                f"MySQL Flexible Server network.publicNetworkAccess is {access or 'unset'!r}: it must be 'Disabled' "
                "(private access through a delegated subnet only)"
            )
        if not _get(props, "network", "delegatedSubnetResourceId"):
            found.append("MySQL Flexible Server has no network.delegatedSubnetResourceId: give it a delegated subnet")
        return found
    if resource_type == MYSQL_FIREWALL_RULE:
        rule = props.get("firewallRuleName") or ""
        span = f"{props.get('startIpAddress')}-{props.get('endIpAddress')}"
        return [f"MySQL firewall rule {rule!r} opens the server's public endpoint ({span}); production has none"]
    secure_transport = props.get("configurationName") == "require_secure_transport"
    if resource_type == MYSQL_CONFIGURATION and secure_transport and str(props.get("value", "")).strip().upper() != "ON":
        return [f"require_secure_transport is {props.get('value')!r}: it must stay ON"]
    return []


def storage_private_and_keyless(resource_type: str, props: Props) -> list[str]:
    """A storage account takes HTTPS only with TLS 1.2 or later, no anonymous blob access and no shared-key (or
    SAS) authorization, and its public endpoint denies by default; a blob container is never public
    (infra/backup.py gives the evidence for each)."""
    if resource_type == BLOB_CONTAINER:
        access = str(props.get("publicAccess") or "None")
        return [] if access == "None" else [f"blob container publicAccess is {access!r}: it must be 'None'"]
    if resource_type != STORAGE_ACCOUNT:
        return []
    found = []
    if props.get("enableHttpsTrafficOnly") is not True:
        found.append("storage account must set enableHttpsTrafficOnly true")
    if str(props.get("minimumTlsVersion") or "") not in {"TLS1_2", "TLS1_3"}:
        found.append(f"storage account minimumTlsVersion is {props.get('minimumTlsVersion')!r}: it must be TLS1_2")
    if props.get("allowBlobPublicAccess") is not False:
        found.append("storage account must set allowBlobPublicAccess false (no anonymous reads)")
    if props.get("allowSharedKeyAccess") is not False:
        found.append("storage account must set allowSharedKeyAccess false: Entra ID only, no account keys or SAS")
    if str(_get(props, "networkRuleSet", "defaultAction") or "") != "Deny":
        found.append("storage account networkRuleSet.defaultAction must be 'Deny' (only the listed subnets and "
                     "addresses reach it)")
    return found


# Reported, not blocking: a hash cannot be computed without network access, and the bootstrap warns too.
ADVISORY = frozenset({"downloads-hash-pinned"})

POLICIES: dict[str, tuple[str, Predicate]] = {
    "no-internet-management-ports": (
        "No management (RDP, SSH, WinRM) or database port is open to the internet.",
        no_internet_management_ports,
    ),
    "secrets-only-protected": (
        "Secrets travel only in protected run-command parameters or protected extension settings.",
        secrets_only_protected,
    ),
    "no-secret-in-run-command-parameters": (
        "Run Commands carry no secret in any parameter (protected ones included) and only small, plain values.",
        no_secret_in_run_command_parameters,
    ),
    "https-listener-present": (
        "The help desk's front door admits HTTPS (its security group allows TCP 443, or its gateway listens).",
        https_listener_present,
    ),
    "trusted-launch-on": (
        "Virtual machines use Trusted Launch with secure boot and vTPM.",
        trusted_launch_on,
    ),
    "automatic-patching-on": ("Virtual machines patch automatically.", automatic_patching_on),
    "rdp-narrow-or-closed": ("RDP is closed, or open from a /28 or narrower range only.", rdp_narrow_or_closed),
    "data-disks-kept": ("A VM's data disks are detached, never deleted, with it.", data_disks_kept),
    "required-tags-present": (
        f"Taggable resources carry the tags {', '.join(REQUIRED_TAGS)}.",
        required_tags_present,
    ),
    "osticket-version-at-floor": (
        f"The installed osTicket is at or above the security floor {OSTICKET_SECURITY_FLOOR}.",
        osticket_version_at_floor,
    ),
    "mysql-private-and-tls": (
        "A MySQL Flexible Server has no public endpoint and requires TLS (require_secure_transport ON).",
        mysql_private_and_tls,
    ),
    "storage-private-and-keyless": (
        (
            "Storage accounts take HTTPS with TLS 1.2+, no anonymous access, no shared keys, and deny by default; "
            "blob containers are private."
        ),
        storage_private_and_keyless,
    ),
    "downloads-hash-pinned": (
        "Every download of the bootstrap is verified by its publisher or pinned by SHA-256 in the manifest.",
        downloads_hash_pinned,
    ),
}


def all_violations(resource_type: str, props: Props, advisory: bool = False) -> dict[str, list[str]]:
    """Every mandatory (and, if asked, advisory) policy's violations for one resource, keyed by policy name
    (only policies that fired)."""
    found = {
        name: predicate(resource_type, props)
        for name, (_, predicate) in POLICIES.items()
        if advisory or name not in ADVISORY
    }
    return {name: messages for name, messages in found.items() if messages}
