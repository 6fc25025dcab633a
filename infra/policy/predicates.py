"""Policy predicates: pure functions over one resource's type and input properties.

Each predicate takes ``(resource_type, props)`` where ``props`` uses the engine's camelCase property
names (what ``pulumi preview --policy-pack`` and the unit-test mocks both see) and returns a list of
violation messages, empty when the resource complies. Nothing here imports ``pulumi_policy``, so the
predicates can be imported and tested without starting the policy server.
"""

from __future__ import annotations

import base64
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
OSTICKET_VERSION_PARAMETER = "OsTicketVersion"
REQUIRED_TAGS = ("project", "environment", "managed-by")
TAGGABLE_TYPES = frozenset(
    {
        "azure-native:resources:ResourceGroup",
        "azure-native:network:VirtualNetwork",
        SECURITY_GROUP,
        "azure-native:network:PublicIPAddress",
        "azure-native:network:NetworkInterface",
        VIRTUAL_MACHINE,
        RUN_COMMAND,
        VM_EXTENSION,
    }
)

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
    versions = [
        str(p.get("value", ""))
        for p in _as_list(props.get("parameters"))
        if p.get("name") == OSTICKET_VERSION_PARAMETER
    ]
    if not versions:
        message = (
            f"run command passes no {OSTICKET_VERSION_PARAMETER} parameter, so the osTicket "
            f"version cannot be checked against the security floor {floor}"
        )
        return [message]
    return [
        f"osTicket {version} is below the security floor {floor}"
        for version in versions
        if not version_at_least(version, floor)
    ]


MANIFEST_PARAMETER = "ManifestBase64"


def downloads_hash_pinned(resource_type: str, props: Props) -> list[str]:
    """Every download the bootstrap makes has a SHA-256 in the manifest (``unknown`` is reported)."""
    if resource_type != RUN_COMMAND:
        return []
    encoded = [str(p.get("value", "")) for p in _as_list(props.get("parameters")) if p.get("name") == MANIFEST_PARAMETER]
    if not encoded:
        return [f"run command passes no {MANIFEST_PARAMETER} parameter, so download hashes cannot be checked"]
    try:
        manifest = json.loads(base64.b64decode(encoded[0]))
        downloads = manifest["downloads"]
    except (ValueError, KeyError, TypeError):
        return [f"{MANIFEST_PARAMETER} is not a base64-encoded download manifest"]
    return [
        f"download {name!r} ({entry.get('url')}) has no pinned SHA-256; run `ostops manifest hash --write "
        f"--only {name}` where the network is reachable"
        for name, entry in downloads.items()
        if entry.get("sha256") == "unknown"
    ]


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
    "trusted-launch-on": (
        "Virtual machines use Trusted Launch with secure boot and vTPM.",
        trusted_launch_on,
    ),
    "automatic-patching-on": ("Virtual machines patch automatically.", automatic_patching_on),
    "required-tags-present": (
        f"Taggable resources carry the tags {', '.join(REQUIRED_TAGS)}.",
        required_tags_present,
    ),
    "osticket-version-at-floor": (
        f"The installed osTicket is at or above the security floor {OSTICKET_SECURITY_FLOOR}.",
        osticket_version_at_floor,
    ),
    "downloads-hash-pinned": (
        "Every download of the bootstrap is pinned by SHA-256 in the manifest.",
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
